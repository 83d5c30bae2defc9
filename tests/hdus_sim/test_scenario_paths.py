"""A scenario's file paths resolve against the scenario file, and the run keeps a copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hdus_sim import Simulation, verify_run
from hdus_sim.scenario import load_scenario


def test_a_file_topology_is_found_from_anywhere_and_copied(
    tiny: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "study"
    (folder / "graphs").mkdir(parents=True)
    (folder / "graphs" / "ring7.txt").write_text("".join(f"{i} {(i + 1) % 7}\n" for i in range(7)))
    tiny["topology"] = {"kind": "file", "params": {"path": "graphs/ring7.txt"}}
    tiny["peers"]["initial"] = 7
    tiny["events"] = [{"at": 2, "kind": "leave", "peer": 1}]
    (folder / "scenario.yaml").write_text(yaml.safe_dump(tiny))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the scenario's folder
    scenario = load_scenario(folder / "scenario.yaml")
    assert scenario.topology.params["path"] == str(folder / "graphs" / "ring7.txt")
    sim = Simulation.from_file(folder / "scenario.yaml").run()
    assert sim.graph.number_of_nodes() >= 6
    run = sim.write(tmp_path / "run")

    written = yaml.safe_load((run / "scenario.yaml").read_text())
    copy = Path(written["topology"]["params"]["path"])
    assert copy == (run / "inputs" / "ring7.txt").resolve()
    assert copy.read_text() == (folder / "graphs" / "ring7.txt").read_text()
    (folder / "graphs" / "ring7.txt").unlink()  # the run no longer needs the original
    monkeypatch.chdir(tmp_path)
    assert verify_run(run).passed


def test_a_relative_path_in_a_dict_stays_relative_to_the_working_directory(
    tiny: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ring6.txt").write_text("".join(f"{i} {(i + 1) % 6}\n" for i in range(6)))
    tiny["topology"] = {"kind": "file", "params": {"path": "ring6.txt"}}
    tiny["events"] = []
    monkeypatch.chdir(tmp_path)
    assert load_scenario(tiny).topology.params["path"] == str(tmp_path / "ring6.txt")
