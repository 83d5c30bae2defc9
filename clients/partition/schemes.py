"""The building blocks of a split: stratified hold-outs and the owner of every pool sample.

Each ``_*_owner`` function implements one partition scheme: it returns, for every sample
of the pool, the position (in ascending peer-id order) of the peer that owns it. All are
vectorised and draw only from the generator they are given.
"""

from __future__ import annotations

import numpy as np

from clients.datasets import Dataset
from clients.errors import PartitionError


def _largest_remainder(quotas: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative real ``quotas`` (summing to ``total``) to ints summing to ``total``.

    Hamilton's method: floor everything, then give the leftover units to the largest
    fractional parts (ties to the lower index, deterministically).
    """
    base: np.ndarray = np.floor(quotas).astype(np.int64)
    left = int(total - base.sum())
    if left > 0:
        frac = quotas - base
        base[np.argsort(-frac, kind="stable")[:left]] += 1
    return base


def _class_groups(labels: np.ndarray, num_classes: int) -> list[np.ndarray]:
    """Positions of each class in ``labels`` (ascending), one array per class."""
    order = np.argsort(labels, kind="stable")
    bounds = np.cumsum(np.bincount(labels, minlength=num_classes))[:-1]
    return np.split(order, bounds)


def _stratified_take(
    candidates: np.ndarray,
    labels: np.ndarray,
    k: int,
    num_classes: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``k`` of ``candidates`` at random, stratified by class; return (taken, rest).

    Each class contributes its proportional share of ``k`` (largest-remainder rounding), so
    class frequencies in the sample match the candidates' to within one sample. Both
    outputs are sorted ascending.
    """
    m = candidates.size
    if k <= 0:
        return candidates[:0], candidates
    lab = labels[candidates]
    counts = np.bincount(lab, minlength=num_classes)
    quota = _largest_remainder(counts * (k / m), k)
    order = np.lexsort((rng.random(m), lab))  # by class, random inside a class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lab_sorted = lab[order]
    rank = np.arange(m) - starts[lab_sorted]
    take = rank < quota[lab_sorted]
    return np.sort(candidates[order[take]]), np.sort(candidates[order[~take]])


def _synthetic_reference(
    dataset: Dataset, global_pos: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Generate ``size`` reference inputs shaped like the dataset's, from no peer's data."""
    shape = (size, *dataset.input_shape)
    if dataset.is_image:
        return rng.random(shape, dtype=np.float32)
    if global_pos.size >= 2:
        held = dataset.x[global_pos].astype(np.float64)
        mean, std = held.mean(axis=0), held.std(axis=0)
    else:
        mean, std = np.zeros(dataset.input_shape), np.ones(dataset.input_shape)
    reference: np.ndarray = (mean + std * rng.standard_normal(shape)).astype(np.float32)
    return reference


def _iid_owner(m: int, num_peers: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffle ``m`` samples into ``num_peers`` shares whose sizes differ by at most one."""
    owner = np.empty(m, dtype=np.int64)
    owner[rng.permutation(m)] = np.arange(m, dtype=np.int64) % num_peers
    return owner


def _dirichlet_owner(
    labels: np.ndarray,
    num_peers: int,
    num_classes: int,
    alpha: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Give each class to the peers in ``Dirichlet(alpha)`` proportions (multinomial counts)."""
    owner = np.empty(labels.size, dtype=np.int64)
    peer_idx = np.arange(num_peers, dtype=np.int64)
    for pos in _class_groups(labels, num_classes):
        if pos.size == 0:
            continue
        p = rng.dirichlet(np.full(num_peers, float(alpha)))
        if not np.all(np.isfinite(p)) or p.sum() <= 0:  # underflow at tiny alpha
            p = np.zeros(num_peers)
            p[rng.integers(num_peers)] = 1.0
        counts = rng.multinomial(pos.size, p / p.sum())
        owner[rng.permutation(pos)] = np.repeat(peer_idx, counts)
    return owner


def _class_drop_owner(
    labels: np.ndarray,
    num_peers: int,
    num_classes: int,
    classes_dropped: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Class drop: rotate the missing classes over peers, split each class evenly.

    Like the HDUS authors' setting in that every peer lacks classes, but not their split
    (contiguous slices in file order): that is the ``hdus`` scheme.
    """
    keep = np.ones((num_peers, num_classes), dtype=bool)
    rows = np.repeat(np.arange(num_peers), classes_dropped)
    cols = (rows * classes_dropped + np.tile(np.arange(classes_dropped), num_peers)) % num_classes
    keep[rows, cols] = False
    missing = [tuple(int(c) for c in np.flatnonzero(~keep[i])) for i in range(num_peers)]

    groups = _class_groups(labels, num_classes)
    orphan = [c for c in range(num_classes) if not keep[:, c].any() and groups[c].size]
    if orphan:
        lost = sum(groups[c].size for c in orphan)
        raise PartitionError(
            f"class_drop with {num_peers} peer(s) and classes_dropped={classes_dropped}: "
            f"class(es) {orphan} are dropped by every peer, so their {lost} samples would "
            "belong to nobody. Fix: use more peers, or a smaller classes_dropped (with "
            f"classes_dropped <= {num_classes // 2} = num_classes/2, any 2 peers cover all "
            "classes)"
        )
    owner = np.empty(labels.size, dtype=np.int64)
    for c, pos in enumerate(groups):
        if pos.size == 0:
            continue
        keepers = np.flatnonzero(keep[:, c])
        start = rng.integers(keepers.size)  # which keepers get the one extra sample
        owner[rng.permutation(pos)] = keepers[(np.arange(pos.size) + start) % keepers.size]
    return owner, missing


def _quantity_owner(
    m: int, num_peers: int, quantity_sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Shuffle ``m`` samples into shares sized in proportion to lognormal draws."""
    weights = rng.lognormal(0.0, float(quantity_sigma), size=num_peers)
    sizes = _largest_remainder(weights / weights.sum() * m, m)
    owner = np.empty(m, dtype=np.int64)
    owner[rng.permutation(m)] = np.repeat(np.arange(num_peers, dtype=np.int64), sizes)
    return owner


def _local_test_mask(
    owner: np.ndarray,
    labels: np.ndarray,
    num_peers: int,
    num_classes: int,
    fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mark ``floor(fraction * share)`` samples of every share as local test, by class.

    Systematic sampling: each share is ordered by class (classes in a random order per
    peer, samples in random order inside a class), and the sample at rank ``r`` is a test
    sample when ``floor((r + 1) * fraction) > floor(r * fraction)``. Each class then gets
    the floor or the ceiling of its proportional share of the test set (stratified), and
    the whole thing is one sort, with no loop over peers.
    """
    m = owner.size
    if fraction == 0 or m == 0:
        return np.zeros(m, dtype=bool)
    class_key = rng.random((num_peers, num_classes))[owner, labels]
    order = np.lexsort((rng.random(m), class_key, owner))
    owner_sorted = owner[order]
    starts = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=num_peers))[:-1]])
    rank = np.arange(m) - starts[owner_sorted]
    test_sorted = np.floor((rank + 1) * fraction) > np.floor(rank * fraction)
    mask = np.empty(m, dtype=bool)
    mask[order] = test_sorted
    return mask
