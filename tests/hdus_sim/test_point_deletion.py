"""Point deletion inside peers: re-distil, re-gossip, revoke old versions, verify."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from clients.messages import Heartbeat, Lease, LeaveNotice, LeaveReason
from hdus_sim import Simulation, verify_run
from hdus_sim.wire.serde import roundtrip


def with_deletions(tiny: dict, kind: str) -> dict:
    sc = copy.deepcopy(tiny)
    sc["exchange"]["relay_hops"] = 2
    sc["peers"]["unlearning"] = kind
    sc["peers"]["unlearning_options"] = {"sisa": {"shards": 2, "slices": 2, "epochs_per_slice": 2}}
    sc["events"] += [
        {"at": 2, "kind": "delete", "peer": 3, "count": 3},
        {"at": 3, "kind": "delete", "peer": 0, "fraction": 0.1},
        {"at": 3, "kind": "delete", "peer": 1, "count": 2},  # peer 1 left at round 2
        {"at": 4, "kind": "delete", "peer": 2, "ids": [999999]},  # not its data
    ]
    return sc


@pytest.mark.parametrize("kind", ["none", "sisa", "sq"])
def test_point_deletions_are_exact_and_no_holder_keeps_an_old_version(
    tiny: dict, tmp_path: Path, kind: str
) -> None:
    sim = Simulation.from_dict(with_deletions(tiny, kind)).run()
    receipts = sim.summary()["point_deletions"]
    assert [(r["peer"], len(r["deleted"])) for r in receipts][:1] == [(3, 3)]
    assert {r["peer"] for r in receipts} == {0, 3}
    for r in receipts:
        assert r["certificate"] == "exact" and r["new_seed_version"] >= 2
        for pid in sim.runtime.online():  # holders hold only versions that applied it
            held = sim.peer(pid).held.get((r["peer"], r["epoch"]))
            assert held is None or r["receipt"] in held.record.deletions
    refused = [e for e in sim.events if e["kind"] == "delete_refused"]
    assert [e["peer"] for e in refused] == [1, 2]
    assert (
        "not online" in refused[0]["reason"] and "not in its training data" in refused[1]["reason"]
    )
    sim.write(tmp_path)
    report = verify_run(tmp_path)
    deletes = [e for e in report.events if e.kind == "delete"]
    assert len(deletes) == 2 and all(e.verdict == "EXACT" for e in deletes), [
        e.explain() for e in deletes
    ]
    assert report.passed


def test_certified_removal_gets_a_certified_verdict(tiny: dict, tmp_path: Path) -> None:
    sc = with_deletions(tiny, "certified")
    sc["peers"]["unlearning_options"] = {
        "certified": {"eps": 1.0, "feature_map": "pca", "features": 20}
    }
    sim = Simulation.from_dict(sc).run()
    sim.write(tmp_path)
    report = verify_run(tmp_path)
    deletes = [e for e in report.events if e.kind == "delete"]
    assert deletes and all(e.verdict.startswith("CERTIFIED(EPS=1") for e in deletes)
    assert report.passed


def test_deletion_over_grpc_with_duplicates_and_reordering(tiny: dict, tmp_path: Path) -> None:
    sc = with_deletions(tiny, "sisa")
    sc["runtime"] = {"kind": "grpc", "wire": {"hosts": 2, "tls": True}}
    sc["faults"] = {"duplicate": 0.3, "reorder": 0.3, "delay_ms": [0, 3]}
    sim = Simulation.from_dict(sc).run()
    assert sim.summary()["wire"]["faults"]["duplicated"] > 0
    sim.write(tmp_path)
    report = verify_run(tmp_path)
    assert report.passed and [e.verdict for e in report.events if e.kind == "delete"] == [
        "EXACT",
        "EXACT",
    ]


def test_revocations_travel_in_heartbeats() -> None:
    # a revocation floor is the owner's word: it rides in the owner's signed lease renewal
    floor = Lease(4, 1, seq=3, floor=3, signature=b"s" * 64, age=1)
    goodbye = LeaveNotice(5, 0, LeaveReason.GRACEFUL, 5, 0, signature=b"g" * 64, origin=5)
    beat = Heartbeat(
        1, 0, 3, frozenset({(2, 0)}), (floor,), frozenset({(4, 1, 2), (5, 0, 1)}), (goodbye,)
    )
    assert roundtrip(beat) == beat
