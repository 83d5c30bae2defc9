"""The Peer state machine: distillation quality, seed handling, tombstones, validation."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from clients.datasets import load_digits
from clients.messages import Heartbeat, SeedMessage, content_hash
from clients.partition import split_federated
from clients.peer import Peer, PeerConfig, PeerSeeds
from clients.training import DistillConfig, TrainConfig, logits_of


@pytest.fixture(scope="module")
def split():
    return split_federated(
        load_digits(), [0, 1, 2, 3], scheme="iid", seed=5, reference_size=0.2, global_test_size=0.15
    )


def make_peer(
    split,
    pid: int,
    *,
    relay_hops: int = 1,
    device: str = "sensor",
    epoch: int = 0,
    distill_steps: int = 150,
) -> Peer:
    cfg = PeerConfig(
        device=device,
        train=TrainConfig(epochs=8, lr=0.01),
        distill=DistillConfig(steps=distill_steps, batch_size=64),
        train_rounds=1,
        relay_hops=relay_hops,
    )
    ref = torch.from_numpy(split.reference_x).float()
    seeds = PeerSeeds(main_init=10 + pid, train=20 + pid, seed_init=30 + pid, distil=40 + pid)
    return Peer(pid, epoch, split.peers[pid], ref, split.num_classes, split.input_shape, cfg, seeds)


@pytest.fixture(scope="module")
def _trained_once(split):
    peers = {pid: make_peer(split, pid) for pid in range(3)}
    for p in peers.values():
        assert p.train_round()
    return peers


@pytest.fixture
def trained(_trained_once):
    """Freshly trained peers 0-2 with no links (a private copy per test)."""
    return copy.deepcopy(_trained_once)


def test_seed_agrees_with_its_main_model_on_reference(split, trained) -> None:
    ref = torch.from_numpy(split.reference_x).float()
    for peer in trained.values():
        main = logits_of(peer.main, ref).argmax(1)
        seed = logits_of(peer.own_seed_module(), ref).argmax(1)
        agreement = float((main == seed).float().mean())
        assert agreement >= 0.8, f"peer {peer.peer_id}: seed agrees on {agreement:.2f}"


def test_training_is_deterministic(split) -> None:
    a, b = make_peer(split, 1, distill_steps=20), make_peer(split, 1, distill_steps=20)
    a.train_round()
    b.train_round()
    assert a.own_seed.digest == b.own_seed.digest
    assert not a.train_round()  # budget of one round spent


def seed_msg(owner: Peer, sender: int | None = None, ttl: int = 0, now: int = 0, record=None):
    """The owner's seed (or ``record``) as sent by ``sender``, with the owner's lease at ``now``."""
    rec = owner.own_seed if record is None else record
    return SeedMessage(rec, owner.peer_id if sender is None else sender, ttl, owner.own_lease(now))


def link(a: Peer, b: Peer) -> None:
    out_a, out_b = a.add_neighbor(b.peer_id, 0), b.add_neighbor(a.peer_id, 0)
    for env in out_a:
        b.receive(env.message, 0)
    for env in out_b:
        a.receive(env.message, 0)


def test_exchange_then_leave_drops_and_tombstones(trained) -> None:
    a, b = trained[0], trained[1]
    link(a, b)
    assert (1, 0) in a.held and (0, 0) in b.held
    assert a.lineage() == {(0, 0), (1, 0)}
    late_seed = seed_msg(b)
    for env in b.leave_notices():
        reaction = a.receive(env.message, 1)
        assert reaction.accepted and reaction.dropped == [(1, 0)]
    assert (1, 0) not in a.held and (1, 0) in a.tombstones
    # a late (or duplicated) seed of the departed owner is refused and changes nothing
    a.neighbors.add(1)
    before = (dict(a.held), set(a.tombstones))
    reaction = a.receive(late_seed, 2)
    assert not reaction.accepted and "tombstoned" in reaction.reason
    assert (dict(a.held), set(a.tombstones)) == before


def test_old_epoch_and_heartbeat_tombstones(split, trained) -> None:
    a = make_peer(split, 3, distill_steps=10)
    b = trained[2]
    link(a, b)
    assert (2, 0) in a.held
    # a heartbeat showing peer 2 at epoch 1 retires epoch 0 for good
    reaction = a.receive(Heartbeat(2, 1, 1), 1)
    assert reaction.dropped == [(2, 0)] and (2, 0) in a.tombstones
    # a tombstone carried by a heartbeat is a hint (anti-entropy without the owner's
    # word): the seed goes after the grace unless its owner renews it meanwhile
    c = make_peer(split, 0, distill_steps=10)
    c.add_neighbor(3, 0)
    c.add_neighbor(2, 0)
    assert c.receive(seed_msg(b), 0).accepted
    assert c.receive(Heartbeat(3, 0, 1, frozenset({(2, 0)})), 1).accepted
    # last renewal received at round 0: dropped once it has been silent for the grace
    assert (2, 0) in c.held and c.lease_deadline((2, 0)) == c.config.hint_grace
    assert c.expire_leases(c.config.hint_grace) == [(2, 0)]
    assert (2, 0) not in c.held and (2, 0) not in c.tombstones and c.expired[(2, 0)] == 0
    # an owner-signed leave carried as a proof is acted on at once
    d = make_peer(split, 1, distill_steps=10)
    d.add_neighbor(3, 0)
    d.add_neighbor(2, 0)
    assert d.receive(seed_msg(b), 0).accepted
    goodbye = b.leave_notices()[0].message
    assert d.receive(Heartbeat(3, 0, 1, proofs=(goodbye,)), 1).dropped == [(2, 0)]
    assert (2, 0) in d.tombstones


def _with_tensors(rec, tensors):
    return dataclasses.replace(rec, tensors=tensors, digest=content_hash(tensors))


def test_bad_seeds_are_refused_with_reasons(trained) -> None:
    a, b = trained[0], trained[1]
    a.add_neighbor(1, 0)
    good = b.own_seed
    names = [n for n, _ in good.tensors]
    nan = tuple(
        (n, np.full_like(t, np.nan)) if i == 0 else (n, t) for i, (n, t) in enumerate(good.tensors)
    )
    shape = tuple((n, t[:1]) if i == 0 else (n, t) for i, (n, t) in enumerate(good.tensors))
    f64 = tuple((n, t.astype(np.float64)) for n, t in good.tensors)

    def msg(record, sender=1, ttl=0):
        return seed_msg(b, sender, ttl, record=record)

    cases = {
        "not a neighbour": msg(good, 9),
        "content hash": msg(dataclasses.replace(good, digest="0" * 64)),
        "NaN": msg(_with_tensors(good, nan)),
        "shapes": msg(_with_tensors(good, shape)),
        "dtype": msg(_with_tensors(good, f64)),
        "architecture": msg(dataclasses.replace(good, arch="resnet")),
        "ttl": msg(good, 1, 5),
        "lineage": msg(dataclasses.replace(good, lineage=frozenset({(1, 0), (3, 0)}))),
        "lease": SeedMessage(good, 1, 0),
    }
    assert names
    for expected, msg in cases.items():
        held_before = {k: h.record.version for k, h in a.held.items()}
        reaction = a.receive(msg, 0)
        assert not reaction.accepted, expected
        assert expected.split()[0].lower() in reaction.reason.lower(), (expected, reaction.reason)
        assert {k: h.record.version for k, h in a.held.items()} == held_before


def test_newer_version_replaces_older_and_old_is_refused(trained) -> None:
    a, b = trained[0], trained[1]
    a.add_neighbor(1, 0)
    a.receive(seed_msg(b), 0)
    v1 = b.own_seed
    v2 = b.distil_seed()
    assert a.receive(seed_msg(b, now=1), 1).reason == "replaced older version"
    assert a.held[(1, 0)].record.version == v2.version
    stale = a.receive(seed_msg(b, now=2, record=v1), 2)
    assert not stale.accepted and "older" in stale.reason
    assert a.held[(1, 0)].record.digest == v2.digest


def test_relay_two_hops_and_leave_propagates(split) -> None:
    p = {i: make_peer(split, i, relay_hops=2, distill_steps=10) for i in range(4)}
    for peer in p.values():
        peer.train_round()
    # line 0 - 1 - 2 - 3: with 2 hops, 0's seed reaches 1 and 2 but not 3
    queue = []
    for a, b in ((0, 1), (1, 2), (2, 3)):
        queue += p[a].add_neighbor(b, 0) + p[b].add_neighbor(a, 0)
    while queue:
        env = queue.pop(0)
        queue += p[env.dst].receive(env.message, 0).outgoing
    assert (0, 0) in p[1].held and (0, 0) in p[2].held and (0, 0) not in p[3].held
    assert p[2].held[(0, 0)].received_from == 1  # relayed, original owner kept
    assert p[2].held[(0, 0)].record.lineage == {(0, 0)}
    queue = list(p[0].leave_notices())
    while queue:
        env = queue.pop(0)
        queue += p[env.dst].receive(env.message, 1).outgoing
    assert all((0, 0) not in p[i].held for i in (1, 2, 3))
    assert all((0, 0) in p[i].tombstones for i in (1, 2))


def test_crash_detected_after_timeout(split) -> None:
    a, b = make_peer(split, 0, distill_steps=10), make_peer(split, 1, distill_steps=10)
    a.train_round()
    b.train_round()
    link(a, b)
    a.receive(Heartbeat(1, 0, 0), 0)
    crashed, _, dropped = a.detect_crashes(1)
    assert crashed == []  # one silent round is below the timeout of 2
    crashed, _, dropped = a.detect_crashes(2)
    assert crashed == [(1, 0)] and dropped == [(1, 0)] and 1 not in a.neighbors


def test_broken_removal_hook_keeps_seed(split) -> None:
    a = make_peer(split, 0, distill_steps=10)
    a = Peer(
        0,
        0,
        a.data,
        a.reference_x,
        a.num_classes,
        a.input_shape,
        dataclasses.replace(a.config, debug_keep_dropped_seeds=True),
        a.seeds,
    )
    b = make_peer(split, 1, distill_steps=10)
    a.train_round()
    b.train_round()
    link(a, b)
    a.receive(b.leave_notices()[0].message, 1)
    assert (1, 0) in a.held and (1, 0) in a.tombstones  # the negative control really misbehaves


def test_predict_checks_shape(trained) -> None:
    with pytest.raises(ValueError, match="expects inputs of shape"):
        trained[0].predict(torch.zeros(3, 5))
