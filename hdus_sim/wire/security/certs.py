"""X.509 for the test PKI: issue the CA and host certificates, read them back, check them.

A host certificate names the peers its host serves as URI SubjectAlternativeNames
``hdus://peer/<id>`` (plus ``localhost`` and ``127.0.0.1``, what loopback dialing
verifies) and allows both server and client authentication. Keys are EC P-256
(milliseconds to generate), stored as unencrypted PKCS#8 PEM: this PKI is for tests.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hdus_sim.wire.security.common import SecurityError, check_peer_id

#: Prefix of the URI SubjectAlternativeName naming one served peer: ``hdus://peer/<id>``.
PEER_URI_PREFIX: Final[str] = "hdus://peer/"
#: How far in the past certificates become valid, to tolerate clock skew between machines.
CLOCK_SKEW: Final[dt.timedelta] = dt.timedelta(minutes=5)


def peer_uri(peer_id: int) -> str:
    """The SubjectAlternativeName URI naming ``peer_id``: ``hdus://peer/<id>``."""
    return f"{PEER_URI_PREFIX}{check_peer_id(peer_id, 'peer_id')}"


@dataclass(frozen=True)
class IssuingCa:
    """A freshly made CA: its key, self-signed certificate, name and key identifier."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    name: x509.Name
    aki: x509.AuthorityKeyIdentifier


def make_ca(common_name: str, not_before: dt.datetime, not_after: dt.datetime) -> IssuingCa:
    """Make a CA key and its self-signed certificate, valid from ``not_before`` to ``not_after``.

    The CA may sign host certificates only (``path_length=0``).
    """
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
    return IssuingCa(ca_key, ca_cert, ca_name, ca_aki)


def make_host_cert(
    ca: IssuingCa,
    name: str,
    ids: Iterable[int],
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> tuple[bytes, bytes]:
    """Make host ``name``'s key and CA-signed certificate speaking for peers ``ids``.

    Returns
    -------
    tuple of (bytes, bytes)
        The PEM certificate and the PEM (PKCS#8, unencrypted) private key.
    """
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
        .issuer_name(ca.name)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(ca.aki, critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return cert_to_pem(cert), key_to_pem(key)


def peer_ids_of_cert(cert: x509.Certificate) -> frozenset[int]:
    """Peer ids named by ``cert``'s ``hdus://peer/<id>`` URIs; empty if it has none."""
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


def cert_to_pem(cert: x509.Certificate) -> bytes:
    """``cert`` as PEM bytes."""
    return cert.public_bytes(serialization.Encoding.PEM)


def key_to_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM bytes."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_cert(pem: bytes, path: Path) -> x509.Certificate:
    """Parse the PEM certificate read from ``path``; SecurityError naming the file if bad."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise SecurityError(
            f"{path} is not a PEM certificate ({exc}); regenerate the directory with "
            "make_test_pki(...).save(...)"
        ) from exc


def check_key_matches(key_pem: bytes, cert: x509.Certificate, path: Path) -> None:
    """Check the PEM private key read from ``path`` is the key of ``cert``."""
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
