"""Tests for clients.partition: disjoint, complete, deterministic splits for every scheme."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from clients.datasets import Dataset, load_digits, make_synthetic
from clients.errors import ClientsError, PartitionError
from clients.partition import SCHEMES, FederatedSplit, PeerData, split_federated

# Scheme options that give every peer data on the small test datasets below.
SCHEME_KWARGS: dict[str, dict[str, Any]] = {
    "iid": {},
    "dirichlet": {"alpha": 1.0},
    "class_drop": {"classes_dropped": 2},
    "quantity_skew": {"quantity_sigma": 0.5},
}
PEERS = [7, 2, 11, 5, 30]  # unsorted and non-contiguous on purpose
# the random schemes; `hdus` (no randomness, published splits only) has its own tests in
# test_partition_hdus.py
RANDOM_SCHEMES = [s for s in SCHEMES if s != "hdus"]


@pytest.fixture(scope="module")
def synth() -> Dataset:
    return make_synthetic(3000, num_classes=6, dim=5, seed=0)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


def all_peer_ids(split: FederatedSplit) -> list[np.ndarray]:
    return [a for p in split.peers.values() for a in (p.train_ids, p.test_ids)]


def test_schemes_listed() -> None:
    assert set(SCHEMES) == {*SCHEME_KWARGS, "hdus"}
    assert issubclass(PartitionError, ClientsError)
    assert issubclass(PartitionError, ValueError)


@pytest.mark.parametrize("scheme", RANDOM_SCHEMES)
def test_disjoint_and_complete(synth: Dataset, scheme: str) -> None:
    split = split_federated(synth, PEERS, scheme=scheme, seed=1, **SCHEME_KWARGS[scheme])
    assert list(split.peers) == sorted(PEERS)
    peer_ids = np.concatenate(all_peer_ids(split))
    held = np.concatenate([split.reference_ids, split.global_test_ids])
    everything = np.concatenate([peer_ids, held])
    # disjoint: no id twice anywhere (peer/peer, train/test, peer/reference, peer/global test)
    assert np.unique(everything).size == everything.size
    assert not np.isin(split.reference_ids, peer_ids).any()
    assert not np.isin(split.global_test_ids, peer_ids).any()
    # complete: every sample lands somewhere
    np.testing.assert_array_equal(np.sort(everything), synth.sample_ids)
    # default sizes: 15 % reference, 15 % global test
    assert split.reference_x.shape == (450, 5)
    assert split.global_test_x.shape == (450, 5)


@pytest.mark.parametrize("scheme", RANDOM_SCHEMES)
def test_arrays_match_the_dataset(synth: Dataset, scheme: str) -> None:
    split = split_federated(synth, PEERS, scheme=scheme, seed=2, **SCHEME_KWARGS[scheme])
    for pid, p in split.peers.items():
        assert isinstance(p, PeerData)
        assert p.peer_id == pid
        for x, y, ids in ((p.train_x, p.train_y, p.train_ids), (p.test_x, p.test_y, p.test_ids)):
            assert x.dtype == np.float32
            assert y.dtype == np.int64
            assert ids.dtype == np.int64
            assert x.shape == (ids.size, *synth.input_shape)
            np.testing.assert_array_equal(x, synth.x[ids])
            np.testing.assert_array_equal(y, synth.y[ids])
        assert p.num_train >= 1
    np.testing.assert_array_equal(split.reference_x, synth.x[split.reference_ids])
    np.testing.assert_array_equal(split.global_test_y, synth.y[split.global_test_ids])
    assert split.num_classes == synth.num_classes
    assert split.input_shape == synth.input_shape


@pytest.mark.parametrize("scheme", RANDOM_SCHEMES)
def test_deterministic_under_seed(synth: Dataset, scheme: str) -> None:
    kw = SCHEME_KWARGS[scheme]
    a = split_federated(synth, PEERS, scheme=scheme, seed=5, **kw)
    b = split_federated(synth, list(reversed(PEERS)), scheme=scheme, seed=5, **kw)
    c = split_federated(synth, PEERS, scheme=scheme, seed=6, **kw)
    for pid in PEERS:
        for field in ("train_x", "train_y", "train_ids", "test_x", "test_y", "test_ids"):
            np.testing.assert_array_equal(
                getattr(a.peers[pid], field), getattr(b.peers[pid], field)
            )
        assert a.peers[pid].missing_classes == b.peers[pid].missing_classes
    np.testing.assert_array_equal(a.reference_ids, b.reference_ids)
    np.testing.assert_array_equal(a.global_test_ids, b.global_test_ids)
    assert not np.array_equal(a.peers[PEERS[0]].train_ids, c.peers[PEERS[0]].train_ids)


@pytest.mark.parametrize("scheme", RANDOM_SCHEMES)
def test_synthetic_reference_holds_nothing_out(digits: Dataset, scheme: str) -> None:
    kw = SCHEME_KWARGS[scheme]
    split = split_federated(
        digits, PEERS, scheme=scheme, seed=0, reference_source="synthetic", reference_size=40, **kw
    )
    np.testing.assert_array_equal(split.reference_ids, -np.arange(1, 41))
    assert split.reference_x.shape == (40, 1, 8, 8)
    assert split.reference_x.dtype == np.float32
    assert split.reference_x.min() >= 0.0
    assert split.reference_x.max() <= 1.0
    everything = np.concatenate([*all_peer_ids(split), split.global_test_ids])
    np.testing.assert_array_equal(np.sort(everything), digits.sample_ids)


def test_synthetic_reference_for_features(synth: Dataset) -> None:
    split = split_federated(synth, PEERS, seed=0, reference_source="synthetic", reference_size=0.1)
    assert split.reference_x.shape == (300, 5)
    assert np.all(split.reference_ids < 0)
    # Gaussian around the held-out global test statistics
    assert np.allclose(split.reference_x.mean(0), split.global_test_x.mean(0), atol=0.3)


def test_holdouts_are_stratified(synth: Dataset) -> None:
    split = split_federated(synth, PEERS, seed=0, reference_size=600, global_test_size=0.2)
    assert split.reference_ids.size == 600
    assert split.global_test_ids.size == 600
    for y in (synth.y[split.reference_ids], split.global_test_y):
        counts = np.bincount(y, minlength=6)
        assert counts.max() - counts.min() <= 1


def test_iid_equal_shares_and_local_test_fraction(synth: Dataset) -> None:
    split = split_federated(synth, PEERS, scheme="iid", seed=0, local_test_fraction=0.25)
    shares = [p.num_train + p.num_test for p in split.peers.values()]
    assert max(shares) - min(shares) <= 1
    assert sum(shares) == 2100
    for p in split.peers.values():
        share = p.num_train + p.num_test
        assert p.num_test == int(share * 0.25)


def test_local_test_is_stratified(synth: Dataset) -> None:
    split = split_federated(synth, [0, 1], seed=0, local_test_fraction=0.5)
    for p in split.peers.values():
        train = np.bincount(p.train_y, minlength=6)
        test = np.bincount(p.test_y, minlength=6)
        assert np.all(np.abs(train - test) <= 2)


def test_no_local_test(synth: Dataset) -> None:
    split = split_federated(synth, PEERS, seed=0, local_test_fraction=0.0)
    assert all(p.num_test == 0 for p in split.peers.values())


def test_class_drop_peers_lack_their_classes(digits: Dataset) -> None:
    peers = [40, 10, 20, 30, 50, 60]
    split = split_federated(digits, peers, scheme="class_drop", seed=3, classes_dropped=3)
    covered: set[int] = set()
    for position, pid in enumerate(sorted(peers)):
        p = split.peers[pid]
        expected = tuple(sorted((position * 3 + j) % 10 for j in range(3)))
        assert p.missing_classes == expected
        assert not np.isin(p.train_y, expected).any()
        assert not np.isin(p.test_y, expected).any()
        kept = set(range(10)) - set(expected)
        assert set(np.unique(p.train_y)) == kept
        covered |= kept
    assert covered == set(range(10))
    # each class split evenly among the peers keeping it
    summary = split.summary()
    for c in range(10):
        sizes = [
            summary["peers"][pid]["train_class_counts"][c]
            + summary["peers"][pid]["test_class_counts"][c]
            for pid in peers
            if c not in split.peers[pid].missing_classes
        ]
        assert max(sizes) - min(sizes) <= 1


def test_other_schemes_report_no_missing_classes(synth: Dataset) -> None:
    for scheme in ("iid", "dirichlet", "quantity_skew"):
        split = split_federated(synth, PEERS, scheme=scheme, seed=0, **SCHEME_KWARGS[scheme])
        assert all(p.missing_classes == () for p in split.peers.values())


def test_class_drop_zero_is_iid_like(synth: Dataset) -> None:
    split = split_federated(synth, PEERS, scheme="class_drop", seed=0, classes_dropped=0)
    for p in split.peers.values():
        assert p.missing_classes == ()
        assert set(np.unique(p.train_y)) == set(range(6))


def _mean_max_class_share(split: FederatedSplit) -> float:
    shares = []
    for p in split.peers.values():
        counts = np.bincount(np.concatenate([p.train_y, p.test_y]), minlength=split.num_classes)
        shares.append(counts.max() / counts.sum())
    return float(np.mean(shares))


def test_dirichlet_small_alpha_is_skewed(synth: Dataset) -> None:
    peers = [0, 1, 2, 3]
    skewed = split_federated(synth, peers, scheme="dirichlet", seed=0, alpha=0.1)
    flat = split_federated(synth, peers, scheme="dirichlet", seed=0, alpha=100.0)
    assert _mean_max_class_share(skewed) > 0.4
    assert _mean_max_class_share(flat) < 0.25
    assert _mean_max_class_share(skewed) > _mean_max_class_share(flat) + 0.15


def test_quantity_skew_unequal_sizes(synth: Dataset) -> None:
    peers = list(range(8))
    split = split_federated(synth, peers, scheme="quantity_skew", seed=0, quantity_sigma=1.5)
    sizes = np.array([p.num_train + p.num_test for p in split.peers.values()])
    assert sizes.sum() == 2100
    assert sizes.max() > 2 * sizes.min()
    equal = split_federated(synth, peers, scheme="quantity_skew", seed=0, quantity_sigma=0.0)
    eq_sizes = [p.num_train + p.num_test for p in equal.peers.values()]
    assert max(eq_sizes) - min(eq_sizes) <= 1


def test_summary(synth: Dataset) -> None:
    split = split_federated(synth, PEERS, scheme="class_drop", seed=0, classes_dropped=1)
    s = split.summary()
    assert s["num_peers"] == 5
    assert s["reference_size"] == 450
    assert s["global_test_size"] == 450
    assert s["total_train"] + s["total_test"] == 2100
    assert s["input_shape"] == [5]
    for pid, p in split.peers.items():
        entry = s["peers"][pid]
        assert entry["train"] == p.num_train
        assert sum(entry["train_class_counts"]) == p.num_train
        assert entry["missing_classes"] == list(p.missing_classes)


def test_many_peers_on_large_dataset() -> None:
    data = make_synthetic(100_000, seed=1)
    split = split_federated(data, range(1000), scheme="dirichlet", seed=0, alpha=1.0)
    assert len(split.peers) == 1000
    assert min(p.num_train for p in split.peers.values()) >= 1
    total = sum(p.num_train + p.num_test for p in split.peers.values())
    assert total == 70_000


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


def test_unknown_scheme_lists_schemes(synth: Dataset) -> None:
    with pytest.raises(PartitionError, match="unknown scheme 'pathological'") as info:
        split_federated(synth, PEERS, scheme="pathological", seed=0)
    for s in SCHEMES:
        assert s in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"scheme": "dirichlet", "alpha": 0.0}, r"alpha=0\.0 must be .* > 0"),
        ({"scheme": "dirichlet", "alpha": float("nan")}, r"alpha=nan"),
        ({"scheme": "class_drop", "classes_dropped": 6}, r"classes_dropped=6 .* 0\.\.5"),
        ({"scheme": "class_drop", "classes_dropped": -1}, r"classes_dropped=-1"),
        ({"quantity_sigma": -0.1}, r"quantity_sigma=-0\.1"),
        ({"reference_size": 1.5}, r"reference_size=1\.5"),
        ({"reference_size": 4000}, r"reference_size=4000 .* 0\.\.3000"),
        ({"global_test_size": -1}, r"global_test_size=-1"),
        ({"global_test_size": 0.5, "reference_size": 0.5}, r"leaving none"),
        ({"reference_source": "web"}, r"reference_source='web'.*public, synthetic"),
        ({"local_test_fraction": 1.0}, r"local_test_fraction=1\.0"),
        ({"min_train_per_peer": 0}, r"min_train_per_peer=0"),
        ({"seed": -3}, r"seed=-3"),
    ],
)
def test_bad_parameters(synth: Dataset, kwargs: dict[str, Any], pattern: str) -> None:
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(PartitionError, match=pattern):
        split_federated(synth, PEERS, **kwargs)


def test_bad_peer_ids(synth: Dataset) -> None:
    with pytest.raises(PartitionError, match="empty"):
        split_federated(synth, [], seed=0)
    with pytest.raises(PartitionError, match=r"repeated: \[2\]"):
        split_federated(synth, [1, 2, 2], seed=0)
    with pytest.raises(PartitionError, match="integers"):
        split_federated(synth, [1, "b"], seed=0)  # type: ignore[list-item]


@pytest.mark.parametrize("scheme", RANDOM_SCHEMES)
def test_too_many_peers_names_the_peer(scheme: str) -> None:
    data = make_synthetic(200, num_classes=4, dim=3, seed=0)
    peers = list(range(100, 400))
    with pytest.raises(PartitionError) as info:
        split_federated(data, peers, scheme=scheme, seed=0, **SCHEME_KWARGS[scheme])
    msg = str(info.value)
    match = re.search(r"peer (\d+) gets (\d+) training sample", msg)
    assert match, msg
    assert int(match.group(1)) in peers
    assert int(match.group(2)) < 1
    assert "fewer peers (now 300)" in msg
    assert "more data" in msg


def test_dirichlet_error_suggests_larger_alpha(synth: Dataset) -> None:
    with pytest.raises(PartitionError, match=r"larger alpha \(now 0\.01\)"):
        split_federated(synth, list(range(50)), scheme="dirichlet", seed=0, alpha=0.01)


def test_min_train_per_peer_is_enforced(synth: Dataset) -> None:
    with pytest.raises(PartitionError, match=r"fewer than min_train_per_peer=500"):
        split_federated(synth, PEERS, seed=0, min_train_per_peer=500)


def test_class_drop_orphan_class(synth: Dataset) -> None:
    with pytest.raises(PartitionError, match=r"dropped by every peer"):
        split_federated(synth, [0], scheme="class_drop", seed=0, classes_dropped=1)
    with pytest.raises(PartitionError, match=r"class\(es\) \[0, 1\]"):
        split_federated(synth, [0, 1], scheme="class_drop", seed=0, classes_dropped=4)
