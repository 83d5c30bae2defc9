"""Split one :class:`~clients.datasets.Dataset` among peers, as HDUS experiments need it.

:func:`split_federated` does three things, in this order, all from one seed:

1. It holds out, stratified by class, a **global test set** and (for a public reference)
   the **reference set**: the public unlabeled inputs every peer distils its seed model on.
   Both are disjoint from every peer's data, so a peer's departure never touches them.
2. It divides the rest (the *pool*) among the peers by a scheme: ``iid``, ``dirichlet``
   (label skew), ``class_drop`` (every peer lacks some classes; each class is spread
   evenly over the peers that keep it) or ``quantity_skew`` (unequal sizes).

The ``hdus`` scheme replaces all three steps with the HDUS authors' own split
(:mod:`clients.partition.hdus`): contiguous slices of the published train split, one
class removed per peer, 80/20 in index order, the published test split as reference.
3. It splits every peer's share into local train and local test, stratified by class.

Every sample keeps its :attr:`~clients.datasets.Dataset.sample_ids` id throughout, so
partitions can be checked for disjointness and a single point can later be deleted.
Everything is vectorised (no Python loop over samples): 1000 peers on 100 000 samples take
a few tens of milliseconds.
"""

from __future__ import annotations

from clients.partition.records import REFERENCE_SOURCES, SCHEMES, FederatedSplit, PeerData
from clients.partition.split import split_federated

__all__ = ["REFERENCE_SOURCES", "SCHEMES", "FederatedSplit", "PeerData", "split_federated"]
