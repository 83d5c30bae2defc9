"""One folder per device: what ``hdus-sim certs`` writes for an operator and each device.

Each device gets the CA certificate, its host certificate and TLS key, the private signing
keys of the peers it serves and nothing else private, and the public keys of every peer.
A device loads its folder with :meth:`~hdus_sim.wire.security.TestPki.load` and
:meth:`~hdus_sim.wire.security.KeyRing.load_for`, so it can sign only as itself; the CA key
stays with the operator.
"""

from __future__ import annotations

import json
from pathlib import Path

from hdus_sim.wire.security.common import (
    MANIFEST_FILE,
    OPERATOR_FORMAT,
    SecurityError,
    write_private,
)
from hdus_sim.wire.security.keyring import KeyRing
from hdus_sim.wire.security.pki import TestPki


def write_device_folders(directory: str | Path, pki: TestPki, ring: KeyRing) -> dict[str, Path]:
    """Write an operator's folder and one folder per device (what ``hdus-sim certs`` writes).

    ``directory`` gets ``ca.pem``, ``ca.key`` (the operator keeps it: it signs
    certificates), ``manifest.json`` (host -> peer ids) and ``keyring.json`` holding every
    peer's *public* key only. ``directory/<host>/`` gets what that device needs and no
    other device's secret: ``ca.pem``, ``<host>.pem`` and ``<host>.key`` (its mTLS
    identity), ``manifest.json`` (this host only), and ``keyring.json`` with every peer's
    public key plus the private keys of the peers this host serves (owner-readable only).

    Returns
    -------
    dict[str, Path]
        Host name -> its device folder.

    Raises
    ------
    SecurityError
        If ``ring`` lacks a private key of a served peer, or a file cannot be written.
    """
    out = Path(directory)
    devices = {}
    for name in sorted(pki.hosts):
        folder = out / name
        pki.for_host(name).save(folder)
        ring.only(pki.hosts[name].peer_ids).save(folder)
        devices[name] = folder
    ring.public_only().save(out)
    manifest = {
        "format": OPERATOR_FORMAT,
        "version": 1,
        "devices": {name: list(h.peer_ids) for name, h in sorted(pki.hosts.items())},
    }
    try:
        (out / "ca.pem").write_bytes(pki.ca_cert_pem)
        if pki.ca_key_pem is not None:
            write_private(out / "ca.key", pki.ca_key_pem)
        (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    except OSError as exc:
        raise SecurityError(f"cannot write the test PKI to {out}: {exc}") from exc
    return devices
