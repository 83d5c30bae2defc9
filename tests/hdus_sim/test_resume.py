"""A run killed with SIGKILL and resumed equals an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).parents[2]
VOLATILE = ("wall_s", "train_s", "latency_s")


def stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def cli(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "hdus_sim", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sigkill_then_resume_equals_uninterrupted_run(tiny: dict, tmp_path: Path) -> None:
    tiny["rounds"] = 8
    tiny["training"]["train_rounds"] = 4  # training continues past the kill
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(tiny))
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = cli("run", str(scenario), "--out", str(killed), "--quiet")
    journal = killed / "journal.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill it mid-way: after round 3 is journaled
        rounds = [r for r in (jsonl(journal) if journal.is_file() else []) if r["type"] == "round"]
        if len(rounds) >= 4:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (killed / "predictions.npz").exists()  # it really died before finishing
    resumed = cli("run", "--resume", str(killed), "--quiet")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()[-2000:]
    full = cli("run", str(scenario), "--out", str(whole), "--quiet")
    assert full.wait(timeout=600) == 0
    assert stable(jsonl(killed / "metrics.jsonl")) == stable(jsonl(whole / "metrics.jsonl"))
    assert stable(jsonl(killed / "rounds.jsonl")) == stable(jsonl(whole / "rounds.jsonl"))
    with np.load(killed / "predictions.npz") as a, np.load(whole / "predictions.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    kinds = [r["type"] for r in jsonl(journal)]
    assert "resume" in kinds and kinds.count("round") > 8  # rounds after the checkpoint redone


def test_resume_without_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "hdus_sim", "run", "--resume", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "no checkpoint" in res.stderr
