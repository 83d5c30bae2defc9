"""The state every part of a :class:`~clients.peer.Peer` shares, declared in one place.

:class:`PeerState` only declares the attributes (``Peer.__init__`` sets them) and the
identity they imply, so that the parts a peer is made of (:mod:`clients.learner`,
:mod:`clients.deletion`, :mod:`clients.holdings`, :mod:`clients.gossip`,
:mod:`clients.admission`, :mod:`clients.inbound`) are typed against the same fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from clients.credentials import Credentials
from clients.messages import DataOwner, Lease, LeaveNotice, SeedRecord
from clients.partition import PeerData
from clients.peer_types import HeldSeed, LeaseState, PeerConfig, PeerSeeds

if TYPE_CHECKING:  # importing clients.unlearning loads scipy: only when a peer needs it
    from clients.unlearning.base import UnlearnableModel

__all__ = ["PeerState"]


class PeerState:
    """Attributes of one peer (set by ``Peer.__init__``) and its identity.

    Attributes
    ----------
    peer_id, epoch
        The device's id (stable across re-joins) and its current epoch.
    data, reference_x, num_classes, input_shape
        Private local data, the shared public reference inputs, and the task shape.
    config, seeds
        Behaviour and private random streams.
    """

    peer_id: int
    epoch: int
    data: PeerData
    reference_x: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    config: PeerConfig
    seeds: PeerSeeds
    #: receipts of the point deletions made so far (the own seed names them)
    deletions: tuple[str, ...]
    #: a plain network (``config.unlearning is None``) or a point-deletion model
    main: nn.Module | UnlearnableModel
    trained_rounds: int
    #: bumped by every training round and every point deletion (receipts name it)
    model_version: int
    #: samples processed so far (training: samples x epochs; distillation: steps x batch)
    work_samples: int
    own_seed: SeedRecord | None
    _own_seed_module: nn.Module | None
    #: (seed arch, init seed) and the seed's fixed initial state, built once
    _seed_init: tuple[tuple[str, int], tuple[tuple[str, torch.Tensor], ...]] | None
    held: dict[DataOwner, HeldSeed]
    tombstones: set[DataOwner]
    known_epochs: dict[int, int]
    #: each neighbour's epoch as its own link says (handshake and its heartbeats): the
    #: epoch a silence is evidence against. ``known_epochs`` may be newer, learned from
    #: a relayed seed, which the retrain oracle withholds, so it must not steer detection
    link_epochs: dict[int, int]
    neighbors: set[int]
    last_heard: dict[int, int]
    relayed_to: dict[DataOwner, set[int]]
    declared_dead: bool
    heard: set[int]
    #: lowest acceptable seed version per data owner (point deletions revoke older ones)
    floors: dict[DataOwner, int]
    own_floor: int
    #: signs this peer's seeds, renewals and leave notices; checks others' (no-op default)
    credentials: Credentials
    #: the latest round (clock tick) this peer was told of
    now: int
    #: newest lease renewal of every held seed
    leases: dict[DataOwner, LeaseState]
    #: rounds by which a hinted removal drops a seed unless a fresh renewal arrives
    hints: dict[DataOwner, int]
    #: seeds dropped because their lease ran out (or a hint's grace): the last renewal
    #: seen; only a newer renewal re-admits the seed
    expired: dict[DataOwner, int]
    #: owner-signed graceful leave notices (proofs passed on by anti-entropy)
    leave_proofs: dict[DataOwner, LeaveNotice]
    #: what each neighbour said it holds in its last heartbeat (anti-entropy)
    neighbor_holding: dict[int, frozenset[tuple[int, int, int]]]
    _own_lease: Lease | None
    _train_x: torch.Tensor
    _train_y: torch.Tensor
    _seed_param_shapes: dict[str, tuple[int, ...]]
    _seed_dtypes: dict[str, np.dtype[Any]]

    @property
    def key(self) -> DataOwner:
        """Data owner key ``(peer_id, epoch)`` of this peer."""
        return (self.peer_id, self.epoch)

    @property
    def shares_own_seed(self) -> bool:
        """Whether this epoch's seed is sent (the retrain oracle withholds some epochs)."""
        return self.epoch not in self.config.withhold_epochs

    @property
    def unlearnable(self) -> bool:
        """Whether the main model supports point-level deletion itself (SISA, certified, ...)."""
        return self.config.unlearning is not None
