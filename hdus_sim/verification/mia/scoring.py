"""Scoring attacked models: targets split into their parts, both attacks per stage.

A :class:`Target` is a model under attack, evaluated once on the candidates and kept as its
parts (main-model logits, every held seed's logits), so a shadow can replace the part that
depends on the owner's data. A :class:`Stage` groups the :class:`Case` s (target,
candidates, shadows) of one moment of a departure or deletion; :func:`collect` runs the
loss-threshold attack and LiRA on every stage and summarises them per peer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clients.ensemble import CombineMode, combine
from clients.messages import DataOwner
from clients.peer import Peer
from hdus_sim.verification.mia.candidates import Candidates
from hdus_sim.verification.mia.config import AttackConfig
from hdus_sim.verification.mia.lira import fit_lira
from hdus_sim.verification.mia.shadows import ShadowSet
from hdus_sim.verification.mia.stats import auc, confidence, logit_confidence, tpr_at_fpr

__all__ = [
    "Case",
    "MiaResult",
    "Stage",
    "Target",
    "collect",
    "difference",
    "pooled_difference",
    "score_stage",
]


@dataclass(frozen=True)
class Target:
    """A model under attack on the candidates, split into its parts.

    ``slot``: what a shadow replaces. ``"main"``: the model is the owner's main model
    alone; ``"ensemble_main"``: the owner's ensemble, its main model replaced;
    ``"seed"``: another peer's ensemble, the owner's seed replaced (or added).
    """

    peer: int
    slot: str
    owner: int
    main: torch.Tensor
    seeds: dict[DataOwner, torch.Tensor]
    rho: float
    mode: CombineMode

    @classmethod
    def of(cls, peer: Peer, x: torch.Tensor, slot: str, owner: int) -> Target:
        """``peer``'s parts on inputs ``x``, attacked for ``owner``'s data through ``slot``."""
        main, seeds = peer.logits_parts(x)
        return cls(
            peer.peer_id,
            slot,
            owner,
            main.detach().float(),
            {k: v.detach().float() for k, v in seeds.items()},
            float(peer.config.rho),
            CombineMode(peer.config.combine),
        )

    def output(self) -> torch.Tensor:
        """The target's own scores (what the peer predicts)."""
        if self.slot == "main":
            return self.main
        return combine(self.main, self.seeds, rho=self.rho, mode=self.mode)

    def shadow_output(self, shadows: ShadowSet, k: int) -> torch.Tensor:
        """Shadow ``k`` of the target: the owner's part replaced by the shadow's."""
        if self.slot == "main":
            return shadows.main[k]
        if self.slot == "ensemble_main":
            return combine(shadows.main[k], self.seeds, rho=self.rho, mode=self.mode)
        mine = sorted(key for key in self.seeds if key[0] == self.owner)
        slot_key = mine[0] if mine else (self.owner, -1)
        others = {key: v for key, v in self.seeds.items() if key[0] != self.owner}
        return combine(
            self.main, {**others, slot_key: shadows.seed[k]}, rho=self.rho, mode=self.mode
        )


@dataclass
class MiaResult:
    """Per-peer attack AUC and TPR at one stage, for one attack.

    ``pooled`` holds every peer's member and non-member scores concatenated (point
    deletions: each owner's few points are scored by its own model), one pair per way of
    choosing them (the never-seen stage averages over several halvings).
    """

    stage: str
    per_peer_auc: dict[int, float]
    per_peer_tpr: dict[int, float]
    attack: str = "loss"
    fpr: float = 0.01
    pooled: list[tuple[np.ndarray, np.ndarray]] | None = None

    def summary(self) -> dict[str, Any]:
        """Mean, spread (min, max, std over peers) and per-peer values."""
        vals = np.array(list(self.per_peer_auc.values()), float)
        tprs = np.array(list(self.per_peer_tpr.values()), float)

        def stat(a: np.ndarray, f: Callable[[np.ndarray], Any]) -> float | None:
            a = a[~np.isnan(a)]
            return float(f(a)) if a.size else None

        out: dict[str, Any] = {
            "stage": self.stage,
            "attack": self.attack,
            "peers": len(self.per_peer_auc),
            "auc_mean": stat(vals, np.mean),
            "auc_min": stat(vals, np.min),
            "auc_max": stat(vals, np.max),
            "auc_std": stat(vals, np.std),
            "tpr_mean": stat(tprs, np.mean),
            "tpr_min": stat(tprs, np.min),
            "tpr_max": stat(tprs, np.max),
            "tpr_std": stat(tprs, np.std),
            "fpr": self.fpr,
            "per_peer_auc": {str(k): round(v, 4) for k, v in sorted(self.per_peer_auc.items())},
            "per_peer_tpr": {str(k): round(v, 4) for k, v in sorted(self.per_peer_tpr.items())},
        }
        if self.pooled:
            out["auc_pooled"] = float(np.mean([auc(*pair) for pair in self.pooled]))
            out["tpr_pooled"] = float(
                np.mean([tpr_at_fpr(*pair, self.fpr) for pair in self.pooled])
            )
        return out


@dataclass(frozen=True)
class Case:
    """One target attacked on its candidates; ``pos``/``neg`` default to members/the rest."""

    target: Target
    cand: Candidates
    shadows: ShadowSet | None
    pos: np.ndarray | None = None
    neg: np.ndarray | None = None


@dataclass
class Stage:
    """The cases of one stage."""

    name: str
    cases: list[Case]


def _rates(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray, fpr: float) -> tuple[float, float]:
    """AUC and TPR at ``fpr``, averaged over the rows of the ``(k, n)`` masks."""
    aucs = [auc(scores[p], scores[n]) for p, n in zip(pos, neg, strict=True)]
    tprs = [tpr_at_fpr(scores[p], scores[n], fpr) for p, n in zip(pos, neg, strict=True)]
    return float(np.mean(aucs)), float(np.mean(tprs))


def score_stage(stage: Stage, config: AttackConfig, pooled: bool) -> tuple[MiaResult, ...]:
    """Run both attacks on every case of a stage."""
    loss_auc, loss_tpr, lira_auc, lira_tpr = {}, {}, {}, {}
    pools: dict[str, dict[int, tuple[list[np.ndarray], list[np.ndarray]]]] = {
        "loss": {},
        "lira": {},
    }

    def add(name: str, scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> None:
        for i, (p, n) in enumerate(zip(pos, neg, strict=True)):
            into = pools[name].setdefault(i, ([], []))
            into[0].append(scores[p])
            into[1].append(scores[n])

    lira_ok = True
    for case in stage.cases:
        target, cand, shadows = case.target, case.cand, case.shadows
        pos = np.atleast_2d(cand.member if case.pos is None else case.pos)
        neg = np.atleast_2d(~cand.member if case.neg is None else case.neg)
        out = target.output()
        loss = confidence(out, cand.y)
        loss_auc[target.peer], loss_tpr[target.peer] = _rates(loss, pos, neg, config.fpr)
        add("loss", loss, pos, neg)
        if shadows is None:
            lira_ok = False
            continue
        phi = np.stack(
            [
                logit_confidence(target.shadow_output(shadows, k), cand.y)
                for k in range(shadows.count)
            ]
        )
        fit = fit_lira(phi, shadows.inclusion, variance=config.variance)
        score = fit.score(logit_confidence(out, cand.y))
        lira_auc[target.peer], lira_tpr[target.peer] = _rates(score, pos, neg, config.fpr)
        add("lira", score, pos, neg)

    def pool(name: str) -> list[tuple[np.ndarray, np.ndarray]] | None:
        if not pooled or not pools[name]:
            return None
        return [(np.concatenate(a), np.concatenate(b)) for _, (a, b) in sorted(pools[name].items())]

    loss_res = MiaResult(stage.name, loss_auc, loss_tpr, "loss", config.fpr, pool("loss"))
    if not lira_ok:
        return (loss_res,)
    return loss_res, MiaResult(stage.name, lira_auc, lira_tpr, "lira", config.fpr, pool("lira"))


def collect(
    stages: Sequence[Stage], config: AttackConfig, *, pooled: bool = False
) -> dict[str, Any]:
    """Both attacks on every non-empty stage: ``{"loss": {stage: summary}, "lira": ...}``.

    ``lira`` is ``None`` when no stage had shadows; ``pooled`` adds the AUC and TPR of
    every peer's scores pooled (see :class:`MiaResult`).
    """
    loss: dict[str, Any] = {}
    lira: dict[str, Any] = {}
    for stage in stages:
        if not stage.cases:
            continue
        results = score_stage(stage, config, pooled)
        loss[stage.name] = results[0].summary()
        if len(results) > 1:
            lira[stage.name] = results[1].summary()
    return {"loss": loss, "lira": lira or None}


def difference(res: Mapping[str, Any] | None, a: str, b: str) -> float | None:
    """Mean AUC of stage ``a`` minus that of stage ``b`` (``None`` if either is missing)."""
    if not res or a not in res or b not in res:
        return None
    x, y = res[a]["auc_mean"], res[b]["auc_mean"]
    return None if x is None or y is None else float(x - y)


def pooled_difference(res: Mapping[str, Any], a: str, b: str) -> float | None:
    """Pooled AUC of stage ``a`` minus that of stage ``b`` (``None`` if either is missing)."""
    if a not in res or b not in res:
        return None
    x, y = res[a].get("auc_pooled"), res[b].get("auc_pooled")
    return None if x is None or y is None else float(x - y)
