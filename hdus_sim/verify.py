"""Verification of a run's leave guarantees: lineage and the retrain oracle.

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

Every verdict is then written into the deletion receipts (``receipts.json``) and appended
to the owner's hash-chained audit log (:func:`hdus_sim.audit.write_receipts`).

On request, empirical evidence is gathered next to the verdicts, never instead of them:
membership inference (loss threshold and LiRA with shadow models,
:mod:`hdus_sim.attacks`) on every departed peer's data and on points deleted inside a
peer, and the attack success of a departed peer's backdoor (:mod:`hdus_sim.backdoor`).
The oracle runs made for the verdicts are reused for it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hdus_sim.errors import VerificationError
from hdus_sim.oracle import (
    OracleRunner,
    check_groups,
    compare,
    oracle_held,
    oracle_predictions,
    oracle_tag,
)
from hdus_sim.outputs import read_run, write_json
from hdus_sim.scenario import load_scenario
from hdus_sim.verify_select import merged_verify, select_events

if TYPE_CHECKING:
    from hdus_sim.attacks import AttackConfig

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
    request_id: str | None = None
    certificate: str | None = None
    certificate_ok: bool | None = None
    seed_lost_by: list[int] = field(default_factory=list)
    #: rounds within which every holder had to drop the seed (its lease), and whether some
    #: holder kept it longer (or still holds it, past the bound, at the end of the run)
    forget_bound_rounds: int | None = None
    held_past_bound: bool = False
    #: the event's 1-based number in the run (departures first, then deletions): the #
    #: column of ``hdus-sim verify`` and what ``--events`` selects
    number: int | None = None

    @property
    def verdict(self) -> str:
        """The verdict: ``EXACT``, ``CERTIFIED(eps, delta)`` or ``FAIL``.

        ``EXACT``: lineage clean and oracle identical; ``CERTIFIED``: lineage clean and the
        removal certificate within its budget (attack evidence is never called deleted).
        """
        if (
            not self.lineage_ok
            or self.oracle_ok is False
            or self.certificate_ok is False
            or self.held_past_bound
        ):
            return "FAIL"
        if self.certificate and self.certificate.startswith("certified"):
            return self.certificate.upper()
        return "EXACT" if self.oracle_ok else "LINEAGE-ONLY"

    def explain(self) -> str:
        """One sentence on why it failed (empty when it passed)."""
        parts = []
        if self.still_held_by:
            parts.append(
                f"peer(s) {self.still_held_by} still hold the seed of ({self.peer}, {self.epoch})"
            )
        if self.certificate_ok is False:
            parts.append(f"certificate {self.certificate} exceeded its budget")
        if self.held_past_bound:
            took = self.removal_latency_rounds
            parts.append(
                f"the seed of ({self.peer}, {self.epoch}) was "
                + ("still held" if took is None else f"held for {took} rounds")
                + f", past its lease bound of {self.forget_bound_rounds} rounds"
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
    """Verdicts of every departure in a run (or of the events chosen with ``events``)."""

    run_dir: str
    events: list[EventVerdict]
    survivors: list[int]
    mia: list[dict[str, Any]] = field(default_factory=list)
    backdoor: list[dict[str, Any]] = field(default_factory=list)
    point_mia: dict[str, Any] | None = None
    receipts: list[dict[str, Any]] = field(default_factory=list)
    #: oracle simulations actually run for the verdicts, and oracles read from the cache
    oracle_reruns: int = 0
    oracle_cached: int = 0
    #: every group oracle (size, passed), in the order they ran
    oracle_groups: list[dict[str, Any]] = field(default_factory=list)
    oracle_seconds: float = 0.0
    #: the 1-based event numbers checked (``None``: every event)
    selected: list[int] | None = None
    total_events: int = 0

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
            "selected": self.selected,
            "total_events": self.total_events,
            "oracle": {
                "reruns": self.oracle_reruns,
                "cached": self.oracle_cached,
                "groups": self.oracle_groups,
                "seconds": round(self.oracle_seconds, 3),
            },
            "membership_inference": self.mia,
            "point_deletion_inference": self.point_mia,
            "backdoor": self.backdoor,
        }


def _verify_point_deletion(
    rec: dict[str, Any], run: dict[str, Any], runner: OracleRunner | None
) -> EventVerdict:
    """Check one point deletion.

    Every holder of the peer's seed must hold a version that applied it; then, for an
    exact method and with a ``runner``, the oracle without the points from the start must
    agree bit for bit.
    """
    peer, epoch = int(rec["peer"]), int(rec["epoch"])
    tag = f"{peer}:{epoch}"
    stale = sorted(
        pid
        for pid, h in run["holdings"].items()
        if tag in h["held"] and rec["receipt"] not in h["held"][tag].get("deletions", [])
    )
    certificate = str(rec.get("certificate", "exact"))
    verdict = EventVerdict(
        peer=peer,
        epoch=epoch,
        kind="delete",
        round=int(rec["round"]),
        lineage_ok=not stale,
        still_held_by=stale,
        oracle_ok=None,
        request_id=rec["request_id"],
        certificate=certificate,
    )
    if certificate.startswith("certified"):
        left = rec.get("budget_left")
        verdict.certificate_ok = left is None or float(left) >= 0
        return verdict
    if runner is not None:
        ref = runner.run(
            f"without points {rec['deleted']} of peer {peer}",
            points={peer: list(rec["deleted"])},
        )
        held = oracle_held(ref)
        # a holder that dropped the revoked version and could not be reached by the new one
        # (the relay path broke since) holds fewer seeds than the oracle: that costs
        # accuracy, not privacy; it is reported, and compared where held sets agree
        lost = sorted(
            pid
            for pid, h in run["holdings"].items()
            if tag not in h["held"]
            and tag in held.get(pid, set())
            and set(h["held"]) == held.get(pid, set()) - {tag}
        )
        survivors = [p for p in sorted(run["holdings"]) if p not in lost]
        verdict.oracle_ok, verdict.oracle_differs_for, verdict.oracle_max_abs_diff = compare(
            run["predictions"], {k: v for k, v in ref.items() if k not in lost}, survivors
        )
        verdict.seed_lost_by = lost
    return verdict


def _past_bound(dep: dict[str, Any], last_round: int) -> bool:
    """Whether a departure's seed was held longer than its lease bound allows."""
    bound = dep.get("bound_rounds")
    if bound is None:
        return False
    took = dep.get("latency_rounds")
    if took is None:
        return last_round - int(dep["round"]) > int(bound)
    return int(took) > int(bound)


def _departure_verdict(dep: dict[str, Any], run: dict[str, Any]) -> EventVerdict:
    """The lineage and lease-bound checks of one departure (no oracle yet)."""
    key = (int(dep["peer"]), int(dep["epoch"]))
    tag = f"{key[0]}:{key[1]}"
    held_by = sorted(
        pid
        for pid, h in run["holdings"].items()
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
        forget_bound_rounds=dep.get("bound_rounds"),
    )
    verdict.held_past_bound = _past_bound(dep, run["summary"].get("rounds_run", 0) - 1)
    return verdict


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
    :func:`hdus_sim.oracle.check_groups`), so a clean run costs one re-run whatever its
    number of events; ``auto`` is ``combined`` when more than 3 events are checked.
    ``events`` checks only some events: their 1-based numbers (as in ``verify``'s
    table), or a spec such as ``"3,7-9"`` (:func:`hdus_sim.verify_select.parse_events`).
    ``progress`` gets a line as each oracle starts; ``tick`` a status after each of its
    rounds.

    ``mia`` adds membership inference (loss threshold and LiRA, configured by ``attack``)
    on every departed peer's data and on every point deleted inside a peer; ``backdoor``
    the attack success of a departed peer's trigger. Both are empirical evidence, reported
    apart from the verdicts. With ``receipts``, every verdict is written to
    ``receipts.json`` and appended to the owner's hash-chained audit log.
    """
    run = read_run(run_dir)
    predictions: dict[int, np.ndarray] = run["predictions"]
    survivors = sorted(run["holdings"])
    departures = run["summary"]["departures"]
    deletions = run["summary"].get("point_deletions", [])
    total = len(departures) + len(deletions)
    chosen = select_events(events, total)
    picked = set(range(1, total + 1)) if chosen is None else set(chosen)
    numbered = list(enumerate([*departures, *deletions], 1))
    n_dep = len(departures)
    departures = [d for i, d in numbered[:n_dep] if i in picked]
    deletions = [d for i, d in numbered[n_dep:] if i in picked]
    number = {id(d): i for i, d in numbered}

    def numbered_as(rec: dict[str, Any], verdict: EventVerdict) -> EventVerdict:
        verdict.number = number[id(rec)]
        return verdict

    # oracle simulations run here, kept for the attacks (which need their models)
    sims: dict[str, Any] | None = {} if (mia or backdoor) else None
    runner = OracleRunner(
        run["scenario"],
        Path(run_dir) / "oracles",
        runtime=oracle_runtime,
        sims=sims,
        progress=progress,
        tick=tick,
    )
    verdicts = [numbered_as(dep, _departure_verdict(dep, run)) for dep in departures]
    by_key = {(v.peer, v.epoch): v for v in verdicts}
    point_verdicts: list[EventVerdict] = []
    exact = [
        rec for rec in deletions if not str(rec.get("certificate", "exact")).startswith("certified")
    ]
    for rec in deletions:
        if rec not in exact:
            point_verdicts.append(numbered_as(rec, _verify_point_deletion(rec, run, None)))
    # what one oracle withholds: departures by (peer, epoch), deletions by request id
    items: list[Hashable] = [(v.peer, v.epoch) for v in verdicts]
    items += [rec["request_id"] for rec in exact]
    recs = {rec["request_id"]: rec for rec in exact}
    point_of: dict[str, EventVerdict] = {}
    combined_tag: str | None = None
    groups: list[dict[str, Any]] = []
    if oracle and items:

        def group_ok(group: Sequence[Hashable]) -> bool:
            nonlocal combined_tag
            many = [k for k in group if isinstance(k, tuple)]
            points: dict[int, list[int]] = {}
            for rid in (k for k in group if isinstance(k, str)):
                points.setdefault(int(recs[rid]["peer"]), []).extend(
                    int(i) for i in recs[rid]["deleted"]
                )
            ref = runner.run(
                f"without {len(many)} departures and {len(group) - len(many)} deletions",
                points=points,
                many=many,
            )
            if len(group) == len(items):
                combined_tag = oracle_tag(None, points, many)
            if not compare(predictions, ref, survivors)[0]:
                return False
            for k in group:
                target = by_key[k] if isinstance(k, tuple) else point_of[str(k)]
                target.oracle_ok, target.oracle_max_abs_diff = True, 0.0
            return True

        def single(item: Hashable) -> None:
            if isinstance(item, str):
                point_of[item] = numbered_as(
                    recs[item], _verify_point_deletion(recs[item], run, runner)
                )
                return
            assert isinstance(item, tuple)
            v = by_key[item]
            ref = runner.run(f"without the seed of peer {v.peer} (epoch {v.epoch})", withheld=item)
            v.oracle_ok, v.oracle_differs_for, v.oracle_max_abs_diff = compare(
                predictions, ref, survivors
            )

        for rec in exact:  # lineage first; the oracle verdict is filled in below
            point_of[rec["request_id"]] = numbered_as(rec, _verify_point_deletion(rec, run, None))

        def planned(n: int) -> None:
            runner.planned += n

        if oracle_mode == "each" or (oracle_mode == "auto" and len(items) <= 3):
            planned(len(items))
            for item in items:
                single(item)
        else:
            groups = check_groups(items, group_ok, single, planned=planned)
    else:
        for rec in exact:
            point_of[rec["request_id"]] = numbered_as(rec, _verify_point_deletion(rec, run, None))
    verdicts += [point_of[rec["request_id"]] for rec in exact] + point_verdicts
    verdicts.sort(key=lambda v: v.number or 0)
    report = VerifyReport(
        str(run_dir),
        verdicts,
        survivors,
        oracle_reruns=runner.reruns,
        oracle_cached=runner.cached,
        oracle_groups=groups,
        oracle_seconds=runner.seconds,
        selected=chosen,
        total_events=total,
    )
    if mia or backdoor:
        chosen_run = {
            **run,
            "summary": {**run["summary"], "departures": departures, "point_deletions": deletions},
        }
        combined_ok = bool(groups) and groups[0]["passed"]
        _attack_evidence(
            report,
            chosen_run,
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
        from hdus_sim.audit import write_receipts

        report.receipts = write_receipts(run_dir, written)
    return report


def _attack_evidence(
    report: VerifyReport,
    run: dict[str, Any],
    *,
    mia: bool,
    backdoor: bool,
    config: AttackConfig | None,
    sims: dict[str, Any],
    combined_tag: str | None,
    progress: Callable[[str], None] | None,
) -> None:
    """Membership inference and backdoor success, reusing the oracle runs made above.

    A departure's oracle is its own oracle run if one was made here, else the combined
    one (every departed seed and deleted point withheld: the departed peer's data never
    left it there either), else one combined run made for the attacks.
    """
    from hdus_sim.attacks import deletion_evidence, departure_evidence

    scenario = load_scenario(run["scenario"])
    if scenario.runtime.kind == "ray":
        # the attacks examine peers after the run, when Ray actors are gone; the protocol is
        # deterministic, so the in-process runtime replays the same run bit for bit
        from hdus_sim.scenario import with_overrides

        scenario = with_overrides(scenario, {"runtime.kind": "inprocess", "runtime.address": None})
    departures = run["summary"]["departures"]
    deletions = run["summary"].get("point_deletions", [])
    if backdoor and scenario.backdoor is None:
        raise VerificationError(
            "--backdoor needs a `backdoor:` section in the scenario "
            "(e.g. hdus-sim run SCENARIO --set backdoor.peer=4)"
        )

    def usable(tag: str | None) -> Any | None:
        sim = sims.get(tag) if tag is not None else None
        # a Ray oracle's actors are gone once it finished: its peers cannot be examined
        return sim if sim is not None and sim.scenario.runtime.kind != "ray" else None

    def oracle_for(key: tuple[int, int]) -> tuple[Any, str]:
        own = usable(oracle_tag(key, None, ()))
        if own is not None:
            return own, "own"
        shared = usable(combined_tag)
        if shared is not None:
            return shared, "combined"
        if "attacks" not in sims:  # the oracles came from the cache: one run for all
            from hdus_sim.simulation import Simulation

            if progress is not None:
                progress("oracle run without every departed seed (for the attacks)")
            keys = frozenset((int(d["peer"]), int(d["epoch"])) for d in departures)
            sims["attacks"] = Simulation(scenario, withheld=keys).run()
        return sims["attacks"], "without all departures"

    if departures and (mia or backdoor):
        report.mia, report.backdoor = departure_evidence(
            scenario,
            departures,
            mia=mia,
            backdoor=backdoor,
            config=config,
            oracle_for=oracle_for,
            progress=progress,
        )
    if mia and deletions:
        shared = usable(combined_tag)
        report.point_mia = deletion_evidence(
            scenario,
            deletions,
            config=config,
            oracle=(lambda: (shared, "combined")) if shared is not None else None,
            progress=progress,
        )
