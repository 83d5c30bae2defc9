"""The peer-to-peer wire: how records cross between peer processes, and its errors."""
