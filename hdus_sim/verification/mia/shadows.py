"""Shadow models for LiRA: copies of a peer trained on halves of its candidates.

A shadow of a peer is the same :class:`~clients.peer.Peer` code (architecture, training
budget, unlearning method, distillation) trained on a random half of the candidate pool,
with its own random streams derived from the scenario seed, then distilled on the public
reference set: its main model stands in for the owner's main model and its seed for the
owner's seed (:class:`~hdus_sim.verification.mia.scoring.Target`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from clients.peer import Peer, PeerSeeds
from clients.training import logits_of
from hdus_sim.rng import derive_seed
from hdus_sim.verification.mia.candidates import Candidates
from hdus_sim.verification.mia.lira import shadow_inclusion

__all__ = ["ShadowSet", "train_shadows"]


@dataclass(frozen=True)
class ShadowSet:
    """Shadow models of one peer, evaluated on its candidates.

    Attributes
    ----------
    inclusion : numpy.ndarray
        ``(shadows, n)``: whether shadow ``k`` trained on candidate ``i``.
    main : torch.Tensor
        ``(shadows, n, classes)`` logits of every shadow main model.
    seed : torch.Tensor
        ``(shadows, n, classes)`` logits of every shadow seed.
    """

    inclusion: np.ndarray
    main: torch.Tensor
    seed: torch.Tensor

    @property
    def count(self) -> int:
        """Number of shadows."""
        return int(self.inclusion.shape[0])


def train_shadows(
    peer: Peer,
    cand: Candidates,
    *,
    shadows: int,
    root_seed: int,
    purpose: str = "lira",
    keep: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> ShadowSet:
    """Train ``shadows`` copies of ``peer``'s main model and seed on halves of ``cand``.

    Each shadow is a fresh :class:`~clients.peer.Peer` with ``peer``'s configuration
    (architecture, training rounds and epochs, unlearning method, distillation), trained
    on ``keep`` (data every shadow has; point deletions: the owner's remaining data) plus
    its half of the candidates, with its own random streams derived from ``root_seed``,
    ``purpose``, the peer's key and the shadow index.
    """
    key = (peer.peer_id, peer.epoch)
    inc = shadow_inclusion(cand.y, shadows, derive_seed(root_seed, f"{purpose}_split", *key))
    xt = torch.from_numpy(cand.x)
    mains, seeds = [], []
    empty = peer.data.test_x[:0]
    for k in range(inc.shape[0]):
        parts = [(cand.x[inc[k]], cand.y[inc[k]], cand.ids[inc[k]])]
        if keep is not None:
            parts.insert(0, keep)
        x = np.concatenate([p[0] for p in parts]).astype(np.float32)
        y = np.concatenate([p[1] for p in parts]).astype(np.int64)
        ids = np.concatenate([p[2] for p in parts]).astype(np.int64)
        order = np.random.default_rng(derive_seed(root_seed, f"{purpose}_order", *key, k))
        perm = order.permutation(len(y))
        data = dataclasses.replace(
            peer.data,
            train_x=x[perm],
            train_y=y[perm],
            train_ids=ids[perm],
            test_x=empty,
            test_y=peer.data.test_y[:0],
            test_ids=peer.data.test_ids[:0],
        )
        streams = PeerSeeds(
            *(derive_seed(root_seed, f"{purpose}_shadow", *key, k, s) for s in range(4))
        )
        shadow = Peer(
            peer.peer_id,
            peer.epoch,
            data,
            peer.reference_x,
            peer.num_classes,
            peer.input_shape,
            peer.config,
            streams,
        )
        # the peer's whole training budget, then one distillation: a seed is distilled from
        # its fixed initialisation with a stream keyed by (rounds trained, ids), so this
        # equals the last seed of train_round() called round by round, for a third of
        # the cost (Peer has no public "train without distilling")
        while not shadow.training_done:
            shadow._train_one_round()
        shadow.distil_seed()
        module = shadow.own_seed_module()
        assert module is not None  # distil_seed() just made it
        with torch.no_grad():
            mains.append(shadow.main_logits(xt).detach().float())
            seeds.append(logits_of(module, xt).detach().float())
    return ShadowSet(inc, torch.stack(mains), torch.stack(seeds))
