"""Three standalone devices: one leaves on SIGTERM, then their shared audit folder is checked.

The leaver sends its own signed leave notice, so the others drop its seed at once (not
after ``heartbeat_timeout`` ticks of silence); a leaver with a frozen neighbour still
exits after ``leave_timeout_s``. Every device writes its own hash-chained audit chain to
one folder, which ``hdus-sim audit`` checks: intact, the leaver's seed dropped by both
holders; then one edited record is named.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fleet import Fleet, wait_for

from hdus_sim.verification.audit import holders_ever

pytestmark = pytest.mark.standalone

LEAVER = 2
HEARTBEAT_TIMEOUT = 12  # ticks: a drop by silence would come this late at the earliest


def test_sigterm_leaves_with_a_signed_notice_and_the_fleet_audit_checks_out(
    tiny: dict, tmp_path: Path
) -> None:
    with Fleet(
        tmp_path, tiny, n=3, tick_s=0.3, heartbeat_timeout=HEARTBEAT_TIMEOUT, leave_timeout_s=2.0
    ) as fleet:
        fleet.wait_all_linked(120)
        gone = fleet.key(LEAVER)
        before = {i: fleet.status(i)["tick"] for i in (0, 1)}
        assert fleet.leave(LEAVER, timeout=30) == 0
        final = fleet.status(LEAVER)
        assert final["state"] == "left", final
        assert final["leave"]["notified"] == [0, 1] and final["leave"]["answered"], final
        wait_for(
            lambda: all(gone in fleet.status(i).get("tombstones", []) for i in (0, 1)),
            30,
            "the others to drop the leaver's seed",
        )
        for i in (0, 1):
            st = fleet.status(i)
            drops = [d for d in st["drops"] if d["seed"] == gone]
            assert [d["reason"] for d in drops] == ["leave"], st["drops"]
            assert drops[0]["tick"] - before[i] < HEARTBEAT_TIMEOUT // 2, (drops, before)
            assert gone not in st["held"] and gone not in st["detections"]
        # a frozen neighbour does not hold a leaving device past leave_timeout_s
        fleet.freeze(1)
        started = time.monotonic()
        assert fleet.leave(0, timeout=12) == 0
        print(f"left with a frozen neighbour in {time.monotonic() - started:.1f} s")
        assert fleet.status(0)["leave"]["answered"] is False
        fleet.resume(1)
    for i in range(3):
        assert "Traceback" not in fleet.errors(i), fleet.errors(i)[-2000:]

    # the leaver's chain holds its signed goodbyes; the holders', the receipt and the drop
    sent = [r for r in fleet.chain(LEAVER) if r["data"].get("message") == "leave:graceful"]
    assert sorted(r["data"]["to"] for r in sent if r["kind"] == "send") == [0, 1]
    res = fleet.audit("--peer", str(LEAVER))
    assert res.returncode == 0 and "intact" in res.stdout, res.stdout + res.stderr
    held = holders_ever(tmp_path, LEAVER)
    assert sorted(held) == [0, 1]
    assert all(e["dropped_round"] is not None for e in held.values()), held

    # edit one field of one record of peer 1's chain: the checker names the file and record
    path = tmp_path / "audit" / "peer1.jsonl"
    lines = path.read_text().splitlines()
    n, rec = next(
        (n, json.loads(line))
        for n, line in enumerate(lines)
        if json.loads(line)["kind"] == "drop" and json.loads(line)["data"]["owner"] == LEAVER
    )
    rec["data"]["owner"] = 0
    lines[n] = json.dumps(rec, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    res = fleet.audit()
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"audit/peer1.jsonl:{n + 1}" in res.stderr, res.stderr
    assert f"record {rec['seq']} was altered" in " ".join(res.stderr.split()), res.stderr
