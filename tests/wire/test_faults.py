"""Churn over a faulty gRPC wire: drops, duplicates, reordering and delays."""

from __future__ import annotations

import copy
from pathlib import Path

from clients.messages import Heartbeat
from hdus_sim import Simulation, verify_run
from hdus_sim.wire.faults import FaultConfig, FaultLayer, Partition


def test_fault_decisions_are_deterministic_and_respect_partitions() -> None:
    cfg = FaultConfig(
        drop=0.1,
        duplicate=0.1,
        reorder=0.1,
        delay_ms=(0, 5),
        seed=3,
        partitions=(Partition(frozenset({1, 2}), 2, 4),),
    )
    a, b = FaultLayer(cfg), FaultLayer(cfg)
    beats = [Heartbeat(s, 0, r) for r in range(6) for s in range(5)]
    plans_a = [a.plan(hb.round, hb.sender, (hb.sender + 1) % 5, hb) for hb in beats]
    plans_b = [b.plan(hb.round, hb.sender, (hb.sender + 1) % 5, hb) for hb in beats]
    assert plans_a == plans_b
    assert a.plan(2, 0, 1, Heartbeat(0, 0, 2)) == []  # crosses the cut
    assert a.plan(3, 1, 2, Heartbeat(1, 0, 3)) != [] or a.stats.dropped  # same side
    assert a.plan(4, 0, 1, Heartbeat(0, 0, 4, frozenset({(9, 9)}))) is not None
    many = FaultLayer(FaultConfig(drop=0.1, seed=1))
    drops = sum(not many.plan(r, 0, 1, Heartbeat(0, 0, r)) for r in range(5000))
    assert 400 < drops < 600  # 10 % of 5,000


def test_churn_under_drop_duplicate_reorder_ends_clean(tiny: dict, tmp_path: Path) -> None:
    sc = copy.deepcopy(tiny)
    sc["rounds"] = 7
    sc["exchange"] = {"relay_hops": 2, "heartbeat_timeout": 3}
    sc["runtime"] = {"kind": "grpc", "wire": {"hosts": 2, "tls": True, "sign": True}}
    sc["faults"] = {"drop": 0.1, "duplicate": 0.1, "reorder": 0.1, "delay_ms": [0, 3]}
    sim = Simulation.from_dict(sc).run()
    summary = sim.summary()
    faults = summary["wire"]["faults"]
    assert faults["dropped"] > 0 and faults["duplicated"] > 0 and faults["reordered"] > 0
    assert summary["resurrected"] == 0  # no seed came back after its removal
    assert summary["false_suspicions"] == 0  # no live peer was declared crashed
    for dep in summary["departures"]:
        assert dep["pending"] == [], f"{dep['peer']} still held by {dep['pending']}"
    crash = next(d for d in summary["departures"] if d["kind"] == "crash")
    assert crash["detection_rounds"] == sc["exchange"]["heartbeat_timeout"] - 1
    sim.write(tmp_path)
    report = verify_run(tmp_path, oracle=False)  # lineage: 0 stale seeds anywhere
    assert report.passed and all(e.lineage_ok for e in report.events)


def test_partition_healed_later_refutes_suspicions_and_verifies(tiny: dict, tmp_path: Path) -> None:
    sc = copy.deepcopy(tiny)
    sc["rounds"] = 9
    sc["events"] = [
        {"at": 2, "kind": "leave", "peer": 0},
        {"at": 2, "kind": "join", "peer": 6, "device": "sensor"},
        {"at": 7, "kind": "crash", "peer": 5},
    ]
    sc["exchange"] = {"relay_hops": 2, "heartbeat_timeout": 3}
    sc["runtime"] = {"kind": "grpc", "wire": {"hosts": 2, "tls": True, "sign": True}}
    sc["faults"] = {
        "drop": 0.1,
        "duplicate": 0.1,
        "reorder": 0.1,
        "delay_ms": [0, 3],
        "partitions": [{"peers": [2, 3], "start": 1, "end": 5}],
    }
    sim = Simulation.from_dict(sc).run()
    summary = sim.summary()
    kinds = [e["kind"] for e in sim.events]
    # the cut made both sides suspect each other; after the heal the suspects re-keyed
    assert summary["false_suspicions"] > 0 and "refuted" in kinds
    suspected = [d for d in summary["departures"] if d["kind"] == "suspected"]
    assert {d["peer"] for d in suspected} >= {2, 3}
    assert summary["resurrected"] == 0
    assert all(d["pending"] == [] for d in summary["departures"])  # 0 stale seeds
    crash = next(d for d in summary["departures"] if d["kind"] == "crash")
    # detected after exactly the configured number of missed heartbeats (rounds 7, 8, 9)
    assert crash["detection_rounds"] == sc["exchange"]["heartbeat_timeout"] - 1
    # after the heal everybody is linked again and holds the re-keyed seeds
    final = {pid: sim.peer(pid) for pid in sim.runtime.online()}
    assert final[2].epoch >= 1 and final[3].epoch >= 1
    for suspect in (2, 3):
        key = (suspect, final[suspect].epoch)
        assert any(key in p.held for pid, p in final.items() if pid != suspect)
    sim.write(tmp_path)
    report = verify_run(tmp_path)
    assert report.passed, [e.explain() for e in report.events]
