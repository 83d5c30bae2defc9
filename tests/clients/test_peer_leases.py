"""Leases: a seed is held only while its owner keeps renewing it; hints never force it out."""

from __future__ import annotations

import dataclasses

import pytest
from test_peer import make_peer, seed_msg, split  # noqa: F401 (split: a fixture)

from clients.messages import Heartbeat, LeaveNotice, LeaveReason
from clients.peer import Peer


def _pump(peers: dict[int, Peer], queue: list, now: int) -> None:
    while queue:
        env = queue.pop(0)
        queue += peers[env.dst].receive(env.message, now).outgoing


def _beat_round(peers: dict[int, Peer], now: int, alive: set[int]) -> list:
    """Every live peer beats; returns (holder, owner) pairs whose lease ran out."""
    queue = [env for pid in sorted(alive) for env in peers[pid].heartbeats(now)]
    queue = [env for env in queue if env.dst in alive]
    _pump(peers, queue, now)
    return [(pid, key) for pid in sorted(alive) for key in peers[pid].expire_leases(now)]


@pytest.fixture
def line(split) -> dict[int, Peer]:  # noqa: F811 (the imported fixture)
    """Line 0 - 1 - 2 with two hops: 2 holds 0's seed through relay 1."""
    p = {i: make_peer(split, i, relay_hops=2, distill_steps=10) for i in range(3)}
    for peer in p.values():
        peer.train_round()
    queue = []
    for a, b in ((0, 1), (1, 2)):
        queue += p[a].add_neighbor(b, 0) + p[b].add_neighbor(a, 0)
    _pump(p, queue, 0)
    assert (0, 0) in p[2].held and p[2].held[(0, 0)].received_from == 1
    return p


def test_unseen_crash_is_forgotten_within_the_lease(line) -> None:
    lease = line[2].config.lease_rounds  # 2 + 2 + 1 = 5 rounds
    assert lease == 5
    alive = {0, 1, 2}
    for now in range(1, 4):
        assert _beat_round(line, now, alive) == []  # renewals keep every seed
    # peer 0 crashes after its beat of round 3; nobody runs crash detection here (no
    # notice, no hint): only the lease can forget it
    alive = {1, 2}
    dropped = {}
    for now in range(4, 12):
        for holder, key in _beat_round(line, now, alive):
            dropped[holder] = now
            assert key == (0, 0)
    # the last renewal was signed at round 3: both holders drop it at 3 + lease
    assert dropped == {1: 3 + lease, 2: 3 + lease}


def test_held_back_renewal_buys_nothing_past_the_bound(line) -> None:
    lease = line[2].config.lease_rounds
    for now in range(1, 4):
        _beat_round(line, now, {0, 1, 2})
    last = line[0].own_lease(3)  # peer 0's last renewal; then it is gone
    # relay 1 held that renewal back and passes it on at round 6 claiming it is fresh: on
    # the shared round clock its age is 3 whatever the relay says
    reaction = line[2].receive(Heartbeat(1, 0, 6, leases=(dataclasses.replace(last, age=0),)), 6)
    assert reaction.accepted and line[2].leases[(0, 0)].expires == 3 + lease
    # and replaying it again, or an older one, extends nothing
    line[2].receive(Heartbeat(1, 0, 7, leases=(last, line[0].own_lease(1))), 7)
    assert line[2].leases[(0, 0)].expires == 3 + lease
    assert (0, 0) in line[2].expire_leases(3 + lease)


def test_expired_seed_comes_back_only_with_a_newer_renewal(line) -> None:
    holder, owner = line[1], line[0]
    key = (0, 0)
    expires = holder.leases[key].expires
    assert key in holder.expire_leases(expires)
    stale = seed_msg(owner, now=0)  # the renewal that ran out
    refused = holder.receive(stale, expires)
    assert not refused.accepted and "ran out" in refused.reason  # aged on the shared clock
    # a device with its own clock cannot age it, but remembers what it let go
    holder.config = dataclasses.replace(holder.config, shared_clock=False)
    refused = holder.receive(stale, expires)
    assert not refused.accepted and "expired here" in refused.reason
    # the owner was only cut off (a partition that healed): its fresh renewal re-admits it
    fresh = seed_msg(owner, now=expires)
    assert holder.receive(fresh, expires).accepted and key in holder.held


def test_hints_never_force_out_a_live_seed(line) -> None:
    holder = line[2]
    for now in range(1, 8):
        # every round somebody claims peer 0 crashed (a tombstone hint and a crash notice)
        claim = LeaveNotice(0, 0, LeaveReason.CRASH, 1, 0, origin=1)
        holder.receive(claim, now)
        holder.receive(Heartbeat(1, 0, now, frozenset({(0, 0)})), now)
        assert _beat_round(line, now, {0, 1, 2}) == []
    assert (0, 0) in holder.held


def test_owner_signed_floor_revokes_an_old_version(line) -> None:
    owner, holder = line[0], line[1]
    owner.own_floor = owner.own_seed.version + 1  # as after a point deletion
    beat = owner.heartbeats(1)[0].message
    reaction = holder.receive(beat, 1)
    assert reaction.dropped == [(0, 0)] and holder.floors[(0, 0)] == owner.own_floor


def test_flood_is_refused_and_changes_nothing(line) -> None:
    holder = line[1]
    before = (set(holder.tombstones), dict(holder.hints), dict(holder.last_heard))
    cap = holder.config.max_beat_items
    flood = Heartbeat(0, 0, 1, frozenset((1000 + i, 0) for i in range(cap + 1)))
    reaction = holder.receive(flood, 1)
    assert not reaction.accepted and f"more than the {cap}" in reaction.reason
    assert (set(holder.tombstones), dict(holder.hints), dict(holder.last_heard)) == before


def test_held_seeds_are_capped_in_total_and_per_delivering_neighbour(line, split) -> None:  # noqa: F811
    holder = line[1]  # holds 0's seed (from 0) and 2's (from 2)
    stranger = make_peer(split, 3, distill_steps=10)
    stranger.train_round()
    relayed = seed_msg(stranger, sender=0, ttl=0, now=1)  # a new owner, delivered by 0
    before = set(holder.held)
    holder.config = dataclasses.replace(holder.config, max_held_per_sender=1)
    reaction = holder.receive(relayed, 1)
    assert not reaction.accepted and "limit for one neighbour" in reaction.reason
    holder.config = dataclasses.replace(holder.config, max_held_per_sender=8, max_held=2)
    reaction = holder.receive(relayed, 1)
    assert not reaction.accepted and "holds 2 seeds already" in reaction.reason
    assert set(holder.held) == before
    # with room again, the same seed is taken in
    holder.config = dataclasses.replace(holder.config, max_held=8)
    assert holder.receive(relayed, 1).accepted and (3, 0) in holder.held
