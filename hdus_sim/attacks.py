"""Membership inference against surviving ensembles: empirical evidence, never a proof.

A loss-threshold attack (Yeom et al. 2018): a sample's score is the ensemble's confidence
in its true label; members of a model's training data tend to score higher. Its AUC over
the departed peer's training samples (members) against that peer's held-out local test
samples, which nobody trained on (non-members from the same distribution), measures how
much the survivors still reveal about that peer's data. Compared with the same attack on
the retrain oracle and on the state before the leave, it backs an EMPIRICAL verdict; it is
never reported as "deleted".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["MiaResult", "auc", "mia_for_departure", "tpr_at_fpr"]


def auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """Area under the ROC curve of scores (Mann-Whitney U; ties count half).

    Examples
    --------
    >>> auc(np.array([2.0, 3.0]), np.array([0.0, 1.0]))
    1.0
    >>> auc(np.array([1.0]), np.array([1.0]))
    0.5
    """
    m, n = np.asarray(members, float), np.asarray(nonmembers, float)
    if m.size == 0 or n.size == 0:
        return float("nan")
    allv = np.concatenate([m, n])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(allv.size)
    sorted_v = allv[order]
    i = 0
    while i < allv.size:  # average ranks over ties
        j = i
        while j + 1 < allv.size and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[: m.size].sum() - m.size * (m.size + 1) / 2
    return float(u / (m.size * n.size))


def tpr_at_fpr(members: np.ndarray, nonmembers: np.ndarray, fpr: float = 0.01) -> float:
    """True-positive rate at the threshold that lets through ``fpr`` of non-members."""
    if len(members) == 0 or len(nonmembers) == 0:
        return float("nan")
    threshold = np.quantile(np.asarray(nonmembers, float), 1 - fpr)
    return float((np.asarray(members, float) > threshold).mean())


def _confidence(
    predict: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    scores = torch.softmax(predict(torch.from_numpy(np.ascontiguousarray(x)).float()), dim=1)
    return scores[torch.arange(len(y)), torch.from_numpy(y).long()].numpy()


@dataclass
class MiaResult:
    """Per-peer attack AUC and TPR at 1% FPR at one point (before, after, oracle)."""

    stage: str
    per_peer_auc: dict[int, float]
    per_peer_tpr: dict[int, float]

    def summary(self) -> dict[str, Any]:
        """Mean, spread and per-peer values."""
        vals = np.array(list(self.per_peer_auc.values()), float)
        tprs = np.array(list(self.per_peer_tpr.values()), float)
        return {
            "stage": self.stage,
            "auc_mean": float(vals.mean()) if vals.size else None,
            "auc_min": float(vals.min()) if vals.size else None,
            "auc_max": float(vals.max()) if vals.size else None,
            "tpr_at_1pct_fpr_mean": float(tprs.mean()) if tprs.size else None,
            "per_peer_auc": {str(k): round(v, 4) for k, v in sorted(self.per_peer_auc.items())},
        }


def _attack(
    sim: Any,
    stage: str,
    members: tuple[np.ndarray, np.ndarray],
    outsiders: tuple[np.ndarray, np.ndarray],
    peers: list[int],
) -> MiaResult:
    aucs, tprs = {}, {}
    for pid in peers:
        peer = sim.peer(pid)
        m = _confidence(peer.predict, *members)
        n = _confidence(peer.predict, *outsiders)
        aucs[pid], tprs[pid] = auc(m, n), tpr_at_fpr(m, n)
    return MiaResult(stage, aucs, tprs)


def mia_for_departure(scenario: Any, departure: dict[str, Any]) -> dict[str, Any]:
    """Attack the departed peer's training data: before the leave, after it, and the oracle.

    Re-runs the scenario (deterministic, so it is the same run) to the round of the
    departure and to the end, and the retrain oracle (the peer's seed never sent).
    """
    from hdus_sim.simulation import Simulation

    key = (int(departure["peer"]), int(departure["epoch"]))
    sim = Simulation(scenario).build()
    data = sim.split.peers[key[0]]
    # non-members from the same distribution: the departed peer's own held-out local test
    # samples, which nobody trained on
    members = (data.train_x, data.train_y)
    outsiders = (data.test_x, data.test_y)
    while sim.engine.now < int(departure["round"]):
        sim.step()
    before_peers = [p for p in sim.runtime.online() if p != key[0]]
    before = _attack(sim, "before", members, outsiders, before_peers)
    sim.run()
    survivors = sim.runtime.online()
    after = _attack(sim, "after", members, outsiders, survivors)
    oracle = Simulation(scenario, withheld=frozenset({key})).run()
    reference = _attack(oracle, "oracle", members, outsiders, survivors)
    out = {s.stage: s.summary() for s in (before, after, reference)}
    out["after_minus_oracle_auc"] = out["after"]["auc_mean"] - out["oracle"]["auc_mean"]
    return {"peer": key[0], "epoch": key[1], "kind": departure["kind"], **out}
