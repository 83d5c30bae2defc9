"""The records a split produces: one peer's data, and the whole federated split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["REFERENCE_SOURCES", "SCHEMES", "FederatedSplit", "PeerData"]

#: Partition schemes accepted by :func:`split_federated`.
SCHEMES: tuple[str, ...] = ("iid", "dirichlet", "class_drop", "quantity_skew", "hdus")

#: Where the reference set comes from: held-out real inputs, or generated inputs.
REFERENCE_SOURCES: tuple[str, ...] = ("public", "synthetic")


@dataclass(frozen=True)
class PeerData:
    """One peer's private data: local train and local test, with their sample ids.

    Attributes
    ----------
    peer_id : int
        The peer owning the data.
    train_x, train_y, train_ids : numpy.ndarray
        Local training inputs (``float32``, ``(n_train, *input_shape)``), labels (``int64``)
        and dataset sample ids (``int64``), in random order.
    test_x, test_y, test_ids : numpy.ndarray
        Local test data, same layout; disjoint from the training data.
    missing_classes : tuple of int
        Classes withheld from this peer by design (scheme ``class_drop``), sorted; ``()``
        for other schemes (their class counts are in :meth:`FederatedSplit.summary`).
    """

    peer_id: int
    train_x: np.ndarray
    train_y: np.ndarray
    train_ids: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    test_ids: np.ndarray
    missing_classes: tuple[int, ...]

    @property
    def num_train(self) -> int:
        """Number of local training samples."""
        return int(self.train_y.shape[0])

    @property
    def num_test(self) -> int:
        """Number of local test samples."""
        return int(self.test_y.shape[0])


@dataclass(frozen=True)
class FederatedSplit:
    """A dataset split among peers, plus the shared reference set and a global test set.

    Attributes
    ----------
    peers : dict of int to PeerData
        Every peer's data, keyed by peer id (in ascending id order).
    reference_x : numpy.ndarray
        Public unlabeled reference inputs (``float32``, ``(M, *input_shape)``), held out
        from every peer; seed models are distilled on them.
    reference_ids : numpy.ndarray
        ``int64`` ids of the reference inputs: dataset sample ids for a public reference,
        ``-1 .. -M`` for generated (synthetic) ones.
    global_test_x, global_test_y, global_test_ids : numpy.ndarray
        Held-out labelled test data owned by no peer, for comparable evaluation.
    num_classes : int
        Number of classes of the dataset.
    input_shape : tuple of int
        Shape of one input.
    """

    peers: dict[int, PeerData]
    reference_x: np.ndarray
    reference_ids: np.ndarray
    global_test_x: np.ndarray
    global_test_y: np.ndarray
    global_test_ids: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]

    @property
    def peer_ids(self) -> tuple[int, ...]:
        """Peer ids in ascending order."""
        return tuple(sorted(self.peers))

    def summary(self) -> dict[str, Any]:
        """Describe the split in plain Python types (JSON-ready), for reports and logs.

        Returns
        -------
        dict
            ``num_peers``, ``num_classes``, ``input_shape``, ``reference_size``,
            ``global_test_size``, ``total_train``, ``total_test`` and ``peers``: for each
            peer id, its ``train`` and ``test`` sizes, ``train_class_counts`` and
            ``test_class_counts`` (lists indexed by class) and ``missing_classes``.
        """
        c = self.num_classes
        peers: dict[int, dict[str, Any]] = {}
        for pid in self.peer_ids:
            p = self.peers[pid]
            peers[pid] = {
                "train": p.num_train,
                "test": p.num_test,
                "train_class_counts": np.bincount(p.train_y, minlength=c).tolist(),
                "test_class_counts": np.bincount(p.test_y, minlength=c).tolist(),
                "missing_classes": list(p.missing_classes),
            }
        return {
            "num_peers": len(self.peers),
            "num_classes": c,
            "input_shape": list(self.input_shape),
            "reference_size": int(self.reference_x.shape[0]),
            "global_test_size": int(self.global_test_y.shape[0]),
            "total_train": sum(v["train"] for v in peers.values()),
            "total_test": sum(v["test"] for v in peers.values()),
            "peers": peers,
        }
