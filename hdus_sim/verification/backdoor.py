"""Backdoor checks: does a trigger planted by a departed peer still work after the leave.

A peer named in ``backdoor:`` trains on data poisoned by :func:`clients.poisoning.plant`
(a fixed trigger stamped on a fraction of its training inputs, relabelled to ``target``).
Attack success = the fraction of triggered test inputs of other classes that a model
classifies as ``target``. It is measured on every surviving peer before the leave (and on
the holders of the planter's seed alone), after it, and on the retrain oracle, next to the
planter's own main model and ensemble before the leave (where the trigger certainly
works): after the leave the rate must match the oracle's (empirical evidence, not a proof).
The replay that pauses at each departure is :mod:`hdus_sim.verification.mia.departure`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from clients.peer import Peer
from clients.poisoning import stamp
from hdus_sim.simulation import Simulation

__all__ = ["attack_success", "backdoor_stage_rates", "backdoor_summary"]


def attack_success(
    predict: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, y: np.ndarray, target: int
) -> float:
    """Fraction of triggered inputs of classes other than ``target`` predicted as ``target``.

    ``predict`` maps a float tensor of inputs to ``(n, classes)`` scores; ``nan`` when
    every sample is of class ``target``.
    """
    keep = y != target
    if not keep.any():
        return float("nan")
    scores = predict(torch.from_numpy(stamp(x[keep])).float())
    return float((scores.argmax(dim=1) == target).float().mean())


def backdoor_stage_rates(
    sim: Simulation, owner: Peer | None, peers: Sequence[int], target: int
) -> dict[str, Any]:
    """Attack success and clean accuracy on the global test set, for ``peers`` of ``sim``.

    With ``owner`` (the planting peer), also its own main model's and ensemble's success.
    """
    x, y = sim.split.global_test_x, sim.split.global_test_y
    xt = torch.from_numpy(np.ascontiguousarray(x)).float()
    out: dict[str, Any] = {"rates": {}, "clean": {}}
    for q in peers:
        peer = sim.peer(q)
        out["rates"][str(q)] = attack_success(peer.predict, x, y, target)
        with torch.no_grad():
            out["clean"][str(q)] = float((peer.predict(xt).argmax(dim=1).numpy() == y).mean())
    if owner is not None:
        out["owner_main"] = attack_success(owner.main_logits, x, y, target)
        out["owner_ensemble"] = attack_success(owner.predict, x, y, target)
    return out


def _stats(values: Mapping[str, float]) -> dict[str, float | None]:
    """Mean, min, max and std of the non-NaN values (all ``None`` when there is none)."""
    arr = np.array([v for v in values.values() if v == v], float)
    if not arr.size:
        return {"mean": None, "min": None, "max": None, "std": None}
    return {
        "mean": float(arr.mean()),
        "min": float(arr.min()),
        "max": float(arr.max()),
        "std": float(arr.std()),
    }


def backdoor_summary(
    base: Mapping[str, Any],
    target: int,
    before: Mapping[str, Any],
    *,
    after: Mapping[str, Any],
    oracle: Mapping[str, Any],
) -> dict[str, Any]:
    """One departure's backdoor record: per-peer rates and their spread at every stage."""
    holders = {str(q) for q in base.get("holders_before") or []}
    holders_rates = {k: v for k, v in before["rates"].items() if k in holders}
    stages = {
        "before": before["rates"],
        "before_holders": holders_rates,
        "after": after["rates"],
        "oracle": oracle["rates"],
    }
    spread = {name: _stats(rates) for name, rates in stages.items()}

    def mean(name: str) -> float:
        value = spread[name]["mean"]
        return float("nan") if value is None else value

    return {
        **base,
        "target": target,
        "planter_main_before": before.get("owner_main"),
        "planter_own_ensemble_before": before.get("owner_ensemble"),
        "before_mean": mean("before"),
        "before_holders_mean": mean("before_holders"),
        "after_mean": mean("after"),
        "oracle_mean": mean("oracle"),
        "after_minus_oracle": mean("after") - mean("oracle"),
        "spread": spread,
        "clean_accuracy": {
            "before": _stats(before["clean"]),
            "after": _stats(after["clean"]),
            "oracle": _stats(oracle["clean"]),
        },
        "before": dict(before["rates"]),
        "after": dict(after["rates"]),
        "oracle": dict(oracle["rates"]),
    }
