"""Mutual TLS over gRPC with the test PKI: credentials, channel options, caller identity.

A host's certificate is used as server and as client certificate; a receiver calls
:func:`peer_ids_from_auth_context` on a call's ``auth_context()`` and refuses any message
whose claimed sender is not in the returned set. gRPC is imported only inside the
functions that build gRPC credentials, so importing this module needs no gRPC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

from cryptography import x509

from hdus_sim.wire.security.certs import peer_ids_of_cert
from hdus_sim.wire.security.pki import TestPki

if TYPE_CHECKING:
    import grpc

#: Names the host certificates cover besides the peer URIs (what loopback dialing verifies).
_LOOPBACK_NAMES: Final[frozenset[str]] = frozenset({"localhost", "127.0.0.1"})


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


def peer_ids_from_auth_context(
    auth_context: Mapping[str, Sequence[bytes]] | Mapping[str, bytes],
) -> frozenset[int]:
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
    return peer_ids_of_cert(cert)


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
