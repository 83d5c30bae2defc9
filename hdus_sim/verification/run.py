"""``verify_run``: check every departure and deletion of a written run, write the verdicts.

For every departure ``(p, e)`` (a leave or a crash):

1. **lineage**: no surviving peer holds a seed of ``(p, e)`` or anything whose lineage
   contains it. A failure names every peer that still holds it.
2. **oracle**: the scenario is re-run with the same seed and the same graph evolution, in
   which ``(p, e)`` never sends its own seed (it may still relay others'). Every random
   stream is derived from (scenario seed, peer id, epoch, purpose), so this is the run in
   which p's data never left p. Surviving peers' final ensemble scores on the probe set
   must be *identical* (bit for bit) to the run's. A failure names the peers that differ.

Both pass → the event's verdict is ``EXACT``; otherwise ``FAIL``. Point deletions are
checked the same way against an oracle without the points (or by their certificate).
Many events share one oracle where they can (:mod:`hdus_sim.verification.groups`).

Every verdict is then written into ``verify.json``, the deletion receipts
(``receipts.json``) and the owner's hash-chained audit log
(:func:`hdus_sim.verification.receipts.write_receipts`). On request, empirical evidence
is gathered next to the verdicts, never instead of them
(:mod:`hdus_sim.verification.evidence`), reusing the oracle runs made for the verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdus_sim.outputs import read_run, write_json
from hdus_sim.simulation import Simulation
from hdus_sim.verification.checks import departure_verdict, is_certified, point_deletion_verdict
from hdus_sim.verification.evidence import attack_evidence
from hdus_sim.verification.groups import check_groups
from hdus_sim.verification.mia.config import AttackConfig
from hdus_sim.verification.oracle import OracleRunner, compare, oracle_tag
from hdus_sim.verification.receipts import write_receipts
from hdus_sim.verification.select import merged_verify, select_events
from hdus_sim.verification.verdicts import EventVerdict, VerifyReport

__all__ = ["verify_run"]

#: an event record of ``summary.json`` with its 1-based number in the run
Numbered = tuple[int, dict[str, Any]]


@dataclass
class _Selection:
    """The events checked now: numbered departures and deletions, and what was asked."""

    chosen: list[int] | None
    total: int
    departures: list[Numbered]
    deletions: list[Numbered]

    @classmethod
    def of(cls, run: dict[str, Any], events: str | Sequence[int] | None) -> _Selection:
        """Number every event of ``run`` (departures first) and keep those ``events`` names."""
        departures = run["summary"]["departures"]
        deletions = run["summary"].get("point_deletions", [])
        total = len(departures) + len(deletions)
        chosen = select_events(events, total)
        picked = set(range(1, total + 1)) if chosen is None else set(chosen)
        numbered = list(enumerate([*departures, *deletions], 1))
        n_dep = len(departures)
        return cls(
            chosen,
            total,
            [(i, d) for i, d in numbered[:n_dep] if i in picked],
            [(i, d) for i, d in numbered[n_dep:] if i in picked],
        )

    def run_checked(self, run: dict[str, Any]) -> dict[str, Any]:
        """``run`` with only the events checked now in its summary (for the attacks)."""
        summary = {
            **run["summary"],
            "departures": [d for _, d in self.departures],
            "point_deletions": [d for _, d in self.deletions],
        }
        return {**run, "summary": summary}


def _numbered(n: int, verdict: EventVerdict) -> EventVerdict:
    verdict.number = n
    return verdict


@dataclass
class _OracleChecks:
    """The oracle half of the verdicts: departures by ``(peer, epoch)``, deletions by id.

    ``departures`` and ``deletions`` hold the verdicts whose oracle is still to decide
    (lineage already checked); ``deletion_recs`` the exact deletions' receipts.
    """

    run: dict[str, Any]
    runner: OracleRunner
    departures: dict[tuple[int, int], EventVerdict]
    deletions: dict[str, EventVerdict]
    deletion_recs: dict[str, Numbered]
    #: what one oracle withholds, in event order: departures by (peer, epoch), deletions by id
    items: list[Hashable]
    combined_tag: str | None = None

    @property
    def predictions(self) -> dict[int, np.ndarray]:
        """The run's final predictions, by surviving peer."""
        return self.run["predictions"]

    @property
    def survivors(self) -> list[int]:
        """The run's surviving peers."""
        return sorted(self.run["holdings"])

    def group_ok(self, group: Sequence[Hashable]) -> bool:
        """Run one oracle without every event of ``group``; if it agrees, they all pass."""
        many = [k for k in group if isinstance(k, tuple)]
        points: dict[int, list[int]] = {}
        for rid in (k for k in group if isinstance(k, str)):
            rec = self.deletion_recs[rid][1]
            points.setdefault(int(rec["peer"]), []).extend(int(i) for i in rec["deleted"])
        ref = self.runner.run(
            f"without {len(many)} departures and {len(group) - len(many)} deletions",
            points=points,
            many=many,
        )
        if len(group) == len(self.items):
            self.combined_tag = oracle_tag(None, points, many)
        if not compare(self.predictions, ref.predictions, self.survivors)[0]:
            return False
        for k in group:
            target = self.departures[k] if isinstance(k, tuple) else self.deletions[str(k)]
            target.oracle_ok, target.oracle_max_abs_diff = True, 0.0
        return True

    def single(self, item: Hashable) -> None:
        """Check one event with its own oracle (naming the peers that differ)."""
        if isinstance(item, str):
            n, rec = self.deletion_recs[item]
            self.deletions[item] = _numbered(n, point_deletion_verdict(rec, self.run, self.runner))
            return
        assert isinstance(item, tuple)
        v = self.departures[item]
        ref = self.runner.run(f"without the seed of peer {v.peer} (epoch {v.epoch})", withheld=item)
        v.oracle_ok, v.oracle_differs_for, v.oracle_max_abs_diff = compare(
            self.predictions, ref.predictions, self.survivors
        )

    def planned(self, n: int) -> None:
        """``n`` more oracles are queued (the ``/N`` of the progress lines)."""
        self.runner.planned += n

    def decide(self, mode: str) -> list[dict[str, Any]]:
        """Fill every oracle verdict; return the group oracles run (size, passed)."""
        if mode == "each" or (mode == "auto" and len(self.items) <= 3):
            self.planned(len(self.items))
            for item in self.items:
                self.single(item)
            return []
        return check_groups(self.items, self.group_ok, self.single, planned=self.planned)


def _judge(
    run: dict[str, Any], sel: _Selection, runner: OracleRunner, oracle: bool, mode: str
) -> tuple[list[EventVerdict], list[dict[str, Any]], str | None]:
    """Every verdict of the events checked now (by number), the group oracles, the combined tag."""
    departures = [_numbered(n, departure_verdict(dep, run)) for n, dep in sel.departures]
    certified = [
        _numbered(n, point_deletion_verdict(rec, run, None))
        for n, rec in sel.deletions
        if is_certified(rec)
    ]
    exact_recs = [(n, rec) for n, rec in sel.deletions if not is_certified(rec)]
    exact = {rec["request_id"]: (n, rec) for n, rec in exact_recs}
    items: list[Hashable] = [(v.peer, v.epoch) for v in departures]
    items += [rec["request_id"] for _, rec in exact_recs]
    checks = _OracleChecks(
        run,
        runner,
        {(v.peer, v.epoch): v for v in departures},
        {  # lineage first; the oracle verdict is filled in by ``decide``
            rid: _numbered(n, point_deletion_verdict(rec, run, None))
            for rid, (n, rec) in exact.items()
        },
        exact,
        items,
    )
    groups = checks.decide(mode) if oracle and checks.items else []
    verdicts = [*departures, *(checks.deletions[rec["request_id"]] for _, rec in exact_recs)]
    verdicts += certified
    verdicts.sort(key=lambda v: v.number or 0)
    return verdicts, groups, checks.combined_tag


def verify_run(
    run_dir: str | Path,
    *,
    oracle: bool = True,
    progress: Callable[[str], None] | None = None,
    tick: Callable[[str], None] | None = None,
    oracle_runtime: str | None = None,
    oracle_mode: str = "auto",
    events: str | Sequence[int] | None = None,
    mia: bool = False,
    backdoor: bool = False,
    attack: AttackConfig | None = None,
    receipts: bool = True,
) -> VerifyReport:
    """Check lineage (and, with ``oracle``, the retrain oracle) for every departure in a run.

    ``oracle_mode``: ``each`` runs one oracle per event; ``combined`` one oracle without
    all of them, split into smaller groups only where it differs (see
    :func:`hdus_sim.verification.groups.check_groups`), so a clean run costs one re-run
    whatever its number of events; ``auto`` is ``combined`` when more than 3 events are
    checked. ``events`` checks only some events: their 1-based numbers (as in
    ``verify``'s table), or a spec such as ``"3,7-9"``
    (:func:`hdus_sim.verification.select.parse_events`). ``progress`` gets a line as each
    oracle starts; ``tick`` a status after each of its rounds.

    ``mia`` adds membership inference (loss threshold and LiRA, configured by ``attack``)
    on every departed peer's data and on every point deleted inside a peer; ``backdoor``
    the attack success of a departed peer's trigger. Both are empirical evidence, reported
    apart from the verdicts. With ``receipts``, every verdict is written to
    ``receipts.json`` and appended to the owner's hash-chained audit log.
    """
    run = read_run(run_dir)
    sel = _Selection.of(run, events)
    # oracle simulations run here, kept for the attacks (which need their models)
    sims: dict[str, Simulation] | None = {} if (mia or backdoor) else None
    runner = OracleRunner(
        run["scenario"],
        Path(run_dir) / "oracles",
        runtime=oracle_runtime,
        sims=sims,
        progress=progress,
        tick=tick,
    )
    verdicts, groups, combined_tag = _judge(run, sel, runner, oracle, oracle_mode)
    report = VerifyReport(
        str(run_dir),
        verdicts,
        sorted(run["holdings"]),
        oracle_reruns=runner.reruns,
        oracle_cached=runner.cached,
        oracle_groups=groups,
        oracle_seconds=runner.seconds,
        selected=sel.chosen,
        total_events=sel.total,
    )
    if mia or backdoor:
        combined_ok = bool(groups) and groups[0]["passed"]
        attack_evidence(
            report,
            sel.run_checked(run),
            mia=mia,
            backdoor=backdoor,
            config=attack,
            sims=sims or {},
            combined_tag=combined_tag if combined_ok else None,
            progress=progress,
        )
    # with ``events``, the verdicts of events not checked now are kept from the last verify
    written = merged_verify(Path(run_dir), report)
    write_json(Path(run_dir) / "verify.json", written)
    if receipts:
        report.receipts = write_receipts(run_dir, written)
    return report
