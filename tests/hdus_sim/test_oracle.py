"""The retrain oracle's result is passed explicitly: predictions and held seeds, cached alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hdus_sim.verification.oracle import OracleResult, oracle_predictions


def test_an_oracle_result_carries_its_held_seeds_and_the_cache_gives_the_same(
    tiny: dict, tmp_path: Path
) -> None:
    tiny["events"] = []
    counts: dict[str, int] = {}
    sims: dict = {}
    fresh = oracle_predictions(tiny, (0, 0), cache_dir=tmp_path, sims=sims, counts=counts)
    assert isinstance(fresh, OracleResult) and counts == {"reruns": 1}
    assert set(fresh.predictions) == set(fresh.held) == set(range(6))
    assert all("0:0" not in held for held in fresh.held.values())  # its seed never sent
    assert any("1:0" in held for held in fresh.held.values())  # the others' were
    (sim,) = sims.values()
    assert {pid: set(h["held"]) for pid, h in sim.runtime.holdings().items()} == fresh.held
    cached = oracle_predictions(tiny, (0, 0), cache_dir=tmp_path, counts=counts)
    assert counts == {"reruns": 1, "cached": 1}
    assert cached.held == fresh.held
    assert all(np.array_equal(cached.predictions[p], fresh.predictions[p]) for p in range(6))
