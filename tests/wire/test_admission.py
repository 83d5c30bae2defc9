"""Admission control on live mTLS peers: rates, bounded concurrency, slow-loris streams.

Every attack here runs against the tiny ring on two real gRPC hosts while the honest peers
keep running rounds; the honest run must come out exactly as it does in memory (same held
seeds, same parameters), with no honest message refused.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from wire_helpers import LiveRing, channel_to, client

from clients.messages import Heartbeat, SeedMessage
from hdus_sim import Simulation
from hdus_sim.wire import serde
from hdus_sim.wire.admission import RETRY_AFTER_KEY, retry_after_s
from hdus_sim.wire.serde import SERVICE_METHODS

PATHS = {m.name: m.path for m in SERVICE_METHODS}


def _state(sim: Simulation) -> dict[int, tuple[list[Any], list[float]]]:
    """Per online peer: its held seeds and a fingerprint of its main model."""
    out = {}
    for p in sim.runtime.online():
        peer = sim.peer(p)
        params = [float(t.double().sum()) for t in peer.main.state_dict().values()]
        out[p] = (sorted(peer.held), params)
    return out


def _in_memory(tiny: dict[str, Any], rounds: int) -> Simulation:
    sc = copy.deepcopy(tiny)
    sc["events"] = []
    sc["rounds"] = 8
    sim = Simulation.from_dict(sc)
    for _ in range(rounds):
        sim.step()
    return sim


def _stalled_stream(first: bytes, release: threading.Event) -> Iterator[bytes]:
    """A seed stream that sends its first chunk and then nothing (a slow-loris caller)."""
    yield first
    release.wait(30)


def _first_chunk(sim: Simulation) -> bytes:
    """The header chunk of a genuine seed (peer 1's, as peer 0 holds it) sent to peer 0."""
    holder = sim.peer(0)
    msg = SeedMessage(holder.held[(1, 0)].record, 1, 0, holder.leases[(1, 0)].lease)
    return next(iter(serde.iter_seed_chunks(msg, 0))).SerializeToString()


def test_tight_rate_limits_delay_honest_traffic_but_lose_nothing(
    live_ring: LiveRing, tiny: dict[str, Any]
) -> None:
    # limits far below what the ring sends per round: honest senders are refused with a
    # retry hint over and over, wait, and get every message through in the same round
    sim = live_ring(
        warm=0, connection_msgs_per_s=6, sender_msgs_per_s=2, connection_bytes_per_s=2e6
    )
    for _ in range(4):
        sim.step()
    stats = sim.wire_stats()
    assert stats["limited"].get("sender", 0) + stats["limited"].get("connection", 0) > 0
    assert stats["busy_retries"] > 0
    assert stats["refused"] == {} and stats["failed"] == 0
    assert _state(sim) == _state(_in_memory(tiny, 4))


def test_a_caller_over_its_rate_is_refused_with_a_retry_hint(live_ring: LiveRing) -> None:
    sim = live_ring(sender_msgs_per_s=5)
    peer0 = sim.peer(0)
    before = dict(peer0.last_heard)
    with channel_to(sim) as channel:
        stub = client(channel)
        beat = serde.heartbeat_to_proto(Heartbeat(1, 0, sim.engine.now), 0)
        codes: Counter[str] = Counter()
        hint: list[grpc.RpcError] = []
        for _ in range(40):
            try:
                stub.SendHeartbeat(beat, timeout=5)
                codes["OK"] += 1
            except grpc.RpcError as err:
                codes[err.code().name] += 1
                hint.append(err)
        assert codes["RESOURCE_EXHAUSTED"] >= 20
        err = hint[0]
        assert "peer 1 is over its rate limit of 5 messages/s" in err.details()
        assert dict(err.trailing_metadata())[RETRY_AFTER_KEY].isdigit()
        assert 0 < retry_after_s(err) <= 1.0
        # another sender on the same connection is not held back by peer 1's flood
        other = serde.heartbeat_to_proto(Heartbeat(3, 0, sim.engine.now), 0)
        with pytest.raises(grpc.RpcError) as refused:
            stub.SendHeartbeat(other, timeout=5)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED  # 3 is no neighbour
    assert peer0.last_heard[1] >= before[1]


def test_bytes_that_are_no_message_get_data_loss_naming_the_type(live_ring: LiveRing) -> None:
    sim = live_ring()
    with channel_to(sim) as channel:
        raw = channel.unary_unary(PATHS["SendHeartbeat"])
        with pytest.raises(grpc.RpcError) as err:
            raw(b"\xff\xff\xff\xff\x0f", timeout=5)
    assert err.value.code() == grpc.StatusCode.DATA_LOSS
    assert "not a valid Heartbeat message" in err.value.details()


def test_slow_loris_streams_are_cut_and_no_valid_message_is_refused(
    live_ring: LiveRing, tiny: dict[str, Any]
) -> None:
    # 4 server threads per host; the attacker holds 3 connections x 8 stalled seed
    # streams against host0 while the honest ring keeps running rounds
    sim = live_ring(server_workers=4, stream_idle_s=1.0)
    first = _first_chunk(sim)
    release = threading.Event()
    channels = [channel_to(sim) for _ in range(3)]
    calls = [
        ch.stream_unary(PATHS["PushSeed"]).future(_stalled_stream(first, release), timeout=60)
        for ch in channels
        for _ in range(8)
    ]
    try:
        for _ in range(3):
            sim.step()
        stats = sim.wire_stats()
        assert stats["idle_streams_cancelled"] >= 20
        assert stats["refused"] == {} and stats["failed"] == 0
        assert _state(sim) == _state(_in_memory(tiny, 5))
        cut = Counter(c.exception().code().name for c in calls if c.exception() is not None)
        assert cut["CANCELLED"] >= 20
    finally:
        release.set()
        for ch in channels:
            ch.close()


def test_under_a_burst_of_calls_every_request_is_answered(live_ring: LiveRing) -> None:
    # 2 threads and room for 6 calls per host, two of them held by stalled streams; 240
    # calls at once from 24 threads: each gets an answer (served, or refused as busy —
    # by the server or, rarely, by HTTP/2 REFUSED_STREAM) well before its deadline; none
    # is left hanging (DEADLINE_EXCEEDED)
    sim = live_ring(server_workers=2, max_concurrent_rpcs=6, stream_idle_s=1.0)
    first = _first_chunk(sim)
    release = threading.Event()
    channel = channel_to(sim)
    stub = client(channel)
    push = channel.stream_unary(PATHS["PushSeed"])
    stalled = [push.future(_stalled_stream(first, release), timeout=60) for _ in range(2)]
    beat = serde.heartbeat_to_proto(Heartbeat(1, 0, sim.engine.now), 0)

    def call(i: int) -> str:
        try:
            if i % 2:
                stub.SendHeartbeat(beat, timeout=8)
            else:
                stub.Health(serde.health_request(), timeout=8)
            return "OK"
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                assert retry_after_s(err) is not None, err.details()  # a retry-worthy refusal
            if "error code 7" in (err.details() or ""):
                # HTTP/2 REFUSED_STREAM: the transport's own "not processed, retry" answer
                return "REFUSED_STREAM"
            return str(err.code().name)

    try:
        with ThreadPoolExecutor(24) as pool:
            outcomes = Counter(pool.map(call, range(240)))
        assert sum(outcomes.values()) == 240
        assert set(outcomes) <= {"OK", "RESOURCE_EXHAUSTED", "REFUSED_STREAM"}, outcomes
        assert outcomes["OK"] > 0 and outcomes["RESOURCE_EXHAUSTED"] > 0
        # and the honest ring, under the same limits, still gets every message through
        sim.step()
        stats = sim.wire_stats()
        assert stats["refused"] == {} and stats["failed"] == 0
    finally:
        release.set()
        for c in stalled:
            c.cancel()
        channel.close()
