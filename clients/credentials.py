"""How a peer signs what only it may say, and checks what others say they said.

Seeds, lease renewals, revocation floors and graceful leave notices are *owner-signed*:
whoever delivers them, a holder accepts one for owner ``P`` only with ``P``'s valid
signature. The peer logic is the same everywhere; only the credentials differ:

- :data:`UNCHECKED` (in-process runs without ``wire.sign``): signing gives empty bytes and
  every check passes. The logic runs unchanged; the run summary says signatures were off.
- a key ring (``hdus_sim.wire.security``): real Ed25519 signatures, one private key per
  device; a peer can sign only as itself.

Pure Python: no cryptography is imported here.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["UNCHECKED", "Credentials", "Unchecked"]


class Credentials(Protocol):
    """Signing as one peer, and checking any peer's signature.

    Attributes
    ----------
    checked
        ``True`` when signatures are real (a forged one is refused), ``False`` when they
        are no-ops.
    """

    checked: bool

    def sign(self, payload: bytes) -> bytes:
        """Sign ``payload`` as this peer."""
        ...

    def verify(self, peer_id: int, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is ``peer_id``'s over ``payload`` (never raises)."""
        ...


class Unchecked:
    """No-op credentials: empty signatures, every check passes.

    Examples
    --------
    >>> UNCHECKED.sign(b"x"), UNCHECKED.verify(3, b"x", b""), UNCHECKED.checked
    (b'', True, False)
    """

    checked = False

    def sign(self, payload: bytes) -> bytes:
        """Sign nothing."""
        return b""

    def verify(self, peer_id: int, payload: bytes, signature: bytes) -> bool:
        """Accept everything."""
        return True

    def __reduce__(self) -> str:
        return "UNCHECKED"  # pickles as the module-level singleton


#: The credentials of runs without signatures.
UNCHECKED = Unchecked()
