"""The hdus-sim command line, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hdus_sim", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_run_then_verify_writes_every_file(tiny: dict, tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(tiny))
    out = tmp_path / "run"
    res = cli("run", str(scenario), "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    assert "ensemble" in res.stdout and str(out) in res.stdout.replace("\n", "")
    for name in (
        "metrics.jsonl",
        "summary.json",
        "events.jsonl",
        "predictions.npz",
        "accuracy.png",
        "holdings.json",
        "scenario.yaml",
        "rounds.jsonl",
    ):
        assert (out / name).is_file(), name
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert [d["kind"] for d in summary["departures"]] == ["leave", "crash"]
    res = cli("verify", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS" in res.stdout and "EXACT" in res.stdout


def test_verify_fails_and_names_the_holder(tiny: dict, tmp_path: Path) -> None:
    tiny["debug"] = {"keep_dropped_seeds": [0]}
    scenario = tmp_path / "broken.yaml"
    scenario.write_text(yaml.safe_dump(tiny))
    out = tmp_path / "run"
    assert cli("run", str(scenario), "--out", str(out), "--quiet").returncode == 0
    res = cli("verify", str(out))
    assert res.returncode == 1
    assert "peer(s) [0] still hold the seed of (1, 0)" in res.stderr.replace("\n", " ")


def test_bad_scenario_is_a_clear_error(tiny: dict, tmp_path: Path) -> None:
    tiny["events"].append({"at": 1, "kind": "crash", "peer": 77})
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(yaml.safe_dump(tiny))
    res = cli("run", str(scenario), "--out", str(tmp_path / "x"))
    assert res.returncode == 1  # an invalid scenario: exit 1, one error line
    assert "peer 77 is unknown" in res.stderr
    assert "Traceback" not in res.stderr
    assert [line for line in res.stderr.splitlines() if line.strip()] == [
        line for line in res.stderr.splitlines() if line.startswith("error: ")
    ]


def test_verify_missing_dir(tmp_path: Path) -> None:
    res = cli("verify", str(tmp_path / "nothing"))
    assert res.returncode == 2 and "does not exist" in res.stderr


def test_models_lists_parameter_counts() -> None:
    res = cli("models")
    assert res.returncode == 0 and "2,410" in res.stdout and "seed_mlp" in res.stdout


def test_version_matches_the_package_metadata() -> None:
    from importlib.metadata import version

    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"hdus-sim {version('hdus-sim')}"


_WITHOUT_EXTRAS = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("ray", "flwr"):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
from hdus_sim.cli import main
sys.argv = ["hdus-sim", *sys.argv[1:]]
main()
"""


def test_without_the_extras_runs_work_and_ray_names_its_extra(tiny: dict, tmp_path: Path) -> None:
    """Ray and Flower are extras: in-process runs need neither; the others say what to add."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _WITHOUT_EXTRAS, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert run("run", str(path), "--out", str(tmp_path / "a"), "--quiet").returncode == 0
    ray = run("run", str(path), "--out", str(tmp_path / "b"), "--set", "runtime.kind=ray")
    assert ray.returncode != 0 and "pip install 'hdus-sim[ray]'" in ray.stderr
    assert "Traceback" not in ray.stderr


def test_license_file_matches_pyproject() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["license"]
    assert declared == {"text": "Apache-2.0"}
    text = (root / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


# ring_churn also runs in the slow library test below; the default run keeps quickstart
@pytest.mark.parametrize("name", ["quickstart", pytest.param("ring_churn", marks=pytest.mark.slow)])
def test_bundled_scenario_runs_and_verifies(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    res = cli("run", f"scenarios/{name}.yaml", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    acc = json.loads((out / "summary.json").read_text())["final_accuracy"]
    assert acc["global_ensemble"] > acc["global_main"] + 0.05
    if name == "quickstart":  # the README's promise: the ensemble beats main-only on both
        assert acc["local_ensemble"] > acc["local_main"]
    else:  # local tests lack the peer's dropped classes: seeds can at best match main there
        assert acc["local_ensemble"] > acc["local_main"] - 0.01
    res = cli("verify", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((out / "verify.json").read_text())
    assert report["events"] and all(e["verdict"] == "EXACT" for e in report["events"])


def test_certs_makes_a_loadable_test_pki(tmp_path: Path) -> None:
    from hdus_sim.wire.security import KeyRing, TestPki

    res = cli("certs", str(tmp_path / "pki"), "--host", "gw=0,1", "--host", "dev=2")
    assert res.returncode == 0, res.stderr
    # one folder per device, each holding its own secrets only
    gw, dev = TestPki.load(tmp_path / "pki" / "gw"), TestPki.load(tmp_path / "pki" / "dev")
    assert gw.hosts["gw"].peer_ids == (0, 1) and dev.hosts["dev"].peer_ids == (2,)
    assert sorted(gw.hosts) == ["gw"] and gw.ca_key_pem is None
    gw_keys = KeyRing.load_for(tmp_path / "pki" / "gw", [0, 1])
    dev_keys = KeyRing.load_for(tmp_path / "pki" / "dev", [2])
    assert gw_keys.verify(2, b"x", dev_keys.sign(2, b"x"))
    assert not gw_keys.can_sign(2) and not dev_keys.can_sign(0)
    assert KeyRing.load(tmp_path / "pki").signing_peer_ids == frozenset()  # public ring
    res = cli("certs", str(tmp_path / "bad"), "--host", "gw")
    assert res.returncode != 0 and "NAME=0,1,2" in res.stderr + res.stdout


LIBRARY = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
#: scenarios whose full budget takes minutes (run as written by benchmarks/hdus_paper.py):
#: here with the same models, split and events, and a smaller training budget
SMALLER = {"hdus_paper": ["training.local_epochs=1", "seed_model.distill_steps=10"]}


@pytest.mark.slow
@pytest.mark.parametrize("name", LIBRARY)
def test_every_library_scenario_runs_and_verifies(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    sets = [arg for item in SMALLER.get(name, []) for arg in ("--set", item)]
    res = cli("run", f"scenarios/{name}.yaml", "--out", str(out), "--quiet", *sets)
    assert res.returncode == 0, res.stderr[-3000:]
    res = cli("verify", str(out))
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    report = json.loads((out / "verify.json").read_text())
    assert all(e["verdict"] != "FAIL" for e in report["events"])
