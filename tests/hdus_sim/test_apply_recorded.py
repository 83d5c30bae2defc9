"""Events applied by hand are recorded, so ``verify`` replays the run that really happened.

The README's Python API example runs here as written (its code block, with the tiny
scenario in place of the quickstart and a temporary run folder).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hdus_sim import Simulation, verify_run
from hdus_sim.errors import RunError, ScenarioError

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_python_api_block() -> str:
    text = README.read_text()
    section = text[text.index("## Python API") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README has no python block under '## Python API'"
    return match.group(1)


def test_readme_python_api_example_verifies(tiny: dict[str, Any], tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(tiny))
    run_dir = tmp_path / "mine"
    code = readme_python_api_block()
    assert "scenarios/quickstart.yaml" in code and 'verify_run("runs/mine").passed' in code
    code = code.replace("scenarios/quickstart.yaml", str(scenario)).replace(
        "runs/mine", str(run_dir)
    )
    lines = code.rstrip().splitlines()
    lines[-1] = "RESULT = " + lines[-1]
    env: dict[str, Any] = {}
    exec("\n".join(lines), env)  # the README's own example
    assert env["RESULT"] is True
    recorded = yaml.safe_load((run_dir / "scenario.yaml").read_text())
    assert recorded["applied"] == [{"at": 1, "kind": "leave", "peer": 2}]
    assert recorded["events"] == tiny["events"]  # the scripted events are untouched


def test_a_scheduled_and_a_hand_delete_replay_exactly(tiny: dict[str, Any], tmp_path: Path) -> None:
    sim = Simulation.from_dict(tiny)
    sim.step()
    sim.apply({"kind": "delete", "peer": 0, "count": 3})  # at defaults to the next round
    sim.apply({"at": 3, "kind": "leave", "peer": 5})  # a later round: scheduled
    assert (5, 0) not in sim.departed()  # not yet
    sim.run()
    assert (5, 0) in sim.departed()
    sim.write(tmp_path / "run")
    recorded = yaml.safe_load((tmp_path / "run" / "scenario.yaml").read_text())
    assert [e["kind"] for e in recorded["applied"]] == ["delete", "leave"]
    assert recorded["applied"][0]["at"] == 1
    report = verify_run(tmp_path / "run")
    assert report.passed, [(e.kind, e.verdict) for e in report.events]
    assert {e.kind for e in report.events} >= {"leave", "delete"}


def test_a_bad_hand_event_is_refused_and_changes_nothing(tiny: dict[str, Any]) -> None:
    sim = Simulation.from_dict(tiny)
    sim.step()
    before = (sim.scenario, sim.plan.events, sim.departed())
    with pytest.raises(ScenarioError, match="peer 99"):
        sim.apply({"kind": "leave", "peer": 99})
    with pytest.raises(RunError, match="already run"):
        sim.apply({"at": 0, "kind": "leave", "peer": 2})
    assert (sim.scenario, sim.plan.events, sim.departed()) == before
