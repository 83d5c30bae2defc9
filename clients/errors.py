"""Errors a user can cause in one peer's machine learning, each naming the problem and the fix."""

from __future__ import annotations


class ClientsError(Exception):
    """Root of every error raised by the ``clients`` package."""


class DatasetError(ClientsError, ValueError):
    """A dataset cannot be loaded or generated (missing file, bad format, bad option)."""


class PartitionError(ClientsError, ValueError):
    """Data cannot be split among peers as asked (bad scheme parameter, too little data)."""


class ModelError(ClientsError, ValueError):
    """A model cannot be built or a tensor has the wrong architecture, shape or dtype."""


class PeerError(ClientsError, ValueError):
    """A peer was asked to do something its state does not allow (unknown neighbour, tombstone)."""
