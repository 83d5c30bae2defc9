"""The hash-chained audit log: intact after a run; one edited byte is found and located."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hdus_sim import Simulation, verify_run
from hdus_sim.verification.audit import check_audit, holders_ever
from hdus_sim.verification.receipts import receipts

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


def _receipts_run(tiny: dict, tmp_path: Path) -> Path:
    tiny["events"] = [
        {"at": 2, "kind": "leave", "peer": 1},
        {"at": 3, "kind": "delete", "peer": 0, "count": 3},
        {"at": 4, "kind": "delete", "peer": 1, "count": 1},  # peer 1 has left: refused
    ]
    Simulation.from_dict(tiny).run().write(tmp_path)
    return tmp_path


def test_verify_writes_each_verdict_into_the_receipts_and_the_owners_chain(
    tiny: dict, tmp_path: Path
) -> None:
    run = _receipts_run(tiny, tmp_path)
    assert verify_run(run).passed
    stored = json.loads((run / "receipts.json").read_text())["receipts"]
    by_kind = {(r["kind"], r["verdict"]): r for r in stored}
    deleted = by_kind[("delete", "EXACT")]
    assert deleted["peer"] == 0 and len(deleted["points"]) == 3
    assert (
        deleted["models_replaced"]["main"]["to"] == deleted["models_replaced"]["main"]["from"] + 1
    )
    assert deleted["seeds_replaced"]["own"]["to"] >= 2
    assert deleted["seeds_replaced"]["holders_with_new_version"]  # neighbours hold the new seed
    assert deleted["checks"]["oracle"] is True and deleted["audit"]["peer"] == 0
    assert by_kind[("leave", "EXACT")]["seeds_replaced"]["dropped_by"] == [0, 2]
    assert "not online" in by_kind[("delete", "REFUSED")]["why"]
    # the verdicts sit in the owners' hash chains, and the chains still check out
    assert check_audit(run) == []
    chain = [json.loads(line) for line in (run / "audit" / "peer0.jsonl").read_text().splitlines()]
    verdicts = [r for r in chain if r["kind"] == "verdict"]
    assert [v["data"]["request"] for v in verdicts] == [deleted["request"]]
    assert verdicts[0]["data"]["verdict"] == "EXACT" and verdicts[0]["hash"] == chain[-1]["hash"]
    rows, issues = receipts(run)
    assert issues == []
    assert {r["request"]: r["verdict"] for r in rows} == {
        r["request"]: r["verdict"] for r in stored
    }
    # verifying again adds nothing: the verdict has not changed
    length = len(chain)
    verify_run(run)
    assert len((run / "audit" / "peer0.jsonl").read_text().splitlines()) == length
    assert check_audit(run) == []
    res = subprocess.run(
        [sys.executable, "-m", "hdus_sim", "audit", str(run)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert deleted["request"] in out and "EXACT" in out and "REFUSED" in out


def test_an_edited_verdict_is_caught(tiny: dict, tmp_path: Path) -> None:
    run = _receipts_run(tiny, tmp_path)
    verify_run(run, oracle=False)
    path = run / "receipts.json"
    data = json.loads(path.read_text())
    target = next(r for r in data["receipts"] if r["kind"] == "leave")
    assert target["verdict"] == "LINEAGE-ONLY"
    target["verdict"] = "EXACT"  # a claim the verifier never made
    path.write_text(json.dumps(data))
    _, issues = receipts(run)
    assert issues == [
        f"{target['request']}: receipts.json says EXACT, the audit log says LINEAGE-ONLY"
    ]
    chain_path = run / "audit" / "peer1.jsonl"
    lines = chain_path.read_text().splitlines()
    lines[-1] = lines[-1].replace('"LINEAGE-ONLY"', '"EXACT"')
    chain_path.write_text("\n".join(lines) + "\n")
    assert [p.line for p in check_audit(run)] == [len(lines)]
