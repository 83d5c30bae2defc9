"""Fuzzing every ``PeerService`` RPC of a live mTLS peer with mutated genuine messages.

The ring runs one peer per host, so the attacker's certificate (host1) speaks for peer 1
only, and it holds peer 1's signing key: a neighbour of peer 0 that sends garbage. Every
input must be accepted and valid, or refused with a status naming the problem; peer 0's
knowledge of everybody but the attacker must come out unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from wire_helpers import LiveRing, channel_to

from clients.messages import DeletionRequest, JoinNotice, LeaveNotice, LeaveReason, SeedMessage
from hdus_sim import Simulation
from hdus_sim.wire import serde
from hdus_sim.wire.fuzz import Corpus, fuzz_peer, stream_of

ATTACKER, VICTIM = 1, 0
HONEST = 5  # the victim's other neighbour, whose seed it holds


def genuine_corpus(sim: Simulation) -> Corpus:
    """One genuine message per RPC, as the attacker (peer 1) would send them to peer 0."""
    keys = sim.runtime.transport.keyring
    now = sim.engine.now
    attacker = sim.peer(ATTACKER)
    beat = next(e.message for e in attacker.heartbeats(now) if e.dst == VICTIM)
    seed = SeedMessage(attacker.own_seed, ATTACKER, 0, attacker.own_lease(now))
    claim = LeaveNotice(HONEST, 0, LeaveReason.CRASH, ATTACKER, 0, origin=ATTACKER)
    claim = dataclasses.replace(claim, signature=keys.sign(ATTACKER, claim.signed_payload()))
    ask = DeletionRequest("fuzz-1", ATTACKER, 0, (1, 2, 3), ATTACKER)
    ask = dataclasses.replace(ask, signature=keys.sign(ATTACKER, ask.signed_payload()))
    return {
        "SendHeartbeat": serde.heartbeat_to_proto(beat, VICTIM).SerializeToString(),
        "PushSeed": list(stream_of(seed, VICTIM)),
        "NotifyLeave": serde.leave_to_proto(claim, VICTIM).SerializeToString(),
        "NotifyJoin": serde.join_to_proto(
            JoinNotice(ATTACKER, 1, "sensor"), VICTIM
        ).SerializeToString(),
        "RequestDeletion": serde.deletion_request_to_proto(ask, VICTIM).SerializeToString(),
        "Health": serde.health_request().SerializeToString(),
    }


def _knowledge(sim: Simulation) -> dict[str, Any]:
    """What peer 0 knows about everybody except the attacker."""
    peer = sim.peer(VICTIM)

    def others(keys: Any) -> set[Any]:
        return {k for k in keys if k[0] != ATTACKER}

    return {
        "held": {k: h.record.digest for k, h in peer.held.items() if k[0] != ATTACKER},
        "tombstones": others(peer.tombstones),
        "expired": others(peer.expired),
        "floors": {k: v for k, v in peer.floors.items() if k[0] != ATTACKER},
        "epochs": {p: e for p, e in peer.known_epochs.items() if p != ATTACKER},
        "neighbors": set(peer.neighbors),
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_every_mutated_message_is_accepted_valid_or_refused_clearly(
    live_ring: LiveRing, seed: int
) -> None:
    sim = live_ring(hosts=6)
    corpus = genuine_corpus(sim)
    before = _knowledge(sim)
    with channel_to(sim, "host0", "host1") as channel:
        report = fuzz_peer(channel, corpus, n=1500, seed=seed, budget_s=90)
        health = channel.unary_unary(f"/{serde.SERVICE_NAME}/Health")(b"", timeout=5)
    print(report.summary())
    assert report.tried >= 750, report.summary()
    assert report.crashes == [], report.crashes[:5]
    assert report.invalid_accepted == [], report.invalid_accepted[:5]
    refusals = {code for code in report.outcomes if code != "OK"}
    assert report.outcomes["OK"] > 0 and len(refusals) >= 4, report.outcomes
    assert serde.parse("HealthResponse", health).status == "SERVING"  # type: ignore[attr-defined]
    # the garbage changed nothing peer 0 knows about anyone but the attacker
    after = _knowledge(sim)
    assert after == before
    # at most a hint (the attacker's crash claim) about 5, which alone removes nothing
    assert {k for k in sim.peer(VICTIM).hints if k[0] != ATTACKER} <= {(HONEST, 0)}
