"""``hdus-sim bench``: HDUS and its baselines side by side on one scenario, in one run.

The bench first runs HDUS on the scenario (in-process; the protocol is the same on every
runtime) and reads off its :class:`~hdus_sim.baselines.common.Timeline`: who is online in
each round, the graph, every leave and crash. Every baseline then replays that timeline on
the same data split and devices:

==========================  =========================================  ====================
method                      unlearning a departed peer                 verdict it can claim
==========================  =========================================  ====================
HDUS                        its holders drop its seed                  EXACT (checked here)
HDUS, retrain from scratch  re-run everything without it (the oracle)  EXACT
local-only                  nothing to do: nothing was shared          EXACT
SISA per peer               every peer drops its shard model           EXACT
DSGD (gossip averaging)     retrain every peer from scratch            EXACT
FedAvg (Flower)             retrain the global model from scratch      EXACT
FedAvg + KD repair          subtract its updates, distil to repair     EMPIRICAL
centralized (pooled)        retrain on the pool without its data       EXACT
==========================  =========================================  ====================

Parameter-averaging methods (DSGD, FedAvg) and the pooled model need one architecture:
they use the smallest main model (``sensor`` by default, ``--baseline-arch``), as the HDUS
authors gave every baseline the smallest model. HDUS, local-only and SISA keep each
device's own main model. Local training budgets match: a FedAvg or DSGD client trains
``ceil(train_rounds x local_epochs / rounds)`` epochs in each of the scenario's ``rounds``
rounds (about what an HDUS peer trains in all), as that many communication rounds of one
local epoch each (more averaging helps them on non-IID data); the pooled model trains
``train_rounds x local_epochs`` epochs.

For HDUS, the unlearning wall time of a leave runs from the leave notice to the last
holder's drop; for a crash, from the first holder's drop (at detection) to the last: the
rounds spent waiting for missed heartbeats are reported as latency, not as work.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clients.ensemble import CombineMode, mean_seed_scores
from clients.models import MAIN_ARCHITECTURES, build_model, parameter_count
from clients.training import DistillConfig, TrainConfig
from hdus_sim.baselines.common import (
    DataOwner,
    DepartureEvent,
    EventOutcome,
    MethodResult,
    Spread,
    Timeline,
    survivor_accuracy,
)
from hdus_sim.baselines.dsgd import run_dsgd
from hdus_sim.baselines.pooled import run_pooled
from hdus_sim.rng import derive_seed
from hdus_sim.scenario import Scenario, with_overrides
from hdus_sim.simulation import Simulation

__all__ = ["METHODS", "BenchConfig", "BenchReport", "comparisons", "render", "run_bench", "write"]

#: every method the bench knows, in table order
METHODS = (
    "hdus",
    "hdus_retrain",
    "local_only",
    "sisa",
    "dsgd",
    "fedavg",
    "fedavg_kd",
    "centralized",
)


@dataclass(frozen=True)
class BenchConfig:
    """What the bench runs.

    Attributes
    ----------
    methods
        A subset of :data:`METHODS` (``hdus`` always runs: it makes the timeline).
    baseline_arch
        Architecture of the parameter-averaging and pooled baselines.
    baseline_epochs
        Local epochs of FedAvg and DSGD clients per scenario round (``None``: the matched
        budget), spent as that many communication rounds of ``baseline_local_epochs``.
    baseline_local_epochs
        Local epochs per FedAvg or gossip round.
    kd_steps
        Distillation steps of the FedAvg + KD repair.
    max_events
        Bench the first ``max_events`` departures (and any others in the same round as
        the last of them): the timeline is cut after that round. Every retrain-based
        method re-runs the history at each departure and HDUS's own oracle re-runs the
        whole scenario, so the bench's cost grows with the number of departures.
    """

    methods: tuple[str, ...] = METHODS
    baseline_arch: str = "sensor"
    baseline_epochs: int | None = None
    baseline_local_epochs: int = 1
    kd_steps: int = 300
    max_events: int = 6

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(
                f"unknown bench method(s) {unknown}; choose from {list(METHODS)} "
                "(e.g. --methods hdus,dsgd,fedavg)"
            )
        if self.baseline_arch not in MAIN_ARCHITECTURES:
            raise ValueError(
                f"unknown baseline architecture {self.baseline_arch!r}; "
                f"choose one of {sorted(MAIN_ARCHITECTURES)}"
            )
        if self.baseline_epochs is not None and self.baseline_epochs < 1:
            raise ValueError("baseline_epochs must be >= 1 (or left out for the matched budget)")
        if self.max_events < 1:
            raise ValueError("max_events must be >= 1 (departures to bench)")
        if self.baseline_local_epochs < 1:
            raise ValueError("baseline_local_epochs must be >= 1")


@dataclass
class BenchReport:
    """Every method's results on one scenario."""

    scenario: str
    seed: int
    timeline: Timeline
    results: list[MethodResult] = field(default_factory=list)
    wall_s: float = 0.0

    def by_method(self, name: str) -> MethodResult | None:
        """The result of the method called ``name`` (as in its table row), if it ran."""
        return next((r for r in self.results if r.method == name), None)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``bench.json``."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "wall_s": round(self.wall_s, 2),
            "departures": [d.label for d in self.timeline.departures],
            "comparison": comparisons(self),
            "methods": [r.as_dict() for r in self.results],
        }


# --------------------------------------------------------------------------- the HDUS run


@dataclass
class _HdusCapture:
    """What the HDUS run leaves for the table and the baselines."""

    sim: Simulation
    timeline: Timeline
    wall_s: float
    #: SISA-per-peer outcomes, measured on HDUS's own main models at each departure
    sisa: list[EventOutcome]
    sisa_bytes: int


def _mean_probs(shards: Mapping[int, Callable[[torch.Tensor], torch.Tensor]]) -> Callable[..., Any]:
    """A predictor averaging the shards' probabilities (the ensemble's own averaging)."""

    def predict(x: torch.Tensor) -> torch.Tensor:
        scores = mean_seed_scores({(p, 0): f(x) for p, f in shards.items()}, CombineMode.PROBS)
        assert scores is not None
        return scores

    return predict


def _sisa_at(
    sim: Simulation, events: list[DepartureEvent], gone: set[DataOwner]
) -> list[EventOutcome]:
    """SISA per peer at the start of a round: every peer holds every online peer's main.

    Each peer's main model is one shard; a peer predicts with the mean of all shards'
    probabilities. Unlearning drops the departed shard from every holder (timed).
    """
    online = sim.runtime.online()
    shards = {p: sim.peer(p).main_logits for p in online}
    holders: dict[int, dict[int, Any]] = {q: dict(shards) for q in online}
    out = []
    for event in events:
        survivors = [p for p in online if p != event.peer and p in holders]
        before = {q: _mean_probs(holders[q]) for q in survivors}
        local_b, global_b = survivor_accuracy(sim.world, before, survivors)
        t0 = time.perf_counter()
        for q in holders:
            holders[q].pop(event.peer, None)
        holders.pop(event.peer, None)
        wall = time.perf_counter() - t0
        gone.add(event.key)
        after = {q: _mean_probs(holders[q]) for q in survivors}
        local_a, global_a = survivor_accuracy(sim.world, after, survivors)
        out.append(
            EventOutcome(
                event,
                local_b,
                local_a,
                global_b,
                global_a,
                wall,
                0,
                "EXACT",
                notes="every holder drops the shard",
            )
        )
    return out


def _planned_departures(scenario: Scenario) -> dict[int, list[tuple[int, str]]]:
    plan: dict[int, list[tuple[int, str]]] = {}
    for e in scenario.all_events:
        if e.kind in ("leave", "crash") and e.peer is not None:
            plan.setdefault(e.at, []).append((e.peer, e.kind))
    return plan


def _run_hdus(scenario: Scenario, with_sisa: bool) -> _HdusCapture:
    t0 = time.perf_counter()
    sim = Simulation(scenario).build()
    plan = _planned_departures(scenario)
    online: list[frozenset[DataOwner]] = []
    edges: list[frozenset[tuple[int, int]]] = []
    departures: list[DepartureEvent] = []
    sisa: list[EventOutcome] = []
    sisa_gone: set[DataOwner] = set()
    sisa_bytes = 0
    work: dict[int, int] = {}
    sisa_s = 0.0
    while not sim.finished:
        r = sim.engine.now
        if r < scenario.rounds and r in plan:
            events = [
                DepartureEvent(r, p, sim.epochs[p], kind)
                for p, kind in plan[r]
                if p in sim.runtime.online()
            ]
            departures += events
            if with_sisa and r > 0:
                t_s = time.perf_counter()
                sisa += _sisa_at(sim, events, sisa_gone)
                sisa_s += time.perf_counter() - t_s
        sim.step()
        if r < scenario.rounds:
            now_online = sim.runtime.online()
            online.append(frozenset((p, sim.epochs[p]) for p in now_online))
            on = set(now_online)
            edges.append(
                frozenset((min(a, b), max(a, b)) for a, b in sim.graph.edges if a in on and b in on)
            )
            # SISA re-shares a peer's main with every other online peer whenever it changes
            for row in (m for m in sim.metrics if m["round"] == r):
                if row["work_samples"] > work.get(row["peer"], 0):
                    params = sim.peer(row["peer"]).main_parameters
                    sisa_bytes += params * 4 * (len(now_online) - 1)
                work[row["peer"]] = row["work_samples"]
    sim.close()
    wall = time.perf_counter() - t0 - sisa_s
    timeline = Timeline(tuple(online), tuple(edges), tuple(departures))
    return _HdusCapture(sim, timeline, wall, sisa, sisa_bytes)


def _rows_at(sim: Simulation, r: int, peers: Iterable[int]) -> list[dict[str, Any]]:
    want = set(peers)
    return [m for m in sim.metrics if m["round"] == r and m["peer"] in want]


def _spread(rows: list[dict[str, Any]], key: str) -> tuple[Spread, float]:
    g = [float(m[key.replace("local_", "global_")]) for m in rows]
    return Spread.of(float(m[key]) for m in rows), float(np.mean(g)) if g else float("nan")


def _hdus_results(
    scenario: Scenario, cap: _HdusCapture, methods: tuple[str, ...]
) -> list[MethodResult]:
    """HDUS, HDUS retrained from scratch (the oracle, timed), and local-only."""
    sim, tl = cap.sim, cap.timeline
    deps = {(d.peer, d.epoch): d for d in sim.tracker.departures.values()}
    final = sim.predictions()
    hdus, retrain, local = [], [], []
    for event in tl.departures:
        dep = deps[event.key]
        survivors = tl.survivors(event)
        done = dep.done_round if dep.done_round is not None else sim.rounds[-1]["round"]
        before = _rows_at(sim, event.round - 1, survivors)
        after = _rows_at(sim, done, survivors)
        lb, gb = _spread(before, "local_ensemble")
        la, ga = _spread(after, "local_ensemble")
        # the retrain oracle: HDUS's verdict, and (timed) the "retrain from scratch" row
        t0 = time.perf_counter()
        oracle = Simulation(scenario, withheld=tl.departed_by(event.round)).build()
        while oracle.engine.now < event.round:
            oracle.step()
        oracle_wall = time.perf_counter() - t0
        last = _rows_at(oracle, event.round - 1, oracle.runtime.online())
        oracle_cost = int(sum(m["work_samples"] for m in last))
        oracle.run()
        oracle_rows = _rows_at(oracle, done, survivors)
        ref = oracle.predictions()
        oracle_ok = set(ref) == set(final) and all(np.array_equal(final[p], ref[p]) for p in final)
        verdict = "EXACT" if oracle_ok else "FAILED (oracle predictions differ)"
        note = (
            f"latency {dep.done_round - dep.round} round(s)"
            if dep.done_round is not None
            else "removal not complete by the end of the run"
        )
        work_s = dep.removal_work_s if dep.removal_work_s is not None else float("nan")
        hdus.append(EventOutcome(event, lb, la, gb, ga, work_s, 0, verdict, notes=note))
        ola, oga = _spread(oracle_rows, "local_ensemble")
        retrain.append(
            EventOutcome(
                event,
                lb,
                ola,
                gb,
                oga,
                oracle_wall,
                oracle_cost,
                "EXACT",
                notes="re-run the scenario to this round without the departed data",
            )
        )
        mb, mgb = _spread(before, "local_main")
        ma, mga = _spread(after, "local_main")
        local.append(EventOutcome(event, mb, ma, mgb, mga, 0.0, 0, "EXACT", notes="nothing shared"))
    devices = ", ".join(sorted(set(sim.devices.values())))
    total_bytes = int(sum(r["bytes"] for r in sim.rounds))
    split = sim.world.split
    seed_params = parameter_count(
        build_model(scenario.seed_model.arch, split.input_shape, split.num_classes, seed=0)
    )
    out = [
        MethodResult(
            "HDUS",
            f"own main model per device ({devices}) + {scenario.seed_model.arch} seeds "
            f"({seed_params:,} parameters)",
            hdus,
            bytes_sent=total_bytes,
            wall_s=cap.wall_s,
            notes="unlearning = every holder drops the departed seed (relayed notices)",
        )
    ]
    if "hdus_retrain" in methods:
        out.append(
            MethodResult(
                "HDUS, retrain from scratch",
                "as HDUS",
                retrain,
                bytes_sent=total_bytes,
                wall_s=cap.wall_s + sum(e.unlearn_wall_s for e in retrain),
                notes="the retrain oracle, timed: build and rounds up to the departure",
            )
        )
    if "local_only" in methods:
        out.append(
            MethodResult(
                "local-only",
                f"own main model per device ({devices})",
                local,
                0,
                0.0,
                notes="no collaboration: the floor",
            )
        )
    if "sisa" in methods:
        out.append(
            MethodResult(
                "SISA per peer",
                f"own main model per device ({devices}), every peer holds every shard",
                cap.sisa,
                bytes_sent=cap.sisa_bytes,
                wall_s=cap.wall_s,
                notes="each peer's main model is one shard; ensemble = mean of probabilities",
            )
        )
    return out


# --------------------------------------------------------------------------- orchestration


def matched_epochs(scenario: Scenario) -> int:
    """Local epochs per round for FedAvg/DSGD clients: HDUS's total budget over ``rounds``.

    Examples
    --------
    >>> from hdus_sim.scenario import load_scenario
    >>> matched_epochs(load_scenario("scenarios/quickstart.yaml"))  # ceil(3 x 10 / 8)
    4
    """
    t = scenario.training
    return max(1, math.ceil(t.train_rounds * t.local_epochs / scenario.rounds))


def run_bench(
    scenario: Scenario,
    config: BenchConfig = BenchConfig(),
    *,
    log: Callable[[str], None] = lambda _msg: None,
) -> BenchReport:
    """Run HDUS and every configured baseline on ``scenario``; return their results."""
    t0 = time.perf_counter()
    if scenario.runtime.kind != "inprocess":
        log(f"bench runs in-process (the scenario says {scenario.runtime.kind}; same protocol)")
        scenario = with_overrides(scenario, {"runtime.kind": "inprocess"})
    methods = config.methods
    log("HDUS: running the scenario, reading its timeline")
    cap = _run_hdus(scenario, with_sisa="sisa" in methods)
    deps = cap.timeline.departures
    if len(deps) > config.max_events:
        # whole rounds only: every departure of the last benched round is benched too
        cut = deps[config.max_events - 1].round + 1
        kept = tuple(d for d in deps if d.round < cut)
        log(
            f"benching the first {len(kept)} of {len(deps)} departures (rounds < {cut}); "
            "raise --max-events for more"
        )
        cap.timeline = Timeline(cap.timeline.online[:cut], cap.timeline.edges[:cut], kept)
        cap.sisa = [o for o in cap.sisa if o.event in kept]
    report = BenchReport(scenario.name, scenario.seed, cap.timeline)
    if not cap.timeline.departures:
        log("the scenario has no leave or crash: nothing to unlearn, only accuracy is compared")
    log("HDUS: retrain oracles, one per departure")
    report.results += _hdus_results(scenario, cap, methods)
    world = cap.sim.world
    t = scenario.training
    epochs = config.baseline_epochs or matched_epochs(scenario)
    local = min(config.baseline_local_epochs, epochs)
    sub_rounds = max(1, epochs // local)
    per_round = TrainConfig(epochs=local, batch_size=t.batch_size, lr=t.lr)
    seed = derive_seed(scenario.seed, "bench")
    if "dsgd" in methods:
        log(f"DSGD: {sub_rounds} gossip rounds of {local} epoch(s) per round, the run's graph")
        report.results.append(
            run_dsgd(
                world,
                cap.timeline,
                arch=config.baseline_arch,
                train=per_round,
                seed=seed,
                sub_rounds=sub_rounds,
            )
        )
    if "fedavg" in methods or "fedavg_kd" in methods:
        from hdus_sim.baselines.fedavg import run_fedavg_baselines

        log(f"FedAvg (Flower simulation): {sub_rounds} rounds of {local} epoch(s) per round")
        sm = scenario.seed_model
        kd = DistillConfig(
            steps=config.kd_steps, batch_size=sm.batch_size, lr=sm.lr, temperature=sm.temperature
        )
        results = run_fedavg_baselines(
            world,
            cap.timeline,
            arch=config.baseline_arch,
            train=per_round,
            seed=seed,
            kd=kd if "fedavg_kd" in methods else None,
            sub_rounds=sub_rounds,
        )
        # the retrain row always runs (the KD repair starts from the same FedAvg rounds)
        report.results += [r for r in results if "fedavg" in methods or "KD" in r.method]
    if "centralized" in methods:
        pooled = TrainConfig(
            epochs=t.train_rounds * t.local_epochs, batch_size=t.batch_size, lr=t.lr
        )
        log(f"centralized: {pooled.epochs} epochs on the pooled data")
        report.results.append(
            run_pooled(world, cap.timeline, arch=config.baseline_arch, train=pooled, seed=seed)
        )
    order = {name: i for i, name in enumerate(_ORDER)}
    report.results.sort(key=lambda r: order.get(r.method, len(order)))
    report.wall_s = time.perf_counter() - t0
    return report


_ORDER = (
    "HDUS",
    "HDUS, retrain from scratch",
    "local-only",
    "SISA per peer",
    "DSGD (gossip averaging)",
    "FedAvg (Flower), retrain",
    "FedAvg (Flower) + KD repair",
    "centralized (data pooled)",
)

#: methods whose unlearning retrains from scratch (the must-show's "retrain-based baselines")
RETRAIN_METHODS = (
    "HDUS, retrain from scratch",
    "DSGD (gossip averaging)",
    "FedAvg (Flower), retrain",
    "centralized (data pooled)",
)


def comparisons(report: BenchReport) -> list[dict[str, Any]]:
    """Per departure: HDUS against each retrain-based method, in wall time and accuracy.

    ``speedup`` is the retrain's unlearning wall time over HDUS's; ``local_gap_points`` is
    HDUS's mean local accuracy after the departure minus the retrain's, in points.
    """
    hdus = report.by_method("HDUS")
    if hdus is None:
        return []
    out = []
    for i, ev in enumerate(hdus.events):
        for name in RETRAIN_METHODS:
            other = report.by_method(name)
            if other is None or i >= len(other.events):
                continue
            o = other.events[i]
            speedup = (
                o.unlearn_wall_s / ev.unlearn_wall_s if ev.unlearn_wall_s > 0 else float("inf")
            )
            out.append(
                {
                    "event": ev.event.label,
                    "versus": name,
                    "hdus_unlearn_s": ev.unlearn_wall_s,
                    "retrain_unlearn_s": round(o.unlearn_wall_s, 4),
                    "speedup": round(speedup, 1),
                    "local_gap_points": round(100 * (ev.local_after.mean - o.local_after.mean), 2),
                    "global_gap_points": round(100 * (ev.global_after - o.global_after), 2),
                }
            )
    return out


# --------------------------------------------------------------------------- the table


def _pct(v: float) -> str:
    return "–" if math.isnan(v) else f"{100 * v:.1f}"


def _acc(s: Spread) -> str:
    if s.n == 0:
        return "–"
    return f"{_pct(s.mean)} ± {_pct(s.std)} [{_pct(s.min)}–{_pct(s.max)}]"


def _secs(v: float) -> str:
    if math.isnan(v):
        return "–"
    if v < 1e-3:
        return f"{v * 1e6:.0f} µs"
    if v < 1:
        return f"{v * 1e3:.1f} ms"
    return f"{v:.2f} s"


def _bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def render(report: BenchReport) -> str:
    """The bench table (markdown): one row per method and departure, then the comparison."""
    lines = [
        f"## Bench: {report.scenario} (seed {report.seed})",
        "",
        "Accuracy in %: survivors' local test, mean ± std [min–max] over peers; global test "
        "mean. Unlearning compute in sample-passes (training samples × epochs).",
        "",
        "| method | event | local before | local after | global before → after "
        "| unlearning wall | compute | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for res in report.results:
        for ev in res.events:
            lines.append(
                f"| {res.method} | {ev.event.label} | {_acc(ev.local_before)} "
                f"| {_acc(ev.local_after)} | {_pct(ev.global_before)} → {_pct(ev.global_after)} "
                f"| {_secs(ev.unlearn_wall_s)} | {ev.unlearn_sample_epochs:,} | {ev.verdict} |"
            )
    specific = [
        f"- {res.method}, {ev.event.label}: {ev.notes}"
        for res in report.results
        if len({e.notes for e in res.events}) > 1
        for ev in res.events
    ]
    if specific:
        lines += ["", *specific]
    lines += [
        "",
        "| method | models | bytes sent (training, retrains included) | wall | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for res in report.results:
        lines.append(
            f"| {res.method} | {res.models} | {_bytes(res.bytes_sent)} | {_secs(res.wall_s)} "
            f"| {res.notes} |"
        )
    comp = comparisons(report)
    if comp:
        lines += [
            "",
            "HDUS against each retrain-based method (speed-up = retrain wall / HDUS wall; "
            "gap = HDUS after − retrain after, in points):",
            "",
            "| event | versus | HDUS | retrain | speed-up | local gap | global gap |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in comp:
            lines.append(
                f"| {c['event']} | {c['versus']} | {_secs(c['hdus_unlearn_s'])} "
                f"| {_secs(c['retrain_unlearn_s'])} | {c['speedup']:,.0f}× "
                f"| {c['local_gap_points']:+.1f} | {c['global_gap_points']:+.1f} |"
            )
    return "\n".join(lines) + "\n"


def write(report: BenchReport, out: str | Path) -> Path:
    """Write ``bench.md`` and ``bench.json`` into ``out``; return the directory."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    (d / "bench.md").write_text(render(report))
    (d / "bench.json").write_text(json.dumps(report.as_dict(), indent=2, default=_json_default))
    return d


def _json_default(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
