"""Three standalone devices: one frozen past the heartbeat timeout, then resumed.

The other two must keep their own tick rate (they never wait on the frozen one), declare
it crashed, and — once it answers again — all three re-link and exchange seeds again,
the frozen one under a new epoch.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fleet import Fleet, wait_for

pytestmark = pytest.mark.standalone

FROZEN = 1


def test_a_frozen_device_is_declared_crashed_and_relinks_under_a_new_epoch(
    tiny: dict, tmp_path: Path
) -> None:
    with Fleet(tmp_path, tiny, n=3, tick_s=0.3, heartbeat_timeout=4) as fleet:
        fleet.wait_all_linked(120)
        before = {i: fleet.tick_rate(i, 2.0) for i in (0, 2)}
        old = fleet.key(FROZEN)
        fleet.freeze(FROZEN)
        started = time.monotonic()
        at_freeze = {i: fleet.status(i) for i in (0, 2)}
        wait_for(
            lambda: all(old in fleet.status(i).get("tombstones", []) for i in (0, 2)),
            30,
            "the others to declare the frozen device crashed",
        )
        time.sleep(max(0.0, 8.0 - (time.monotonic() - started)))  # frozen >= 8 s
        during = {}
        for i in (0, 2):  # they ticked at their own rate all through the freeze
            a, b = at_freeze[i], fleet.status(i)
            during[i] = (b["tick"] - a["tick"]) / (b["time"] - a["time"])
            assert during[i] >= 0.8 * before[i], (before, during)
            assert old not in b["held"]
        fleet.resume(FROZEN)
        wait_for(lambda: fleet.epoch(FROZEN) > int(old.split(":")[1]), 60, "a new epoch")
        fleet.wait_all_linked(90)  # every device holds the others' current seeds again
        for i in range(3):
            st = fleet.status(i)
            assert sorted(st["neighbors"]) == [j for j in range(3) if j != i]
        assert {fleet.status(i)["relinks"] for i in (0, 2)} != {0}
        print(f"tick rates before {before}, while frozen {during}")
    for i in range(3):
        assert "Traceback" not in fleet.errors(i), fleet.errors(i)[-2000:]
