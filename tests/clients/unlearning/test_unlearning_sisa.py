"""SISA: bitwise retrain equivalence, minimal work, clean lineage (anchors A-1 .. A-3, A-6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clients.unlearning import SisaModel, build_unlearnable

SHARDS, SLICES, EPOCHS = 3, 3, 2


def make(**options: object) -> SisaModel:
    opts = {"shards": SHARDS, "slices": SLICES, "epochs_per_slice": EPOCHS, **options}
    model = build_unlearnable(
        "sisa", arch="sensor", input_shape=(1, 8, 8), num_classes=10, seed=11, **opts
    )
    assert isinstance(model, SisaModel)
    return model


@pytest.fixture
def fitted(small):
    model = make()
    model.fit(small.x, small.y, small.ids)
    return model


def members(model: SisaModel, shard: int, slice_: int) -> list[int]:
    """Ids of one (shard, slice), in training order (ascending id)."""
    ids = model.sample_ids
    sel = (model.shard_of(ids) == shard) & (model.slice_of(ids) == slice_)
    return sorted(ids[sel].tolist())


def assert_exact(model: SisaModel, data, deleted: list[int]) -> None:
    """The unlearned model equals a fresh SISA fit on the remaining data, bit for bit."""
    fresh = make()
    fresh.fit(*data.without(deleted))
    for shard, (got, want) in enumerate(zip(model.shard_models, fresh.shard_models, strict=True)):
        got_state, want_state = got.state_dict(), want.state_dict()
        assert got_state.keys() == want_state.keys()
        for name in got_state:
            assert torch.equal(got_state[name], want_state[name]), (shard, name)
    assert model.checkpoint_keys() == fresh.checkpoint_keys()
    probe = torch.from_numpy(data.test_x[:64])
    assert torch.equal(model.logits(probe), fresh.logits(probe))
    np.testing.assert_array_equal(model.sample_ids, fresh.sample_ids)


def assert_lineage_clean(model: SisaModel, deleted: list[int]) -> None:
    """No stored checkpoint holds a deleted id; only the S x R reachable ones are kept."""
    infos = model.checkpoints()
    assert len(infos) == SHARDS * SLICES
    gone = set(deleted)
    for info in infos.values():
        assert not gone & set(info.sample_ids), info.key
    for shard, chain in enumerate(model.checkpoint_keys()):
        parents = [None, *chain[:-1]]
        assert [infos[k].parent for k in chain] == parents
        assert [infos[k].step for k in chain] == list(range(SLICES))
        assert all(infos[k].shard == shard for k in chain)


def expected_work(model: SisaModel, shard: int, from_slice: int) -> int:
    """Work (samples x epochs) of re-running steps from_slice..R-1 of one shard (after deletion)."""
    ids = model.sample_ids
    in_shard = model.shard_of(ids) == shard
    slices = model.slice_of(ids)
    return sum(EPOCHS * int((in_shard & (slices <= s)).sum()) for s in range(from_slice, SLICES))


@pytest.mark.parametrize("slice_", [0, 1])
def test_delete_first_point_of_a_slice(fitted, small, slice_):
    before = fitted.checkpoint_keys()
    victim = members(fitted, 0, slice_)[0]
    out = fitted.delete([victim])
    assert out.deleted == (victim,)
    assert out.method == "sisa_retrain"
    assert out.certificate == "exact"
    assert out.retrained["shards"] == [0]
    assert out.retrained["from_slice"] == {0: slice_}
    after = fitted.checkpoint_keys()
    assert after[0][:slice_] == before[0][:slice_]  # reused checkpoints before the slice
    assert all(a != b for a, b in zip(after[0][slice_:], before[0][slice_:], strict=True))
    assert after[1:] == before[1:]  # untouched shards keep identical hashes
    assert out.samples_processed == expected_work(fitted, 0, slice_)
    assert_exact(fitted, small, [victim])
    assert_lineage_clean(fitted, [victim])


def test_delete_point_in_last_slice(fitted, small):
    before = fitted.checkpoint_keys()
    victim = members(fitted, 1, SLICES - 1)[3]
    out = fitted.delete([victim])
    assert out.retrained == {"shards": [1], "from_slice": {1: SLICES - 1}, "steps": 1}
    after = fitted.checkpoint_keys()
    assert after[1][:-1] == before[1][:-1] and after[1][-1] != before[1][-1]
    assert after[0] == before[0] and after[2] == before[2]
    # only the last step re-ran: epochs x (the whole shard, minus the point)
    assert out.samples_processed == EPOCHS * fitted.shard_sizes()[1]
    assert_exact(fitted, small, [victim])
    assert_lineage_clean(fitted, [victim])


def test_delete_whole_slice(fitted, small):
    before = fitted.checkpoint_keys()
    victims = members(fitted, 2, 1)
    assert len(victims) > 10
    out = fitted.delete(victims)
    assert out.deleted == tuple(victims)
    assert out.retrained["from_slice"] == {2: 1}
    assert fitted.checkpoint_keys()[:2] == before[:2]
    assert fitted.checkpoint_keys()[2][0] == before[2][0]
    # step 1 now consumed exactly what step 0 did, yet it is its own (later) checkpoint
    infos = fitted.checkpoints()
    step0, step1 = (infos[k] for k in fitted.checkpoint_keys()[2][:2])
    assert step0.sample_ids == step1.sample_ids and step0.key != step1.key
    assert_exact(fitted, small, victims)
    assert_lineage_clean(fitted, victims)


def test_delete_several_points_across_shards_in_one_batch(fitted, small):
    before = fitted.checkpoint_keys()
    victims = [members(fitted, 0, 2)[0], members(fitted, 2, 1)[5], members(fitted, 2, 2)[0]]
    out = fitted.delete(victims)
    assert out.retrained["shards"] == [0, 2]
    assert out.retrained["from_slice"] == {0: 2, 2: 1}
    assert out.retrained["steps"] == 1 + 2
    assert fitted.checkpoint_keys()[1] == before[1]
    assert out.samples_processed == expected_work(fitted, 0, 2) + expected_work(fitted, 2, 1)
    assert_exact(fitted, small, victims)
    assert_lineage_clean(fitted, victims)
    # a second request later on still matches a fresh fit on what remains
    more = [members(fitted, 1, 0)[0]]
    fitted.delete(more)
    assert_exact(fitted, small, victims + more)
    assert_lineage_clean(fitted, victims + more)


def test_assignment_depends_on_id_and_seed_only(small):
    model = make()
    model.fit(small.x[:200], small.y[:200], small.ids[:200])
    other = make()
    other.fit(small.x[100:], small.y[100:], small.ids[100:])
    shared = small.ids[100:200]
    np.testing.assert_array_equal(model.shard_of(shared), other.shard_of(shared))
    np.testing.assert_array_equal(model.slice_of(shared), other.slice_of(shared))
    # ... and not on the order the data is handed over in
    perm = np.random.default_rng(1).permutation(200)
    shuffled = make()
    shuffled.fit(small.x[:200][perm], small.y[:200][perm], small.ids[:200][perm])
    assert shuffled.checkpoint_keys() == model.checkpoint_keys()


def test_aggregation_probs_and_vote(small):
    probs = make()
    probs.fit(small.x, small.y, small.ids)
    probe = torch.from_numpy(small.test_x[:100])
    mean = torch.stack([torch.softmax(m(probe), 1) for m in probs.shard_models]).mean(0)
    torch.testing.assert_close(torch.softmax(probs.logits(probe), 1), mean)
    accuracy = probs.logits(torch.from_numpy(small.test_x)).argmax(1).numpy() == small.test_y
    assert accuracy.mean() > 0.75

    vote = make(aggregation="vote", shards=2)
    vote.fit(small.x, small.y, small.ids)
    counts = vote.logits(probe)
    assert torch.all(counts.sum(1) == 2)
    labels = torch.stack([m(probe).argmax(1) for m in vote.shard_models])
    ties = labels[0] != labels[1]
    assert ties.any()  # two shards disagree somewhere: a 1-1 tie
    winner = counts.argmax(1)
    assert torch.equal(winner[ties], labels.min(0).values[ties])  # lowest class index wins


def test_storage_accounts_for_every_checkpoint(fitted):
    params = sum(p.numel() for p in fitted.shard_models[0].parameters())
    assert fitted.storage_bytes() >= SHARDS * SLICES * params * 4
    key = fitted.checkpoint_keys()[0][-1]
    state = fitted.checkpoint_state(key)
    assert all(torch.equal(state[k], v) for k, v in fitted.shard_models[0].state_dict().items())


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["phone", "gateway"])
def test_exact_for_larger_architectures(digits, arch):
    """Bitwise exactness also holds for the wider MLP and the CNN (conv kernels on CPU)."""
    opts = {"shards": 2, "slices": 3, "epochs_per_slice": 1}
    model = build_unlearnable(
        "sisa", arch=arch, input_shape=(1, 8, 8), num_classes=10, seed=4, **opts
    )
    assert isinstance(model, SisaModel)
    model.fit(digits.x, digits.y, digits.ids)
    ids = model.sample_ids
    victims = [int(ids[model.slice_of(ids) == 1][0]), int(ids[-1])]
    model.delete(victims)
    fresh = build_unlearnable(
        "sisa", arch=arch, input_shape=(1, 8, 8), num_classes=10, seed=4, **opts
    )
    fresh.fit(*digits.without(victims))
    for got, want in zip(model.shard_models, fresh.shard_models, strict=True):
        for a, b in zip(got.state_dict().values(), want.state_dict().values(), strict=True):
            assert torch.equal(a, b)
    assert model.checkpoint_keys() == fresh.checkpoint_keys()


def by_hand(model: SisaModel, data, shard: int, deleted: list[int]) -> torch.nn.Module:
    """Train one shard from the module docstring's recipe, without SisaModel's bookkeeping.

    A freshly built model seeded ``(seed, shard)``; step ``u`` trains with a fresh Adam on
    slices ``0..u`` ordered by (slice, id), batch order from ``(seed, shard, u)``.
    """
    from clients.models import build_model
    from clients.training import train_supervised
    from clients.unlearning.base import (
        PURPOSE_BATCHES,
        PURPOSE_INIT,
        derive_seed,
        torch_generator,
    )

    x, y, ids = data.without(deleted)
    in_shard = model.shard_of(ids) == shard
    slices = model.slice_of(ids)
    net = build_model("sensor", (1, 8, 8), 10, seed=derive_seed(model.seed, PURPOSE_INIT, shard))
    for step in range(SLICES):
        rows = np.flatnonzero(in_shard & (slices <= step))
        rows = rows[np.lexsort((ids[rows], slices[rows]))]
        gen = torch_generator(derive_seed(model.seed, PURPOSE_BATCHES, shard, step))
        train_supervised(
            net, torch.from_numpy(x[rows]), torch.from_numpy(y[rows]), model.config, generator=gen
        )
    return net


def test_shards_equal_a_hand_trained_reference(fitted, small):
    """Fit and delete give the recipe's shards bit for bit (bookkeeping shortcuts included)."""
    victims = [members(fitted, 0, 0)[2], members(fitted, 2, 1)[0]]
    for deleted in ([], victims):
        if deleted:
            fitted.delete(deleted)
        for shard, got in enumerate(fitted.shard_models):
            want = by_hand(fitted, small, shard, deleted)
            for (name, a), b in zip(
                got.state_dict().items(), want.state_dict().values(), strict=True
            ):
                assert torch.equal(a, b), (deleted, shard, name)


def test_a_deep_copy_trains_its_own_modules(fitted, small):
    """A copy's reused optimisers drive the copy's parameters, and both delete alike."""
    import copy

    twin = copy.deepcopy(fitted)
    victim = members(fitted, 1, 0)[0]
    twin.delete([victim])
    assert fitted.sample_ids.size == twin.sample_ids.size + 1  # the original is untouched
    fitted.delete([victim])
    for a, b in zip(fitted.shard_models, twin.shard_models, strict=True):
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q) and p.data_ptr() != q.data_ptr()
    assert fitted.checkpoint_keys() == twin.checkpoint_keys()


def test_reset_adam_refuses_a_different_configuration():
    from clients.training import TrainConfig, adam_for, reset_adam

    net = torch.nn.Linear(3, 2)
    opt = adam_for(net, TrainConfig(lr=0.01))
    with pytest.raises(ValueError, match=r"lr=0\.01.*lr=0\.1"):
        reset_adam(opt, TrainConfig(lr=0.1))
