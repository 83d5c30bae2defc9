"""Every bad scenario of benchmarks/bad_scenarios.py is refused: one line naming the field, exit 1.

In-process through :func:`hdus_sim.cli.run_cli` (no interpreter start per case); a few cases
also as real subprocesses, and the valid neighbours of some cases are accepted.
"""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from hdus_sim.cli import run_cli
from hdus_sim.errors import ScenarioError
from hdus_sim.scenario import load_scenario
from hdus_sim.scenario_checks import scenario_notes

ROOT = Path(__file__).parents[2]


def _catalogue() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bad_scenarios", ROOT / "benchmarks" / "bad_scenarios.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bad_scenarios", module)
    spec.loader.exec_module(module)
    return module


BAD = _catalogue()


def test_the_catalogue_covers_the_issue() -> None:
    assert len(BAD.CASES) >= 40
    assert sum(c.named for c in BAD.CASES) >= 14
    assert len({c.name for c in BAD.CASES}) == len(BAD.CASES)


@pytest.mark.parametrize("case", BAD.CASES, ids=lambda c: c.name)
def test_bad_scenario_is_refused_in_one_line(
    case: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = case.make(tmp_path)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    code = run_cli(["validate", str(path)])
    wall = time.perf_counter() - t0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert case.field in lines[0], err  # type: ignore[attr-defined]
    assert wall < 5.0


@pytest.mark.parametrize(
    "name",
    [
        "binary garbage",
        "alias bomb (billion laughs) in topology.params",
        "peers.initial: 100000 with a complete graph",
    ],
)
def test_bad_scenario_in_a_real_process(name: str, tmp_path: Path) -> None:
    case = next(c for c in BAD.CASES if c.name == name)
    out = BAD.measure(case, tmp_path)
    assert out.problems(time_cap=10.0, memory_cap=500.0) == [], out.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    case = next(c for c in BAD.CASES if c.name == "training.lr: .inf")
    res = subprocess.run(
        [sys.executable, "-m", "hdus_sim", "--debug", "validate", str(case.make(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0 and "Traceback" in res.stderr and "training.lr" in res.stderr


# ---------------------------------------------------------------- valid neighbours
def _base() -> dict:
    return copy.deepcopy(BAD.BASE)


def test_arrivals_without_device_mix_validate(tmp_path: Path) -> None:
    data = _base()
    data["churn"] = {"arrivals": {"rate": 0.5}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    assert run_cli(["validate", str(path)]) == 0
    assert load_scenario(data).churn.arrivals.device_mix is None


def test_late_delete_to_a_departed_peer_is_valid_and_noted() -> None:
    data = _base()
    data["events"].append({"at": 3, "kind": "delete", "peer": 1, "count": 2})
    notes = scenario_notes(load_scenario(data))
    assert any("peer 1 left at round 2" in n and "refused and logged" in n for n in notes)


def test_disconnected_file_is_repaired_with_guard_repair(tmp_path: Path) -> None:
    edges = tmp_path / "net.txt"
    edges.write_text("0 1\n1 2\n3 4\n4 5\n")
    data = _base()
    data["events"] = []
    data["topology"] = {"kind": "file", "params": {"path": str(edges)}}
    with pytest.raises(ScenarioError, match="disconnected: 2 components"):
        load_scenario(data)
    data["dynamics"] = {"guard": "repair"}
    sc = load_scenario(data)
    assert any("repair joins them at round 0" in n for n in scenario_notes(sc))


def test_raised_limits_admit_a_larger_scenario() -> None:
    data = _base()
    data["peers"]["initial"] = 2000
    data["events"] = []
    data["topology"] = {"kind": "complete"}
    data["partition"]["scheme"] = "iid"
    with pytest.raises(ScenarioError, match=r"1,999,000 edges.*limits\.max_edges"):
        load_scenario(data)
    data["limits"] = {"max_edges": 2_000_000}
    assert load_scenario(data).limits.max_edges == 2_000_000


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    text = yaml.safe_dump(_base(), sort_keys=False).replace(
        "training:\n", "defaults: &d {lr: 0.02, batch_size: 16}\ntraining:\n  <<: *d\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("defaults:", "description: merged\nx_defaults:", 1))
    with pytest.raises(ScenarioError, match="unknown field `x_defaults`"):
        load_scenario(path)


def test_every_error_line_names_the_source(tmp_path: Path) -> None:
    data = _base()
    data["training"]["lr"] = -1
    data["peers"]["rho"] = 3
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{path}: `") for line in lines)


def test_a_disconnected_file_is_joined_at_round_0_and_logged(tmp_path: Path) -> None:
    import networkx as nx

    from hdus_sim.simulation import Simulation

    edges = tmp_path / "net.txt"
    edges.write_text("0 1\n1 2\n3 4\n4 5\n")
    data = _base()
    data["events"] = []
    data["topology"] = {"kind": "file", "params": {"path": str(edges)}}
    data["dynamics"] = {"guard": "repair"}
    sim = Simulation(load_scenario(data)).build()
    assert nx.is_connected(sim.graph)
    [repaired] = [e for e in sim.events if e["kind"] == "partition_repaired"]
    assert repaired["round"] == 0 and repaired["components"] == [[0, 1, 2], [3, 4, 5]]
