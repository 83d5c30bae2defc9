"""The error raised for malformed wire input, tagged with the gRPC status it maps to.

The serialization layer must not import gRPC (the in-process runtime uses it without any
sockets), so :class:`WireError` carries the *name* of a ``grpc.StatusCode`` as a plain
string; the gRPC transport turns it into ``getattr(grpc.StatusCode, err.code)`` when it
aborts a call.
"""

from __future__ import annotations

from typing import Final

from hdus_sim.errors import HdusError

__all__ = ["WIRE_CODES", "WireError"]

#: The status-code names a :class:`WireError` may carry (members of ``grpc.StatusCode``).
WIRE_CODES: Final[frozenset[str]] = frozenset(
    {
        "INVALID_ARGUMENT",  # malformed message: bad field value, bad chunk order, bad size
        "FAILED_PRECONDITION",  # well-formed but not acceptable now (e.g. tombstoned owner)
        "PERMISSION_DENIED",  # signature or sender not allowed
        "RESOURCE_EXHAUSTED",  # payload larger than the receiver accepts
        "DATA_LOSS",  # truncated stream or undecodable bytes
        "NOT_FOUND",  # destination peer not hosted here
        "ALREADY_EXISTS",  # duplicate of something already taken in
    }
)


class WireError(HdusError, ValueError):
    """A message that cannot be encoded or decoded; the message names the field and fix.

    Parameters
    ----------
    message
        Human-readable description naming the offending field or chunk.
    code
        Name of the ``grpc.StatusCode`` the transport answers with; one of
        :data:`WIRE_CODES`. Defaults to ``"INVALID_ARGUMENT"``.

    Raises
    ------
    ValueError
        If ``code`` is not one of :data:`WIRE_CODES` (a programming error).

    Examples
    --------
    >>> err = WireError("LeaveNotice.peer must be >= 0, got -1")
    >>> err.code
    'INVALID_ARGUMENT'
    >>> WireError("too big", "RESOURCE_EXHAUSTED").code
    'RESOURCE_EXHAUSTED'
    """

    code: str

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT") -> None:
        if code not in WIRE_CODES:
            raise ValueError(
                f"unknown wire error code {code!r}; choose one of {sorted(WIRE_CODES)}"
            )
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> tuple[type[WireError], tuple[str, str]]:
        # Keep ``code`` when pickled (Ray ships exceptions between processes).
        return (type(self), (str(self), self.code))

    def __repr__(self) -> str:
        return f"WireError({str(self)!r}, code={self.code!r})"
