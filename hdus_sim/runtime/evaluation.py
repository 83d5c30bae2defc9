"""A round's accuracy rows: main model, seeds alone and the ensemble, on local and global test.

Every online peer is scored on its own local test split and on the shared global test set.
What many peers share is computed once: a seed version's global-test scores are cached by
``(owner, version, digest)`` (dropped once no one holds that version), and, with cohorts on,
every peer's main-model logits on the global set come from one batched forward per
architecture (:func:`clients.cohort_eval.cohort_logits`) and held seeds are evaluated from their
records' arrays (:func:`clients.cohort_eval.record_logits`). A peer whose main model, held seed
versions and test data are those of the last round it was scored in keeps that round's
accuracies (:class:`_Scored`): after round 0 most of a large fleet changes nothing, and
re-scoring it would be most of a round's work. All of it is bit-identical to scoring each
model alone (the cohorts-on/off tests compare predictions and accuracies).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from clients.cohort_eval import cohort_logits, paired_logits, record_logits
from clients.ensemble import CombineMode, combine_mean, mean_scores, mean_seed_scores, scores_of
from clients.messages import DataOwner
from clients.peer import Peer
from clients.training import logits_of

__all__ = ["Evaluator", "accuracy", "rho_curve"]

SeedVersion = tuple[DataOwner, int, str]
#: A peer's local test rows, labels, main-model logits and held seeds' logits on them.
_Local = tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[DataOwner, torch.Tensor]]


def rho_curve(
    grid: tuple[float, ...],
    main: torch.Tensor,
    seeds: dict[DataOwner, torch.Tensor],
    y: torch.Tensor,
) -> dict[str, float]:
    """Local-test accuracy of the ensemble at every ``rho`` of ``grid``, both combine modes.

    Keys ``local_{probs,logits}_rho_{rho}``: the HDUS authors' rho curve from the same
    logits the round scored (``rho`` only mixes outputs, so one run gives every point;
    a sweep over ``peers.rho`` retrains for each and gives the same numbers).

    Examples
    --------
    >>> main = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> seeds = {(1, 0): torch.tensor([[0.0, 3.0], [0.0, 3.0]])}
    >>> rho_curve((0.0, 1.0), main, seeds, torch.tensor([0, 1]))["local_logits_rho_1"]
    0.5
    """
    out: dict[str, float] = {}
    for mode in (CombineMode.PROBS, CombineMode.LOGITS):
        mean = mean_seed_scores(seeds, mode)
        for rho in grid:
            ens = combine_mean(main, mean, rho=rho, mode=mode)
            out[f"local_{mode.value}_rho_{rho:g}"] = accuracy(ens, y)
    return out


class _Scored:
    """A peer's accuracies and everything they were computed from.

    The objects themselves are kept (not their ids): an identity test against a live object
    cannot be fooled by a freed object's reused id. The main model's parameters change only
    through training and deletion, both of which bump ``model_version``.
    """

    __slots__ = ("main", "metrics", "peer", "state", "test_x")

    def __init__(self, peer: Peer, metrics: dict[str, float]) -> None:
        self.metrics = metrics
        self.peer = peer
        self.main = peer.main
        self.test_x = peer.data.test_x
        self.state = _state_of(peer)

    def still(self, peer: Peer) -> bool:
        """Whether ``peer`` would score exactly as it did when these metrics were taken."""
        return (
            self.peer is peer
            and self.main is peer.main
            and self.test_x is peer.data.test_x
            and self.state == _state_of(peer)
        )


def _state_of(peer: Peer) -> tuple[Any, ...]:
    """What a peer's scores depend on besides object identities (versions and settings)."""
    held = tuple((k, h.record.version, h.record.digest) for k, h in sorted(peer.held.items()))
    return (peer.epoch, peer.model_version, held, peer.config.rho, str(peer.config.combine))


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
        self._scored: dict[int, _Scored] = {}

    def clear(self) -> None:
        """Forget every cached seed output and score (they are rebuilt on demand)."""
        self._logits.clear()
        self._scores.clear()
        self._scored.clear()

    def seed_logits(self, peer: Peer) -> dict[DataOwner, torch.Tensor]:
        """Each seed ``peer`` holds, on the global test set (from the cache)."""
        return {
            key: self._logits[(key, held.record.version, held.record.digest)]
            for key, held in sorted(peer.held.items())
        }

    def fill(self, peers: list[Peer], scoring: list[Peer] | None = None) -> None:
        """Global-test logits of every distinct seed version held, each computed once.

        Versions no one in ``peers`` holds any more are forgotten; those ``scoring``
        (default: all of ``peers``) hold are computed if missing.
        """
        wanted: dict[SeedVersion, tuple[Peer, DataOwner]] = {}
        for peer in peers:
            for key, held in sorted(peer.held.items()):
                wanted.setdefault((key, held.record.version, held.record.digest), (peer, key))
        self._logits = {k: v for k, v in self._logits.items() if k in wanted}
        self._scores = {k: v for k, v in self._scores.items() if k[0] in wanted}
        needed = {
            (key, held.record.version, held.record.digest)
            for peer in (peers if scoring is None else scoring)
            for key, held in peer.held.items()
        }
        missing = [k for k in wanted if k in needed and k not in self._logits]
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
        self._scored = {pid: s for pid, s in self._scored.items() if pid in peers}
        stale = {
            pid: peer
            for pid, peer in peers.items()
            if pid not in self._scored or not self._scored[pid].still(peer)
        }
        scoring = list(stale.values())
        self.fill(list(peers.values()), scoring)
        for (pid, peer), main_global, local in zip(
            stale.items(), self._global_main(scoring), self._local(scoring), strict=True
        ):
            self._scored[pid] = _Scored(peer, self._metrics(peer, main_global, local))
        return [
            {
                "round": now,
                "peer": pid,
                "epoch": peer.epoch,
                "device": peer.config.device,
                "held_seeds": len(peer.held),
                "neighbors": len(peer.neighbors),
                "work_samples": peer.work_samples,
                **self._scored[pid].metrics,
            }
            for pid, peer in peers.items()
        ]

    def _local(self, peers: list[Peer]) -> list[_Local]:
        """Every peer's local test split, main-model logits and held seeds' logits on it.

        Batched, the main models and held seeds of all ``peers`` are one
        :func:`~clients.cohort_eval.paired_logits` call (each model on its holder's rows,
        stacked by shape); what it cannot batch is evaluated model by model.
        """
        splits = [
            (
                torch.from_numpy(np.ascontiguousarray(p.data.test_x)).float(),
                torch.from_numpy(np.ascontiguousarray(p.data.test_y)).long(),
            )
            for p in peers
        ]
        if not self.batched:
            return [
                (x, y, p.main_logits(x), p.held_seed_logits(x, batched=False))
                for p, (x, y) in zip(peers, splits, strict=True)
            ]
        states: list[Any] = []
        inputs: list[torch.Tensor] = []
        slots: list[tuple[int, DataOwner | None]] = []
        for k, (peer, (x, _y)) in enumerate(zip(peers, splits, strict=True)):
            if not peer.unlearnable:
                states.append(peer._plain_main())
                inputs.append(x)
                slots.append((k, None))
            for key in sorted(peer.held):
                states.append(peer.held[key].record.tensors)
                inputs.append(x)
                slots.append((k, key))
        mains: list[torch.Tensor | None] = [None] * len(peers)
        seeds: list[dict[DataOwner, torch.Tensor]] = [{} for _ in peers]
        for (k, owner), logits in zip(slots, paired_logits(states, inputs), strict=True):
            peer, x = peers[k], splits[k][0]
            if owner is None:
                mains[k] = logits if logits is not None else peer.main_logits(x)
            else:
                seeds[k][owner] = (
                    logits if logits is not None else logits_of(peer.seed_modules()[owner], x)
                )
        return [
            (x, y, main if main is not None else peer.main_logits(x), held)
            for peer, (x, y), main, held in zip(peers, splits, mains, seeds, strict=True)
        ]

    def _metrics(self, peer: Peer, main_global: torch.Tensor, local: _Local) -> dict[str, float]:
        """``peer``'s six accuracies (main, seeds, ensemble; local and global test)."""
        row: dict[str, float] = {}
        _x, local_y, local_main, local_seeds = local
        for split, main, seed_mean, y in (
            ("local", local_main, peer.seeds_only(local_seeds), local_y),
            ("global", main_global, self._global_seed_mean(peer), self.y),
        ):
            ens = combine_mean(main, seed_mean, rho=peer.config.rho, mode=peer.config.combine)
            row[f"{split}_main"] = accuracy(main, y)
            row[f"{split}_seeds"] = accuracy(seed_mean, y)
            row[f"{split}_ensemble"] = accuracy(ens, y)
        row.update(rho_curve(peer.config.rho_grid, local_main, local_seeds, local_y))
        return row
