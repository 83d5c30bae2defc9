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

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hdus_sim.errors import VerificationError
from hdus_sim.outputs import read_run, write_json
from hdus_sim.rundir import atomic_open, atomic_write
from hdus_sim.scenario import load_scenario

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
    """Verdicts of every departure in a run."""

    run_dir: str
    events: list[EventVerdict]
    survivors: list[int]
    mia: list[dict[str, Any]] = field(default_factory=list)
    backdoor: list[dict[str, Any]] = field(default_factory=list)
    point_mia: dict[str, Any] | None = None
    receipts: list[dict[str, Any]] = field(default_factory=list)

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
            "membership_inference": self.mia,
            "point_deletion_inference": self.point_mia,
            "backdoor": self.backdoor,
        }


def _scenario_digest(scenario: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(scenario, sort_keys=True).encode()).hexdigest()[:16]


def oracle_predictions(
    scenario: dict[str, Any],
    withheld: tuple[int, int] | None,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    runtime: str | None = None,
    withheld_points: dict[int, list[int]] | None = None,
    withheld_many: Sequence[tuple[int, int]] = (),
    sims: dict[str, Any] | None = None,
) -> dict[int, np.ndarray]:
    """Re-run ``scenario`` with ``withheld``'s own seed never sent; return final predictions.

    ``runtime`` re-runs the oracle on another runtime (e.g. ``inprocess`` for a Ray run:
    the protocol is deterministic, so the runtimes must agree bit for bit, which checks the
    runtime too). Cached under ``cache_dir`` by scenario digest and withheld owner, so
    every check (and a second ``verify``) reuses one oracle run. A ``sims`` dict receives
    every oracle simulation actually run, keyed by :func:`_oracle_tag`, so the attacks
    can examine its models without running it again.
    """
    from hdus_sim.simulation import Simulation

    if runtime is not None and runtime != scenario.get("runtime", {}).get("kind"):
        scenario = json.loads(json.dumps(scenario))
        scenario["runtime"] = {**scenario.get("runtime", {}), "kind": runtime, "address": None}

    what = _oracle_tag(withheld, withheld_points, withheld_many)
    cache = None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = cache_dir / f"oracle_{_scenario_digest(scenario)}_{what}.npz"
        held_cache = cache.with_suffix(".held.json")
        if cache.is_file() and held_cache.is_file():
            with np.load(cache) as npz:
                preds = {int(k): npz[k] for k in npz.files}
            _ORACLE_HELD[id(preds)] = {
                int(k): set(v) for k, v in json.loads(held_cache.read_text()).items()
            }
            return preds
    sim = Simulation(
        load_scenario(scenario),
        withheld=frozenset({withheld}) if withheld is not None else frozenset(withheld_many),
        withheld_points=withheld_points,
        progress=progress,
    )
    preds = sim.run().predictions()
    if sims is not None:
        sims[what] = sim
    held = {pid: set(h["held"]) for pid, h in sim.runtime.holdings().items()}
    _ORACLE_HELD[id(preds)] = held
    if cache is not None:
        with atomic_open(cache) as fh:
            np.savez_compressed(fh, **{str(k): v for k, v in preds.items()})
        atomic_write(
            cache.with_suffix(".held.json"),
            json.dumps({str(k): sorted(v) for k, v in held.items()}),
        )
    return preds


def _points_digest(withheld_points: dict[int, list[int]] | None, size: int) -> str:
    items = sorted((k, sorted(v)) for k, v in (withheld_points or {}).items())
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:size]


def _oracle_tag(
    withheld: tuple[int, int] | None,
    withheld_points: dict[int, list[int]] | None,
    withheld_many: Sequence[tuple[int, int]],
) -> str:
    """The name of an oracle run (its cache file and its key in ``sims``)."""
    if withheld is not None:
        return f"p{withheld[0]}_e{withheld[1]}"
    many = sorted(withheld_many)
    if many:
        digest = hashlib.sha256(json.dumps(many).encode()).hexdigest()[:8]
        return f"all_{digest}_{_points_digest(withheld_points, 8)}"
    return f"pts_{_points_digest(withheld_points, 12)}"


#: held seed keys of each oracle run's survivors, by id of its predictions dict
_ORACLE_HELD: dict[int, dict[int, set[str]]] = {}


def _compare(
    predictions: dict[int, np.ndarray], ref: dict[int, np.ndarray], survivors: list[int]
) -> tuple[bool, list[int], float]:
    """Compare final predictions with an oracle's, bit for bit, per surviving peer."""
    differs: list[int] = []
    max_diff = 0.0
    for pid in survivors:
        a, b = predictions.get(pid), ref.get(pid)
        if a is None or b is None or a.shape != b.shape:
            differs.append(pid)
            max_diff = float("inf")
        elif not np.array_equal(a, b):
            differs.append(pid)
            max_diff = max(max_diff, float(np.max(np.abs(a - b))))
    differs += sorted(set(ref) ^ set(survivors))
    return not differs, sorted(set(differs)), max_diff


def _verify_point_deletion(
    rec: dict[str, Any],
    run: dict[str, Any],
    run_dir: str | Path,
    oracle: bool,
    oracle_runtime: str | None,
    progress: Callable[[str], None] | None,
) -> EventVerdict:
    """Check one point deletion.

    Every holder of the peer's seed must hold a version that applied it; then, for an
    exact method, the oracle without the points from the start must agree bit for bit.
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
    if oracle:
        if progress is not None:
            progress(f"oracle run without points {rec['deleted']} of peer {peer}")
        ref = oracle_predictions(
            run["scenario"],
            None,
            cache_dir=Path(run_dir) / "oracles",
            runtime=oracle_runtime,
            withheld_points={peer: list(rec["deleted"])},
        )
        oracle_held = _ORACLE_HELD.get(id(ref), {})
        # a holder that dropped the revoked version and could not be reached by the new one
        # (the relay path broke since) holds fewer seeds than the oracle: that costs
        # accuracy, not privacy; it is reported, and compared where held sets agree
        lost = sorted(
            pid
            for pid, h in run["holdings"].items()
            if tag not in h["held"]
            and tag in oracle_held.get(pid, set())
            and set(h["held"]) == oracle_held.get(pid, set()) - {tag}
        )
        survivors = [p for p in sorted(run["holdings"]) if p not in lost]
        verdict.oracle_ok, verdict.oracle_differs_for, verdict.oracle_max_abs_diff = _compare(
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


def verify_run(
    run_dir: str | Path,
    *,
    oracle: bool = True,
    progress: Callable[[str], None] | None = None,
    oracle_runtime: str | None = None,
    oracle_mode: str = "auto",
    mia: bool = False,
    backdoor: bool = False,
    attack: AttackConfig | None = None,
    receipts: bool = True,
) -> VerifyReport:
    """Check lineage (and, with ``oracle``, the retrain oracle) for every departure in a run.

    ``oracle_mode``: ``each`` runs one oracle per event; ``combined`` first runs one
    oracle without all of them (falling back to ``each`` if it differs); ``auto`` is
    ``combined`` when a run has more than 3 events.

    ``mia`` adds membership inference (loss threshold and LiRA, configured by ``attack``)
    on every departed peer's data and on every point deleted inside a peer; ``backdoor``
    the attack success of a departed peer's trigger. Both are empirical evidence, reported
    apart from the verdicts. With ``receipts``, every verdict is written to
    ``receipts.json`` and appended to the owner's hash-chained audit log.
    """
    run = read_run(run_dir)
    holdings: dict[int, dict[str, Any]] = run["holdings"]
    predictions: dict[int, np.ndarray] = run["predictions"]
    survivors = sorted(holdings)
    verdicts: list[EventVerdict] = []
    departures = run["summary"]["departures"]
    deletions = run["summary"].get("point_deletions", [])
    exact_deletions = all(str(d.get("certificate", "exact")) == "exact" for d in deletions)
    combined_ok = False
    events = len(departures) + len(deletions)
    # oracle simulations run here, kept for the attacks (which need their models)
    sims: dict[str, Any] | None = {} if (mia or backdoor) else None
    combined_tag: str | None = None
    if (
        oracle
        and exact_deletions
        and (oracle_mode == "combined" or (oracle_mode == "auto" and events > 3))
    ):
        # one oracle without every departed seed and every deleted point: if the run
        # predicts identically, no survivor depends on any of them, so each event passes;
        # otherwise fall back to one oracle per event, to say which one failed
        if progress is not None:
            progress(f"one oracle run without all {events} departures and deletions")
        points: dict[int, list[int]] = {}
        for d in deletions:
            points.setdefault(int(d["peer"]), []).extend(int(i) for i in d["deleted"])
        many = [(int(d["peer"]), int(d["epoch"])) for d in departures]
        ref = oracle_predictions(
            run["scenario"],
            None,
            cache_dir=Path(run_dir) / "oracles",
            runtime=oracle_runtime,
            withheld_points=points,
            withheld_many=many,
            sims=sims,
        )
        combined_ok = _compare(predictions, ref, survivors)[0]
        combined_tag = _oracle_tag(None, points, many)
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
            forget_bound_rounds=dep.get("bound_rounds"),
        )
        verdict.held_past_bound = _past_bound(dep, run["summary"].get("rounds_run", 0) - 1)
        if combined_ok:
            verdict.oracle_ok, verdict.oracle_max_abs_diff = True, 0.0
        elif oracle:
            if progress is not None:
                progress(f"oracle run without the seed of peer {key[0]} (epoch {key[1]})")
            ref = oracle_predictions(
                run["scenario"],
                key,
                cache_dir=Path(run_dir) / "oracles",
                runtime=oracle_runtime,
                sims=sims,
            )
            verdict.oracle_ok, verdict.oracle_differs_for, verdict.oracle_max_abs_diff = _compare(
                predictions, ref, survivors
            )
        verdicts.append(verdict)
    for rec in deletions:
        verdicts.append(
            _verify_point_deletion(
                rec, run, run_dir, oracle and not combined_ok, oracle_runtime, progress
            )
        )
        if combined_ok:
            verdicts[-1].oracle_ok, verdicts[-1].oracle_max_abs_diff = True, 0.0
    report = VerifyReport(str(run_dir), verdicts, survivors)
    if mia or backdoor:
        _attack_evidence(
            report,
            run,
            mia=mia,
            backdoor=backdoor,
            config=attack,
            sims=sims or {},
            combined_tag=combined_tag if combined_ok else None,
            progress=progress,
        )
    write_json(Path(run_dir) / "verify.json", report.as_dict())
    if receipts:
        from hdus_sim.audit import write_receipts

        report.receipts = write_receipts(run_dir, report.as_dict())
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
        own = usable(_oracle_tag(key, None, ()))
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
