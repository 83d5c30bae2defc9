"""Verification of a run's leave guarantees: lineage and the retrain oracle.

For every departure ``(p, e)`` (a leave or a crash):

1. **lineage**: no surviving peer holds a seed of ``(p, e)`` or anything whose lineage
   contains it. A failure names every peer that still holds it.
2. **oracle**: the scenario is re-run with the same seed and the same graph evolution, in
   which ``(p, e)`` never sends its own seed (it may still relay others'). Every random
   stream is derived from (scenario seed, peer id, epoch, purpose), so this is the run in
   which p's data never left p. Surviving peers' final ensemble scores on the probe set
   must be *identical* (bit for bit) to the run's. A failure names the peers that differ.

Both pass → the event's verdict is ``EXACT``; otherwise ``FAIL``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdus_sim.outputs import read_run, write_json
from hdus_sim.scenario import load_scenario

__all__ = ["EventVerdict", "VerifyReport", "oracle_predictions", "verify_run"]


@dataclass
class EventVerdict:
    """The checks of one departure."""

    peer: int
    epoch: int
    kind: str
    round: int
    lineage_ok: bool
    still_held_by: list[int]
    oracle_ok: bool | None
    oracle_differs_for: list[int] = field(default_factory=list)
    oracle_max_abs_diff: float | None = None
    removal_latency_rounds: int | None = None

    @property
    def verdict(self) -> str:
        """``EXACT`` when lineage and oracle both pass (oracle skipped: lineage only)."""
        if not self.lineage_ok or self.oracle_ok is False:
            return "FAIL"
        return "EXACT" if self.oracle_ok else "LINEAGE-ONLY"

    def explain(self) -> str:
        """One sentence on why it failed (empty when it passed)."""
        parts = []
        if self.still_held_by:
            parts.append(
                f"peer(s) {self.still_held_by} still hold the seed of ({self.peer}, {self.epoch})"
            )
        if self.oracle_ok is False:
            parts.append(
                f"predictions of peer(s) {self.oracle_differs_for} differ from the "
                f"oracle run (max |diff| {self.oracle_max_abs_diff:.3g})"
            )
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``verify.json``."""
        return {**asdict(self), "verdict": self.verdict, "explanation": self.explain()}


@dataclass
class VerifyReport:
    """Verdicts of every departure in a run."""

    run_dir: str
    events: list[EventVerdict]
    survivors: list[int]

    @property
    def passed(self) -> bool:
        """Whether every event passed."""
        return all(e.verdict != "FAIL" for e in self.events)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``verify.json``."""
        return {
            "run_dir": self.run_dir,
            "passed": self.passed,
            "survivors": self.survivors,
            "events": [e.as_dict() for e in self.events],
        }


def _scenario_digest(scenario: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(scenario, sort_keys=True).encode()).hexdigest()[:16]


def oracle_predictions(
    scenario: dict[str, Any],
    withheld: tuple[int, int],
    *,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    runtime: str | None = None,
) -> dict[int, np.ndarray]:
    """Re-run ``scenario`` with ``withheld``'s own seed never sent; return final predictions.

    ``runtime`` re-runs the oracle on another runtime (e.g. ``inprocess`` for a Ray run:
    the protocol is deterministic, so the runtimes must agree bit for bit, which checks the
    runtime too). Cached under ``cache_dir`` by scenario digest and withheld owner, so
    every check (and a second ``verify``) reuses one oracle run.
    """
    from hdus_sim.simulation import Simulation

    if runtime is not None and runtime != scenario.get("runtime", {}).get("kind"):
        scenario = json.loads(json.dumps(scenario))
        scenario["runtime"] = {**scenario.get("runtime", {}), "kind": runtime, "address": None}

    cache = None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = cache_dir / f"oracle_{_scenario_digest(scenario)}_p{withheld[0]}_e{withheld[1]}.npz"
        if cache.is_file():
            with np.load(cache) as npz:
                return {int(k): npz[k] for k in npz.files}
    sim = Simulation(load_scenario(scenario), withheld=frozenset({withheld}), progress=progress)
    preds = sim.run().predictions()
    if cache is not None:
        np.savez_compressed(cache, **{str(k): v for k, v in preds.items()})
    return preds


def verify_run(
    run_dir: str | Path,
    *,
    oracle: bool = True,
    progress: Callable[[str], None] | None = None,
    oracle_runtime: str | None = None,
) -> VerifyReport:
    """Check lineage (and, with ``oracle``, the retrain oracle) for every departure in a run."""
    run = read_run(run_dir)
    holdings: dict[int, dict[str, Any]] = run["holdings"]
    predictions: dict[int, np.ndarray] = run["predictions"]
    survivors = sorted(holdings)
    verdicts: list[EventVerdict] = []
    for dep in run["summary"]["departures"]:
        key = (int(dep["peer"]), int(dep["epoch"]))
        tag = f"{key[0]}:{key[1]}"
        held_by = sorted(
            pid
            for pid, h in holdings.items()
            if tag in h["held"] or any(tuple(o) == key for o in h["lineage"])
        )
        verdict = EventVerdict(
            peer=key[0],
            epoch=key[1],
            kind=dep["kind"],
            round=dep["round"],
            lineage_ok=not held_by,
            still_held_by=held_by,
            oracle_ok=None,
            removal_latency_rounds=dep.get("latency_rounds"),
        )
        if oracle:
            if progress is not None:
                progress(f"oracle run without the seed of peer {key[0]} (epoch {key[1]})")
            ref = oracle_predictions(
                run["scenario"], key, cache_dir=Path(run_dir) / "oracles", runtime=oracle_runtime
            )
            differs = []
            max_diff = 0.0
            for pid in survivors:
                a, b = predictions.get(pid), ref.get(pid)
                if a is None or b is None or a.shape != b.shape:
                    differs.append(pid)
                    max_diff = float("inf")
                    continue
                if not np.array_equal(a, b):
                    differs.append(pid)
                    max_diff = max(max_diff, float(np.max(np.abs(a - b))))
            if set(ref) != set(survivors):
                differs += sorted(set(ref) ^ set(survivors))
            verdict.oracle_ok = not differs
            verdict.oracle_differs_for = sorted(set(differs))
            verdict.oracle_max_abs_diff = max_diff
        verdicts.append(verdict)
    report = VerifyReport(str(run_dir), verdicts, survivors)
    write_json(Path(run_dir) / "verify.json", report.as_dict())
    return report
