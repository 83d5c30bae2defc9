"""Splitting a dataset among peers: hold out, divide the pool by a scheme, split locally.

:func:`split_federated` runs three named steps from one seed: :func:`_hold_out` (global
test set and public reference set, stratified), :func:`_assign_owners` (the scheme), and
:func:`_peer_shares` (local train / test inside every share).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clients.datasets import Dataset
from clients.errors import PartitionError
from clients.partition.checks import (
    _check_params,
    _check_peer_ids,
    _resolve_size,
    _too_small_message,
)
from clients.partition.hdus import split_hdus
from clients.partition.records import FederatedSplit, PeerData
from clients.partition.schemes import (
    _class_drop_owner,
    _dirichlet_owner,
    _iid_owner,
    _local_test_mask,
    _quantity_owner,
    _stratified_take,
    _synthetic_reference,
)

__all__ = ["split_federated"]


def split_federated(
    dataset: Dataset,
    peer_ids: Sequence[int],
    *,
    scheme: str = "iid",
    seed: int,
    alpha: float = 0.5,
    classes_dropped: int = 1,
    quantity_sigma: float = 1.0,
    reference_size: int | float = 0.15,
    reference_source: str = "public",
    global_test_size: int | float = 0.15,
    local_test_fraction: float = 0.2,
    min_train_per_peer: int = 1,
) -> FederatedSplit:
    """Split ``dataset`` among ``peer_ids``: reference set, global test, per-peer train/test.

    Parameters
    ----------
    dataset : Dataset
        All samples to split.
    peer_ids : sequence of int
        Distinct peer ids; shares are assigned in ascending id order.
    scheme : {"iid", "dirichlet", "class_drop", "quantity_skew", "hdus"}, default "iid"
        How the pool is divided:

        * ``iid``: shuffled, equal shares (sizes differ by at most one).
        * ``dirichlet``: for every class, the peers' shares of it are drawn from
          ``Dirichlet(alpha, ..., alpha)``: label skew, stronger as ``alpha`` shrinks.
        * ``class_drop``: the peer at position ``i`` (ascending id order) gets no sample of
          classes ``(i * classes_dropped + j) % num_classes``, ``j < classes_dropped``
          (a rotation, so neighbouring positions miss different classes); each class is
          split evenly among the peers that keep it.
        * ``quantity_skew``: share sizes proportional to ``lognormal(0, quantity_sigma)``
          draws, labels IID.
        * ``hdus``: the HDUS authors' split, with no randomness (:mod:`clients.partition.hdus`):
          contiguous slices of the published train split, class ``peer_id mod
          num_classes`` removed from each, 80/20 in index order, the whole published test
          split as the reference set and the train split's last ``global_test_size``
          samples as the global test set (``reference_size`` and ``reference_source`` are
          not used).
    seed : int
        Non-negative seed; the same arguments give identical arrays.
    alpha : float, default 0.5
        Dirichlet concentration (> 0) for ``dirichlet``.
    classes_dropped : int, default 1
        Classes every peer lacks under ``class_drop``, ``0 <= classes_dropped < num_classes``.
    quantity_sigma : float, default 1.0
        Log-scale standard deviation (>= 0) of share sizes for ``quantity_skew``.
    reference_size : int or float, default 0.15
        Reference set size: an int is a count, a float in [0, 1) a fraction of the dataset.
    reference_source : {"public", "synthetic"}, default "public"
        ``public`` holds real inputs out of the dataset (stratified by class). ``synthetic``
        generates inputs instead and holds nothing out: uniform noise in [0, 1] for images
        (the loaders' pixel range); for feature vectors, Gaussian noise with the per-feature
        mean and standard deviation of the global test set (owned by no peer; standard
        normal if it has fewer than 2 samples). No peer's data shapes the reference set,
        so removing a peer never invalidates it.
    global_test_size : int or float, default 0.15
        Global test set size, count or fraction like ``reference_size``.
    local_test_fraction : float, default 0.2
        Fraction in [0, 1) of each peer's share kept as its local test set (rounded down, so
        the training part never shrinks below ``1 - local_test_fraction``); stratified by
        class within the peer.
    min_train_per_peer : int, default 1
        Smallest acceptable local training set (>= 1).

    Returns
    -------
    FederatedSplit

    Raises
    ------
    PartitionError
        If a parameter is out of range (the message names it, its value and the valid
        range), or if some peer would get fewer than ``min_train_per_peer`` training samples
        (the message names the peer, its count and the fixes).
    """
    peers = _check_peer_ids(peer_ids)
    _check_params(
        dataset=dataset,
        scheme=scheme,
        seed=seed,
        alpha=alpha,
        classes_dropped=classes_dropped,
        quantity_sigma=quantity_sigma,
        reference_source=reference_source,
        local_test_fraction=local_test_fraction,
        min_train_per_peer=min_train_per_peer,
    )
    n = len(dataset)
    if scheme == "hdus":
        return split_hdus(
            dataset,
            peers,
            n_global=_resolve_size("global_test_size", global_test_size, dataset.train_count or n),
            local_test_fraction=local_test_fraction,
            min_train_per_peer=min_train_per_peer,
        )
    n_global = _resolve_size("global_test_size", global_test_size, n)
    n_ref = _resolve_size("reference_size", reference_size, n)
    rng_hold, rng_ref, rng_part, rng_local, rng_order = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    global_pos, pool, reference_x, reference_ids = _hold_out(
        dataset, n_global, n_ref, reference_source, rng_hold, rng_ref
    )
    pool_labels = dataset.y[pool]
    owner, missing = _assign_owners(
        scheme,
        pool_labels,
        len(peers),
        dataset.num_classes,
        rng_part,
        alpha=alpha,
        classes_dropped=classes_dropped,
        quantity_sigma=quantity_sigma,
    )
    is_test = _local_test_mask(
        owner, pool_labels, len(peers), dataset.num_classes, local_test_fraction, rng_local
    )
    train_counts = np.bincount(owner[~is_test], minlength=len(peers))
    test_counts = np.bincount(owner[is_test], minlength=len(peers))
    short = np.flatnonzero(train_counts < min_train_per_peer)
    if short.size:
        raise PartitionError(
            _too_small_message(
                peers=peers,
                short=short,
                train_counts=train_counts,
                share_counts=train_counts + test_counts,
                pool_size=pool.size,
                n=n,
                scheme=scheme,
                alpha=alpha,
                quantity_sigma=quantity_sigma,
                classes_dropped=classes_dropped,
                local_test_fraction=local_test_fraction,
                min_train_per_peer=min_train_per_peer,
            )
        )
    peer_data = _peer_shares(
        dataset, peers, pool, owner, is_test, (train_counts, test_counts), missing, rng_order
    )
    return FederatedSplit(
        peers=peer_data,
        reference_x=np.ascontiguousarray(reference_x, dtype=np.float32),
        reference_ids=np.asarray(reference_ids, dtype=np.int64),
        global_test_x=dataset.x[global_pos],
        global_test_y=dataset.y[global_pos],
        global_test_ids=dataset.sample_ids[global_pos],
        num_classes=dataset.num_classes,
        input_shape=tuple(dataset.input_shape),
    )


def _hold_out(
    dataset: Dataset,
    n_global: int,
    n_ref: int,
    reference_source: str,
    rng_hold: np.random.Generator,
    rng_ref: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step 1: hold out the global test set and the public reference set (stratified).

    Returns ``(global_pos, pool, reference_x, reference_ids)``: positions of the global
    test set and of the pool left for the peers, and the reference inputs and their ids
    (``-1 .. -n_ref`` for generated ones).
    """
    n = len(dataset)
    n_ref_held = n_ref if reference_source == "public" else 0
    if n_global + n_ref_held >= n:
        raise PartitionError(
            f"global_test_size ({n_global} samples) plus the public reference set "
            f"({n_ref_held}) take all {n} samples of dataset {dataset.name!r}, leaving none "
            "for the peers: lower global_test_size or reference_size"
        )
    labels, num_classes = dataset.y, dataset.num_classes
    global_pos, rest = _stratified_take(np.arange(n), labels, n_global, num_classes, rng_hold)
    ref_pos, pool = _stratified_take(rest, labels, n_ref_held, num_classes, rng_hold)
    if reference_source == "public":
        reference_x = dataset.x[ref_pos]
        reference_ids = dataset.sample_ids[ref_pos]
    else:
        reference_x = _synthetic_reference(dataset, global_pos, n_ref, rng_ref)
        reference_ids = -np.arange(1, n_ref + 1, dtype=np.int64)
    return global_pos, pool, reference_x, reference_ids


def _assign_owners(
    scheme: str,
    pool_labels: np.ndarray,
    num_peers: int,
    num_classes: int,
    rng: np.random.Generator,
    *,
    alpha: float,
    classes_dropped: int,
    quantity_sigma: float,
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Step 2: divide the pool among peers by ``scheme``.

    Returns ``(owner, missing)``: ``owner[k]`` is the position (ascending peer id) of the
    owner of the pool's ``k``-th sample; ``missing[i]`` the classes position ``i`` lacks by
    design (``class_drop`` only).
    """
    missing: list[tuple[int, ...]] = [()] * num_peers
    if scheme == "iid":
        owner = _iid_owner(pool_labels.size, num_peers, rng)
    elif scheme == "dirichlet":
        owner = _dirichlet_owner(pool_labels, num_peers, num_classes, alpha, rng)
    elif scheme == "class_drop":
        owner, missing = _class_drop_owner(
            pool_labels, num_peers, num_classes, classes_dropped, rng
        )
    else:  # quantity_skew
        owner = _quantity_owner(pool_labels.size, num_peers, quantity_sigma, rng)
    return owner, missing


def _peer_shares(
    dataset: Dataset,
    peers: list[int],
    pool: np.ndarray,
    owner: np.ndarray,
    is_test: np.ndarray,
    counts: tuple[np.ndarray, np.ndarray],
    missing: list[tuple[int, ...]],
    rng_order: np.random.Generator,
) -> dict[int, PeerData]:
    """Step 3: every peer's local train and test data, in random order inside each part.

    ``counts`` holds the train and test sizes per peer position.
    """
    train_counts, test_counts = counts
    num_peers = len(peers)
    labels = dataset.y
    # Group by (train/test, peer), random order inside each group.
    order = np.lexsort((rng_order.random(pool.size), owner, is_test))
    bounds = np.cumsum(np.concatenate([train_counts, test_counts]))[:-1]
    chunks = np.split(pool[order], bounds)
    peer_data: dict[int, PeerData] = {}
    for i, pid in enumerate(peers):
        tr, te = chunks[i], chunks[num_peers + i]
        peer_data[pid] = PeerData(
            peer_id=pid,
            train_x=dataset.x[tr],
            train_y=labels[tr],
            train_ids=dataset.sample_ids[tr],
            test_x=dataset.x[te],
            test_y=labels[te],
            test_ids=dataset.sample_ids[te],
            missing_classes=missing[i],
        )
    return peer_data
