"""Parameter sweeps over a grid of scenario overrides."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hdus_sim.errors import ScenarioError
from hdus_sim.scenario import load_scenario
from hdus_sim.sweep import expand_grid, run_sweep


def test_sweep_runs_the_grid_and_writes_one_table(tiny: dict, tmp_path: Path) -> None:
    tiny["topology"] = {"kind": "k_regular", "params": {"k": 2}}
    tiny["rounds"] = 3
    tiny["events"] = []
    rows = run_sweep(load_scenario(tiny), {"topology.k": [2, 4], "peers.rho": [0.0, 0.9]}, tmp_path)
    assert [(r["topology.k"], r["peers.rho"]) for r in rows] == [
        (2, 0.0),
        (2, 0.9),
        (4, 0.0),
        (4, 0.9),
    ]
    # rho = 0 is main-only: the ensemble equals the main model exactly
    for r in rows:
        if r["peers.rho"] == 0.0:
            assert r["acc_global_ensemble"] == r["acc_global_main"]
    assert rows[0]["messages"] < rows[2]["messages"]  # a denser graph sends more seeds
    with (tmp_path / "sweep.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 4
    assert "| topology.k |" in (tmp_path / "sweep.md").read_text()


def test_bad_sweep_point_names_the_point(tiny: dict) -> None:
    with pytest.raises(ScenarioError, match=r"sweep point \{'peers.rho': 2\}"):
        expand_grid(load_scenario(tiny), {"peers.rho": [0.5, 2]})
