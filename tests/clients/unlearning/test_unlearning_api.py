"""The common interface: registry, protocol, request validation and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clients.errors import ClientsError, ModelError
from clients.unlearning import (
    UNLEARNABLE_KINDS,
    DeletionOutcome,
    NotFittedError,
    UnknownSampleError,
    UnlearnableModel,
    UnlearningError,
    build_unlearnable,
)

TASK = {"input_shape": (1, 8, 8), "num_classes": 10, "seed": 2}
FAST: dict[str, dict[str, object]] = {
    "sisa": {"shards": 2, "slices": 2, "epochs_per_slice": 1},
    "certified": {"feature_map": "identity"},
    "sq": {"features": 32},
    "retrain": {"epochs": 1},
}


def make(kind: str, **options: object) -> UnlearnableModel:
    return build_unlearnable(kind, arch="sensor", **TASK, **{**FAST[kind], **options})


@pytest.fixture(params=UNLEARNABLE_KINDS)
def fitted(request, small):
    model = make(request.param)
    model.fit(small.x[:150], small.y[:150], small.ids[:150])
    return model


def test_every_kind_follows_the_protocol(fitted, small):
    assert isinstance(fitted, UnlearnableModel)
    assert fitted.name in UNLEARNABLE_KINDS
    scores = fitted.logits(torch.from_numpy(small.test_x[:5]))
    assert scores.shape == (5, 10) and scores.dtype == torch.float32
    np.testing.assert_array_equal(fitted.sample_ids, np.sort(small.ids[:150]))
    expected = "certified(eps=1," if fitted.name == "certified" else "exact"
    assert fitted.certificate().startswith(expected)


def test_unknown_ids_are_named_and_nothing_changes(fitted, small):
    before = fitted.sample_ids
    held = int(small.ids[0])
    with pytest.raises(UnknownSampleError, match=r"never trained on: \[999999\]") as err:
        fitted.delete([held, 999999])
    assert err.value.unknown == (999999,)
    assert isinstance(err.value, ClientsError) and isinstance(err.value, ValueError)
    np.testing.assert_array_equal(fitted.sample_ids, before)  # the held id survived
    fitted.delete([held])
    with pytest.raises(UnknownSampleError, match=rf"already deleted: \[{held}\]"):
        fitted.delete([held])


def test_duplicates_collapse_and_empty_requests_are_noops(fitted, small):
    a, b = int(small.ids[3]), int(small.ids[4])
    out = fitted.delete([b, a, b])
    assert out.deleted == tuple(sorted((a, b)))
    assert len(fitted.sample_ids) == 148
    empty = fitted.delete([])
    assert empty.method == "noop" and empty.deleted == () and empty.samples_processed == 0


def test_non_integer_ids_are_refused(fitted):
    with pytest.raises(UnlearningError, match="integer sample ids"):
        fitted.delete([1.5])
    assert len(fitted.sample_ids) == 150


def test_deleting_everything_is_refused(fitted):
    with pytest.raises(UnlearningError, match="leave no training data"):
        fitted.delete(fitted.sample_ids.tolist())


@pytest.mark.parametrize("kind", UNLEARNABLE_KINDS)
def test_use_before_fit_and_bad_data(kind, small):
    model = make(kind)
    with pytest.raises(NotFittedError, match="fit"):
        model.delete([1])
    with pytest.raises(NotFittedError, match="fit"):
        model.logits(torch.zeros(1, 1, 8, 8))
    x, y, ids = small.x[:20], small.y[:20], small.ids[:20]
    with pytest.raises(UnlearningError, match="unique"):
        model.fit(x, y, np.zeros(20, dtype=np.int64))
    with pytest.raises(ModelError, match="shape"):
        model.fit(x.reshape(20, 64), y, ids)
    with pytest.raises(ModelError, match="labels"):
        model.fit(x, y + 10, ids)
    with pytest.raises(UnlearningError, match="zero samples"):
        model.fit(x[:0], y[:0], ids[:0])


@pytest.mark.parametrize("kind", ["sq", "retrain"])
def test_fit_ignores_the_order_data_comes_in(kind, small):
    perm = np.random.default_rng(0).permutation(100)
    one, two = make(kind), make(kind)
    one.fit(small.x[:100], small.y[:100], small.ids[:100])
    two.fit(small.x[:100][perm], small.y[:100][perm], small.ids[:100][perm])
    probe = torch.from_numpy(small.test_x[:20])
    assert torch.equal(one.logits(probe), two.logits(probe))


def test_registry_rejects_unknown_kinds_and_options():
    with pytest.raises(UnlearningError, match=r"choose one of \['sisa', 'certified', 'sq'"):
        build_unlearnable("amnesiac", arch="sensor", **TASK)
    with pytest.raises(UnlearningError, match=r"unknown option\(s\) \['shard'\].*'shards'"):
        build_unlearnable("sisa", arch="sensor", **TASK, shard=3)
    with pytest.raises(UnlearningError, match="epochs"):
        build_unlearnable("sq", arch="sensor", **TASK, epochs=3)


@pytest.mark.parametrize(
    ("kind", "options", "match"),
    [
        ("sisa", {"shards": 0}, "shards"),
        ("sisa", {"slices": 1.5}, "slices"),
        ("sisa", {"aggregation": "mean"}, "aggregation"),
        ("sisa", {"lr": -1.0}, "lr"),
        ("retrain", {"epochs": 0}, "epochs"),
        ("sq", {"head": "svm"}, "head"),
        ("sq", {"lam": 0}, "lam"),
        ("sq", {"feature_map": "wavelets"}, "feature_map"),
        ("certified", {"features": 0}, "features"),
        ("certified", {"feature_map": "pca", "features": 5}, "public_x"),
    ],
)
def test_bad_option_values_name_the_option(kind, options, match):
    with pytest.raises(UnlearningError, match=match):
        build_unlearnable(kind, arch="sensor", **TASK, **options)


def test_bad_architecture_and_task_raise_model_error():
    with pytest.raises(ModelError, match="architecture"):
        build_unlearnable("sisa", arch="mainframe", **TASK)
    with pytest.raises(ModelError, match="num_classes"):
        build_unlearnable("sq", arch="sensor", input_shape=(4,), num_classes=1, seed=0)


def test_receipt_ignores_wall_time():
    a = DeletionOutcome((1, 2), "sisa_retrain", {"shards": [0]}, "exact", None, None, 0.1, 10)
    b = DeletionOutcome((1, 2), "sisa_retrain", {"shards": [0]}, "exact", None, None, 9.9, 10)
    c = DeletionOutcome((1, 3), "sisa_retrain", {"shards": [0]}, "exact", None, None, 0.1, 10)
    assert a.receipt() == b.receipt() != c.receipt()
    assert len(a.receipt()) == 64
