"""One scenario on every runtime: the same predictions bit for bit, and ``verify`` passes.

The scenario has a leave, a join, a crash and a point deletion. Each runtime runs it, writes
its run directory and is verified with the retrain oracle run *on the same runtime*; its
final predictions must equal the in-memory run's exactly, and its hash-chained audit log
(written by every runtime, from where each peer lived) must check — and must fail once one
record is edited. The hosted runtimes (``process``: OS processes; ``ray``: Ray actors) cost a
few host starts per run and sit in the heavy pass with their component markers.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hdus_sim.cli import run_cli
from hdus_sim.simulation import Simulation
from hdus_sim.verification.audit import check_audit
from hdus_sim.verify import verify_run

RUNTIMES = [
    pytest.param({"kind": "inprocess"}, id="inprocess"),
    pytest.param({"kind": "inprocess", "wire_roundtrip": True}, id="inprocess-wire"),
    pytest.param({"kind": "grpc"}, id="grpc", marks=pytest.mark.grpc),
    pytest.param(
        {"kind": "process", "peers_per_actor": 4},
        id="process",
        marks=[pytest.mark.slow, pytest.mark.process],
    ),
    pytest.param(
        {"kind": "ray", "peers_per_actor": 4},
        id="ray",
        marks=[pytest.mark.slow, pytest.mark.ray],
    ),
]


def _scenario(tiny: dict[str, Any], runtime: dict[str, Any]) -> dict[str, Any]:
    sc = copy.deepcopy(tiny)  # leave 1 and join 6 at round 2, crash 4 at round 3
    sc["events"].append({"at": 2, "kind": "delete", "peer": 0, "count": 5})
    sc["runtime"] = runtime
    return sc


_REFERENCE: dict[int, np.ndarray] = {}


@pytest.fixture
def reference(tiny: dict[str, Any]) -> dict[int, np.ndarray]:
    """The in-memory run's final predictions (computed once per session)."""
    if not _REFERENCE:
        sim = Simulation.from_dict(_scenario(tiny, {"kind": "inprocess"})).run()
        _REFERENCE.update(sim.predictions())
    return _REFERENCE


def _tamper(run: Path) -> str:
    """Edit the first drop record of some chain; return the chain's file name."""
    for chain in sorted((run / "audit").glob("peer*.jsonl")):
        lines = chain.read_text().splitlines()
        for i, line in enumerate(lines):
            rec = json.loads(line)
            if rec["kind"] == "drop":
                rec["data"]["owner"] = 99
                lines[i] = json.dumps(rec, sort_keys=True)
                chain.write_text("\n".join(lines) + "\n")
                return chain.name
    raise AssertionError("no drop record in any audit chain")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_gives_the_same_run_and_verifies(
    tiny: dict[str, Any],
    runtime: dict[str, Any],
    reference: dict[int, np.ndarray],
    tmp_path: Path,
) -> None:
    sim = Simulation.from_dict(_scenario(tiny, runtime))
    sim.run()
    run = sim.write(tmp_path / "run")
    preds = sim.predictions()
    assert sorted(preds) == sorted(reference)
    for pid, scores in reference.items():
        assert np.array_equal(preds[pid], scores), f"peer {pid} differs on {runtime}"
    kinds = {e["kind"] for e in sim.events}
    assert {"leave", "join", "crash", "delete"} <= kinds

    report = verify_run(run)  # the oracle runs on this same runtime
    verdicts = [e.verdict for e in report.events]
    assert len(verdicts) == 3 and report.passed, verdicts  # the leave, the crash, the delete

    assert check_audit(run) == []
    assert run_cli(["audit", str(run)]) == 0  # what `hdus-sim audit DIR` answers
    chains = {int(p.stem.removeprefix("peer")) for p in (run / "audit").glob("peer*.jsonl")}
    assert chains == set(range(7))  # every peer that ran, wherever it ran
    broken = _tamper(run)
    problems = check_audit(run)
    assert problems and any(p.file.endswith(broken) for p in problems), problems
    assert run_cli(["audit", str(run)]) == 1
