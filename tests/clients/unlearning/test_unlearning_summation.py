"""Summation form: deleting points equals training without them, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clients.unlearning import SummationModel, build_unlearnable

TASK = {"input_shape": (1, 8, 8), "num_classes": 10}


def make(**options: object) -> SummationModel:
    model = build_unlearnable("sq", arch="sensor", seed=3, **TASK, **options)
    assert isinstance(model, SummationModel)
    return model


def assert_same(model: SummationModel, fresh: SummationModel, probe: np.ndarray) -> None:
    got, want = model.statistics, fresh.statistics
    assert got.keys() == want.keys()
    for key in got:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    for key, value in model.parameters.items():
        np.testing.assert_allclose(value, fresh.parameters[key], rtol=0, atol=1e-10)
    x = torch.from_numpy(probe)
    assert torch.equal(model.logits(x), fresh.logits(x))
    np.testing.assert_array_equal(model.sample_ids, fresh.sample_ids)


@pytest.mark.parametrize("head", ["ridge", "gnb"])
def test_delete_equals_training_without_the_points(digits, head):
    model = make(head=head)
    model.fit(digits.x, digits.y, digits.ids)
    first = [int(digits.ids[7])]
    out = model.delete(first)
    assert out.method == "subtract_statistics" and out.certificate == "exact"
    assert out.samples_processed == 1
    fresh = make(head=head)
    fresh.fit(*digits.without(first))
    assert_same(model, fresh, digits.test_x)

    batch = digits.ids[100:160].tolist()  # a batch, on top of the first deletion
    model.delete(batch)
    fresh = make(head=head)
    fresh.fit(*digits.without(first + batch))
    assert_same(model, fresh, digits.test_x)


@pytest.mark.parametrize("head", ["ridge", "gnb"])
def test_heads_are_useful(digits, head):
    model = make(head=head, feature_map="pca", features=30, public_x=digits.public_x)
    model.fit(digits.x, digits.y, digits.ids)
    pred = model.logits(torch.from_numpy(digits.test_x)).argmax(1).numpy()
    assert (pred == digits.test_y).mean() > 0.85


def test_gnb_never_predicts_a_class_it_holds_no_sample_of(digits):
    mask = digits.y != 4
    model = make(head="gnb")
    model.fit(digits.x[mask], digits.y[mask], digits.ids[mask])
    scores = model.logits(torch.from_numpy(digits.test_x))
    assert torch.isfinite(scores).all()
    assert not (scores.argmax(1) == 4).any()
    # deleting every sample of a class makes it unseen too, exactly as if never there
    threes = digits.ids[mask & (digits.y == 3)].tolist()
    model.delete(threes)
    fresh = make(head="gnb")
    keep = mask & (digits.y != 3)
    fresh.fit(digits.x[keep], digits.y[keep], digits.ids[keep])
    assert_same(model, fresh, digits.test_x)


@pytest.mark.parametrize("head", ["ridge", "gnb"])
def test_deletes_past_compaction_equal_training_without_the_points(digits, head):
    """Deleting most of the data (the feature rows are compacted on the way) stays exact."""
    model = make(head=head)
    model.fit(digits.x, digits.y, digits.ids)
    order = np.random.default_rng(5).permutation(digits.ids).tolist()
    gone: list[int] = []
    checks = {len(order) // 2 - 1, len(order) // 2 + 1, (3 * len(order)) // 4}
    while len(gone) < (3 * len(order)) // 4:
        step = 1 if len(gone) % 3 else 37  # single points and batches, interleaved
        request = order[len(gone) : len(gone) + step]
        model.delete(request)
        before = len(gone)
        gone += request
        if any(before < c <= len(gone) for c in checks):
            fresh = make(head=head)
            fresh.fit(*digits.without(gone))
            assert_same(model, fresh, digits.test_x)
    assert model._q is not None and model._q.shape[0] < len(order)  # it did compact


def test_sample_book_refuses_ids_outside_and_between_the_held_ones():
    from clients.unlearning.base import SampleBook

    book = SampleBook(np.array([10, 20, 30]))
    np.testing.assert_array_equal(
        book._held(np.array([5, 10, 15, 30, 40])), [False, True, False, True, False]
    )
    keep = book.remove(np.array([20]))
    np.testing.assert_array_equal(keep, [True, False, True])
    np.testing.assert_array_equal(book.ids, [10, 30])
    assert book.deleted == {20}
