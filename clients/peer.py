"""The ``Peer`` state machine: one device's HDUS logic, the same in every runtime.

A peer trains its main model on its own data, distils its seed on the public reference
set, sends the seed to its neighbours (optionally relayed ``k`` hops), predicts with the
erasable ensemble, and drops a departed peer's seed when its owner says goodbye (an
owner-signed leave notice, or its proof relayed in a heartbeat), when it detects the
crash itself (missed heartbeats), or when the seed's **lease** runs out: holding a seed is
a lease its owner keeps renewing, so a departed device is forgotten everywhere within
``lease`` rounds of its last renewal whatever was or was not heard. Others' crash claims
and removals are hints only (a short grace in which a fresh renewal keeps the seed), so
no single neighbour can force out a live peer's seed; seeds, renewals and revocation
floors count only with their owner's signature (:mod:`clients.credentials`). Every
inbound message is checked; a refused message leaves the state unchanged.

Pure Python plus torch: no Ray, gRPC or protobuf. Methods return the messages to send as
:class:`Envelope` objects; the runtime delivers them.
"""

from __future__ import annotations

import numpy as np
import torch

from clients.credentials import UNCHECKED
from clients.deletion import Deletion
from clients.errors import PeerError
from clients.inbound import Inbound
from clients.messages import SeedRecord
from clients.models import build_model
from clients.partition import PeerData
from clients.peer_types import (
    Envelope,
    HeldSeed,
    LeaseState,
    Message,
    PeerConfig,
    PeerSeeds,
    Reaction,
    Refusal,
    sub_seed,
)

__all__ = [
    "Envelope",
    "HeldSeed",
    "LeaseState",
    "Message",
    "Peer",
    "PeerConfig",
    "PeerSeeds",
    "Reaction",
    "Refusal",
    "sub_seed",
]


class Peer(Inbound, Deletion):
    """One device running HDUS.

    Parameters
    ----------
    peer_id
        The device's id, stable across re-joins.
    epoch
        Incremented by the runtime each time the device (re-)joins.
    data
        The peer's private local train and test split.
    reference_x
        The public reference inputs, shared by all peers (never copied).
    num_classes, input_shape
        Task shape.
    config
        Behaviour (device class, training budget, rho, relay hops, ...).
    seeds
        Private random streams.

    The parts: :class:`~clients.learner.Learner` (main model, training, distillation,
    prediction), :class:`~clients.deletion.Deletion` (point deletion),
    :class:`~clients.holdings.Holdings` (held seeds, leases, tombstones, floors),
    :class:`~clients.gossip.Gossip` (links and outbound messages),
    :class:`~clients.admission.Admission` (checks) and :class:`~clients.inbound.Inbound`
    (message handlers); their shared attributes are declared in
    :class:`~clients.peer_state.PeerState`.
    """

    def __init__(
        self,
        peer_id: int,
        epoch: int,
        data: PeerData,
        reference_x: torch.Tensor,
        num_classes: int,
        input_shape: tuple[int, ...],
        config: PeerConfig,
        seeds: PeerSeeds,
    ) -> None:
        self.peer_id = peer_id
        self.epoch = epoch
        self.data = data
        self.reference_x = reference_x
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        self.config = config
        self.seeds = seeds
        self.deletions = ()
        self.main = self._new_main()
        self.trained_rounds = 0
        self.model_version = 0
        self.work_samples = 0
        self.own_seed = None
        self._own_seed_module = None
        self._seed_init = None
        self.held = {}
        self.tombstones = set()
        self.known_epochs = {}
        self.link_epochs = {}
        self.neighbors = set()
        self.last_heard = {}
        self.relayed_to = {}
        self.declared_dead = False
        self.heard = set()
        self.floors = {}
        self.own_floor = 0
        self.credentials = UNCHECKED
        self.now = 0
        self.leases = {}
        self.hints = {}
        self.expired = {}
        self.leave_proofs = {}
        self.neighbor_holding = {}
        self._own_lease = None
        self._train_x = torch.from_numpy(np.ascontiguousarray(data.train_x)).float()
        self._train_y = torch.from_numpy(np.ascontiguousarray(data.train_y)).long()
        seed_state = build_model(config.seed_arch, self.input_shape, num_classes, seed=0)
        self._seed_param_shapes = {k: tuple(v.shape) for k, v in seed_state.state_dict().items()}
        # float32 weights, and integer buffers (BatchNorm's batch counter) where the
        # architecture has them
        self._seed_dtypes = {
            k: v.detach().numpy().dtype for k, v in seed_state.state_dict().items()
        }

    def __repr__(self) -> str:
        return (
            f"Peer(id={self.peer_id}, epoch={self.epoch}, device={self.config.device!r}, "
            f"neighbors={sorted(self.neighbors)}, held={sorted(self.held)})"
        )

    def rekey(self, epoch: int, seeds: PeerSeeds) -> SeedRecord:
        """Continue under a new ``epoch`` after others declared this one over (refutation).

        A live peer that learns it was declared crashed (a false suspicion, e.g. across a
        partition) cannot revive its old epoch: every holder tombstoned it. It keeps its
        data and trained main model, drops all links (the runtime re-makes them), and
        distils a fresh seed under the new key, which neighbours accept as a new owner.
        """
        if epoch <= self.epoch:
            raise PeerError(f"peer {self.peer_id}: new epoch {epoch} must exceed {self.epoch}")
        self.tombstones.add(self.key)
        self.epoch = epoch
        self.seeds = seeds
        self.own_seed = None
        self.neighbors.clear()
        self.last_heard.clear()
        self.relayed_to.clear()
        self.declared_dead = False
        return self.distil_seed()
