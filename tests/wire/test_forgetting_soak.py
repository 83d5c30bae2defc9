"""Forgetting under heavy churn, unseen crashes, wire faults and a healed partition (gRPC).

The scenario (:func:`hdus_sim.stress.forgetting_soak`) runs on the real mTLS gRPC wire
with owner signatures; at the end nothing of a departed device may be held anywhere, no
seed may have been taken in after its removal completed, every departure must have been
forgotten within its lease bound, and ``verify`` (lineage + retrain oracle) must pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdus_sim import Simulation, verify_run
from hdus_sim.stress import forgetting_figures, forgetting_soak


def _soak(n: int, rounds: int, tmp_path: Path) -> dict:
    sim = Simulation.from_dict(forgetting_soak(n, rounds)).run()
    sim.write(tmp_path)
    report = verify_run(tmp_path)
    figures = forgetting_figures(sim, report)
    print(json.dumps(figures, indent=1))  # the figures, shown with pytest -s
    assert figures["departed_fraction"] >= 0.3
    assert figures["crashes"] * 3 >= figures["departures"] * 0.9  # about a third crash
    assert figures["crashes_never_detected"] >= 2  # crashes only the lease can forget
    assert figures["rejoins"] >= 1 and figures["joins"] > figures["rejoins"]
    faults = figures["faults"]
    assert min(faults["dropped"], faults["duplicated"], faults["reordered"]) > 0
    assert faults["partitioned"] > 0
    assert figures["stale_seeds"] == 0
    assert figures["accepted_after_removal"] == 0
    assert figures["past_bound"] == 0
    assert figures["forget_worst_rounds"] <= figures["lease_rounds"]
    assert report.passed, [e.explain() for e in report.events if e.verdict == "FAIL"]
    return figures


def test_forgetting_soak_light(tmp_path: Path) -> None:
    figures = _soak(30, 10, tmp_path)
    assert figures["devices_initial"] == 30


@pytest.mark.slow
def test_forgetting_soak_120_devices(tmp_path: Path) -> None:
    figures = _soak(120, 14, tmp_path)
    assert figures["devices_initial"] == 120
