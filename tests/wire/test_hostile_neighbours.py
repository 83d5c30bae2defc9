"""A hostile but authenticated neighbour over real mTLS gRPC cannot forge forgetting.

The ring 0-1-2-3-4-5 runs on two hosts (even peers on host0, odd on host1). The attacker
holds host1's certificate, so it may speak as peers 1, 3 and 5, and it holds peer 1's own
signing key (it *is* peer 1, a neighbour of 0 that misbehaves). It tries to make peer 0
drop the seed of live peer 5, or take in a seed, floor or renewal in peer 5's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from wire_helpers import LiveRing, channel_to, client

from clients.messages import Heartbeat, Lease, LeaveNotice, LeaveReason, SeedMessage
from hdus_sim import Simulation
from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire import serde
from hdus_sim.wire.service import PeerServiceClient

VICTIM = 5  # a live peer whose seed peer 0 holds
ATTACKER = 1  # a neighbour of peer 0 that lies


@pytest.fixture
def live(live_ring: LiveRing) -> Simulation:
    """The ring over mTLS gRPC with signatures, trained and exchanged, still serving."""
    return live_ring()


@pytest.fixture
def stub(live: Simulation) -> Iterator[PeerServiceClient]:
    with channel_to(live) as channel:
        yield client(channel)


def _keys(live: Simulation) -> Any:
    return live.runtime.transport.keyring


def _honest_holders(live: Simulation, key: tuple[int, int]) -> set[int]:
    return {p for p in live.runtime.online() if key in live.peer(p).held and p != ATTACKER}


def _refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value


def _audited_refusals(live: Simulation, peer: int) -> list[dict[str, Any]]:
    chain = live.runtime.audit.chains.get(peer, [])
    return [r for r in chain if r["kind"] == "receive" and not r["data"]["accepted"]]


def test_forged_removals_of_a_live_peer_leave_its_seed_held(
    live: Simulation, stub: PeerServiceClient
) -> None:
    key = (VICTIM, 0)
    holders = _honest_holders(live, key)
    assert 0 in holders and len(holders) >= 2
    keys = _keys(live)
    # 1. a forged tombstone (as a heartbeat's removal news) and a forged crash claim,
    #    both sent by the attacker as itself: they arrive, but are only hints
    beat = Heartbeat(ATTACKER, 0, live.engine.now, frozenset({key}))
    stub.SendHeartbeat(serde.heartbeat_to_proto(beat, 0), timeout=5)
    claim = LeaveNotice(VICTIM, 0, LeaveReason.CRASH, ATTACKER, 0, origin=ATTACKER)
    claim = dataclasses.replace(claim, signature=keys.sign(ATTACKER, claim.signed_payload()))
    ack = stub.NotifyLeave(serde.leave_to_proto(claim, 0), timeout=5)
    assert "hint" in ack.reason
    # 2. a huge revocation floor for the victim: not signed by it, refused outright
    floor = Lease(VICTIM, 0, seq=10**6, floor=10**6)
    floor = dataclasses.replace(floor, signature=keys.sign(ATTACKER, floor.signed_payload()))
    beat = Heartbeat(ATTACKER, 0, live.engine.now, leases=(floor,))
    err = _refused(lambda: stub.SendHeartbeat(serde.heartbeat_to_proto(beat, 0), timeout=5))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f"not signed by its owner, peer {VICTIM}" in err.details()
    # 3. a graceful leave in the victim's name, signed by the attacker
    leave = LeaveNotice(VICTIM, 0, LeaveReason.GRACEFUL, ATTACKER, 0, origin=VICTIM)
    leave = dataclasses.replace(leave, signature=keys.sign(ATTACKER, leave.signed_payload()))
    err = _refused(lambda: stub.NotifyLeave(serde.leave_to_proto(leave, 0), timeout=5))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # the victim keeps renewing: after more rounds than any grace or lease, every honest
    # holder still holds its seed, and nobody counted a departure
    for _ in range(4):
        live.step()
    assert _honest_holders(live, key) >= holders
    assert not live.tracker.departures
    assert not [e for e in live.events if e["kind"] == "lease_expired"]
    refused = _audited_refusals(live, 0)
    assert {r["data"]["message"] for r in refused} >= {"heartbeat", "leave:graceful"}


def test_seed_floor_or_renewal_in_another_peers_name_is_refused(
    live: Simulation, stub: PeerServiceClient
) -> None:
    keys = _keys(live)
    victim = live.peer(VICTIM)
    held = live.peer(0).held[(VICTIM, 0)].record
    lease = victim.own_lease()

    def push(record: Any, lease: Lease) -> grpc.RpcError:
        msg = SeedMessage(record, ATTACKER, 0, lease)
        return _refused(lambda: stub.PushSeed(iter(serde.seed_to_chunks(msg, 0)), timeout=5))

    # a higher version, signed by the attacker instead of the owner
    forged = dataclasses.replace(held, version=held.version + 1)
    forged = dataclasses.replace(forged, signature=keys.sign(ATTACKER, forged.signed_payload()))
    err = push(forged, lease)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f"is not signed by its owner, peer {VICTIM}" in err.details()
    # a future epoch (it would retire the live epoch everywhere)
    future = dataclasses.replace(held, epoch=7, lineage=frozenset({(VICTIM, 7)}))
    future = dataclasses.replace(future, signature=keys.sign(ATTACKER, future.signed_payload()))
    err = push(future, dataclasses.replace(lease, epoch=7))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # the genuine seed with a lease renewal the attacker made up
    fake_lease = dataclasses.replace(lease, seq=lease.seq + 50)
    err = push(held, fake_lease)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "lease renewal" in err.details()
    # a replay: the owner's genuine first version after it was replaced
    if held.version > 1:
        old = dataclasses.replace(held, version=1)
        old = dataclasses.replace(old, signature=keys.sign(VICTIM, old.signed_payload()))
        err = push(old, lease)
        assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    # a renewal in the victim's name inside a heartbeat
    beat = Heartbeat(ATTACKER, 0, live.engine.now, leases=(fake_lease,))
    err = _refused(lambda: stub.SendHeartbeat(serde.heartbeat_to_proto(beat, 0), timeout=5))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # nothing changed at peer 0, and every refusal is in its audit chain
    assert live.peer(0).held[(VICTIM, 0)].record == held
    assert live.peer(0).known_epochs[VICTIM] == 0
    reasons = [r["data"]["reason"] for r in _audited_refusals(live, 0)]
    assert sum("not signed by its owner" in r for r in reasons) >= 3


def test_a_flood_of_tombstones_is_refused_without_growing_state(
    live: Simulation, stub: PeerServiceClient
) -> None:
    peer = live.peer(0)
    before = (len(peer.tombstones), len(peer.hints), len(peer.expired))
    many = [pb.DataOwner(peer=10_000 + j, epoch=0) for j in range(50_000)]
    beat = pb.Heartbeat(sender=ATTACKER, epoch=0, round=live.engine.now, dst=0, tombstones=many)
    err = _refused(lambda: stub.SendHeartbeat(beat, timeout=10))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "50000 tombstones, more than the 4096" in err.details()
    # under the cap: unknown peers' removals are hints about seeds 0 does not hold: ignored
    some = Heartbeat(ATTACKER, 0, live.engine.now, frozenset((20_000 + j, 0) for j in range(4000)))
    stub.SendHeartbeat(serde.heartbeat_to_proto(some, 0), timeout=10)
    assert (len(peer.tombstones), len(peer.hints), len(peer.expired)) == before
