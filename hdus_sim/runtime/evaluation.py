"""A round's accuracy rows: main model, seeds alone and the ensemble, on local and global test.

Every online peer is scored on its own local test split and on the shared global test set.
What many peers share is computed once: a seed version's global-test scores are cached by
``(owner, version, digest)`` (dropped once no one holds that version), and, with cohorts on,
every peer's main-model logits on the global set come from one batched forward per
architecture (:func:`clients.cohort.cohort_logits`) and held seeds are evaluated from their
records' arrays (:func:`clients.cohort.record_logits`). All of it is bit-identical to scoring
each model alone (the cohorts-on/off tests compare predictions and accuracies).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from clients.cohort import cohort_logits, record_logits
from clients.ensemble import combine_mean, mean_scores, scores_of
from clients.messages import DataOwner
from clients.peer import Peer
from clients.training import logits_of

__all__ = ["Evaluator", "accuracy"]

SeedVersion = tuple[DataOwner, int, str]


def accuracy(scores: torch.Tensor | None, y: torch.Tensor) -> float:
    """Fraction of rows whose argmax is the label (``nan`` without scores or rows)."""
    if scores is None or y.numel() == 0:
        return float("nan")
    return float((scores.argmax(dim=1) == y).float().mean())


class Evaluator:
    """Scores peers on the global test set ``(x, y)`` and on their own local test splits.

    ``batched`` (``runtime.cohorts``) computes shared and same-shape work together;
    without it every model is evaluated one at a time, as before cohorts.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, batched: bool) -> None:
        self.x = x
        self.y = y
        self.batched = batched
        self._logits: dict[SeedVersion, torch.Tensor] = {}
        self._scores: dict[tuple[SeedVersion, str], torch.Tensor] = {}

    def clear(self) -> None:
        """Forget every cached seed output (they are rebuilt on demand)."""
        self._logits.clear()
        self._scores.clear()

    def seed_logits(self, peer: Peer) -> dict[DataOwner, torch.Tensor]:
        """Each seed ``peer`` holds, on the global test set (from the cache)."""
        return {
            key: self._logits[(key, held.record.version, held.record.digest)]
            for key, held in sorted(peer.held.items())
        }

    def fill(self, peers: list[Peer]) -> None:
        """Global-test logits of every distinct seed version held, each computed once."""
        wanted: dict[SeedVersion, tuple[Peer, DataOwner]] = {}
        for peer in peers:
            for key, held in sorted(peer.held.items()):
                wanted.setdefault((key, held.record.version, held.record.digest), (peer, key))
        self._logits = {k: v for k, v in self._logits.items() if k in wanted}
        self._scores = {k: v for k, v in self._scores.items() if k[0] in wanted}
        missing = [k for k in wanted if k not in self._logits]
        records = [wanted[k][0].held[wanted[k][1]].record.tensors for k in missing]
        found = record_logits(records, self.x) if self.batched else [None] * len(missing)
        for version, logits in zip(missing, found, strict=True):
            if logits is None:
                holder, key = wanted[version]
                logits = logits_of(holder.seed_modules()[key], self.x)
            self._logits[version] = logits

    def _global_seed_mean(self, peer: Peer) -> torch.Tensor | None:
        """The mean of ``peer``'s held seeds' global scores, each seed's scores cached."""
        mode = str(peer.config.combine)
        scores: dict[DataOwner, torch.Tensor] = {}
        for key, held in peer.held.items():
            version = (key, held.record.version, held.record.digest)
            cached = self._scores.get((version, mode))
            if cached is None:
                cached = scores_of(self._logits[version], mode)
                self._scores[(version, mode)] = cached
            scores[key] = cached
        return mean_scores(scores)

    def _global_main(self, peers: list[Peer]) -> list[torch.Tensor]:
        """Every peer's main-model logits on the global set (batched per architecture)."""
        if not self.batched:
            return [p.main_logits(self.x) for p in peers]
        plain = [i for i, p in enumerate(peers) if not p.unlearnable]
        logits = cohort_logits([peers[i]._plain_main() for i in plain], self.x)
        out = dict(zip(plain, logits, strict=True))
        return [out[i] if i in out else p.main_logits(self.x) for i, p in enumerate(peers)]

    def rows(self, peers: dict[int, Peer], now: int) -> list[dict[str, Any]]:
        """One accuracy row per peer in ``peers`` (in the given order)."""
        ordered = list(peers.values())
        self.fill(ordered)
        global_main = self._global_main(ordered)
        rows: list[dict[str, Any]] = []
        for (pid, peer), main_global in zip(peers.items(), global_main, strict=True):
            local_x = torch.from_numpy(np.ascontiguousarray(peer.data.test_x)).float()
            local_y = torch.from_numpy(np.ascontiguousarray(peer.data.test_y)).long()
            row: dict[str, Any] = {
                "round": now,
                "peer": pid,
                "epoch": peer.epoch,
                "device": peer.config.device,
                "held_seeds": len(peer.held),
                "neighbors": len(peer.neighbors),
                "work_samples": peer.work_samples,
            }
            local_seeds = peer.held_seed_logits(local_x, batched=self.batched)
            for split, main, seed_mean, y in (
                ("local", peer.main_logits(local_x), peer.seeds_only(local_seeds), local_y),
                ("global", main_global, self._global_seed_mean(peer), self.y),
            ):
                ens = combine_mean(main, seed_mean, rho=peer.config.rho, mode=peer.config.combine)
                row[f"{split}_main"] = accuracy(main, y)
                row[f"{split}_seeds"] = accuracy(seed_mean, y)
                row[f"{split}_ensemble"] = accuracy(ens, y)
            rows.append(row)
        return rows
