"""The bench's phases: HDUS first (it makes the timeline), then each baseline on it.

:func:`run_bench` runs HDUS (:mod:`hdus_sim.bench.hdus_arm`), cuts the timeline to the
first ``max_events`` departures, and replays it with DSGD, FedAvg on Flower (with the KD
repair) and the pooled model, all with the training budget of :func:`matched_epochs`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from clients.training import DistillConfig, TrainConfig
from hdus_sim.baselines.common import MethodResult, Timeline
from hdus_sim.baselines.dsgd import run_dsgd
from hdus_sim.baselines.pooled import run_pooled
from hdus_sim.bench.config import BenchConfig
from hdus_sim.bench.hdus_arm import HdusCapture, hdus_results, run_hdus
from hdus_sim.bench.results import BenchReport
from hdus_sim.rng import derive_seed
from hdus_sim.scenario import Scenario, with_overrides

#: the table's row order, by method name
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
    config: BenchConfig = BenchConfig(),  # noqa: B008 (a frozen dataclass: immutable)
    *,
    log: Callable[[str], None] = lambda _msg: None,
) -> BenchReport:
    """Run HDUS and every configured baseline on ``scenario``; return their results."""
    t0 = time.perf_counter()
    if scenario.runtime.kind != "inprocess":
        log(f"bench runs in-process (the scenario says {scenario.runtime.kind}; same protocol)")
        scenario = with_overrides(scenario, {"runtime.kind": "inprocess"})
    methods = config.methods
    if "fedavg" in methods or "fedavg_kd" in methods:  # before anything is computed
        from hdus_sim.extras import require

        require("flwr", "flower", "bench --methods fedavg (Flower's simulation engine)")
    log("HDUS: running the scenario, reading its timeline")
    cap = run_hdus(scenario, with_sisa="sisa" in methods)
    _keep_first_departures(cap, config.max_events, log)
    report = BenchReport(scenario.name, scenario.seed, cap.timeline)
    if not cap.timeline.departures:
        log("the scenario has no leave or crash: nothing to unlearn, only accuracy is compared")
    log("HDUS: retrain oracles, one per departure")
    report.results += hdus_results(scenario, cap, methods)
    report.results += _baselines(scenario, cap, config, log)
    order = {name: i for i, name in enumerate(_ORDER)}
    report.results.sort(key=lambda r: order.get(r.method, len(order)))
    report.wall_s = time.perf_counter() - t0
    return report


def _keep_first_departures(cap: HdusCapture, max_events: int, log: Callable[[str], None]) -> None:
    """Cut ``cap``'s timeline after the round of its ``max_events``-th departure."""
    deps = cap.timeline.departures
    if len(deps) > max_events:
        # whole rounds only: every departure of the last benched round is benched too
        cut = deps[max_events - 1].round + 1
        kept = tuple(d for d in deps if d.round < cut)
        log(
            f"benching the first {len(kept)} of {len(deps)} departures (rounds < {cut}); "
            "raise --max-events for more"
        )
        cap.timeline = Timeline(cap.timeline.online[:cut], cap.timeline.edges[:cut], kept)
        cap.sisa = [o for o in cap.sisa if o.event in kept]


def _baselines(
    scenario: Scenario, cap: HdusCapture, config: BenchConfig, log: Callable[[str], None]
) -> list[MethodResult]:
    """DSGD, FedAvg (retrain, KD repair) and the pooled model, replaying ``cap``'s timeline.

    FedAvg and DSGD train ``epochs`` local epochs per scenario round, as ``sub_rounds``
    communication rounds of ``local`` epochs each; the pooled model trains HDUS's whole
    budget (``train_rounds x local_epochs`` epochs).
    """
    methods = config.methods
    world = cap.sim.world
    t = scenario.training
    epochs = config.baseline_epochs or matched_epochs(scenario)
    local = min(config.baseline_local_epochs, epochs)
    sub_rounds = max(1, epochs // local)
    per_round = TrainConfig(epochs=local, batch_size=t.batch_size, lr=t.lr)
    seed = derive_seed(scenario.seed, "bench")
    out: list[MethodResult] = []
    if "dsgd" in methods:
        log(f"DSGD: {sub_rounds} gossip rounds of {local} epoch(s) per round, the run's graph")
        out.append(
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
        out += [r for r in results if "fedavg" in methods or "KD" in r.method]
    if "centralized" in methods:
        pooled = TrainConfig(
            epochs=t.train_rounds * t.local_epochs, batch_size=t.batch_size, lr=t.lr
        )
        log(f"centralized: {pooled.epochs} epochs on the pooled data")
        out.append(
            run_pooled(world, cap.timeline, arch=config.baseline_arch, train=pooled, seed=seed)
        )
    return out
