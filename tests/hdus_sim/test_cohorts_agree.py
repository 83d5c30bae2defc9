"""Cohorts on or off, a scenario's run is the same bit for bit, and ``verify`` passes with them.

``runtime.cohorts`` only changes how learning is computed (batched per architecture, or one
peer at a time): the library's scenarios must give identical ``predictions.npz`` either way,
and a run made with cohorts verifies against its retrain oracle (run with cohorts too). The
quickstart runs in the default pass; ring_churn and gdpr_requests (point deletion with
SISA, certified and summation heads) in the heavy pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hdus_sim.cli import run_cli
from hdus_sim.verify import verify_run

ROOT = Path(__file__).parents[2]


def _run(tmp_path: Path, name: str, cohorts: bool) -> Path:
    out = tmp_path / f"{name}-{'on' if cohorts else 'off'}"
    scenario = str(ROOT / "scenarios" / f"{name}.yaml")
    flag = f"runtime.cohorts={'true' if cohorts else 'false'}"
    assert run_cli(["run", scenario, "--out", str(out), "--set", flag]) == 0
    return out


@pytest.mark.parametrize(
    "name",
    [
        "quickstart",
        pytest.param("ring_churn", marks=pytest.mark.slow),
        pytest.param("gdpr_requests", marks=pytest.mark.slow),
    ],
)
def test_cohorts_on_and_off_give_identical_predictions(tmp_path: Path, name: str) -> None:
    on, off = _run(tmp_path, name, True), _run(tmp_path, name, False)
    with np.load(on / "predictions.npz") as a, np.load(off / "predictions.npz") as b:
        assert sorted(a.files) == sorted(b.files) and a.files
        for key in a.files:
            assert np.array_equal(a[key], b[key]), f"{name}: peer {key} differs"
    summary = json.loads((on / "summary.json").read_text())
    assert summary["cohorts"]["batched"] > 0  # the engine really batched this run
    assert json.loads((off / "summary.json").read_text())["cohorts"]["batched"] == 0
    if name != "quickstart":
        report = verify_run(on)
        assert report.passed, report.to_dict()
