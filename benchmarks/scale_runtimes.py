"""Measure the in-process and Ray runtimes side by side, and the largest runs this machine fits.

What it measures, in one run, on the light workload of ``scenarios/scale_bench.yaml``
(synthetic 32-feature data, IID split with >= 50 local training samples per peer, sensor
main models, ``seed_tiny`` seeds distilled for 20 steps, one training round, a 4-regular
graph, 3 scripted rounds plus the settle rounds, one leave and one crash at round 1):

1. **Side by side**: the same scenario (24 peers by default) run by the in-process runtime,
   by Ray with one peer per actor, and by Ray with peers packed (8 per actor by default).
   Per configuration: wall time of the build (``Simulation.from_dict``: data split, graph,
   actors, peers, links), of the rounds alone (every ``sim.step()``) and of the whole run
   (build + rounds + ``close()``, i.e. what ``Simulation.from_dict(d).run()`` costs), with
   their ratios to in-process; and peak memory:

   * in-process: growth of this process's peak RSS (``VmHWM``, reset through
     ``/proc/self/clear_refs`` before the run) over its RSS before the run;
   * Ray: the sum over the actor processes (pids from ``summary()["wire"]["ray"]``) of
     their peak RSS (``VmHWM``, read after every round while the actors are alive, i.e.
     before ``close()`` kills them). RSS counts the pages actors share (torch's libraries)
     once per actor, so the sum of their PSS (``/proc/PID/smaps_rollup``, largest sum seen
     between rounds) is printed as well, with the driver's own peak RSS growth.

   Memory per peer is the total over the initial peer count. The Ray runs must give the
   very same final ensemble scores as the in-process run (checked, column ``=inproc``).

2. **Scale series** (printed as section 3): the largest peer count that runs, in-process
   (250, 500, 1000 peers by default) and Ray packed (50, 100, 200 peers, ``peers_per_actor``
   chosen for about 6 actors), with wall time and memory per peer for each size that
   completes. A series stops at the first size that fails or runs longer than ``--cap``
   seconds (checked after the build and after every round, so a run may overshoot the cap
   by one round); every configuration's cap also shrinks to what is left of ``--budget``
   (the whole benchmark's allowance), and a configuration with under 10 s left is skipped.

3. **Where the time goes** (sections 2 and 4): every call the engine makes on the runtime
   is timed (inclusive: ``train_round`` contains its quiescence ``barrier``, ``barrier`` contains
   its ``_all("counters")`` polls), with the number of driver ``ray.get`` round trips and
   the round-trip time of an empty call to every actor, measured on the live actors.

One embedded Ray instance (127.0.0.1 only, started the way the Ray runtime starts it) serves
every Ray configuration; each configuration's ``close()`` kills its actors and the script
waits for their processes to exit before the next one. An untimed 6-peer in-process warm-up
run comes first, so torch's one-time start-up costs land on no measured configuration.
Usage::

    python benchmarks/scale_runtimes.py [--quick] [--cap 180] [--budget 840]
        [--peers 24] [--packed 8] [--inproc-sizes 250,500,1000] [--ray-sizes 50,100,200]
        [--ray-actors 6] [--samples-per-peer 80] [--scenario scenarios/scale_bench.yaml]

The default run takes about 5 minutes on 2 cores and at most ``--budget`` (14 minutes);
``--quick`` runs small sizes only (12 peers side by side, 100 and 250 in-process, 24 and
48 over Ray) in under 3 minutes. Progress goes to stderr; the tables go to stdout, each as
soon as its section is measured (a dying Ray can end the process). Other work on the
machine skews the times: the load average is printed at the start and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import datetime as dt
import functools
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hdus_sim.runtime.inprocess import InProcessRuntime
from hdus_sim.runtime.ray_runtime import RayRuntime, ensure_ray
from hdus_sim.scenario import load_scenario
from hdus_sim.simulation import Simulation

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # benchkit, also when imported from elsewhere

from benchkit import actor_pids as _actor_pids  # noqa: E402
from benchkit import fmt as _f  # noqa: E402
from benchkit import load_average as _load  # noqa: E402
from benchkit import md_table as _table  # noqa: E402
from benchkit import wait_gone as _wait_gone  # noqa: E402

BASE_SCENARIO = ROOT / "scenarios" / "scale_bench.yaml"
MIB = 1024 * 1024

#: Runtime calls the engine makes, timed in both runtimes (inclusive seconds).
ENGINE_CALLS = (
    "spawn",
    "link",
    "retire",
    "rekey",
    "begin_round",
    "train_round",
    "heartbeat_round",
    "evaluate",
    "round_stats",
    "declared_dead",
    "neighbor_sets",
    "holders_of",
    "close",
)
#: Calls only the Ray runtime has: actor start-up, checkpoints, the quiescence barrier.
RAY_CALLS = ("__init__", "end_round", "barrier", "_tick")


# ------------------------------------------------------------------------------ memory
def _proc_kb(pid: int, key: str, name: str = "status") -> int | None:
    """A ``kB`` field of ``/proc/PID/<name>`` (``None`` once the process is gone)."""
    try:
        with open(f"/proc/{pid}/{name}") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _release_memory() -> None:
    """Collect garbage and give freed heap back to the OS, so a run starts from a clean RSS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# ------------------------------------------------------------------------------ profile
class Profile:
    """Inclusive wall time and call counts of patched methods, keyed by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.recording = True

    def _add(self, key: str, seconds: float) -> None:
        if self.recording:
            self.seconds[key] = self.seconds.get(key, 0.0) + seconds
            self.calls[key] = self.calls.get(key, 0) + 1

    def _wrap(
        self, name: str, fn: Callable[..., Any], key_of: Callable[..., str] | None
    ) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._add(key_of(*args) if key_of else name, time.perf_counter() - t0)

        return timed

    @contextlib.contextmanager
    def patch(
        self, owner: Any, names: tuple[str, ...], key_of: dict[str, Callable[..., str]]
    ) -> Iterator[None]:
        """Time ``owner.<name>`` for every name while the context is open."""
        originals = {n: owner.__dict__[n] for n in names if n in owner.__dict__}
        for n, fn in originals.items():
            setattr(owner, n, self._wrap(n, fn, key_of.get(n)))
        try:
            yield
        finally:
            for n, fn in originals.items():
                setattr(owner, n, fn)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made inside this context are not recorded (measurement overhead)."""
        self.recording = False
        try:
            yield
        finally:
            self.recording = True


@contextlib.contextmanager
def profiled(profile: Profile, kind: str) -> Iterator[None]:
    """Patch the runtime class of ``kind`` (and ``ray.get`` for Ray) to feed ``profile``."""
    if kind == "inprocess":
        with profile.patch(InProcessRuntime, ENGINE_CALLS, {}):
            yield
        return
    import ray

    keys = {"_all": lambda _self, method, *_: f"_all:{method}"}
    with (
        profile.patch(RayRuntime, ENGINE_CALLS + RAY_CALLS + ("_all",), keys),
        profile.patch(ray, ("get",), {"get": lambda *_a, **_k: "ray.get"}),
    ):
        yield


# ------------------------------------------------------------------------------ runs
@dataclass
class RunResult:
    """What one configuration measured; times in seconds, memory in MiB."""

    label: str
    kind: str
    peers: int
    ppa: int | None = None
    actors: int = 0
    status: str = "ok"
    build_s: float = 0.0
    rounds_s: float = 0.0
    close_s: float = 0.0
    rounds_run: int = 0
    peak_mb: float = float("nan")
    pss_mb: float = float("nan")
    driver_mb: float = float("nan")
    min_train: int = 0
    messages: int = 0
    rpcs: int = 0
    rtt_ms: float = float("nan")
    leftover_actors: int = 0
    teardown_s: float = float("nan")
    same_as_inproc: str = "-"
    profile: Profile = field(default_factory=Profile)
    predictions: dict[int, np.ndarray] | None = None

    @property
    def run_s(self) -> float:
        """Build + rounds + close: what ``Simulation.from_dict(d).run()`` takes."""
        return self.build_s + self.rounds_s + self.close_s

    @property
    def ok(self) -> bool:
        """Whether every round ran within the cap."""
        return self.status == "ok"

    @property
    def mb_per_peer(self) -> float:
        """Peak memory over the initial peer count."""
        return self.peak_mb / self.peers


def scenario_for(
    base: dict[str, Any], peers: int, runtime: dict[str, Any], per_peer: int
) -> dict[str, Any]:
    """The base scenario at ``peers`` initial peers with ``per_peer`` samples each, on ``runtime``.

    Reference and global test sizes are counts in the base scenario; the dataset grows so
    every peer (joiners included) gets ``per_peer`` samples before its local test split.
    """
    d = copy.deepcopy(base)
    d["peers"]["initial"] = peers
    joiners = sum(1 for e in d.get("events", []) if e["kind"] == "join")
    part = d["partition"]
    fixed = int(part["reference"]["size"]) + int(part["global_test_size"])
    d["dataset"]["synthetic_samples"] = fixed + per_peer * (peers + joiners)
    d["runtime"] = {**d.get("runtime", {}), **runtime}
    return d


def _rtt_ms(sim: Simulation, repeats: int = 20) -> float:
    """Median time of one empty call to every actor at once (what a barrier poll costs)."""
    import ray

    actors = sim.runtime.actors
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ray.get([a.counters.remote() for a in actors])
        samples.append(time.perf_counter() - t0)
    return 1000 * statistics.median(samples)


def run_config(
    label: str,
    d: dict[str, Any],
    cap_s: float,
    log: Callable[[str], None],
    *,
    keep_predictions: bool = False,
) -> RunResult:
    """Build and run one scenario step by step, sampling memory between rounds.

    ``keep_predictions`` keeps the final ensemble scores (to compare runtimes).
    """
    kind = d["runtime"]["kind"]
    res = RunResult(label, kind, d["peers"]["initial"], d["runtime"].get("peers_per_actor"))
    scenario = load_scenario(d)
    _release_memory()
    rss0 = _proc_kb(os.getpid(), "VmRSS") or 0
    if not _reset_peak():
        log("  (cannot reset VmHWM: in-process peak includes earlier runs)")
    actor_hwm: dict[int, int] = {}
    sim = Simulation(scenario)
    pids: list[int] = []

    def sample() -> None:
        nonlocal pids
        with res.profile.paused():
            if kind == "ray" and not pids:
                pids = _actor_pids(sim)
                res.actors = len(pids)
            pss = 0
            for pid in pids:
                hwm = _proc_kb(pid, "VmHWM")
                if hwm is not None:
                    actor_hwm[pid] = max(actor_hwm.get(pid, 0), hwm)
                pss += _proc_kb(pid, "Pss", "smaps_rollup") or 0
            if pids:
                res.pss_mb = max(0.0 if math.isnan(res.pss_mb) else res.pss_mb, pss / 1024)

    t_start = time.perf_counter()
    try:
        with profiled(res.profile, kind):
            t0 = time.perf_counter()
            sim.build()
            res.build_s = time.perf_counter() - t0
            sample()
            res.min_train = min(p.num_train for p in sim.split.peers.values())
            log(f"  built in {res.build_s:.1f} s ({res.actors} actors)")
            while not sim.finished:
                if time.perf_counter() - t_start > cap_s:
                    res.status = f"over cap after {res.rounds_run} rounds"
                    break
                t0 = time.perf_counter()
                row = sim.step()
                res.rounds_s += time.perf_counter() - t0
                res.rounds_run += 1
                res.messages += int(row["messages"])
                sample()
            if kind == "ray":
                with res.profile.paused():
                    res.rtt_ms = _rtt_ms(sim)
                    res.rpcs = int(sim.wire_stats()["rpcs"])
            t0 = time.perf_counter()
            sim.close()
            res.close_s = time.perf_counter() - t0
    except Exception as exc:  # a failure ends the series; report it, keep the table
        res.status = f"failed: {type(exc).__name__}: {str(exc)[:120]}"
        runtime = getattr(sim, "runtime", None)  # a build that failed half-way
        if runtime is not None:
            with contextlib.suppress(Exception):
                runtime.close()
    if kind == "inprocess":
        res.peak_mb = ((_proc_kb(os.getpid(), "VmHWM") or 0) - rss0) / 1024
    else:
        res.peak_mb = sum(actor_hwm.values()) / 1024
        res.driver_mb = ((_proc_kb(os.getpid(), "VmHWM") or 0) - rss0) / 1024
        t0 = time.perf_counter()
        res.leftover_actors = len(_wait_gone(pids))
        res.teardown_s = time.perf_counter() - t0 + res.close_s
    if res.leftover_actors:
        res.status += f" ({res.leftover_actors} actor processes alive 30 s after close)"
    if res.ok and keep_predictions:
        with contextlib.suppress(Exception):
            res.predictions = sim.predictions()
    log(
        f"  {res.status}: build {res.build_s:.1f} s, rounds {res.rounds_s:.1f} s, "
        f"peak {res.peak_mb:.0f} MiB"
    )
    return res


def run_capped(
    label: str,
    d: dict[str, Any],
    cap_of: Callable[[], float],
    log: Callable[[str], None],
    *,
    keep_predictions: bool = False,
) -> RunResult:
    """:func:`run_config` under the cap ``cap_of()`` gives now; skipped under 10 s."""
    cap = cap_of()
    if cap < 10:
        log(f"  skipped {label}: the benchmark's budget is spent")
        rt = d["runtime"]
        res = RunResult(label, rt["kind"], d["peers"]["initial"], rt.get("peers_per_actor"))
        res.status = "skipped: --budget spent"
        return res
    return run_config(label, d, cap, log, keep_predictions=keep_predictions)


def series(
    name: str,
    sizes: list[int],
    make: Callable[[int], tuple[str, dict[str, Any]]],
    cap_of: Callable[[], float],
    log: Callable[[str], None],
) -> list[RunResult]:
    """Run growing sizes until one fails, exceeds the cap or is skipped."""
    out: list[RunResult] = []
    for n in sizes:
        label, d = make(n)
        log(f"[{name}] {label}")
        res = run_capped(label, d, cap_of, log)
        out.append(res)
        if not res.ok:
            break
    return out


# ------------------------------------------------------------------------------ report
def machine() -> list[tuple[str, str]]:
    """The machine and software versions, for the table header."""
    import grpc
    import ray
    import torch

    mem_kb = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])  # MemTotal
    return [
        ("date", dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("machine", f"{os.cpu_count()} cores, {mem_kb / MIB:.1f} GiB RAM, {platform.machine()}"),
        ("os", f"{platform.system()} {platform.release()}"),
        ("python", platform.python_version()),
        ("ray", ray.__version__),
        ("torch", f"{torch.__version__} ({torch.get_num_threads()} threads here)"),
        ("grpcio", grpc.__version__),
    ]


def side_by_side_table(results: list[RunResult]) -> str:
    """Times, ratios to in-process and memory of the side-by-side configurations."""
    base = results[0]
    rows = []
    for r in results:
        rows.append(
            [
                r.label,
                str(r.actors or "-"),
                _f(r.build_s),
                _f(r.rounds_s),
                _f(r.run_s),
                _f(r.run_s / base.run_s) if base.run_s else "-",
                _f(r.rounds_s / base.rounds_s) if base.rounds_s else "-",
                _f(r.peak_mb, ".0f"),
                _f(r.mb_per_peer, ".1f"),
                _f(r.pss_mb, ".0f"),
                _f(r.driver_mb, ".0f"),
                _f(r.teardown_s, ".1f"),
                r.same_as_inproc,
                r.status,
            ]
        )
    header = [
        "configuration",
        "actors",
        "build s",
        "rounds s",
        "run s",
        "run/inproc",
        "rounds/inproc",
        "peak MiB",
        "MiB/peer",
        "actor PSS MiB",
        "driver MiB",
        "teardown s",
        "=inproc",
        "status",
    ]
    return _table(header, rows)


def series_table(results: list[RunResult]) -> str:
    """Times and memory per peer of each size in a scale series."""
    rows = [
        [
            r.label,
            str(r.peers),
            str(r.ppa or "-"),
            str(r.actors or "-"),
            str(r.min_train),
            _f(r.build_s, ".1f"),
            _f(r.rounds_s, ".1f"),
            _f(r.run_s, ".1f"),
            _f(r.run_s / r.peers * 1000, ".0f"),
            _f(r.peak_mb, ".0f"),
            _f(r.mb_per_peer, ".2f"),
            _f(r.pss_mb, ".0f"),
            _f(r.teardown_s, ".1f"),
            r.status,
        ]
        for r in results
    ]
    header = [
        "configuration",
        "peers",
        "peers/actor",
        "actors",
        "min train",
        "build s",
        "rounds s",
        "run s",
        "run ms/peer",
        "peak MiB",
        "MiB/peer",
        "actor PSS MiB",
        "teardown s",
        "status",
    ]
    return _table(header, rows)


def profile_table(results: list[RunResult]) -> str:
    """Inclusive seconds and calls per runtime method, one column per configuration."""
    keys: list[str] = []
    for r in results:
        keys += [k for k in r.profile.seconds if k not in keys]
    order = {k: i for i, k in enumerate(("__init__", *ENGINE_CALLS, *RAY_CALLS))}
    keys.sort(key=lambda k: (k.startswith(("_all:", "ray.get")), order.get(k, 99), k))
    rows = []
    for k in keys:
        name = "__init__ (actor start-up)" if k == "__init__" else k
        rows.append(
            [name]
            + [
                f"{r.profile.seconds[k]:.2f} s / {r.profile.calls[k]}"
                if k in r.profile.seconds
                else "-"
                for r in results
            ]
        )
    rows.append(["empty call to all actors (RTT)"] + [_f(r.rtt_ms, ".1f") + " ms" for r in results])
    rows.append(
        ["ray.get x RTT (round-trip floor)"]
        + [
            _f(r.profile.calls.get("ray.get", 0) * r.rtt_ms / 1000) + " s"
            if r.kind == "ray"
            else "-"
            for r in results
        ]
    )
    rows.append(
        ["gRPC calls (wire rpcs)"] + [str(r.rpcs) if r.kind == "ray" else "-" for r in results]
    )
    rows.append(["peer messages"] + [str(r.messages) for r in results])
    return _table(["runtime method (inclusive)", *(r.label for r in results)], rows)


def largest(results: list[RunResult]) -> str:
    """The largest size of a series that completed, in words."""
    done = [r for r in results if r.ok]
    if not done:
        return "none completed"
    best = max(done, key=lambda r: r.peers)
    tried = max(r.peers for r in results)
    more = "" if best.peers == tried else f" ({tried} did not: {results[-1].status})"
    return f"{best.peers} peers in {best.run_s:.1f} s, {best.mb_per_peer:.2f} MiB/peer{more}"


# ------------------------------------------------------------------------------ main
def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true", help="small sizes only (under ~3 minutes)")
    p.add_argument("--cap", type=float, default=180.0, help="seconds allowed per configuration")
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the whole benchmark (840; quick 170)",
    )
    p.add_argument("--scenario", type=Path, default=BASE_SCENARIO, help="base scenario YAML")
    p.add_argument("--peers", type=int, default=None, help="peers side by side (24; quick 12)")
    p.add_argument("--packed", type=int, default=None, help="peers per actor packed (8; quick 6)")
    p.add_argument("--inproc-sizes", type=_sizes, default=None, help="e.g. 250,500,1000")
    p.add_argument("--ray-sizes", type=_sizes, default=None, help="e.g. 50,100,200")
    p.add_argument("--ray-actors", type=int, default=6, help="actors in the Ray scale series")
    p.add_argument("--samples-per-peer", type=int, default=80, help="before the local test split")
    args = p.parse_args(argv)
    quick = args.quick
    args.budget = args.budget or (170.0 if quick else 840.0)
    args.peers = args.peers or (12 if quick else 24)
    args.packed = args.packed or (6 if quick else 8)
    args.inproc_sizes = args.inproc_sizes or ([100, 250] if quick else [250, 500, 1000])
    args.ray_sizes = args.ray_sizes or ([24, 48] if quick else [50, 100, 200])
    return args


def _emit(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run every configuration, printing each table as soon as its section is done.

    Tables come out section by section because a Ray failure can end this process (the
    Ray core worker exits the driver when its raylet dies), and measured sections must
    not be lost with it.
    """
    args = parse_args(argv)
    t_all = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_all:6.1f} s] {msg}", file=sys.stderr, flush=True)

    base = yaml.safe_load(args.scenario.read_text())
    per_peer = args.samples_per_peer
    n = args.peers

    def inproc(n: int) -> tuple[str, dict[str, Any]]:
        return f"in-process {n}", scenario_for(base, n, {"kind": "inprocess"}, per_peer)

    def ray_cfg(n: int, ppa: int) -> tuple[str, dict[str, Any]]:
        runtime = {"kind": "ray", "peers_per_actor": ppa}
        return f"ray {n} ({ppa}/actor)", scenario_for(base, n, runtime, per_peer)

    deadline = t_all + args.budget

    def cap_of() -> float:
        return min(args.cap, deadline - time.perf_counter())

    load_before = _load()
    log("warm-up: 6 peers in-process (untimed)")
    Simulation.from_dict(scenario_for(base, 6, {"kind": "inprocess"}, per_peer)).run()
    log("starting embedded Ray")
    t0 = time.perf_counter()
    ensure_ray(None)
    ray_start_s = time.perf_counter() - t0

    sc = load_scenario(scenario_for(base, n, {"kind": "inprocess"}, per_peer))
    events = ", ".join(f"{e.kind} {e.peer} at {e.at}" for e in sc.events)
    rt = sc.runtime
    info = machine()
    info += [
        ("load average", f"{load_before} (1/5/15 min) at the start"),
        ("scenario", f"{args.scenario.name}: {sc.topology.kind} {sc.topology.params}"),
        (
            "workload",
            f"{sc.rounds} rounds + {sc.effective_settle_rounds} settle, "
            f"{per_peer} samples/peer, events: {events}",
        ),
        (
            "ray wire",
            f"gRPC on 127.0.0.1, tls={rt.wire.tls}, sign={rt.wire.sign}; "
            f"torch_threads={rt.torch_threads} per process",
        ),
        ("embedded Ray start", f"{ray_start_s:.1f} s (once; in no figure below)"),
        ("time cap", f"{args.cap:.0f} s per configuration, {args.budget:.0f} s in all"),
    ]
    _emit("\n## Machine\n")
    _emit(_table(["", ""], [[k, v] for k, v in info], left=True))

    side: list[RunResult] = []
    for label, d in (inproc(n), ray_cfg(n, 1), ray_cfg(n, args.packed)):
        log(f"[side by side] {label}")
        side.append(run_capped(label, d, cap_of, log, keep_predictions=True))
    ref = side[0].predictions
    for r in side[1:]:
        if ref is not None and r.predictions is not None:
            same = ref.keys() == r.predictions.keys() and all(
                np.array_equal(ref[k], r.predictions[k]) for k in ref
            )
            r.same_as_inproc = "yes" if same else "NO"
    side[0].same_as_inproc = "(ref)"
    _emit(f"\n## 1. Side by side: {n} peers\n")
    _emit(side_by_side_table(side))
    _emit(
        "\npeak: in-process = growth of this process's peak RSS; Ray = sum of the actors' "
        "VmHWM (PSS: shared pages counted once; driver: the driver's peak RSS growth). "
        "teardown: close() plus the wait until every actor process has exited."
    )
    _emit("\n## 2. Where the time goes, side by side (seconds / calls, inclusive)\n")
    _emit(profile_table(side))

    inproc_series = series("in-process series", args.inproc_sizes, inproc, cap_of, log)
    ray_series = series(
        "ray series",
        args.ray_sizes,
        lambda n: ray_cfg(n, max(1, math.ceil(n / args.ray_actors))),
        cap_of,
        log,
    )
    _emit("\n## 3. Scale series\n")
    _emit(series_table(inproc_series + ray_series))
    _emit(f"\nlargest in-process run: {largest(inproc_series)}")
    _emit(f"largest Ray (packed) run: {largest(ray_series)}")
    _emit("\n## 4. Where the time goes, Ray scale series (seconds / calls, inclusive)\n")
    _emit(profile_table([side[0], *ray_series]))
    _emit(
        f"\nwhole benchmark: {time.perf_counter() - t_all:.0f} s; load average at the end {_load()}"
    )
    import ray

    ray.shutdown()


if __name__ == "__main__":
    main()
