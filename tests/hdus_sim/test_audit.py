"""The hash-chained audit log: intact after a run; one edited byte is found and located."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hdus_sim import Simulation
from hdus_sim.audit import check_audit, holders_ever

ROOT = Path(__file__).parents[2]


@pytest.fixture
def run_dir(tiny: dict, tmp_path: Path) -> Path:
    Simulation.from_dict(tiny).run().write(tmp_path)
    return tmp_path


def test_audit_is_intact_and_answers_who_held_a_departed_seed(run_dir: Path) -> None:
    assert check_audit(run_dir) == []
    held = holders_ever(run_dir, 1)  # peer 1 left at round 2; ring neighbours 0 and 2 held it
    assert sorted(held) == [0, 2]
    assert all(e["dropped_round"] == 2 and e["still_holds"] == [] for e in held.values())
    kinds = {
        line.split('"kind": ')[1].split('"')[1]
        for line in (run_dir / "audit" / "peer3.jsonl").read_text().splitlines()
    }
    assert {"learn", "distil", "send", "receive", "drop"} <= kinds


def test_editing_one_byte_anywhere_is_detected_and_named(run_dir: Path) -> None:
    path = run_dir / "audit" / "peer3.jsonl"
    lines = path.read_text().splitlines()
    target = len(lines) // 2
    lines[target] = lines[target].replace('"round": ', '"round": 1', 1)  # one byte more
    path.write_text("\n".join(lines) + "\n")
    problems = check_audit(run_dir)
    assert [(p.file, p.line) for p in problems] == [("audit/peer3.jsonl", target + 1)]
    res = subprocess.run(
        [sys.executable, "-m", "hdus_sim", "audit", str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1 and f"audit/peer3.jsonl:{target + 1}" in res.stderr


def test_truncation_is_detected(run_dir: Path) -> None:
    path = run_dir / "audit" / "peer0.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-2]) + "\n")
    problems = check_audit(run_dir)
    assert len(problems) == 1 and "truncated" in problems[0].problem
