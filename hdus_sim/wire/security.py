"""Who may speak for a peer: mutual TLS between hosts, Ed25519 signatures per peer.

Two independent layers, both optional and both off in the default in-process runtime:

* **Mutual TLS** (:func:`make_test_pki`, :func:`server_credentials`,
  :func:`channel_credentials`). A small test CA signs one certificate per *host*, i.e. per
  gRPC server, which may serve many peers in simulation and one on a device. The
  certificate's SubjectAlternativeName lists every peer the host serves as a URI
  ``hdus://peer/<id>``; the same certificate is used as server and as client. A receiver
  calls :func:`peer_ids_from_auth_context` on the call's ``auth_context()`` and refuses any
  message whose claimed sender is not in the returned set.
* **Signed notices** (:class:`KeyRing`). Every peer owns an Ed25519 key; leave notices and
  deletion requests are signed by the peer they concern, so no neighbour can make another
  neighbour drop someone else's seed, even through a relay that TLS cannot see past.

The PKI is for test deployments: keys are stored unencrypted next to the certificates.
For a deployment, :func:`write_device_folders` (what ``hdus-sim certs`` writes) gives each
device a folder of its own: the CA certificate, its host certificate and TLS key, the
private signing keys of the peers it serves and nothing else private, and the public keys
of every peer. A device loads it with :meth:`TestPki.load` and :meth:`KeyRing.load_for`,
so it can sign only as itself; the CA key stays with the operator.
gRPC is imported only by the functions that build gRPC credentials, so the in-process
runtime can sign and verify without it.

Examples
--------
>>> pki = make_test_pki({"host0": [0, 1], "host1": [2]})
>>> sorted(pki.hosts), pki.hosts["host0"].peer_ids
(['host0', 'host1'], (0, 1))
>>> ring = KeyRing.generate([0, 1], seed=7)
>>> sig = ring.sign(0, b"leave:0:epoch=1")
>>> ring.public_only().verify(0, b"leave:0:epoch=1", sig)
True
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hdus_sim.errors import HdusError

if TYPE_CHECKING:
    import grpc

__all__ = [
    "KEYRING_FILE",
    "MANIFEST_FILE",
    "OPERATOR_FORMAT",
    "PEER_URI_PREFIX",
    "HostIdentity",
    "KeyRing",
    "PeerCredentials",
    "SecurityError",
    "TestPki",
    "channel_credentials",
    "channel_options",
    "make_test_pki",
    "peer_ids_from_auth_context",
    "peer_uri",
    "server_credentials",
    "write_device_folders",
]

#: Prefix of the URI SubjectAlternativeName naming one served peer: ``hdus://peer/<id>``.
PEER_URI_PREFIX: Final[str] = "hdus://peer/"
#: File of a saved :class:`TestPki` mapping host names to the peer ids they serve.
MANIFEST_FILE: Final[str] = "manifest.json"
#: File of a saved :class:`KeyRing`.
KEYRING_FILE: Final[str] = "keyring.json"
#: Names the host certificates cover besides the peer URIs (what loopback dialing verifies).
_LOOPBACK_NAMES: Final[frozenset[str]] = frozenset({"localhost", "127.0.0.1"})
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_RESERVED_HOST_NAMES: Final[frozenset[str]] = frozenset({"ca", "manifest", "keyring"})
_CLOCK_SKEW: Final[dt.timedelta] = dt.timedelta(minutes=5)
_PKI_FIX: Final[str] = (
    'create one with: python -c "from hdus_sim.wire.security import make_test_pki; '
    "make_test_pki({'host0': [0, 1]}).save('DIR')\""
)
_KEYRING_FIX: Final[str] = (
    'create one with: python -c "from hdus_sim.wire.security import KeyRing; '
    "KeyRing.generate([0, 1], seed=0).save('DIR')\""
)


class SecurityError(HdusError):
    """A certificate, key or key ring cannot be made, found or used; the message says the fix."""


# --------------------------------------------------------------------------------------------
# Mutual TLS: a test CA and one certificate per host
# --------------------------------------------------------------------------------------------


def peer_uri(peer_id: int) -> str:
    """The SubjectAlternativeName URI naming ``peer_id``: ``hdus://peer/<id>``."""
    return f"{PEER_URI_PREFIX}{_check_peer_id(peer_id, 'peer_id')}"


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
                _write_private(out / "ca.key", self.ca_key_pem)
            for name, identity in sorted(self.hosts.items()):
                (out / f"{name}.pem").write_bytes(identity.cert_pem)
                _write_private(out / f"{name}.key", identity.key_pem)
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
                str(name): tuple(_check_peer_id(p, f"{MANIFEST_FILE} hosts.{name}") for p in ids)
                for name, ids in manifest["hosts"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError, SecurityError) as exc:
            raise SecurityError(
                f"{manifest_path} is not a test PKI manifest ({exc}); expected "
                '{"hosts": {"<host>": [<peer id>, ...]}}; rewrite it with TestPki.save'
            ) from exc
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
        ca_cert = _load_cert(ca_cert_pem, src / "ca.pem")
        ca_key_pem = None  # a device's folder holds no CA key
        if (src / "ca.key").is_file():
            ca_key_pem = (src / "ca.key").read_bytes()
            _check_key_matches(ca_key_pem, ca_cert, src / "ca.key")
        hosts: dict[str, HostIdentity] = {}
        for name, peers in host_peers.items():
            cert_path = src / f"{name}.pem"
            cert_pem = cert_path.read_bytes()
            key_pem = (src / f"{name}.key").read_bytes()
            cert = _load_cert(cert_pem, cert_path)
            try:
                cert.verify_directly_issued_by(ca_cert)
            except (ValueError, TypeError, InvalidSignature) as exc:
                raise SecurityError(
                    f"{cert_path} is not signed by the CA in {src / 'ca.pem'}; "
                    "regenerate the whole directory with make_test_pki(...).save(...)"
                ) from exc
            _check_key_matches(key_pem, cert, src / f"{name}.key")
            in_cert = sorted(_peer_ids_of_cert(cert))
            if in_cert != sorted(peers):
                raise SecurityError(
                    f"{cert_path} speaks for peers {in_cert} but {manifest_path} says "
                    f"{sorted(peers)}; regenerate the directory with make_test_pki(...).save(...)"
                )
            hosts[name] = HostIdentity(name, tuple(sorted(peers)), cert_pem, key_pem)
        return cls(ca_cert_pem=ca_cert_pem, ca_key_pem=ca_key_pem, hosts=hosts)


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
        ids = tuple(sorted({_check_peer_id(p, f"hosts[{name!r}]") for p in peers}))
        for p in ids:
            if p in owner:
                raise SecurityError(
                    f"peer {p} is listed under both hosts {owner[p]!r} and {name!r}; "
                    "a peer must be served by exactly one host"
                )
            owner[p] = name
        served[name] = ids

    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - _CLOCK_SKEW, now + dt.timedelta(days=valid_days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)

    identities: dict[str, HostIdentity] = {}
    for name, ids in served.items():
        key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName(
            [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                *(x509.UniformResourceIdentifier(peer_uri(p)) for p in ids),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(san, critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(ca_aki, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        identities[name] = HostIdentity(name, ids, _cert_pem(cert), _key_pem(key))
    return TestPki(ca_cert_pem=_cert_pem(ca_cert), ca_key_pem=_key_pem(ca_key), hosts=identities)


def server_credentials(pki: TestPki, host: str) -> grpc.ServerCredentials:
    """Server credentials for ``host``: its certificate, with client certificates required.

    Only clients presenting a certificate signed by the PKI's CA complete the handshake;
    others fail with ``UNAVAILABLE`` on their side. Use with ``server.add_secure_port``.
    """
    import grpc

    identity = pki.host(host)
    return grpc.ssl_server_credentials(
        [(identity.key_pem, identity.cert_pem)],
        root_certificates=pki.ca_cert_pem,
        require_client_auth=True,
    )


def channel_credentials(pki: TestPki, host: str) -> grpc.ChannelCredentials:
    """Channel credentials for a client on ``host``: presents its certificate, trusts the CA.

    Use with ``grpc.secure_channel(target, channel_credentials(pki, host),
    options=channel_options(target))``.
    """
    import grpc

    identity = pki.host(host)
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert_pem,
        private_key=identity.key_pem,
        certificate_chain=identity.cert_pem,
    )


def channel_options(target: str | None = None) -> list[tuple[str, str]]:
    """Channel options needed to verify a test-PKI server certificate when dialing ``target``.

    Host certificates name ``localhost`` and ``127.0.0.1`` only, and gRPC checks the dialed
    host against them: dialing ``127.0.0.1:PORT`` or ``localhost:PORT`` verifies as is
    (tested), so the result is empty. Any other address (another machine's IP, ``[::1]``)
    needs ``grpc.ssl_target_name_override = "localhost"``; the chain is still checked
    against the CA, which is what carries the identity.

    Parameters
    ----------
    target
        The address given to ``grpc.secure_channel`` (``host:port``, ``[v6]:port``, or a
        ``dns:``/``ipv4:``/``ipv6:`` URI). ``None`` means loopback.

    Returns
    -------
    list of (str, str)
        Options to pass as ``options=`` to ``grpc.secure_channel``.
    """
    if target is None or _target_host(target) in _LOOPBACK_NAMES:
        return []
    return [("grpc.ssl_target_name_override", "localhost")]


def peer_ids_from_auth_context(auth_context: Mapping[str, Sequence[bytes]]) -> frozenset[int]:
    """Peer ids the calling connection's client certificate speaks for.

    Why: a receiver compares the sender id claimed inside a message with this set and
    refuses the message (``PERMISSION_DENIED``) when the id is not in it.

    grpcio 1.85 fills ``context.auth_context()`` on a mutual-TLS call with
    ``transport_security_type`` (``[b'ssl']``), ``x509_pem_cert`` (the client's leaf
    certificate), ``x509_subject``, ``x509_common_name``, ``x509_subject_alternative_name``
    (every SAN as text), ``peer_dns``, ``peer_ip``, ``peer_uri``, ``security_level``,
    ``ssl_session_reused``, ``ssl_tls_version`` and ``ssl_negotiated_key_exchange_group``;
    on an insecure call it is empty. The certificate itself is parsed here rather than
    trusting gRPC's text rendering of the SANs.

    Parameters
    ----------
    auth_context
        ``grpc.ServicerContext.auth_context()``: property name -> list of values.

    Returns
    -------
    frozenset of int
        Ids from the certificate's ``hdus://peer/<id>`` URIs; empty when the connection
        carries no client certificate or the certificate cannot be parsed (no proven
        identity, so the caller refuses).
    """
    certs = auth_context.get("x509_pem_cert") or ()
    if not certs:
        return frozenset()
    try:
        cert = x509.load_pem_x509_certificate(bytes(certs[0]))
    except (ValueError, TypeError):
        return frozenset()
    return _peer_ids_of_cert(cert)


def _peer_ids_of_cert(cert: x509.Certificate) -> frozenset[int]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return frozenset()
    ids: set[int] = set()
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(PEER_URI_PREFIX):
            rest = uri[len(PEER_URI_PREFIX) :]
            if rest.isascii() and rest.isdigit():
                ids.add(int(rest))
    return frozenset(ids)


def _target_host(target: str) -> str:
    """Host part of a gRPC target (``host:port``, ``[v6]:port``, ``scheme:host:port``)."""
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if target.startswith(scheme):
            target = target[len(scheme) :]
            break
    if target.startswith("["):
        return target[1:].split("]", 1)[0]
    if target.count(":") > 1:  # bare IPv6 address without port
        return target
    return target.rsplit(":", 1)[0] if ":" in target else target


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_cert(pem: bytes, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise SecurityError(
            f"{path} is not a PEM certificate ({exc}); regenerate the directory with "
            "make_test_pki(...).save(...)"
        ) from exc


def _check_key_matches(key_pem: bytes, cert: x509.Certificate, path: Path) -> None:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SecurityError(
            f"{path} is not an unencrypted PEM private key ({exc}); regenerate the directory "
            "with make_test_pki(...).save(...)"
        ) from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise SecurityError(
            f"{path} does not belong to its certificate {path.with_suffix('.pem')}; "
            "regenerate the directory with make_test_pki(...).save(...)"
        )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (where the OS supports modes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    with contextlib.suppress(OSError):  # e.g. file systems without POSIX modes
        os.chmod(path, 0o600)


def _check_peer_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SecurityError(f"{where}: a peer id must be an integer >= 0, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Ed25519 per-peer keys
# --------------------------------------------------------------------------------------------


class KeyRing:
    """Per-peer Ed25519 keys: private keys of the peers this process speaks for, public for all.

    Why: leave notices and deletion requests travel through relays, where the TLS identity
    of the connection is the relay's, not the author's. A signature by the peer the notice
    concerns proves its author wherever it arrives. Public keys are pinned: once a peer's
    key is known, :meth:`add_public` refuses a different one.

    Signatures cover exactly the ``payload`` bytes. Callers must put everything that gives
    the notice its meaning into the payload (message kind, peer id, epoch, point ids, a
    nonce or sequence number) so a signature cannot be replayed for another purpose.

    Parameters
    ----------
    private_keys
        Peer id -> private key of the peers this process speaks for.
    public_keys
        Peer id -> public key of other peers (those of ``private_keys`` are added).
    """

    def __init__(
        self,
        private_keys: Mapping[int, Ed25519PrivateKey] | None = None,
        public_keys: Mapping[int, Ed25519PublicKey] | None = None,
    ) -> None:
        self._private: dict[int, Ed25519PrivateKey] = {}
        self._public: dict[int, bytes] = {}
        for peer, pub in (public_keys or {}).items():
            self.add_public(peer, pub.public_bytes_raw())
        for peer, key in (private_keys or {}).items():
            pid = _check_peer_id(peer, "KeyRing private key")
            self.add_public(pid, key.public_key().public_bytes_raw())
            self._private[pid] = key

    @classmethod
    def generate(cls, peer_ids: Iterable[int], *, seed: int | None = None) -> KeyRing:
        """Make a private key for each peer in ``peer_ids``.

        Parameters
        ----------
        peer_ids
            Peers to create keys for.
        seed
            ``None``: keys from ``os.urandom`` (deployments). An integer: each peer's
            32-byte Ed25519 seed is ``sha256(f"{seed}:{peer}")``, so a simulation with the
            same scenario seed gets the same keys and signatures (Ed25519 signing is
            deterministic). Such keys are public knowledge: never use them outside tests
            and simulations.

        Returns
        -------
        KeyRing
            A ring holding private and public keys for every peer given.
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SecurityError(f"KeyRing seed must be an integer or None, got {seed!r}")
        private: dict[int, Ed25519PrivateKey] = {}
        for peer in peer_ids:
            pid = _check_peer_id(peer, "KeyRing.generate peer_ids")
            if seed is None:
                raw = os.urandom(32)
            else:
                raw = hashlib.sha256(f"{seed}:{pid}".encode()).digest()
            private[pid] = Ed25519PrivateKey.from_private_bytes(raw)
        return cls(private_keys=private)

    @property
    def peer_ids(self) -> frozenset[int]:
        """Peers whose signatures this ring can verify."""
        return frozenset(self._public)

    @property
    def signing_peer_ids(self) -> frozenset[int]:
        """Peers this ring can sign for (holds the private key of)."""
        return frozenset(self._private)

    def can_sign(self, peer_id: int) -> bool:
        """Whether this ring holds ``peer_id``'s private key."""
        return peer_id in self._private

    def public_only(self) -> KeyRing:
        """A copy without private keys: what a neighbour holds."""
        ring = KeyRing()
        ring._public = dict(self._public)
        return ring

    def only(self, peer_ids: Iterable[int]) -> KeyRing:
        """A copy with every public key but the private keys of ``peer_ids`` only.

        What one device holds: it signs as the peers it serves, verifies everyone.

        Raises
        ------
        SecurityError
            If this ring lacks the private key of one of ``peer_ids``.
        """
        wanted = sorted({_check_peer_id(p, "KeyRing.only peer_ids") for p in peer_ids})
        missing = [p for p in wanted if p not in self._private]
        if missing:
            raise SecurityError(
                f"no private key for peer(s) {missing} in this key ring (it holds "
                f"{sorted(self._private)})"
            )
        ring = self.public_only()
        ring._private = {p: self._private[p] for p in wanted}
        return ring

    @classmethod
    def load_for(cls, directory: str | Path, peer_ids: Iterable[int]) -> KeyRing:
        """Load a device's ring: the private keys of ``peer_ids`` (exactly), public for all.

        Raises
        ------
        SecurityError
            If a private key of ``peer_ids`` is missing, or the folder holds private keys
            of other peers too (every device would then be able to sign as them: give each
            device its own folder, as ``hdus-sim certs`` writes).
        """
        wanted = sorted({_check_peer_id(p, "KeyRing.load_for peer_ids") for p in peer_ids})
        ring = cls.load(directory)
        path = Path(directory) / KEYRING_FILE
        missing = [p for p in wanted if not ring.can_sign(p)]
        if missing:
            raise SecurityError(
                f"{path} holds no private key of peer(s) {missing}, so they cannot sign; "
                "point pki_dir at the device's own folder written by `hdus-sim certs`"
            )
        others = sorted(ring.signing_peer_ids - set(wanted))
        if others:
            raise SecurityError(
                f"{path} holds the private keys of peer(s) {others} besides {wanted}: this "
                "device could sign as them; give every device only its own folder (hdus-sim "
                "certs OUT writes OUT/<host>/) and keep the others off it"
            )
        return ring

    def sign(self, peer_id: int, payload: bytes) -> bytes:
        """Sign ``payload`` as ``peer_id``; a 64-byte Ed25519 signature.

        Raises
        ------
        SecurityError
            If this ring does not hold ``peer_id``'s private key.
        """
        key = self._private.get(peer_id)
        if key is None:
            raise SecurityError(
                f"cannot sign as peer {peer_id}: this key ring holds private keys only for "
                f"peers {sorted(self._private)}; sign in the process that owns peer {peer_id}"
            )
        return key.sign(bytes(payload))

    def verify(self, peer_id: int, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is ``peer_id``'s signature of ``payload``.

        Never raises on bad input: an unknown peer, an empty, truncated or garbage
        signature, or a non-bytes argument all give ``False``.
        """
        raw = self._public.get(peer_id) if isinstance(peer_id, int) else None
        if raw is None:
            return False
        cache = self.__dict__.setdefault("_verifiers", {})
        key = cache.get(raw)
        try:
            if key is None:  # parsing a public key costs as much as a check: once per peer
                key = cache[raw] = Ed25519PublicKey.from_public_bytes(raw)
            key.verify(bytes(signature), bytes(payload))
        except (InvalidSignature, TypeError, ValueError):
            return False
        return True

    def add_public(self, peer_id: int, public_bytes: bytes) -> None:
        """Learn ``peer_id``'s 32-byte raw Ed25519 public key.

        Raises
        ------
        SecurityError
            If the bytes are not a public key, or the peer already has a different key
            (keys are pinned, so nobody can swap a peer's key to forge its notices).
        """
        pid = _check_peer_id(peer_id, "KeyRing.add_public")
        try:
            raw = bytes(public_bytes)
            Ed25519PublicKey.from_public_bytes(raw)
        except (TypeError, ValueError) as exc:
            raise SecurityError(
                f"public key of peer {pid} is not a 32-byte raw Ed25519 key ({exc}); "
                "send KeyRing.public_bytes(peer) as is"
            ) from exc
        known = self._public.get(pid)
        if known is not None and known != raw:
            raise SecurityError(
                f"peer {pid} already has a different public key; keys are pinned: build a new "
                "KeyRing if the peer really changed keys"
            )
        self._public[pid] = raw

    def public_bytes(self, peer_id: int) -> bytes:
        """``peer_id``'s 32-byte raw public key; :class:`SecurityError` if unknown."""
        try:
            return self._public[peer_id]
        except KeyError:
            raise SecurityError(
                f"no public key for peer {peer_id} (known: {sorted(self._public)}); add it "
                "with KeyRing.add_public"
            ) from None

    def save(self, directory: str | Path) -> Path:
        """Write ``keyring.json`` (hex keys) into ``directory``; returns the file's path.

        Private keys are written only if held, and the file is then readable by the owner
        only where the platform allows.
        """
        out = Path(directory)
        doc: dict[str, Any] = {
            "format": "hdus-sim keyring",
            "version": 1,
            "public": {str(p): raw.hex() for p, raw in sorted(self._public.items())},
        }
        if self._private:
            doc["private"] = {
                str(p): k.private_bytes_raw().hex() for p, k in sorted(self._private.items())
            }
        path = out / KEYRING_FILE
        text = json.dumps(doc, indent=2) + "\n"
        try:
            out.mkdir(parents=True, exist_ok=True)
            if self._private:
                _write_private(path, text.encode())
            else:
                path.write_text(text)
        except OSError as exc:
            raise SecurityError(f"cannot write {path}: {exc}; choose a writable directory") from exc
        return path

    @classmethod
    def load(cls, directory: str | Path) -> KeyRing:
        """Read a ring written by :meth:`save` from ``directory/keyring.json``.

        Raises
        ------
        SecurityError
            If the file is missing or malformed, or a private key does not match the
            public key stored for the same peer.
        """
        path = Path(directory) / KEYRING_FILE
        if not path.is_file():
            raise SecurityError(f"missing key ring file {path}; {_KEYRING_FIX}")
        try:
            doc = json.loads(path.read_text())
            public = {int(p): bytes.fromhex(h) for p, h in doc["public"].items()}
            private = {int(p): bytes.fromhex(h) for p, h in doc.get("private", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SecurityError(
                f"{path} is not a key ring ({exc}); expected "
                '{"public": {"<peer>": "<hex>"}, "private": {...}}; rewrite it with KeyRing.save'
            ) from exc
        ring = KeyRing()
        try:
            for pid, raw in public.items():
                ring.add_public(pid, raw)
            for pid, raw in private.items():
                key = Ed25519PrivateKey.from_private_bytes(raw)
                ring.add_public(pid, key.public_key().public_bytes_raw())
                ring._private[pid] = key
        except SecurityError as exc:
            raise SecurityError(f"{path}: {exc}") from exc
        except ValueError as exc:
            raise SecurityError(
                f"{path}: a private key is not a 32-byte raw Ed25519 key ({exc}); "
                "rewrite it with KeyRing.save"
            ) from exc
        return ring

    def __repr__(self) -> str:
        return f"KeyRing(public={sorted(self._public)}, private={sorted(self._private)})"

    def __getstate__(self) -> dict[str, Any]:
        # raw key bytes: checkpoints of peers (which hold their credentials) pickle
        return {
            "public": dict(self._public),
            "private": {p: k.private_bytes_raw() for p, k in self._private.items()},
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._public = dict(state["public"])
        self._private = {
            p: Ed25519PrivateKey.from_private_bytes(raw) for p, raw in state["private"].items()
        }

    def credentials(self, peer_id: int) -> PeerCredentials:
        """Credentials for peer ``peer_id``: it signs as itself and checks everyone.

        Raises
        ------
        SecurityError
            If this ring does not hold ``peer_id``'s private key.
        """
        if not self.can_sign(peer_id):
            raise SecurityError(
                f"cannot sign as peer {peer_id}: this key ring holds private keys only for "
                f"peers {sorted(self._private)}"
            )
        return PeerCredentials(self, peer_id)


class PeerCredentials:
    """One peer's :class:`clients.credentials.Credentials` backed by a :class:`KeyRing`.

    It signs only as ``peer_id`` (the peer logic never asks for another name) and verifies
    any peer's Ed25519 signature against the ring's public keys.
    """

    checked = True

    def __init__(self, ring: KeyRing, peer_id: int) -> None:
        self.ring = ring
        self.peer_id = peer_id

    def sign(self, payload: bytes) -> bytes:
        """Sign ``payload`` as this peer (64 bytes)."""
        return self.ring.sign(self.peer_id, payload)

    def verify(self, peer_id: int, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is ``peer_id``'s over ``payload`` (never raises)."""
        return self.ring.verify(peer_id, payload, signature)


# --------------------------------------------------------------------------------------------
# One folder per device
# --------------------------------------------------------------------------------------------

#: ``format`` of the manifest in the operator's folder written by :func:`write_device_folders`.
OPERATOR_FORMAT: Final[str] = "hdus-sim test pki (operator)"


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
            _write_private(out / "ca.key", pki.ca_key_pem)
        (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    except OSError as exc:
        raise SecurityError(f"cannot write the test PKI to {out}: {exc}") from exc
    return devices
