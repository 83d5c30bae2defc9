"""The bench's HDUS arm: run HDUS, read its timeline, and measure what runs on its models.

:func:`run_hdus` steps the scenario in-process, recording who is online and the live
graph each round (the :class:`~hdus_sim.baselines.common.Timeline` every baseline
replays) and, at each departure, the SISA-per-peer baseline on HDUS's own main models.
:func:`hdus_results` then turns the run into the HDUS row, the timed retrain oracle
("HDUS, retrain from scratch"), local-only and SISA. Wall times are seconds
(``time.perf_counter``); traffic is bytes (float32 parameters, 4 bytes each).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clients.ensemble import CombineMode, mean_seed_scores
from clients.models import build_model, parameter_count
from hdus_sim.baselines.common import (
    DataOwner,
    DepartureEvent,
    EventOutcome,
    MethodResult,
    Spread,
    Timeline,
    survivor_accuracy,
)
from hdus_sim.scenario import Scenario
from hdus_sim.simulation import Simulation


@dataclass
class HdusCapture:
    """What the HDUS run leaves for the table and the baselines."""

    sim: Simulation
    timeline: Timeline
    wall_s: float
    #: SISA-per-peer outcomes, measured on HDUS's own main models at each departure
    sisa: list[EventOutcome]
    sisa_bytes: int


# --------------------------------------------------------------------------- SISA per peer


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


# --------------------------------------------------------------------------- the HDUS run


def _planned_departures(scenario: Scenario) -> dict[int, list[tuple[int, str]]]:
    """Round -> the ``(peer, kind)`` leaves and crashes the scenario plans in it."""
    plan: dict[int, list[tuple[int, str]]] = {}
    for e in scenario.all_events:
        if e.kind in ("leave", "crash") and e.peer is not None:
            plan.setdefault(e.at, []).append((e.peer, e.kind))
    return plan


def run_hdus(scenario: Scenario, with_sisa: bool) -> HdusCapture:
    """Run HDUS on ``scenario`` round by round, recording the timeline (and SISA per peer).

    The SISA measurements' own time is taken out of the HDUS wall time.
    """
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
    return HdusCapture(sim, timeline, wall, sisa, sisa_bytes)


# --------------------------------------------------------------------------- the rows


def _rows_at(sim: Simulation, r: int, peers: Iterable[int]) -> list[dict[str, Any]]:
    """The metric rows of round ``r`` for ``peers``."""
    want = set(peers)
    return [m for m in sim.metrics if m["round"] == r and m["peer"] in want]


def _spread(rows: list[dict[str, Any]], key: str) -> tuple[Spread, float]:
    """The spread of ``key`` (a ``local_*`` accuracy) over rows, and the global mean."""
    g = [float(m[key.replace("local_", "global_")]) for m in rows]
    return Spread.of(float(m[key]) for m in rows), float(np.mean(g)) if g else float("nan")


def _event_outcomes(
    scenario: Scenario, cap: HdusCapture, event: DepartureEvent, dep: Any, final: Any
) -> tuple[EventOutcome, EventOutcome, EventOutcome]:
    """One departure's HDUS, retrain-from-scratch and local-only outcomes.

    The retrain oracle re-runs the scenario without the data departed by then: its timed
    part (build and rounds up to the departure) is the retrain row, and its predictions
    at the end, compared with the run's, give HDUS's verdict.
    """
    sim, tl = cap.sim, cap.timeline
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
    hdus = EventOutcome(event, lb, la, gb, ga, work_s, 0, verdict, notes=note)
    ola, oga = _spread(oracle_rows, "local_ensemble")
    retrain = EventOutcome(
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
    mb, mgb = _spread(before, "local_main")
    ma, mga = _spread(after, "local_main")
    local = EventOutcome(event, mb, ma, mgb, mga, 0.0, 0, "EXACT", notes="nothing shared")
    return hdus, retrain, local


def hdus_results(
    scenario: Scenario, cap: HdusCapture, methods: tuple[str, ...]
) -> list[MethodResult]:
    """HDUS, HDUS retrained from scratch (the oracle, timed), local-only and SISA."""
    sim = cap.sim
    deps = {(d.peer, d.epoch): d for d in sim.tracker.departures.values()}
    final = sim.predictions()
    hdus, retrain, local = [], [], []
    for event in cap.timeline.departures:
        h, r, lo = _event_outcomes(scenario, cap, event, deps[event.key], final)
        hdus.append(h)
        retrain.append(r)
        local.append(lo)
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
