"""One peer's machine learning, with no Ray, gRPC or protobuf inside.

Datasets and partitioners (:mod:`clients.datasets`, :mod:`clients.partition`), the model
zoo by device class (:mod:`clients.models`), local training and seed distillation
(:mod:`clients.training`), the erasable ensemble (:mod:`clients.ensemble`), point-level
deletion (:mod:`clients.unlearning`), the message records peers exchange
(:mod:`clients.messages`) and the :class:`~clients.peer.Peer` state machine.
"""

from __future__ import annotations

from clients.errors import ClientsError, DatasetError, ModelError, PartitionError, PeerError

__all__ = ["ClientsError", "DatasetError", "ModelError", "PartitionError", "PeerError"]
