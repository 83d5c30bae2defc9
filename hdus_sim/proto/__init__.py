"""Generated protobuf code; do not edit; regenerate with proto/regenerate.sh.

The gRPC binding of PeerService is hand-written in hdus_sim/wire/service.py, driven by
this package's service descriptor.
"""
