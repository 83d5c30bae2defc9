"""The mutual-TLS test PKI: a CA and one certificate per host, saved and loaded as files.

A host is one gRPC server; its certificate speaks for the peers it serves (see
:mod:`hdus_sim.wire.security.certs` for what a certificate holds). :func:`make_test_pki`
makes a PKI in memory, :meth:`TestPki.save` writes it as PEM files plus a manifest, and
:meth:`TestPki.load` reads it back checking every file against the others, so a
deployment's mistakes surface as one clear :class:`SecurityError` naming the fix.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from hdus_sim.wire.security.certs import (
    CLOCK_SKEW,
    cert_to_pem,
    check_key_matches,
    key_to_pem,
    load_cert,
    make_ca,
    make_host_cert,
    peer_ids_of_cert,
)
from hdus_sim.wire.security.common import (
    MANIFEST_FILE,
    OPERATOR_FORMAT,
    SecurityError,
    check_peer_id,
    write_private,
)

_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_RESERVED_HOST_NAMES: Final[frozenset[str]] = frozenset({"ca", "manifest", "keyring"})
_PKI_FIX: Final[str] = (
    'create one with: python -c "from hdus_sim.wire.security import make_test_pki; '
    "make_test_pki({'host0': [0, 1]}).save('DIR')\""
)


@dataclass(frozen=True)
class HostIdentity:
    """One host's certificate and key, and the peers the certificate speaks for.

    Attributes
    ----------
    name
        Host name: the certificate's common name and the stem of its files.
    peer_ids
        Sorted ids of the peers this host serves (the certificate's ``hdus://peer/<id>`` URIs).
    cert_pem
        PEM certificate signed by the test CA; used as both TLS server and client certificate.
    key_pem
        PEM (PKCS#8, unencrypted) EC P-256 private key of ``cert_pem``.
    """

    name: str
    peer_ids: tuple[int, ...]
    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)


@dataclass(frozen=True)
class TestPki:
    """A test certificate authority and the host identities it signed.

    Attributes
    ----------
    ca_cert_pem
        PEM self-signed CA certificate: the only root every host trusts.
    ca_key_pem
        PEM private key of the CA (kept so more hosts can be signed later; keep it private);
        ``None`` in a device's copy, which must not be able to sign certificates.
    hosts
        Host name -> :class:`HostIdentity`.
    """

    __test__ = False  # not a pytest test class despite the name

    ca_cert_pem: bytes = field(repr=False)
    ca_key_pem: bytes | None = field(repr=False)
    hosts: dict[str, HostIdentity] = field(hash=False)

    def for_host(self, name: str) -> TestPki:
        """A device's copy: the CA certificate (not its key) and host ``name`` only."""
        return TestPki(ca_cert_pem=self.ca_cert_pem, ca_key_pem=None, hosts={name: self.host(name)})

    def host(self, name: str) -> HostIdentity:
        """The identity of host ``name``; :class:`SecurityError` listing known hosts if absent."""
        try:
            return self.hosts[name]
        except KeyError:
            raise SecurityError(
                f"no host {name!r} in this PKI (hosts: {sorted(self.hosts)}); add it to the "
                "mapping given to make_test_pki"
            ) from None

    def host_of_peer(self, peer_id: int) -> HostIdentity:
        """The host whose certificate speaks for ``peer_id``; :class:`SecurityError` if none."""
        for identity in self.hosts.values():
            if peer_id in identity.peer_ids:
                return identity
        raise SecurityError(
            f"peer {peer_id} is served by no host of this PKI; add it to one host's peer ids "
            "in make_test_pki"
        )

    def save(self, directory: str | Path) -> Path:
        """Write the PKI as PEM files plus a manifest, for another process or machine to load.

        Writes ``ca.pem``, ``ca.key`` (if held), ``<host>.pem``, ``<host>.key`` for every
        host and ``manifest.json`` (host name -> peer ids). Key files are made readable by the owner
        only where the platform allows.

        Parameters
        ----------
        directory
            Target directory; created if missing. Existing files of the same names are
            overwritten.

        Returns
        -------
        Path
            The directory written.
        """
        out = Path(directory)
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / "ca.pem").write_bytes(self.ca_cert_pem)
            if self.ca_key_pem is not None:
                write_private(out / "ca.key", self.ca_key_pem)
            for name, identity in sorted(self.hosts.items()):
                (out / f"{name}.pem").write_bytes(identity.cert_pem)
                write_private(out / f"{name}.key", identity.key_pem)
            manifest = {
                "format": "hdus-sim test pki",
                "version": 1,
                "hosts": {name: list(h.peer_ids) for name, h in sorted(self.hosts.items())},
            }
            (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        except OSError as exc:
            raise SecurityError(
                f"cannot write the test PKI to {out}: {exc}; choose a writable directory"
            ) from exc
        return out

    @classmethod
    def load(cls, directory: str | Path) -> TestPki:
        """Read a PKI written by :meth:`save` and check it is consistent.

        Every host certificate must be signed by the CA, match its key, and list exactly
        the peer ids of the manifest.

        Parameters
        ----------
        directory
            Directory holding ``manifest.json``, ``ca.pem``, the host files and, unless it
            is a device's folder, ``ca.key``.

        Returns
        -------
        TestPki
            The loaded PKI.

        Raises
        ------
        SecurityError
            Naming every missing file (and how to create them), or the inconsistent one.
        """
        src = Path(directory)
        host_peers = _read_manifest(src)
        wanted = ["ca.pem"]
        for name in host_peers:
            wanted += [f"{name}.pem", f"{name}.key"]
        missing = [str(src / f) for f in wanted if not (src / f).is_file()]
        if missing:
            raise SecurityError(
                f"missing test PKI file(s) {', '.join(missing)}; {_PKI_FIX}"
                " (or copy the whole directory written by TestPki.save)"
            )
        ca_cert_pem = (src / "ca.pem").read_bytes()
        ca_cert = load_cert(ca_cert_pem, src / "ca.pem")
        ca_key_pem = None  # a device's folder holds no CA key
        if (src / "ca.key").is_file():
            ca_key_pem = (src / "ca.key").read_bytes()
            check_key_matches(ca_key_pem, ca_cert, src / "ca.key")
        hosts = {name: _load_host(src, name, peers, ca_cert) for name, peers in host_peers.items()}
        return cls(ca_cert_pem=ca_cert_pem, ca_key_pem=ca_key_pem, hosts=hosts)


def _read_manifest(src: Path) -> dict[str, tuple[int, ...]]:
    """Host name -> peer ids, from ``src/manifest.json`` (refusing the operator's folder)."""
    manifest_path = src / MANIFEST_FILE
    if not manifest_path.is_file():
        raise SecurityError(f"missing test PKI file {manifest_path}; {_PKI_FIX}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise SecurityError(
            f"{manifest_path} is not a test PKI manifest ({exc}); expected "
            '{"hosts": {"<host>": [<peer id>, ...]}}; rewrite it with TestPki.save'
        ) from exc
    if isinstance(manifest, dict) and manifest.get("format") == OPERATOR_FORMAT:
        names = sorted(manifest.get("devices", {}))
        raise SecurityError(
            f"{src} is the operator's folder written by `hdus-sim certs`: it holds no "
            f"host keys; load a device's folder {src}/<host>/ instead (hosts: {names})"
        )
    try:
        host_peers = {
            str(name): tuple(check_peer_id(p, f"{MANIFEST_FILE} hosts.{name}") for p in ids)
            for name, ids in manifest["hosts"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, SecurityError) as exc:
        raise SecurityError(
            f"{manifest_path} is not a test PKI manifest ({exc}); expected "
            '{"hosts": {"<host>": [<peer id>, ...]}}; rewrite it with TestPki.save'
        ) from exc
    return host_peers


def _load_host(
    src: Path, name: str, peers: tuple[int, ...], ca_cert: x509.Certificate
) -> HostIdentity:
    """Read host ``name``'s files from ``src``; check them against the CA and the manifest."""
    manifest_path = src / MANIFEST_FILE
    cert_path = src / f"{name}.pem"
    cert_pem = cert_path.read_bytes()
    key_pem = (src / f"{name}.key").read_bytes()
    cert = load_cert(cert_pem, cert_path)
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise SecurityError(
            f"{cert_path} is not signed by the CA in {src / 'ca.pem'}; "
            "regenerate the whole directory with make_test_pki(...).save(...)"
        ) from exc
    check_key_matches(key_pem, cert, src / f"{name}.key")
    in_cert = sorted(peer_ids_of_cert(cert))
    if in_cert != sorted(peers):
        raise SecurityError(
            f"{cert_path} speaks for peers {in_cert} but {manifest_path} says "
            f"{sorted(peers)}; regenerate the directory with make_test_pki(...).save(...)"
        )
    return HostIdentity(name, tuple(sorted(peers)), cert_pem, key_pem)


def make_test_pki(
    hosts: Mapping[str, Iterable[int]],
    *,
    valid_days: int = 30,
    common_name: str = "hdus-sim test CA",
) -> TestPki:
    """Create a test CA and one certificate per host listing the peers that host serves.

    Why: with mutual TLS every connection carries a CA-signed statement of which peers its
    sender may speak for, so a receiver can refuse a message claiming another peer's id.
    Keys are EC P-256 (milliseconds to generate). Host certificates cover ``localhost`` and
    ``127.0.0.1`` plus one URI ``hdus://peer/<id>`` per served peer, and allow both server
    and client authentication.

    Parameters
    ----------
    hosts
        Host name -> ids of the peers it serves. Names become file stems: letters, digits,
        ``.``, ``_``, ``-`` (not ``ca``, ``manifest`` or ``keyring``). A peer may be served
        by one host only.
    valid_days
        Lifetime of every certificate, in days (>= 1). Validity starts 5 minutes in the
        past to tolerate clock skew between machines.
    common_name
        Common name of the CA certificate.

    Returns
    -------
    TestPki
        The CA and the host identities.

    Raises
    ------
    SecurityError
        For a bad host name, a bad or duplicate peer id, or ``valid_days < 1``.
    """
    if isinstance(valid_days, bool) or not isinstance(valid_days, int) or valid_days < 1:
        raise SecurityError(f"valid_days must be an integer >= 1, got {valid_days!r}")
    if not hosts:
        raise SecurityError("make_test_pki needs at least one host, e.g. {'host0': [0, 1]}")
    served = _served_peers(hosts)
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - CLOCK_SKEW, now + dt.timedelta(days=valid_days)
    ca = make_ca(common_name, not_before, not_after)
    identities: dict[str, HostIdentity] = {}
    for name, ids in served.items():
        cert_pem, key_pem = make_host_cert(ca, name, ids, not_before, not_after)
        identities[name] = HostIdentity(name, ids, cert_pem, key_pem)
    return TestPki(
        ca_cert_pem=cert_to_pem(ca.cert), ca_key_pem=key_to_pem(ca.key), hosts=identities
    )


def _served_peers(hosts: Mapping[str, Iterable[int]]) -> dict[str, tuple[int, ...]]:
    """Check host names and peer ids; host name -> its sorted peer ids (each peer once)."""
    served: dict[str, tuple[int, ...]] = {}
    owner: dict[int, str] = {}
    for name, peers in hosts.items():
        if (
            not isinstance(name, str)
            or not _HOST_NAME.fullmatch(name)
            or name.lower() in _RESERVED_HOST_NAMES
        ):
            raise SecurityError(
                f"bad host name {name!r}: use 1-63 letters, digits, '.', '_' or '-', starting "
                f"with a letter or digit, and none of {sorted(_RESERVED_HOST_NAMES)}"
            )
        ids = tuple(sorted({check_peer_id(p, f"hosts[{name!r}]") for p in peers}))
        for p in ids:
            if p in owner:
                raise SecurityError(
                    f"peer {p} is listed under both hosts {owner[p]!r} and {name!r}; "
                    "a peer must be served by exactly one host"
                )
            owner[p] = name
        served[name] = ids
    return served
