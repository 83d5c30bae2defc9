"""Simulator overhead: one federated workload run by plain torch, Flower, and hdus-sim's runtimes.

The same workload (``N`` clients, ``R`` rounds, every client trains in every round; one
client-round is defined in ``benchmarks/overhead_workload.py``: 5 Adam steps of batch 32 on
the ``sensor`` MLP over the client's IID share of scikit-learn's digits, then the main
model's logits on a 200-sample public reference set and 5 Adam distillation steps of batch
64 into a fresh ``seed_tiny`` seed) run by:

(a) **plain torch**: one loop over rounds and clients in this process, calling the very
    functions a peer calls (the compute lower bound: no messages, no bookkeeping);
(b) **Flower**: the Message API (``ClientApp`` with ``@app.train()``, ``ServerApp`` with
    ``@app.main()`` running ``flwr.serverapp.strategy.FedAvg``, every client sampled every
    round, no federated evaluation) on ``flwr.simulation.run_simulation`` with ``N``
    supernodes and one CPU per client, i.e. one Ray actor per core;
(c) **hdus-sim in-process**: ``Simulation.from_dict(d)`` built and stepped to the end with
    no events, ``R`` training rounds and no settle rounds (every peer also sends its seed to
    4 neighbours on a 4-regular graph, heartbeats, and evaluates main, seeds and ensemble
    on its local test set and a 100-sample global test set every round);
(d) **hdus-sim Ray**: the same scenario with ``runtime: {kind: ray}``, peers packed
    ``ceil(N / 2)`` to an actor (one actor per core), real gRPC between them (TLS on), the
    actors checkpointing their peers every round (the runtime's defaults).

Per system: wall time **incl. start-up** (everything: building the data split and models,
starting Ray and actors, teardown; for Flower the whole ``run_simulation`` call), **rounds**
(first round start to last round end, timed inside Flower's ServerApp), and **steady**
(rounds 2..R: without the first round's one-time costs, e.g. Flower's actors importing
torch), each also as milliseconds per client-round; then the ratios (b)/(c), (b)/(d) and
the efficiencies (a)/(c), (a)/(d) on each basis. (a) and (c) run on one core, their rounds
interleaved (so both see the same background load); (b) and (d) run two worker processes.

Goals (judged on the steady basis, the one fairest to Flower): in-process at least 3x
faster per client-round than Flower; efficiency at least 50 % in-process, 25 % Ray. Then
**where the time goes**, from runs of their own with timers patched in (the headline runs
go untimed: a timer's wrapper frame lengthens the stack that ``torch.manual_seed``
captures on every call): the in-process runtime's calls and the peers' work in them; for
Ray the driver's calls and, inside every actor, its peers' work and every thread's
messaging; for Flower the clients' and the ServerApp's own timers. When an in-process goal
is missed, a cProfile of its rounds follows.

Ray binds 127.0.0.1 only (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` before ray is
imported). Flower's ``run_simulation`` starts its own embedded Ray and shuts it down; (d)
starts one the way the Ray runtime does and shuts it down after waiting for its actors to
exit. An untimed warm-up (a small plain loop and in-process run, Flower's imports) comes
first. Other work on the machine skews the times, the two-process systems most: the load
average is printed at the start and the end. Usage::

    python benchmarks/overhead.py [--quick] [--sizes 20,100] [--rounds 15,8]

The default run takes about 4 minutes on 2 cores; ``--quick`` (3 rounds, and the timed Ray
run only when Ray misses its goal) under 3.
"""

from __future__ import annotations

import os

# Before anything imports ray (Flower does at import): embedded Ray binds 127.0.0.1 only;
# Flower sends no telemetry (no network here).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

import argparse
import contextlib
import cProfile
import datetime as dt
import functools
import io
import math
import platform
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # overhead_workload, also when imported from elsewhere

import overhead_workload as ow  # noqa: E402
import torch  # noqa: E402
from benchkit import actor_pids as _actor_pids  # noqa: E402
from benchkit import fmt as _f  # noqa: E402
from benchkit import load_average as _load  # noqa: E402
from benchkit import md_table as _table  # noqa: E402
from benchkit import wait_gone as _wait_gone  # noqa: E402

from hdus_sim.runtime.inprocess import InProcessRuntime  # noqa: E402
from hdus_sim.scenario import load_scenario  # noqa: E402
from hdus_sim.simulation import Simulation  # noqa: E402
from hdus_sim.world import World  # noqa: E402

#: Goals: (b)/(c) at least, (a)/(c) at least, (a)/(d) at least.
GOAL_SPEEDUP, GOAL_EFF_INPROC, GOAL_EFF_RAY = 3.0, 0.5, 0.25
#: Runtime calls the engine makes (timed, inclusive seconds).
RUNTIME_CALLS = (
    "begin_round",
    "train_round",
    "heartbeat_round",
    "end_round",
    "evaluate",
    "round_stats",
    "declared_dead",
    "neighbor_sets",
    "barrier",
    "_tick",
)


@dataclass
class Run:
    """One system's measurement of one workload; times in seconds."""

    system: str
    clients: int
    rounds: int
    processes: str
    total_s: float = float("nan")
    rounds_s: float = float("nan")
    steady_s: float = float("nan")
    status: str = "ok"
    timer: ow.CallTimer = field(default_factory=ow.CallTimer)
    notes: dict[str, Any] = field(default_factory=dict)

    def per_cr_ms(self, seconds: float, rounds: int | None = None) -> float:
        """Milliseconds per client-round of ``seconds`` over ``rounds`` (all by default)."""
        r = self.rounds if rounds is None else rounds
        return 1000 * seconds / (self.clients * r) if r > 0 else float("nan")

    def basis(self, name: str) -> float:
        """Milliseconds per client-round on basis ``total``, ``rounds`` or ``steady``."""
        if name == "total":
            return self.per_cr_ms(self.total_s)
        if name == "rounds":
            return self.per_cr_ms(self.rounds_s)
        return self.per_cr_ms(self.steady_s, self.rounds - 1)


BASES = (("total", "incl. start-up"), ("rounds", "rounds 1..R"), ("steady", "steady, rounds 2..R"))


# ------------------------------------------------------------------------------ systems
class PlainLoop:
    """(a) the workload as a plain loop in this process, one round per :meth:`round` call.

    Its rounds are interleaved with the in-process runtime's (both run on this core, so
    both see the same background load).
    """

    def __init__(self, w: ow.Workload) -> None:
        self.w = w
        self.res = Run("(a) plain torch loop", w.clients, w.rounds, "1 (this one)")
        t0 = time.perf_counter()
        world = World.build(load_scenario(ow.workload_scenario(w)))
        self.states = ow.client_states(world)
        self.setup_s = time.perf_counter() - t0
        self.per_round: list[float] = []

    def round(self) -> None:
        """Run and time one round: every client's client-round."""
        t0 = time.perf_counter()
        for c in self.states.values():
            ow.client_round(c)
        self.per_round.append(time.perf_counter() - t0)

    def finish(self) -> Run:
        """Run any rounds left, then time the main-model part of a client-round apart."""
        while len(self.per_round) < self.w.rounds:
            self.round()
        res = self.res
        res.rounds_s, res.steady_s = sum(self.per_round), sum(self.per_round[1:])
        res.total_s = self.setup_s + res.rounds_s
        c = next(iter(self.states.values()))
        t0 = time.perf_counter()
        for _ in range(20):
            ow.train_only(c)
        res.notes["train_ms"] = 1000 * (time.perf_counter() - t0) / 20
        res.notes["train_sizes"] = sorted({len(s.train_y) for s in self.states.values()})
        return res


def _actor_call(sim: Simulation, fn: Callable[..., Any]) -> list[Any]:
    """Run ``fn(actor)`` inside every hdus-sim Ray actor (``__ray_call__``)."""
    import ray

    return list(ray.get([a.__ray_call__.remote(fn) for a in sim.runtime.actors]))


def _summed(per_actor: list[Any]) -> dict[str, float]:
    """Seconds by label, summed over actors."""
    out: dict[str, float] = {}
    for d in per_actor:
        for k, v in dict(d).items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


def run_hdus(
    w: ow.Workload,
    kind: str,
    log: Callable[[str], None],
    *,
    profile: cProfile.Profile | None = None,
    between: Callable[[], None] | None = None,
    timed: bool = False,
    cohorts: bool = True,
) -> Run:
    """(c) or (d): build the scenario and step it to the end, timing every runtime call.

    For Ray, embedded Ray is started inside the timed window (as a fresh
    ``Simulation.from_dict(d).run()`` would) and shut down after; the actors' own work
    is timed inside them (:func:`overhead_workload.actor_timers_start`). ``between`` runs
    after every round, outside every figure (the interleaved plain loop). Only a ``timed``
    run patches timers in: their wrappers add stack frames, and ``torch.manual_seed``
    captures the stack on every call (see :func:`overhead_workload.peer_targets`), so the
    headline runs go untimed and the breakdowns come from runs of their own. ``cohorts``
    is ``runtime.cohorts`` (batched learning, the default; ``False``: one peer at a time).
    """
    how = ", cohorts" if cohorts else ", one peer at a time"
    if kind == "inprocess":
        runtime: dict[str, Any] = {"kind": "inprocess", "cohorts": cohorts}
        tag = "(c2)" if cohorts else "(c1)"
        res = Run(f"{tag} hdus-sim in-process{how}", w.clients, w.rounds, "1 (this one)")
    else:
        ppa = math.ceil(w.clients / 2)
        runtime = {"kind": "ray", "peers_per_actor": ppa, "cohorts": cohorts}
        res = Run(f"(d) hdus-sim Ray ({ppa} peers/actor{how})", w.clients, w.rounds, "2 actors")
    scenario = load_scenario(ow.workload_scenario(w, runtime))
    per_round: list[float] = []
    pids: list[int] = []
    outside = 0.0  # seconds spent in ``between``
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if timed:
            for owner, names, prefix in ow.peer_targets():
                stack.enter_context(res.timer.patch(owner, names, prefix))
        if kind == "inprocess":
            if timed:
                stack.enter_context(res.timer.patch(InProcessRuntime, RUNTIME_CALLS))
        else:
            from hdus_sim.runtime.ray_runtime import RayRuntime, ensure_ray

            t1 = time.perf_counter()
            ensure_ray(None)
            res.notes["ray_start_s"] = time.perf_counter() - t1
            if timed:
                stack.enter_context(res.timer.patch(RayRuntime, RUNTIME_CALLS))
        sim = Simulation(scenario)
        try:
            t1 = time.perf_counter()
            sim.build()
            res.notes["build_s"] = time.perf_counter() - t1
            if kind == "ray":
                pids = _actor_pids(sim)
                if timed:
                    _actor_call(sim, ow.actor_timers_start)
            if profile is not None:
                profile.enable()
            while not sim.finished:
                t1 = time.perf_counter()
                sim.step()
                per_round.append(time.perf_counter() - t1)
                if len(per_round) == 1:  # the breakdowns cover the steady rounds 2..R
                    res.notes["after_round1"] = dict(res.timer.seconds)
                    if kind == "ray" and timed:
                        res.notes["actor_r1"] = _summed(_actor_call(sim, ow.actor_timers_read))
                if between is not None:
                    t1 = time.perf_counter()
                    with res.timer.paused():
                        between()
                    outside += time.perf_counter() - t1
            if profile is not None:
                profile.disable()
            if kind == "ray" and timed:
                res.notes["actor_s"] = _summed(_actor_call(sim, ow.actor_timers_stop))
            res.notes["messages"] = sum(int(r["messages"]) for r in sim.rounds)
        finally:
            t1 = time.perf_counter()
            with contextlib.suppress(Exception):
                sim.close()
            res.notes["close_s"] = time.perf_counter() - t1
    res.total_s = time.perf_counter() - t0 - outside
    res.rounds_s, res.steady_s = sum(per_round), sum(per_round[1:])
    res.notes["round1_s"] = per_round[0] if per_round else float("nan")
    if kind == "ray":
        import ray

        left = _wait_gone(pids)
        if left:
            res.status = f"{len(left)} actor processes alive 30 s after close"
        ray.shutdown()
    what = f"{kind} (with timers)" if timed else kind
    log(f"  {what}: {res.rounds_s:.1f} s of rounds, {res.total_s:.1f} s in all")
    return res


def run_flower(w: ow.Workload, world: World, log: Callable[[str], None]) -> Run:
    """(b) the workload on Flower's simulation engine (one CPU per client actor).

    ``run_simulation`` starts embedded Ray itself (loopback only: see the top of this
    file) and shuts it down at the end, so its start-up is inside the figure.
    """
    res = Run("(b) Flower simulation (FedAvg)", w.clients, w.rounds, "2 actors")
    backend = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}}
    wall, times = ow.run_flower(w, backend, world.split.input_shape, world.split.num_classes)
    res.total_s = wall
    starts, ends = times.round_start, times.round_end
    if len(ends) == w.rounds and starts:
        res.rounds_s = ends[-1] - starts[0]
        res.steady_s = ends[-1] - ends[0]
    else:
        res.status = f"only {len(ends)} of {w.rounds} rounds finished"
    res.notes.update(
        after_last_round_s=(times.t_end - ends[-1]) if ends else float("nan"),
        round1_s=(ends[0] - starts[0]) if ends else float("nan"),
        first=times.client_sums(range(1, 2)),
        steady=times.client_sums(range(2, w.rounds + 1)),
        server_steady_s=sum(v for k, v in times.server_s.items() if k >= 2),
    )
    log(f"  flower: {res.rounds_s:.1f} s of rounds, {wall:.1f} s in all")
    return res


# ------------------------------------------------------------------------------ report
def machine_rows() -> list[list[str]]:
    """The machine and software versions."""
    import flwr
    import ray

    mem_kb = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    return [
        ["date", dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")],
        ["machine", f"{os.cpu_count()} cores, {mem_kb / 2**20:.1f} GiB RAM, {platform.machine()}"],
        [
            "software",
            f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"flwr {flwr.__version__}, ray {ray.__version__}",
        ],
        ["torch threads", "1 in every process (this one, Flower's actors, hdus-sim's actors)"],
        [
            "Ray",
            "embedded, 127.0.0.1 only; Flower's run_simulation starts and stops its own, "
            "(d) starts one the way the Ray runtime does: both starts are in 'incl. start-up'",
        ],
    ]


def workload_rows(w: ow.Workload, plain: Run) -> list[list[str]]:
    """What one client-round computes, identically in (a)-(d)."""
    sizes = plain.notes["train_sizes"]
    return [
        ["data", "scikit-learn digits (8x8), IID split; 20 % of each client's share is test"],
        [
            "client-round",
            f"{w.local_steps} Adam steps (batch {w.batch_size}) on the sensor MLP 64-32-10, "
            f"its logits on {w.reference_size} reference samples, a fresh seed_tiny 64-16-10 "
            f"and {w.distill_steps} Adam distillation steps (batch {w.distill_batch}, KL, T=3)",
        ],
        [
            f"N = {w.clients}",
            f"{'/'.join(map(str, sizes))} training samples per client; "
            f"{plain.per_cr_ms(plain.steady_s, w.rounds - 1):.2f} ms per client-round in (a), "
            f"of which {plain.notes['train_ms']:.2f} ms the {w.local_steps} main-model steps",
        ],
        [
            "around it",
            "(b): models in and out as ArrayRecords, FedAvg; (c)/(d): seed records to "
            f"{w.degree} neighbours (4-regular graph), heartbeats, evaluation of main, seeds "
            f"and ensemble on local + {w.global_test_size} global test samples, metrics rows",
        ],
    ]


def results_table(runs: list[Run]) -> str:
    """Wall times and milliseconds per client-round of each system."""
    rows = [
        [
            r.system,
            r.processes,
            _f(r.total_s),
            _f(r.rounds_s),
            _f(r.steady_s),
            _f(r.basis("total")),
            _f(r.basis("rounds")),
            _f(r.basis("steady")),
            r.status,
        ]
        for r in runs
    ]
    header = [
        "system",
        "processes",
        "incl. start-up s",
        "rounds s",
        "steady s",
        "ms/cr incl. start-up",
        "ms/cr rounds",
        "ms/cr steady",
        "status",
    ]
    return _table(header, rows)


RATIOS = (
    ("(b)/(c): Flower / in-process", "b", "c"),
    ("(b)/(d): Flower / Ray", "b", "d"),
    ("(a)/(c): efficiency of in-process", "a", "c"),
    ("(a)/(d): efficiency of Ray", "a", "d"),
)


def ratios(runs: dict[str, Run]) -> dict[str, dict[str, float]]:
    """The four ratios of per-client-round times, on every basis."""
    out: dict[str, dict[str, float]] = {}
    for name, num, den in RATIOS:
        out[name] = {basis: runs[num].basis(basis) / runs[den].basis(basis) for basis, _ in BASES}
    return out


def ratio_table(rat: dict[str, dict[str, float]]) -> str:
    """The ratios as a table, efficiencies in percent."""
    rows = []
    for name, vals in rat.items():
        pct = "efficiency" in name
        rows.append(
            [name]
            + [(_f(100 * vals[b], ".0f") + " %") if pct else (_f(vals[b]) + "x") for b, _ in BASES]
        )
    return _table(["ratio of ms per client-round", *(label for _, label in BASES)], rows)


def goals(rat: dict[str, dict[str, float]]) -> list[tuple[str, str, float, float]]:
    """(goal, system to profile, measured on the steady basis, target) for the three goals."""
    names = [name for name, _, _ in RATIOS]
    return [
        (
            "in-process >= 3x faster than Flower per client-round",
            "inprocess",
            rat[names[0]]["steady"],
            GOAL_SPEEDUP,
        ),
        ("in-process efficiency >= 50 %", "inprocess", rat[names[2]]["steady"], GOAL_EFF_INPROC),
        ("Ray efficiency >= 25 %", "ray", rat[names[3]]["steady"], GOAL_EFF_RAY),
    ]


def _rows(parts: list[tuple[str, float]], run: Run) -> list[list[str]]:
    n = run.clients * (run.rounds - 1)
    return [
        [label, _f(sec), _f(100 * sec / run.steady_s, ".0f") + " %", _f(1000 * sec / n)]
        for label, sec in parts
    ]


def _steady(totals: dict[str, float], after_round1: dict[str, float]) -> Callable[[str], float]:
    """Seconds under a label in rounds 2..R (the totals minus the first round's)."""
    return lambda label: totals.get(label, 0.0) - after_round1.get(label, 0.0)


def _model_rows(t: Callable[[str], float], per: float = 1.0) -> list[tuple[str, float]]:
    return [
        ("  build_model, all calls (1 student + 1 per held seed)", t("build_model") / per),
        ("    of which torch.manual_seed (lazy CUDA/XPU seeding)", t("torch.manual_seed") / per),
    ]


def inproc_breakdown(run: Run, plain: Run) -> list[list[str]]:
    """Where the in-process run's steady rounds go (seconds, share, ms per client-round)."""
    t = _steady(run.timer.seconds, run.notes["after_round1"])
    train, distil = t("peer._train_one_round"), t("peer.distil_seed")
    named = t("train_round") + t("heartbeat_round") + t("evaluate")
    parts = [
        ("main-model training (Peer._train_one_round)", train),
        ("seed distillation + seed record (Peer.distil_seed)", distil),
        ("seed delivery to neighbours (rest of train_round)", t("train_round") - train - distil),
        ("heartbeats + crash detection (heartbeat_round)", t("heartbeat_round")),
        ("evaluation of main, seeds, ensemble (evaluate)", t("evaluate")),
        ("  of which rebuilding held seeds' modules (Peer._seed_module)", t("peer._seed_module")),
        ("rest (engine, round_stats, metrics rows)", run.steady_s - named),
        *_model_rows(t),
        ("for comparison: (a)'s whole compute, same client-rounds", plain.steady_s),
        ("this timed run's steady rounds, in all", run.steady_s),
    ]
    return _rows(parts, run)


def ray_breakdown(run: Run, plain: Run) -> list[list[str]]:
    """Where the Ray run's steady rounds go: the driver's calls, and the actors' work.

    Each actor's main thread runs its peers one after the other, the two actors at once:
    its rows are the mean over the two actors, comparable with the wall time. Message
    handling and sending run in other threads, overlapping: those rows are sums.
    """
    t = _steady(run.timer.seconds, run.notes["after_round1"])
    a = _steady(run.notes["actor_s"], run.notes["actor_r1"])
    k = 2.0  # actors

    def m(label: str) -> float:
        return a(label) / k

    calls = ("train_round", "heartbeat_round", "end_round", "evaluate")
    train, distil = m("peer._train_one_round"), m("peer.distil_seed")
    parts = [
        ("driver: train_round (incl. its quiescence barrier)", t("train_round")),
        ("driver: heartbeat_round (incl. barriers)", t("heartbeat_round")),
        ("driver: end_round (every actor pickles its peers)", t("end_round")),
        ("driver: evaluate", t("evaluate")),
        ("driver: rest of the round", run.steady_s - sum(t(c) for c in calls)),
        ("actor main thread (mean of 2): main-model training", train),
        ("actor main thread: seed distillation + record", distil),
        (
            "actor main thread: waiting for each peer's seed RPCs (deliver)",
            m("runtime.train_round") - train - distil,
        ),
        ("actor main thread: evaluation", m("runtime._evaluate")),
        ("  of which rebuilding held seeds' modules", m("peer._seed_module")),
        (
            "actor main thread: heartbeats + detection",
            m("runtime.send_heartbeats") + m("runtime.detect"),
        ),
        *_model_rows(a, k),
        ("actor gRPC server threads: handling arrivals (sum)", a("runtime.handle")),
        ("actor send threads: seed/heartbeat RPCs incl. waiting (sum)", a("wire._rpc")),
        ("for comparison: (a)'s whole compute / 2 actors", plain.steady_s / k),
        ("this timed run's steady rounds, in all", run.steady_s),
    ]
    return _rows(parts, run)


def flower_breakdown(run: Run, plain: Run) -> list[list[str]]:
    """Where Flower's time goes, from the ServerApp's stamps and the clients' own timers."""
    nt = run.notes
    first: ow.ClientSums = nt["first"]
    steady: ow.ClientSums = nt["steady"]
    parts = [
        ("start-up: Ray, actor pool, actors importing torch + this workload", nt["round1_s"]),
        ("  (that is round 1, of which clients building the data split)", first.state_s),
        ("rounds 2..R (steady)", run.steady_s),
        ("  clients: compute (sum; 2 at once)", steady.compute_s),
        ("  clients: arrays in and out (sum)", steady.total_s - steady.compute_s - steady.state_s),
        ("  server: configure_train + aggregate_train (FedAvg)", nt["server_steady_s"]),
        ("after round R (teardown, Ray shutdown)", nt["after_last_round_s"]),
        ("for comparison: (a)'s compute in rounds 2..R", plain.steady_s),
    ]
    n = run.clients * (run.rounds - 1)
    return [[label, _f(sec), _f(1000 * sec / n)] for label, sec in parts]


def flower_bound(runs: dict[str, Run]) -> str:
    """Why the speed-up over Flower is bounded: Flower runs two client-rounds at once."""
    b, a, c = runs["b"], runs["a"], runs["c"]
    bound = b.basis("steady") / a.basis("steady")
    over = 2 * b.basis("steady") - a.basis("steady")
    return (
        f"Flower's steady cost is {b.basis('steady'):.2f} ms per client-round with 2 "
        f"client-rounds at once, i.e. {2 * b.basis('steady'):.2f} ms of a core each, of which "
        f"{a.basis('steady'):.2f} ms is the compute: Flower adds about {over:.2f} ms. A "
        f"one-process simulator with zero overhead would be {bound:.2f}x faster than "
        f"Flower; the in-process runtime is {b.basis('steady') / c.basis('steady'):.2f}x, "
        f"with {c.basis('steady') - a.basis('steady'):.2f} ms of overhead per client-round."
    )


def cprofile_text(profile: cProfile.Profile, top: int) -> str:
    """The ``top`` functions by own time, as a Markdown table."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    entries = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)
    total = sum(v[2] for _, v in entries) or 1.0
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in entries[:top]:
        where = f"{Path(file).name}:{line}({func})" if file != "~" else func
        rows.append([where[:80], str(nc), _f(tt), _f(100 * tt / total, ".0f") + " %", _f(ct)])
    return _table(["function (own time)", "calls", "own s", "share", "cumulative s"], rows)


def cumulative_text(profile: cProfile.Profile, names: tuple[str, ...]) -> str:
    """Cumulative time of chosen functions (matched by name), as a Markdown table."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, nc, _tt, ct, _callers) in table.items():
        if func in names and ct >= 0.005:
            rows.append([f"{Path(file).name}:{line}({func})", str(nc), _f(ct)])
    rows.sort(key=lambda r: -float(r[2]))
    return _table(["function (inclusive)", "calls", "cumulative s"], rows)


# ------------------------------------------------------------------------------ main
def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds (under ~3 minutes)")
    p.add_argument("--sizes", type=_ints, default=[20, 100], help="client counts, e.g. 20,100")
    p.add_argument("--rounds", type=_ints, default=None, help="rounds per size (15,8; quick 3,3)")
    p.add_argument("--top", type=int, default=15, help="cProfile rows for a missed goal")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = [3, 3] if args.quick else [15, 8]
    if len(args.rounds) == 1:
        args.rounds = args.rounds * len(args.sizes)
    if len(args.rounds) != len(args.sizes):
        p.error("--rounds needs one value, or one per size in --sizes")
    if any(r < 2 for r in args.rounds):
        p.error("--rounds must be >= 2 (the steady basis leaves out round 1)")
    return args


def _emit(text: str) -> None:
    print(text, flush=True)


#: Functions whose inclusive time the in-process cProfile lists (by name).
HOT = (
    "train_round",
    "_train_one_round",
    "distil_seed",
    "_evaluate",
    "_seed_module",
    "_global_seed_logits",
    "build_model",
    "manual_seed",
    "format_stack",
    "load_state_dict",
    "train_supervised",
    "distil",
    "content_hash",
    "heartbeat_round",
)


def main(argv: list[str] | None = None) -> None:
    """Measure every system at every size and print the tables."""
    args = parse_args(argv)
    t_all = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_all:6.1f} s] {msg}", file=sys.stderr, flush=True)

    load_start = _load()
    torch.set_num_threads(1)
    # Ray workers inherit this: Flower's actors import overhead_workload by name, so the
    # client state it caches persists in each actor process
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p
    )
    log("warm-up (untimed): plain loop and in-process run, 6 clients x 2 rounds; Flower imports")
    warm = ow.Workload(clients=6, rounds=2)
    loop = PlainLoop(warm)
    run_hdus(warm, "inprocess", lambda _m: None, between=loop.round)
    loop.finish()
    import flwr.clientapp
    import flwr.serverapp
    import flwr.simulation  # noqa: F401  (its import time belongs to no figure)

    _emit("\n## Machine and workload\n")
    rows = machine_rows()
    rows.append(["load average", f"{load_start} (1/5/15 min) at the start"])
    _emit(_table(["", ""], rows, left=True))

    missed: dict[str, ow.Workload] = {}
    for n, r in zip(args.sizes, args.rounds, strict=True):
        w = ow.Workload(clients=n, rounds=r)
        log(f"N={n}, R={r}")
        loop = PlainLoop(w)
        runs: dict[str, Run] = {"c": run_hdus(w, "inprocess", log, between=loop.round)}
        runs["a"] = loop.finish()
        log(f"  plain (interleaved with in-process): {runs['a'].rounds_s:.1f} s of rounds")
        world = World.build(load_scenario(ow.workload_scenario(w)))
        jobs: dict[str, Callable[[], Run]] = {
            "b": functools.partial(run_flower, w, world, log),
            "d": functools.partial(run_hdus, w, "ray", log),
        }
        for key, make in jobs.items():
            try:
                runs[key] = make()
            except Exception as exc:  # report what was measured, keep going
                runs[key] = Run("(b) Flower" if key == "b" else "(d) hdus-sim Ray", n, r, "-")
                runs[key].status = f"failed: {type(exc).__name__}: {str(exc)[:100]}"
        _emit(f"\n## N = {n} clients, R = {r} rounds ({n * r} client-rounds)\n")
        _emit(_table(["workload", ""], workload_rows(w, runs["a"]), left=True))
        _emit("\n" + results_table([runs[k] for k in "abcd"]))
        rat = ratios(runs)
        _emit("\n" + ratio_table(rat) + "\n")
        for text, kind, value, target in goals(rat):
            met = not math.isnan(value) and value >= target
            shown = f"{100 * value:.1f} %" if target < 1 else f"{value:.2f}x"
            _emit(f"- goal {text}: {shown} (steady) -> {'met' if met else 'MISSED'}")
            if not met:
                missed.setdefault(kind, w)
        _emit(f"\n{flower_bound(runs)}")
        _emit(f"\n### Where the time goes, N = {n}\n")
        _emit(
            "From runs of their own with timers patched in (steady rounds 2..R; their ms per "
            "client-round in the last row of each table may differ from the headline's)."
        )
        timed_c = run_hdus(w, "inprocess", log, timed=True)
        header = ["(c) in-process, timed", "s", "share of rounds", "ms/cr"]
        _emit("\n" + _table(header, inproc_breakdown(timed_c, runs["a"])))
        if runs["d"].status == "ok" and ("ray" in missed or not args.quick):
            try:
                timed_d = run_hdus(w, "ray", log, timed=True)
                header = ["(d) Ray, timed", "s", "share of rounds", "ms/cr"]
                _emit("\n" + _table(header, ray_breakdown(timed_d, runs["a"])))
            except Exception as exc:
                _emit(f"\n(d) Ray with timers failed: {type(exc).__name__}: {str(exc)[:100]}")
        if runs["b"].status == "ok":
            header = ["(b) Flower (clients' and ServerApp's own timers)", "s", "ms/cr"]
            _emit("\n" + _table(header, flower_breakdown(runs["b"], runs["a"])))
        log(f"N={n} done")

    if "inprocess" in missed:
        w = missed["inprocess"]
        pw = ow.Workload(clients=w.clients, rounds=min(w.rounds, 3))
        log(f"cProfile: in-process, N={pw.clients}, R={pw.rounds}")
        prof = cProfile.Profile()
        run_hdus(pw, "inprocess", log, profile=prof)
        _emit(
            f"\n### cProfile of the in-process rounds (a goal was missed), N = {pw.clients}, "
            f"R = {pw.rounds}\n"
        )
        _emit(cprofile_text(prof, args.top))
        _emit("\n" + cumulative_text(prof, HOT))
    if "ray" in missed:
        _emit(
            "\nRay missed its goal: the timed Ray tables above (the driver's calls, and "
            "timers in every thread of every actor) show where its time goes."
        )

    _emit(
        f"\nwhole benchmark: {time.perf_counter() - t_all:.0f} s; "
        f"load average at the end {_load()} (1/5/15 min)"
    )


if __name__ == "__main__":
    main()
