"""Mutual TLS test PKI (real gRPC on 127.0.0.1) and Ed25519 key rings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from hdus_sim.errors import HdusError
from hdus_sim.wire.security import (
    KEYRING_FILE,
    KeyRing,
    SecurityError,
    TestPki,
    channel_credentials,
    channel_options,
    make_test_pki,
    peer_ids_from_auth_context,
    server_credentials,
    write_device_folders,
)

TIMEOUT = 5.0  # seconds; failures must not hang the suite


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_pki({"alpha": [0, 2, 5], "beta": [1, 3]})


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _uris(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.UniformResourceIdentifier)


# ---- PKI -------------------------------------------------------------------------------------


def test_pki_certs_verify_against_ca_and_list_peers(pki: TestPki) -> None:
    ca = _cert(pki.ca_cert_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert sorted(pki.hosts) == ["alpha", "beta"]
    assert pki.hosts["alpha"].peer_ids == (0, 2, 5)
    for name, identity in pki.hosts.items():
        cert = _cert(identity.cert_pem)
        cert.verify_directly_issued_by(ca)  # raises if not signed by the CA
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert cn == name
        assert _uris(cert) == [f"hdus://peer/{p}" for p in identity.peer_ids]
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert x509.ExtendedKeyUsageOID.SERVER_AUTH in eku
        assert x509.ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert pki.host_of_peer(3).name == "beta"
    with pytest.raises(SecurityError, match="served by no host"):
        pki.host_of_peer(99)
    with pytest.raises(SecurityError, match="no host 'gamma'"):
        pki.host("gamma")


def test_pki_save_load_round_trip(pki: TestPki, tmp_path: Path) -> None:
    out = pki.save(tmp_path / "pki")
    names = {p.name for p in out.iterdir()}
    assert names == {
        "ca.pem",
        "ca.key",
        "alpha.pem",
        "alpha.key",
        "beta.pem",
        "beta.key",
        "manifest.json",
    }
    assert json.loads((out / "manifest.json").read_text())["hosts"] == {
        "alpha": [0, 2, 5],
        "beta": [1, 3],
    }
    assert TestPki.load(out) == pki


def test_pki_load_names_missing_files(pki: TestPki, tmp_path: Path) -> None:
    missing_dir = tmp_path / "nowhere"
    with pytest.raises(SecurityError, match=r"manifest\.json.*make_test_pki") as info:
        TestPki.load(missing_dir)
    assert str(missing_dir) in str(info.value)
    assert isinstance(info.value, HdusError)

    out = pki.save(tmp_path / "pki")
    (out / "beta.key").unlink()
    with pytest.raises(SecurityError, match=r"beta\.key"):
        TestPki.load(out)


def test_pki_load_rejects_tampered_manifest(pki: TestPki, tmp_path: Path) -> None:
    out = pki.save(tmp_path / "pki")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["hosts"]["beta"] = [1, 3, 0]  # beta claims alpha's peer 0
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SecurityError, match="speaks for peers"):
        TestPki.load(out)


@pytest.mark.parametrize(
    ("hosts", "match"),
    [
        ({"a": [0], "b": [0]}, "both hosts"),
        ({"a": [-1]}, "peer id"),
        ({"../x": [0]}, "bad host name"),
        ({"ca": [0]}, "bad host name"),
        ({}, "at least one host"),
    ],
)
def test_make_test_pki_rejects_bad_input(hosts: dict[str, list[int]], match: str) -> None:
    with pytest.raises(SecurityError, match=match):
        make_test_pki(hosts)


def test_channel_options() -> None:
    assert channel_options() == []
    assert channel_options("127.0.0.1:5000") == []
    assert channel_options("localhost:5000") == []
    assert channel_options("ipv4:127.0.0.1:5000") == []
    override = [("grpc.ssl_target_name_override", "localhost")]
    assert channel_options("10.0.0.7:5000") == override
    assert channel_options("[::1]:5000") == override


def test_peer_ids_from_auth_context_without_cert(pki: TestPki) -> None:
    assert peer_ids_from_auth_context({}) == frozenset()
    assert peer_ids_from_auth_context({"x509_pem_cert": [b"not a cert"]}) == frozenset()
    ctx = {"x509_pem_cert": [pki.hosts["beta"].cert_pem]}
    assert peer_ids_from_auth_context(ctx) == frozenset({1, 3})


# ---- real gRPC over mutual TLS --------------------------------------------------------------


def _who(request: bytes, context: grpc.ServicerContext) -> bytes:
    ids = peer_ids_from_auth_context(context.auth_context())
    return ",".join(str(p) for p in sorted(ids)).encode()


@pytest.fixture(scope="module")
def tls_port(pki: TestPki) -> Iterator[int]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Who": grpc.unary_unary_rpc_method_handler(
                _who, request_deserializer=lambda b: b, response_serializer=lambda b: b
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port("127.0.0.1:0", server_credentials(pki, "alpha"))
    assert port > 0
    server.start()
    yield port
    server.stop(None)


def _call(channel: grpc.Channel) -> bytes:
    return channel.unary_unary("/test.Echo/Who")(b"", timeout=TIMEOUT)


def _failure(channel: grpc.Channel) -> grpc.StatusCode:
    """Call and return the status code of the expected failure."""
    with pytest.raises(grpc.RpcError) as info:
        _call(channel)
    return info.value.code()


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost"])
def test_mtls_call_reports_client_host_peers(pki: TestPki, tls_port: int, address: str) -> None:
    target = f"{address}:{tls_port}"
    creds = channel_credentials(pki, "beta")
    with grpc.secure_channel(target, creds, options=channel_options(target)) as channel:
        assert _call(channel) == b"1,3"


def test_mtls_same_host_as_client(pki: TestPki, tls_port: int) -> None:
    target = f"127.0.0.1:{tls_port}"
    with grpc.secure_channel(target, channel_credentials(pki, "alpha")) as channel:
        assert _call(channel) == b"0,2,5"


def test_mtls_refuses_client_without_certificate(pki: TestPki, tls_port: int) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert_pem)
    with grpc.secure_channel(f"127.0.0.1:{tls_port}", creds) as channel:
        assert _failure(channel) == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_client_from_other_ca(pki: TestPki, tls_port: int) -> None:
    rogue = make_test_pki({"beta": [0, 1, 2, 3, 5]})
    # The rogue client trusts the real CA (so the server's cert is accepted) but presents a
    # certificate signed by its own CA: the server must refuse the handshake.
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert_pem,
        private_key=rogue.hosts["beta"].key_pem,
        certificate_chain=rogue.hosts["beta"].cert_pem,
    )
    with grpc.secure_channel(f"127.0.0.1:{tls_port}", creds) as channel:
        assert _failure(channel) == grpc.StatusCode.UNAVAILABLE


def test_mtls_client_refuses_server_from_other_ca(tls_port: int) -> None:
    rogue = make_test_pki({"beta": [1]})
    with grpc.secure_channel(f"127.0.0.1:{tls_port}", channel_credentials(rogue, "beta")) as ch:
        assert _failure(ch) == grpc.StatusCode.UNAVAILABLE


def test_insecure_channel_to_tls_port_fails(tls_port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{tls_port}") as channel:
        assert _failure(channel) == grpc.StatusCode.UNAVAILABLE


def test_insecure_server_gives_no_peer_ids() -> None:
    server = grpc.server(ThreadPoolExecutor(max_workers=1))
    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Who": grpc.unary_unary_rpc_method_handler(
                _who, request_deserializer=lambda b: b, response_serializer=lambda b: b
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert _call(channel) == b""
    finally:
        server.stop(None)


# ---- Ed25519 key rings ----------------------------------------------------------------------


def test_keyring_sign_verify() -> None:
    ring = KeyRing.generate([0, 1, 2])
    payload = b"leave peer=1 epoch=3"
    sig = ring.sign(1, payload)
    assert len(sig) == 64
    assert ring.verify(1, payload, sig)
    neighbour = ring.public_only()
    assert neighbour.verify(1, payload, sig)
    assert not neighbour.verify(0, payload, sig)  # another peer's signature
    assert not neighbour.verify(1, payload + b"!", sig)  # modified payload
    assert not neighbour.verify(1, payload, b"")  # empty signature
    assert not neighbour.verify(1, payload, b"\x00" * 64)  # garbage, right length
    assert not neighbour.verify(1, payload, b"garbage")  # garbage, wrong length
    assert not neighbour.verify(1, payload, sig[:-1])  # truncated
    assert not neighbour.verify(9, payload, sig)  # unknown peer
    assert not neighbour.verify(1, payload, None)  # type: ignore[arg-type]


def test_keyring_seeded_keys_are_deterministic() -> None:
    a = KeyRing.generate([0, 1], seed=42)
    b = KeyRing.generate([1, 0], seed=42)
    c = KeyRing.generate([0, 1], seed=43)
    assert a.public_bytes(0) == b.public_bytes(0)
    assert a.public_bytes(1) == b.public_bytes(1)
    assert a.public_bytes(0) != a.public_bytes(1)
    assert a.public_bytes(0) != c.public_bytes(0)
    assert a.sign(0, b"x") == b.sign(0, b"x")
    assert KeyRing.generate([0]).public_bytes(0) != KeyRing.generate([0]).public_bytes(0)


def test_keyring_public_only_cannot_sign() -> None:
    ring = KeyRing.generate([0, 1], seed=1)
    public = ring.public_only()
    assert public.peer_ids == frozenset({0, 1})
    assert public.signing_peer_ids == frozenset()
    assert ring.can_sign(0) and not public.can_sign(0)
    with pytest.raises(SecurityError, match="cannot sign as peer 0"):
        public.sign(0, b"x")
    with pytest.raises(SecurityError, match="cannot sign as peer 7"):
        ring.sign(7, b"x")


def test_keyring_add_public_is_pinned() -> None:
    owner = KeyRing.generate([4], seed=5)
    other = KeyRing.generate([4], seed=6)
    ring = KeyRing()
    ring.add_public(4, owner.public_bytes(4))
    ring.add_public(4, owner.public_bytes(4))  # same key again: fine
    assert ring.verify(4, b"m", owner.sign(4, b"m"))
    with pytest.raises(SecurityError, match="different public key"):
        ring.add_public(4, other.public_bytes(4))
    with pytest.raises(SecurityError, match="32-byte"):
        ring.add_public(5, b"short")
    with pytest.raises(SecurityError, match="no public key for peer 5"):
        ring.public_bytes(5)


def test_keyring_save_load(tmp_path: Path) -> None:
    ring = KeyRing.generate([0, 3], seed=9)
    ring.add_public(7, KeyRing.generate([7], seed=9).public_bytes(7))
    path = ring.save(tmp_path / "full")
    assert path.name == KEYRING_FILE
    loaded = KeyRing.load(tmp_path / "full")
    assert loaded.signing_peer_ids == frozenset({0, 3})
    assert loaded.peer_ids == frozenset({0, 3, 7})
    assert loaded.sign(3, b"m") == ring.sign(3, b"m")

    ring.public_only().save(tmp_path / "pub")
    doc = json.loads((tmp_path / "pub" / KEYRING_FILE).read_text())
    assert "private" not in doc
    pub = KeyRing.load(tmp_path / "pub")
    assert pub.signing_peer_ids == frozenset()
    assert pub.verify(0, b"m", ring.sign(0, b"m"))


def test_keyring_load_errors(tmp_path: Path) -> None:
    with pytest.raises(SecurityError, match=r"keyring\.json.*KeyRing\.generate"):
        KeyRing.load(tmp_path / "nowhere")
    (tmp_path / KEYRING_FILE).write_text("{not json")
    with pytest.raises(SecurityError, match="is not a key ring"):
        KeyRing.load(tmp_path)
    # A private key that does not match the public key stored for the same peer.
    good = KeyRing.generate([0], seed=1)
    good.save(tmp_path / "bad")
    doc = json.loads((tmp_path / "bad" / KEYRING_FILE).read_text())
    doc["public"]["0"] = KeyRing.generate([0], seed=2).public_bytes(0).hex()
    (tmp_path / "bad" / KEYRING_FILE).write_text(json.dumps(doc))
    with pytest.raises(SecurityError, match="different public key"):
        KeyRing.load(tmp_path / "bad")


# ---- one folder per device ------------------------------------------------------------------


def test_keyring_only_keeps_every_public_key_and_the_given_private_ones() -> None:
    ring = KeyRing.generate([0, 1, 2], seed=3)
    mine = ring.only([1])
    assert mine.signing_peer_ids == frozenset({1}) and mine.peer_ids == frozenset({0, 1, 2})
    with pytest.raises(SecurityError, match=r"no private key for peer\(s\) \[7\]"):
        ring.only([1, 7])


def test_device_folders_hold_only_their_own_secrets(tmp_path: Path) -> None:
    pki = make_test_pki({"peer1": [1], "peer2": [2], "gw": [3, 4]})
    ring = KeyRing.generate([1, 2, 3, 4], seed=5)
    devices = write_device_folders(tmp_path / "certs", pki, ring)
    assert sorted(devices) == ["gw", "peer1", "peer2"]
    top = tmp_path / "certs"
    assert "private" not in json.loads((top / KEYRING_FILE).read_text())  # public ring only
    assert (top / "ca.key").is_file() and not list(top.glob("peer*.key"))
    for name, folder in devices.items():
        keys = sorted(p.name for p in folder.glob("*.key"))
        assert keys == [f"{name}.key"]  # its own TLS key, never the CA's or another host's
        doc = json.loads((folder / KEYRING_FILE).read_text())
        assert sorted(doc["private"]) == [str(p) for p in pki.hosts[name].peer_ids]
        assert sorted(doc["public"]) == ["1", "2", "3", "4"]
        assert (folder / KEYRING_FILE).stat().st_mode & 0o077 == 0
        device = TestPki.load(folder)
        assert sorted(device.hosts) == [name] and device.ca_key_pem is None
    with pytest.raises(SecurityError, match=r"operator's folder.*certs/<host>/"):
        TestPki.load(top)


def test_a_device_signs_only_as_itself_and_verifies_the_others(tmp_path: Path) -> None:
    pki = make_test_pki({f"peer{i}": [i] for i in range(3)})
    devices = write_device_folders(tmp_path, pki, KeyRing.generate(range(3), seed=1))
    one = KeyRing.load_for(devices["peer1"], [1])
    two = KeyRing.load_for(devices["peer2"], [2])
    with pytest.raises(SecurityError, match=r"cannot sign as peer 2: .* only for peers \[1\]"):
        one.sign(2, b"leave:2:epoch=0")
    signed = two.sign(2, b"leave:2:epoch=0")
    assert one.verify(2, b"leave:2:epoch=0", signed)  # device 1 checks device 2's notice
    assert not one.verify(1, b"leave:2:epoch=0", signed)
    with pytest.raises(SecurityError, match=r"holds no private key of peer\(s\) \[2\]"):
        KeyRing.load_for(devices["peer1"], [2])
    # the old layout: one ring with every private key, loaded by every device
    KeyRing.generate(range(3), seed=1).save(tmp_path / "shared")
    with pytest.raises(SecurityError, match=r"private keys of peer\(s\) \[0, 2\] besides \[1\]"):
        KeyRing.load_for(tmp_path / "shared", [1])
