"""Peers over real gRPC on loopback: mTLS, signed leaves, verify, and a hostile-message fuzz."""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from clients.messages import LeaveNotice, LeaveReason, SeedMessage, content_hash
from hdus_sim import Simulation, verify_run
from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire import serde
from hdus_sim.wire.security import channel_credentials, make_test_pki
from hdus_sim.wire.service import PeerServiceClient

SERVICE = "/hdus_sim.proto.PeerService/"


def grpc_scenario(tiny: dict, **wire: Any) -> dict:
    sc = copy.deepcopy(tiny)
    sc["runtime"] = {"kind": "grpc", "wire": {"hosts": 2, "tls": True, "sign": True, **wire}}
    return sc


def test_scenario_over_mtls_grpc_passes_verify(tiny: dict, tmp_path: Path) -> None:
    sc = grpc_scenario(tiny, hosts=3)
    sc["exchange"]["relay_hops"] = 2
    sim = Simulation.from_dict(sc).run()
    wire = sim.summary()["wire"]
    assert wire["rpcs"] >= sim.summary()["messages"] > 0  # every message was a real RPC
    assert wire["failed"] == 0
    sim.write(tmp_path)
    report = verify_run(tmp_path)
    assert report.passed and [e.verdict for e in report.events] == ["EXACT", "EXACT"]
    # the wire changes nothing: the in-memory run predicts the same, bit for bit
    sc["runtime"] = {"kind": "inprocess"}
    memory = Simulation.from_dict(sc).run().predictions()
    over_grpc = sim.predictions()
    assert memory.keys() == over_grpc.keys()
    assert all(np.array_equal(memory[k], over_grpc[k]) for k in memory)


def test_protobuf_roundtrip_mode_gives_identical_run(tiny: dict) -> None:
    plain = Simulation.from_dict(tiny).run().predictions()
    tiny["runtime"] = {"kind": "inprocess", "wire_roundtrip": True}
    coded = Simulation.from_dict(tiny).run().predictions()
    assert all(np.array_equal(plain[k], coded[k]) for k in plain)


@pytest.fixture
def live(tiny: dict) -> Iterator[Simulation]:
    """A 6-peer ring over mTLS gRPC, trained and exchanged, hosts still serving."""
    sc = grpc_scenario(tiny)
    sc["events"] = []
    sim = Simulation.from_dict(sc)
    sim.step()
    sim.step()
    yield sim
    sim.close()


def snapshot(sim: Simulation, pid: int) -> tuple:
    p = sim.peer(pid)
    return (
        {k: (h.record.version, h.record.digest) for k, h in p.held.items()},
        frozenset(p.tombstones),
        frozenset(p.neighbors),
    )


def test_client_without_valid_certificate_cannot_connect(live: Simulation) -> None:
    transport = live.runtime.transport
    target = transport.addresses["host0"]
    pki = transport.pki
    request = pb.HealthRequest()
    # no client certificate (trusts the CA only)
    creds = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert_pem)
    with grpc.secure_channel(target, creds) as channel, pytest.raises(grpc.RpcError) as err:
        PeerServiceClient(channel).Health(request, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # a certificate from another CA
    other = make_test_pki({"host1": [1, 3, 5]})
    with (
        grpc.secure_channel(target, channel_credentials(other, "host1")) as channel,
        pytest.raises(grpc.RpcError) as err,
    ):
        PeerServiceClient(channel).Health(request, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # plaintext
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError):
        PeerServiceClient(channel).Health(request, timeout=5)
    # the genuine certificate works
    with grpc.secure_channel(target, channel_credentials(pki, "host1")) as channel:
        assert PeerServiceClient(channel).Health(request, timeout=5).status == "SERVING"


def test_leave_notice_not_signed_by_the_leaver_is_refused(live: Simulation) -> None:
    transport = live.runtime.transport
    before = snapshot(live, 0)
    assert (1, 0) in live.peer(0).held
    forged = LeaveNotice(1, 0, LeaveReason.GRACEFUL, 1, 0, origin=1)
    # signed by peer 5 (a neighbour of 0, speaking for itself) instead of peer 1
    by_other = dataclasses.replace(
        forged, signature=transport.keyring.sign(5, forged.signed_payload())
    )
    with grpc.secure_channel(
        transport.addresses["host0"], channel_credentials(transport.pki, "host1")
    ) as channel:
        stub = PeerServiceClient(channel)
        for notice in (forged, by_other):
            with pytest.raises(grpc.RpcError) as err:
                stub.NotifyLeave(serde.leave_to_proto(notice, 0), timeout=5)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "not signed by peer 1" in err.value.details()
        assert snapshot(live, 0) == before
        # the genuine, signed notice is accepted
        signed = dataclasses.replace(
            forged, signature=transport.keyring.sign(1, forged.signed_payload())
        )
        stub.NotifyLeave(serde.leave_to_proto(signed, 0), timeout=5)
    assert (1, 0) not in live.peer(0).held and (1, 0) in live.peer(0).tombstones


def _seed_chunks(msg: SeedMessage, dst: int = 0, chunk: int = 2048) -> list[pb.SeedChunk]:
    return serde.seed_to_chunks(msg, dst, chunk_bytes=chunk)


def _retensor(msg: SeedMessage, fn) -> SeedMessage:
    tensors = tuple((n, fn(i, t)) for i, (n, t) in enumerate(msg.record.tensors))
    rec = dataclasses.replace(msg.record, tensors=tensors, digest=content_hash(tensors))
    return dataclasses.replace(msg, record=rec)


def hostile_calls(live: Simulation, n: int, seed: int = 0) -> Iterator[tuple[str, str, Any]]:
    """Yield (kind, method, request-or-iterator) for ``n`` hostile messages to peer 0."""
    rng = np.random.default_rng(seed)
    owner = live.peer(1)
    good = SeedMessage(owner.own_seed, 1, 0, owner.own_lease())
    keyring = live.runtime.transport.keyring
    kinds = [
        "random_bytes",
        "random_stream",
        "truncated",
        "wrong_shape",
        "nan",
        "oversize",
        "forged_sender",
        "forged_leave",
        "old_version",
        "not_neighbour",
        "unknown_peer",
        "bad_digest",
        "wrong_dtype",
        "reordered_chunks",
        "forged_seed",
        "forged_lease",
        "tombstone_flood",
    ]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "random_bytes":
            method = ["NotifyLeave", "SendHeartbeat", "NotifyJoin", "RequestDeletion"][i % 4]
            yield kind, method, rng.bytes(int(rng.integers(1, 200)))
        elif kind == "random_stream":
            yield kind, "PushSeed", [rng.bytes(int(rng.integers(1, 300))) for _ in range(3)]
        elif kind == "truncated":
            chunks = _seed_chunks(good, chunk=int(rng.integers(64, 4096)))
            cut = int(rng.integers(1, len(chunks)))
            yield kind, "PushSeed", chunks[:cut]
        elif kind == "wrong_shape":
            yield (
                kind,
                "PushSeed",
                _seed_chunks(_retensor(good, lambda j, t: t[:1] if j == 0 else t)),
            )
        elif kind == "nan":
            bad = float(rng.choice([np.nan, np.inf, -np.inf]))
            yield (
                kind,
                "PushSeed",
                _seed_chunks(
                    _retensor(
                        good,
                        lambda j, t, bad=bad: np.where(
                            np.arange(t.size).reshape(t.shape) == 0, bad, t
                        ).astype(np.float32),
                    )
                ),
            )
        elif kind == "oversize":
            header = serde.seed_to_chunks(good, 0)[0]
            header.header.total_bytes = (1 << 30) + int(rng.integers(0, 1000))
            yield kind, "PushSeed", [header]
        elif kind == "forged_sender":
            yield kind, "PushSeed", _seed_chunks(dataclasses.replace(good, sender=2))
        elif kind == "forged_leave":
            notice = LeaveNotice(
                1, 0, LeaveReason.GRACEFUL, 1, 0, origin=1, signature=rng.bytes(64)
            )
            yield kind, "NotifyLeave", serde.leave_to_proto(notice, 0)
        elif kind == "old_version":
            # a genuine, owner-signed older version (a replay): stale, not forged
            rec = dataclasses.replace(good.record, version=0)
            rec = dataclasses.replace(rec, signature=keyring.sign(1, rec.signed_payload()))
            yield kind, "PushSeed", _seed_chunks(dataclasses.replace(good, record=rec))
        elif kind == "forged_seed":
            # peer 1's seed in a future epoch and a higher version, not signed by peer 1
            rec = dataclasses.replace(good.record, epoch=5, version=99, lineage=frozenset({(1, 5)}))
            rec = dataclasses.replace(rec, signature=rng.bytes(64))
            lease = dataclasses.replace(good.lease, epoch=5)
            yield kind, "PushSeed", _seed_chunks(SeedMessage(rec, 1, 0, lease))
        elif kind == "forged_lease":
            forged = pb.Lease(owner=2, epoch=0, seq=10**6, floor=50, signature=rng.bytes(64))
            yield (
                kind,
                "SendHeartbeat",
                pb.Heartbeat(sender=1, epoch=0, round=2, dst=0, leases=[forged]),
            )
        elif kind == "tombstone_flood":
            many = [pb.DataOwner(peer=1000 + j, epoch=0) for j in range(5000)]
            yield (
                kind,
                "SendHeartbeat",
                pb.Heartbeat(sender=1, epoch=0, round=2, dst=0, tombstones=many),
            )
        elif kind == "not_neighbour":
            third = SeedMessage(live.peer(3).own_seed, 3, 0)
            yield kind, "PushSeed", _seed_chunks(third)
        elif kind == "unknown_peer":
            yield kind, "SendHeartbeat", pb.Heartbeat(sender=1, epoch=0, round=2, dst=98)
        elif kind == "bad_digest":
            rec = dataclasses.replace(good.record, digest=rng.bytes(32).hex())
            yield kind, "PushSeed", _seed_chunks(dataclasses.replace(good, record=rec))
        elif kind == "wrong_dtype":
            yield kind, "PushSeed", _seed_chunks(_retensor(good, lambda j, t: t.astype(np.float64)))
        else:
            chunks = _seed_chunks(good, chunk=512)
            j = int(rng.integers(1, len(chunks) - 1))
            chunks[j], chunks[j + 1] = chunks[j + 1], chunks[j]
            yield kind, "PushSeed", chunks
        assert keyring is not None


def _call(channel: grpc.Channel, method: str, request: Any) -> None:
    raw = isinstance(request, bytes) or (
        isinstance(request, list) and request and isinstance(request[0], bytes)
    )
    ser = None if raw else (lambda m: m.SerializeToString())
    if method == "PushSeed":
        call = channel.stream_unary(
            SERVICE + method, request_serializer=ser, response_deserializer=pb.Ack.FromString
        )
        call(iter(request), timeout=10)
    else:
        call = channel.unary_unary(
            SERVICE + method, request_serializer=ser, response_deserializer=lambda b: b
        )
        call(request, timeout=10)


def test_fuzz_thousand_hostile_messages(live: Simulation) -> None:
    transport = live.runtime.transport
    before = {pid: snapshot(live, pid) for pid in live.runtime.online()}
    codes: Counter[tuple[str, str]] = Counter()
    n = 0
    with grpc.secure_channel(
        transport.addresses["host0"], channel_credentials(transport.pki, "host1")
    ) as channel:
        for kind, method, request in hostile_calls(live, 1008):
            with pytest.raises(grpc.RpcError) as err:
                _call(channel, method, request)
            assert err.value.code() != grpc.StatusCode.OK
            assert err.value.details(), f"{kind}: refused without a message"
            codes[(kind, err.value.code().name)] += 1
            n += 1
        health = PeerServiceClient(channel).Health(pb.HealthRequest(), timeout=5)
    assert n >= 1000
    assert health.status == "SERVING" and 0 in health.peers
    assert {pid: snapshot(live, pid) for pid in live.runtime.online()} == before
    expected = {
        "truncated": "DATA_LOSS",
        "wrong_shape": "INVALID_ARGUMENT",
        "nan": "INVALID_ARGUMENT",
        "oversize": "RESOURCE_EXHAUSTED",
        "forged_sender": "PERMISSION_DENIED",
        "forged_leave": "PERMISSION_DENIED",
        "old_version": "ALREADY_EXISTS",
        "not_neighbour": "PERMISSION_DENIED",
        "unknown_peer": "NOT_FOUND",
        "bad_digest": "DATA_LOSS",
        "wrong_dtype": "INVALID_ARGUMENT",
        "reordered_chunks": "INVALID_ARGUMENT",
        "forged_seed": "PERMISSION_DENIED",
        "forged_lease": "PERMISSION_DENIED",
        "tombstone_flood": "INVALID_ARGUMENT",
    }
    for kind, code in expected.items():
        got = {c for (k, c) in codes if k == kind}
        assert got == {code}, f"{kind}: expected {code}, got {got}"
    # the simulation carries on normally afterwards
    live.step()
    assert live.rounds[-1]["online"] == 6


def test_deletion_request_must_be_signed_by_the_data_owner(live: Simulation) -> None:
    from clients.messages import DeletionRequest

    transport = live.runtime.transport
    req = DeletionRequest("r1", peer=1, epoch=0, sample_ids=(3, 4), requester=1)
    forged = dataclasses.replace(req, signature=transport.keyring.sign(3, req.signed_payload()))
    signed = dataclasses.replace(req, signature=transport.keyring.sign(1, req.signed_payload()))
    with grpc.secure_channel(
        transport.addresses["host0"], channel_credentials(transport.pki, "host1")
    ) as channel:
        stub = PeerServiceClient(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.RequestDeletion(serde.deletion_request_to_proto(forged, 0), timeout=5)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as err:
            stub.RequestDeletion(serde.deletion_request_to_proto(signed, 0), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
