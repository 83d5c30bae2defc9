"""The ``hdus`` scheme: the HDUS authors' split, reproduced exactly (no randomness at all).

What the authors' unlearning notebooks do (``gyed/Schedar``, ``ours_unlearning.ipynb``),
and what this module does on any dataset with a published train/test split:

1. Peer ``i`` (``i``-th in ascending id order) gets the **contiguous slice**
   ``[i * S, (i + 1) * S)`` of the *train split*, ``S`` samples each.
2. It **removes one class**, ``peer_id mod num_classes``, from its slice.
3. It splits what is left **80 / 20 in index order**: the first
   ``int((1 - local_test_fraction) * kept)`` samples train, the rest are its local test
   set (so the local test set lacks the same class).
4. The **reference set is the whole test split**, its labels never used.

The authors give 5 clients 10,000 images each from MNIST's 60,000 and leave the last
10,000 unused; here those trailing train-split samples (``global_test_size`` of them, a
count or a fraction of the train split) are the global test set, which no peer owns. So
``S = (train_count - global test) // peers``; leftovers of the division belong to nobody.

How this differs from ``class_drop``: that scheme pools both published splits, draws the
reference and global test sets at random (stratified), and spreads every class evenly over
the peers that keep it; ``hdus`` keeps the published order, so peers differ by which part
of the file they got, as the authors' clients did.
"""

from __future__ import annotations

import numpy as np

from clients.datasets import Dataset
from clients.errors import PartitionError
from clients.partition.records import FederatedSplit, PeerData

__all__ = ["hdus_slices", "split_hdus"]


def hdus_slices(
    train_count: int, num_peers: int, n_global: int
) -> tuple[int, list[tuple[int, int]]]:
    """Slice size ``S`` and each peer position's ``[start, end)`` in the train split.

    Examples
    --------
    >>> hdus_slices(60_000, 5, 10_000)
    (10000, [(0, 10000), (10000, 20000), (20000, 30000), (30000, 40000), (40000, 50000)])
    """
    size = (train_count - n_global) // num_peers
    return size, [(i * size, (i + 1) * size) for i in range(num_peers)]


def split_hdus(
    dataset: Dataset,
    peers: list[int],
    *,
    n_global: int,
    local_test_fraction: float,
    min_train_per_peer: int,
) -> FederatedSplit:
    """Split ``dataset`` among ``peers`` (sorted ids) the way the HDUS authors did.

    ``n_global`` is the number of trailing train-split samples held out as the global
    test set. Raises :class:`PartitionError` naming the fix when the dataset has no
    published split or a peer would get too few training samples.
    """
    train_count = dataset.train_count
    if train_count is None:
        raise PartitionError(
            f"scheme 'hdus' slices a dataset's published train split and distils on its test "
            f"split, but dataset {dataset.name!r} has no published split: use mnist_subset, "
            "mnist, fashion_mnist, cifar10 or uci_har, or the scheme class_drop"
        )
    if not 0 <= n_global < train_count:
        raise PartitionError(
            f"global_test_size ({n_global} samples) must leave some of the {train_count} "
            f"train-split samples of {dataset.name!r} for the peers under scheme 'hdus'"
        )
    size, bounds = hdus_slices(train_count, len(peers), n_global)
    labels, ids = dataset.y, dataset.sample_ids
    peer_data: dict[int, PeerData] = {}
    for pid, (start, end) in zip(peers, bounds, strict=True):
        dropped = pid % dataset.num_classes
        kept = start + np.flatnonzero(labels[start:end] != dropped)
        border = int((1 - local_test_fraction) * len(kept))
        if border < min_train_per_peer:
            raise PartitionError(
                f"scheme 'hdus': peer {pid} gets {border} training sample(s) from its slice "
                f"of {size} (need >= {min_train_per_peer}); use fewer peers, a smaller "
                "global_test_size or a larger dataset"
            )
        tr, te = kept[:border], kept[border:]
        peer_data[pid] = PeerData(
            peer_id=pid,
            train_x=dataset.x[tr],
            train_y=labels[tr],
            train_ids=ids[tr],
            test_x=dataset.x[te],
            test_y=labels[te],
            test_ids=ids[te],
            missing_classes=(dropped,),
        )
    global_pos = np.arange(train_count - n_global, train_count)
    reference_pos = np.arange(train_count, len(dataset))
    return FederatedSplit(
        peers=peer_data,
        reference_x=np.ascontiguousarray(dataset.x[reference_pos], dtype=np.float32),
        reference_ids=ids[reference_pos],
        global_test_x=dataset.x[global_pos],
        global_test_y=labels[global_pos],
        global_test_ids=ids[global_pos],
        num_classes=dataset.num_classes,
        input_shape=tuple(dataset.input_shape),
    )
