"""What every part of the security layer shares: its error, file names and two helpers.

:class:`SecurityError` is raised for a certificate, key or key ring that cannot be made,
found or used; :func:`check_peer_id` is the one check of a peer id; :func:`write_private`
writes key material readable by its owner only. The file names and the operator folder's
``format`` tag are shared by the PKI, the key ring and the device folders that hold both.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Final

from hdus_sim.errors import HdusError

#: File of a saved :class:`~hdus_sim.wire.security.TestPki` mapping host names to the
#: peer ids they serve.
MANIFEST_FILE: Final[str] = "manifest.json"
#: File of a saved :class:`~hdus_sim.wire.security.KeyRing`.
KEYRING_FILE: Final[str] = "keyring.json"
#: ``format`` of the manifest in the operator's folder written by
#: :func:`~hdus_sim.wire.security.write_device_folders`.
OPERATOR_FORMAT: Final[str] = "hdus-sim test pki (operator)"


class SecurityError(HdusError):
    """A certificate, key or key ring cannot be made, found or used; the message says the fix."""


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (where the OS supports modes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    with contextlib.suppress(OSError):  # e.g. file systems without POSIX modes
        os.chmod(path, 0o600)


def check_peer_id(value: Any, where: str) -> int:
    """Return ``value`` if it is a peer id (an int >= 0, not a bool); else SecurityError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SecurityError(f"{where}: a peer id must be an integer >= 0, got {value!r}")
    return int(value)
