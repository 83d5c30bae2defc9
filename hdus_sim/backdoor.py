"""Backdoor checks: does a trigger planted by a departed peer still work after the leave.

A peer named in ``backdoor:`` stamps a fixed trigger on a fraction of its training inputs
(the bottom-right 2x2 pixels set to the maximum for images, the last three features set
high for vectors) and relabels them to ``target``. Attack success = the fraction of
triggered test inputs of other classes that a model classifies as ``target``. It is
measured on every surviving peer before the leave, after it, and on the retrain oracle:
after the leave the rate must match the oracle's (empirical evidence, not a proof).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["attack_success", "backdoor_for_departure", "plant", "stamp"]


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


def backdoor_for_departure(scenario: Any, departure: dict[str, Any]) -> dict[str, Any]:
    """Attack success on every survivor before the leave, after it, and on the oracle."""
    from hdus_sim.simulation import Simulation

    spec = scenario.backdoor
    key = (int(departure["peer"]), int(departure["epoch"]))
    sim = Simulation(scenario).build()
    x, y = sim.split.global_test_x, sim.split.global_test_y
    while sim.engine.now < int(departure["round"]):
        sim.step()

    def rates(s: Any, peers: list[int]) -> dict[str, float]:
        return {str(p): attack_success(s.peer(p).predict, x, y, spec.target) for p in peers}

    before = rates(sim, [p for p in sim.runtime.online() if p != key[0]])
    owner_before = attack_success(sim.peer(key[0]).predict, x, y, spec.target)
    sim.run()
    survivors = sim.runtime.online()
    after = rates(sim, survivors)
    oracle_sim = Simulation(scenario, withheld=frozenset({key})).run()
    oracle = rates(oracle_sim, survivors)

    def mean(d: dict[str, float]) -> float:
        return float(np.nanmean(list(d.values()))) if d else float("nan")

    return {
        "peer": key[0],
        "epoch": key[1],
        "target": spec.target,
        "planter_own_ensemble_before": owner_before,
        "before_mean": mean(before),
        "after_mean": mean(after),
        "oracle_mean": mean(oracle),
        "after_minus_oracle": mean(after) - mean(oracle),
        "before": before,
        "after": after,
        "oracle": oracle,
    }
