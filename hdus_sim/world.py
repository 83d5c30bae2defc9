"""Everything a scenario fixes before the first round: data, the split, and how to build a peer.

Both the driver (:class:`~hdus_sim.simulation.Simulation`) and every Ray actor build the
same :class:`World` from the scenario alone: the split is a pure function of the scenario
seed, so an actor can rebuild exactly the data of the peers it hosts instead of receiving
it from the driver, as a real device would hold only its own data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from clients.datasets import load_dataset
from clients.ensemble import CombineMode
from clients.partition import FederatedSplit, PeerData, split_federated
from clients.peer import Peer, PeerConfig, PeerSeeds
from clients.poisoning import plant
from clients.training import DistillConfig, TrainConfig
from hdus_sim.plan import PeerSpec
from hdus_sim.rng import derive_seed
from hdus_sim.scenario import Scenario

__all__ = ["World", "placement_of"]


def _size(value: float) -> int | float:
    """Scenario sizes: values >= 1 are counts, values in (0, 1) are fractions."""
    return int(value) if value >= 1 else float(value)


def placement_of(peer_id: int, peers_per_actor: int) -> int:
    """The actor (host) index that hosts ``peer_id`` when packing ``peers_per_actor`` per actor.

    Peers are packed by id so the placement is the same in every run and every runtime.

    Examples
    --------
    >>> [placement_of(p, 4) for p in (0, 3, 4, 9)]
    [0, 0, 1, 2]
    """
    return peer_id // max(1, peers_per_actor)


@dataclass
class World:
    """The scenario's data and peer factory (built once per process)."""

    scenario: Scenario
    split: FederatedSplit
    reference: torch.Tensor
    global_x: torch.Tensor
    global_y: torch.Tensor

    @classmethod
    def build(cls, scenario: Scenario) -> World:
        """Load the dataset and split it exactly as the scenario's seed says."""
        s = scenario
        torch.set_num_threads(s.runtime.torch_threads)
        dataset = load_dataset(
            s.dataset.name,
            root=s.dataset.root,
            seed=derive_seed(s.seed, "dataset"),
            synthetic_samples=s.dataset.synthetic_samples,
            **({"dim": s.dataset.synthetic_dim} if s.dataset.name == "synthetic" else {}),
        )
        if s.dataset.pixels == "signed":  # the HDUS authors' Normalize((0.5,), (0.5,))
            dataset = dataclasses.replace(dataset, x=dataset.x * np.float32(2) - np.float32(1))
        p = s.partition
        split = split_federated(
            dataset,
            s.all_peer_ids,
            scheme=p.scheme,
            seed=derive_seed(s.seed, "partition"),
            alpha=p.alpha,
            classes_dropped=p.classes_dropped,
            quantity_sigma=p.quantity_sigma,
            reference_size=_size(p.reference.size),
            reference_source=p.reference.source,
            global_test_size=_size(p.global_test_size),
            local_test_fraction=p.local_test_fraction,
        )

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a))

        return cls(
            scenario=s,
            split=split,
            reference=tensor(split.reference_x).float(),
            global_x=tensor(split.global_test_x).float(),
            global_y=tensor(split.global_test_y).long(),
        )

    def seeds_for(self, pid: int, epoch: int) -> PeerSeeds:
        """The private random streams of peer ``pid`` at ``epoch``."""
        root = self.scenario.seed
        return PeerSeeds(
            main_init=derive_seed(root, "main_init", pid, epoch),
            train=derive_seed(root, "train", pid, epoch),
            seed_init=derive_seed(root, "seed_init", pid, epoch),
            distil=derive_seed(root, "distil", pid, epoch),
        )

    def peer_config(self, spec: PeerSpec) -> PeerConfig:
        """A peer's behaviour from the scenario and its spec."""
        s = self.scenario
        return PeerConfig(
            device=spec.device,
            seed_arch=s.seed_model.arch,
            train=TrainConfig(
                epochs=s.training.local_epochs,
                batch_size=s.training.batch_size,
                lr=s.training.lr,
                steps=s.training.local_steps,
            ),
            train_rounds=s.training.train_rounds,
            distill=DistillConfig(
                steps=s.seed_model.distill_steps,
                batch_size=s.seed_model.batch_size,
                lr=s.seed_model.lr,
                temperature=s.seed_model.temperature,
            ),
            rho=s.peers.rho,
            combine=CombineMode(s.peers.combine),
            rho_grid=tuple(s.peers.rho_grid),
            relay_hops=s.exchange.relay_hops,
            heartbeat_timeout=s.exchange.heartbeat_timeout,
            lease=s.exchange.lease_rounds,
            withhold_epochs=spec.withhold_epochs,
            debug_keep_dropped_seeds=spec.keep_dropped_seeds,
            debug_mute_relay=spec.peer_id in s.debug.mute_relays,
            debug_noop_deletion=spec.peer_id in s.debug.noop_deletions,
            unlearning=s.peers.unlearning_of(spec.device),
            unlearning_options=tuple(
                sorted(
                    s.peers.unlearning_options.get(
                        s.peers.unlearning_of(spec.device) or "", {}
                    ).items()
                )
            ),
        )

    def train_ids(self) -> dict[int, list[int]]:
        """Each peer's training sample ids in the split (deletion requests draw from them)."""
        return {pid: [int(x) for x in d.train_ids] for pid, d in self.split.peers.items()}

    def data_of(self, pid: int, withheld: frozenset[int] = frozenset()) -> PeerData:
        """Peer ``pid``'s local data, minus the points ``withheld`` from the start."""
        data = self.split.peers[pid]
        bd = self.scenario.backdoor
        if bd is not None and bd.peer == pid:
            tx, ty = plant(
                data.train_x,
                data.train_y,
                fraction=bd.fraction,
                target=bd.target,
                seed=derive_seed(self.scenario.seed, "backdoor", pid),
            )
            data = dataclasses.replace(data, train_x=tx, train_y=ty)
        if not withheld:
            return data
        keep = ~np.isin(data.train_ids, np.fromiter(withheld, dtype=np.int64))
        return dataclasses.replace(
            data,
            train_x=data.train_x[keep],
            train_y=data.train_y[keep],
            train_ids=data.train_ids[keep],
        )

    def make_peer(self, spec: PeerSpec) -> Peer:
        """Build peer ``spec.peer_id`` at ``spec.epoch`` with its data and random streams."""
        return Peer(
            spec.peer_id,
            spec.epoch,
            self.data_of(spec.peer_id, spec.withheld_points),
            self.reference,
            self.split.num_classes,
            self.split.input_shape,
            self.peer_config(spec),
            self.seeds_for(spec.peer_id, spec.epoch),
        )
