"""Verify at scale: one combined oracle for a churn run, group splitting, ``--events``.

The churn runs here are small (8 devices, a few seconds); the 100-device figure is
``benchmarks/verify_scale.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hdus_sim import Simulation, verify_run
from hdus_sim.errors import EventSelectionError
from hdus_sim.verification.groups import check_groups
from hdus_sim.verification.select import parse_events
from tests.hdus_sim.test_cli import cli


def _churn(tiny: dict[str, Any]) -> dict[str, Any]:
    """8 devices under Weibull sessions with re-joins and crashes, seeds relayed 2 hops."""
    tiny.pop("events")
    tiny["seed"] = 5
    tiny["peers"]["initial"] = 8
    tiny["rounds"] = 8
    tiny["topology"] = {"kind": "ring"}
    tiny["exchange"] = {"relay_hops": 2, "heartbeat_timeout": 2}
    tiny["dynamics"] = {"attach": "random", "attach_k": 2, "repair": "reconnect_neighbors"}
    tiny["training"]["local_epochs"] = 1
    tiny["seed_model"]["distill_steps"] = 10
    tiny["churn"] = {
        "sessions": {
            "distribution": "exponential",
            "params": {"scale": 3.0},
            "offline": {"distribution": "exponential", "params": {"scale": 1.5}},
        },
        "crash_ratio": 0.4,
        "on_return": "retrain",
    }
    return tiny


def test_churn_run_verifies_with_one_combined_oracle(tiny: dict, tmp_path: Path) -> None:
    sim = Simulation.from_dict(_churn(tiny)).run()
    sim.write(tmp_path)
    deps = sim.summary()["departures"]
    assert len(deps) >= 5 and {d["kind"] for d in deps} >= {"leave", "crash"}
    assert any(d["epoch"] > 0 for d in deps)  # a device that came back and left again
    report = verify_run(tmp_path)  # auto: combined above 3 events
    assert [e.verdict for e in report.events] == ["EXACT"] * len(deps)
    assert report.oracle_reruns == 1 and report.oracle_cached == 0
    assert report.oracle_groups == [{"size": len(deps), "passed": True}]
    assert [e.number for e in report.events] == list(range(1, len(deps) + 1))
    again = verify_run(tmp_path)
    assert (again.oracle_reruns, again.oracle_cached) == (0, 1)
    written = json.loads((tmp_path / "verify.json").read_text())
    assert written["oracle"]["reruns"] == 0 and written["total_events"] == len(deps)


def test_crash_detection_ignores_an_epoch_learned_from_a_relayed_seed(tiny: dict) -> None:
    # peer 1 crashes and comes back under epoch 1 before its old neighbours time out; its
    # new seed reaches them by relay. They must declare the silent epoch-0 link crashed
    # (or nothing, if they already know epoch 0 is gone), never the live epoch 1: the
    # oracle withholds that seed, and a false suspicion there would re-key peer 1
    tiny["exchange"] = {"relay_hops": 2, "heartbeat_timeout": 3}
    tiny["dynamics"] = {"repair": "none", "attach": "random", "attach_k": 2}
    tiny["events"] = [{"at": 1, "kind": "crash", "peer": 1}, {"at": 2, "kind": "join", "peer": 1}]
    real = Simulation.from_dict(tiny).run()
    assert not [e for e in real.events if e["kind"] in ("false_suspicion", "refuted")]
    oracle = Simulation(real.scenario, withheld=frozenset({(1, 0)})).run()
    a, b = real.predictions(), oracle.predictions()
    assert sorted(a) == sorted(b) and all(np.array_equal(a[p], b[p]) for p in a)


def test_a_group_that_differs_is_split_until_each_culprit_is_named() -> None:
    items = list(range(16))
    groups: list[list[int]] = []
    singles: list[int] = []

    def group_ok(group: Any) -> bool:
        groups.append(list(group))
        return 5 not in group

    rows = check_groups(items, group_ok, singles.append)
    assert singles == [4, 5]  # only the last group that differed goes item by item
    assert [len(g) for g in groups] == [16, 8, 8, 4, 4, 2, 2]
    assert len(groups) + len(singles) < len(items)
    assert rows[0] == {"size": 16, "passed": False}
    # dense failures: both halves differ, so every item gets its own oracle at once
    groups.clear()
    singles.clear()

    def never_ok(group: Any) -> bool:
        groups.append(list(group))
        return False

    check_groups(items, never_ok, singles.append)
    assert singles == items and len(groups) == 3


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("0", "there is no event 0"),
        ("9", "there is no event 9"),
        ("5-3", "the range '5-3' goes down"),
        ("two", "'two' is not an event number"),
        ("1,,2", "an empty item between commas"),
        ("", "no event named"),
    ],
)
def test_bad_events_are_refused_naming_the_value_and_the_syntax(spec: str, problem: str) -> None:
    with pytest.raises(EventSelectionError) as err:
        parse_events(spec, 8)
    text = str(err.value)
    assert text.startswith(f"--events {spec!r}: {problem}") and "3,7-9" in text
    assert "numbered 1 to 8" in text and "\n" not in text


def test_events_syntax() -> None:
    assert parse_events("3, 7-9,3", 10) == [3, 7, 8, 9]
    assert parse_events("1-1", 1) == [1]


def test_verify_events_checks_only_the_chosen_events(tiny: dict, tmp_path: Path) -> None:
    out = tmp_path / "run"
    Simulation.from_dict(tiny).run().write(out)
    res = cli("verify", str(out), "--events", "2")
    assert res.returncode == 0, res.stderr
    # progress goes to stderr, one line per oracle (no terminal: no round status)
    assert res.stderr.splitlines() == ["oracle 1/1: without the seed of peer 4 (epoch 0)"]
    assert "1 event(s) (of 2, chosen by --events) verified" in " ".join(res.stdout.split())
    report = json.loads((out / "verify.json").read_text())
    assert report["checked_now"] == [2] and report["oracle"]["reruns"] == 1
    assert [(e["number"], e["peer"], e["kind"]) for e in report["events"]] == [(2, 4, "crash")]
    assert len(list((out / "oracles").glob("*.npz"))) == 1  # no oracle for event 1
    bad = cli("verify", str(out), "--events", "2-5", "--quiet")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        "error: --events '2-5': there is no event 5; write numbers and ranges such as 3,7-9; "
        "this run's events are numbered 1 to 2 (the # column of hdus-sim verify)"
    ]
