"""Backdoor checks: does a trigger planted by a departed peer still work after the leave.

A peer named in ``backdoor:`` stamps a fixed trigger on a fraction of its training inputs
(the bottom-right 2x2 pixels set to the maximum for images, the last three features set
high for vectors) and relabels them to ``target``. Attack success = the fraction of
triggered test inputs of other classes that a model classifies as ``target``. It is
measured on every surviving peer before the leave (and on the holders of the planter's
seed alone), after it, and on the retrain oracle, next to the planter's own main model and
ensemble before the leave (where the trigger certainly works): after the leave the rate
must match the oracle's (empirical evidence, not a proof).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "attack_success",
    "backdoor_for_departure",
    "backdoor_stage_rates",
    "backdoor_summary",
    "plant",
    "stamp",
]


def stamp(x: np.ndarray) -> np.ndarray:
    """Return a copy of inputs ``x`` with the trigger stamped on.

    Examples
    --------
    >>> stamp(np.zeros((1, 1, 4, 4), dtype=np.float32))[0, 0, 2:, 2:].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    out = np.array(x, dtype=np.float32, copy=True)
    if out.ndim == 4:  # (n, channels, height, width)
        out[:, :, -2:, -2:] = 1.0
    else:
        flat = out.reshape(len(out), -1)
        flat[:, -3:] = 4.0
        out = flat.reshape(out.shape)
    return out


def plant(
    x: np.ndarray, y: np.ndarray, *, fraction: float, target: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stamp the trigger on ``fraction`` of the samples and relabel them ``target``."""
    rng = np.random.default_rng(seed)
    n = max(1, round(fraction * len(y)))
    idx = rng.choice(len(y), size=min(n, len(y)), replace=False)
    x2, y2 = np.array(x, copy=True), np.array(y, copy=True)
    x2[idx] = stamp(x[idx])
    y2[idx] = target
    return x2, y2


def attack_success(predict: Any, x: np.ndarray, y: np.ndarray, target: int) -> float:
    """Fraction of triggered inputs of classes other than ``target`` predicted as ``target``."""
    keep = y != target
    if not keep.any():
        return float("nan")
    scores = predict(torch.from_numpy(stamp(x[keep])).float())
    return float((scores.argmax(dim=1) == target).float().mean())


def backdoor_stage_rates(
    sim: Any, owner: Any | None, peers: Sequence[int], target: int
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


def backdoor_for_departure(scenario: Any, departure: Mapping[str, Any]) -> dict[str, Any]:
    """Attack success on every survivor before the leave, after it, and on the oracle."""
    from hdus_sim.attacks import departure_evidence

    _, rows = departure_evidence(scenario, [departure], mia=False, backdoor=True)
    if not rows:
        raise ValueError(
            f"peer {departure['peer']} is not the backdoor's planter "
            f"({scenario.backdoor.peer if scenario.backdoor else 'none'})"
        )
    return rows[0]
