"""Scenario validation: good files load, bad ones fail with a message naming field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdus_sim.errors import ScenarioError
from hdus_sim.scenario import load_scenario, with_overrides

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_bundled_scenario_validates(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.rounds > 0 and sc.peers.initial >= 2


def test_missing_field_is_named(tiny: dict) -> None:
    del tiny["rounds"]
    with pytest.raises(ScenarioError, match=r"missing field `rounds`"):
        load_scenario(tiny)


def test_unknown_topology_lists_choices(tiny: dict) -> None:
    tiny["topology"] = {"kind": "hypercube"}
    with pytest.raises(ScenarioError) as err:
        load_scenario(tiny)
    assert "topology.kind" in str(err.value)
    assert "small_world" in str(err.value)  # the valid names are listed


def test_bad_topology_param_is_named(tiny: dict) -> None:
    tiny["topology"] = {"kind": "small_world", "params": {"k": 4, "q": 0.1}}
    with pytest.raises(ScenarioError, match=r"topology\.params"):
        load_scenario(tiny)


def test_event_on_unknown_peer(tiny: dict) -> None:
    tiny["events"] = [{"at": 1, "kind": "leave", "peer": 42}]
    with pytest.raises(ScenarioError, match=r"events\[0\].*peer 42 is unknown"):
        load_scenario(tiny)


def test_event_on_departed_peer(tiny: dict) -> None:
    tiny["events"] = [{"at": 1, "kind": "leave", "peer": 2}, {"at": 2, "kind": "crash", "peer": 2}]
    with pytest.raises(ScenarioError, match=r"events\[1\].*has already left"):
        load_scenario(tiny)


def test_event_past_last_round(tiny: dict) -> None:
    tiny["events"] = [{"at": 9, "kind": "leave", "peer": 2}]
    with pytest.raises(ScenarioError, match="raise `rounds`"):
        load_scenario(tiny)


def test_misspelled_field(tiny: dict) -> None:
    tiny["topolgy"] = tiny.pop("topology")
    with pytest.raises(ScenarioError, match=r"unknown field `topolgy`.*spelling"):
        load_scenario(tiny)


def test_out_of_range_value(tiny: dict) -> None:
    tiny["peers"]["rho"] = 1.5
    with pytest.raises(ScenarioError, match=r"`peers.rho`.*1.5"):
        load_scenario(tiny)


def test_unknown_device_class(tiny: dict) -> None:
    tiny["peers"]["devices"] = {"toaster": 1}
    with pytest.raises(ScenarioError, match="toaster"):
        load_scenario(tiny)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1, 2\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)


def test_overrides_revalidate(tiny: dict) -> None:
    sc = with_overrides(load_scenario(tiny), {"peers.rho": 0.9, "exchange.relay_hops": 2})
    assert sc.peers.rho == 0.9 and sc.exchange.relay_hops == 2
    with pytest.raises(ScenarioError):
        with_overrides(sc, {"peers.rho": "lots"})
