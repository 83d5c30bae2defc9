"""Cohort engine: batched learning against one-peer-at-a-time, Flower and the plain torch loop.

Three measurements, each side by side within one run:

1. **The overhead workload** of ``benchmarks/overhead.py`` (every client trains every
   round: 5 Adam steps of batch 32 on the ``sensor`` MLP 64-32-10, logits on a 200-sample
   reference set, 5 distillation steps into ``seed_tiny``) at N = 20, 100 and 1,000 clients,
   run by (a) the plain per-client torch loop, (b) Flower's simulation (Message API,
   FedAvg), (c1) the in-process runtime one peer at a time (``runtime.cohorts: false``),
   (c2) the in-process runtime with cohorts (the default) and (d) Ray with cohorts (peers
   packed ``ceil(N / 2)`` to an actor, real gRPC between actors; up to N = 100 by default:
   at N = 1,000, two actors of 500 peers each were still in their rounds after 12 minutes,
   their gRPC seed streams back-pressured, so it is not part of the default run). N = 20
   and 100 share scikit-learn's digits as ``overhead.py`` does; digits cannot fill 1,000 clients, so
   N = 1,000 uses synthetic 64-feature data with 75 samples per client (about what a client
   gets at N = 20). (a) is interleaved round by round with (c2), so both see the same
   background load. Milliseconds per client-round on three bases (incl. start-up, all
   rounds, steady rounds 2..R) and the ratios; the goals are judged on steady rounds at
   N = 100: cohorts >= 10x faster than Flower and >= 5x faster than the plain loop.
2. **The arithmetic limit**: GFLOP/s of the cohort's own batched products (the shapes of a
   100-peer sensor cohort's training step) and of a whole batched training-and-distillation
   round, against one large single-threaded matrix product on this machine.
3. **The scale series** on ``scenarios/scale_bench.yaml`` (one training round, 20
   distillation steps, 4-regular graph, a leave and a crash, 3 scripted + 3 settle rounds)
   in-process with cohorts at 1,000 and 10,000 peers (and 1,000 one peer at a time, for the
   ratio), then the largest size this machine's memory fits (100,000 if the 10,000-peer run's
   memory per peer says it fits, else the largest multiple of 10,000 that does). Each size
   runs in a fresh process; wall time, build, rounds, ms per peer-round and peak RSS.

Usage::

    python benchmarks/cohorts.py [--quick] [--sizes 20,100,1000] [--rounds 8,6,4]
        [--scale 1000,10000,auto]

The default run takes about 15 minutes on 2 cores; ``--quick`` (N = 20 and 100, scale
1,000 and 10,000) about 6.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before anything imports ray
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import overhead as oh  # noqa: E402
import overhead_workload as ow  # noqa: E402
import torch  # noqa: E402
from benchkit import fmt as _f  # noqa: E402
from benchkit import load_average as _load  # noqa: E402
from benchkit import md_table as _table  # noqa: E402

from hdus_sim.scenario import load_scenario  # noqa: E402
from hdus_sim.world import World  # noqa: E402

#: Goals at N = 100, steady rounds: Flower / cohorts, plain loop / cohorts.
GOAL_FLOWER, GOAL_PLAIN = 10.0, 5.0
#: Samples per client where digits cannot fill the fleet.
SYNTHETIC_PER_CLIENT = 75
#: The memory the scale series may plan to use (bytes): 20 GiB of this 24 GiB machine.
MEMORY_BUDGET = 20 * 2**30


def _emit(text: str) -> None:
    print(text, flush=True)


def log(msg: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- 1. overhead
def workload(n: int, rounds: int) -> ow.Workload:
    """The overhead workload at ``n`` clients (synthetic data beyond what digits fills)."""
    per = 0 if n <= 100 else SYNTHETIC_PER_CLIENT
    return ow.Workload(clients=n, rounds=rounds, samples_per_client=per)


#: The N = 100 breakdown's rows (filled by :func:`overhead_at`).
BREAKDOWN: list[list[str]] = []


def overhead_at(w: ow.Workload, with_ray: bool) -> dict[str, oh.Run]:
    """Every system on workload ``w``: keys a, b, c1, c2, d."""
    loop = oh.PlainLoop(w)
    runs = {"c2": oh.run_hdus(w, "inprocess", log, between=loop.round)}
    runs["a"] = loop.finish()
    runs["c1"] = oh.run_hdus(w, "inprocess", log, cohorts=False)
    if w.clients == 100:  # before Flower and Ray, as (c2) itself ran
        log("breakdown of (c2) at N = 100")
        BREAKDOWN[:] = breakdown(w)
    world = World.build(load_scenario(ow.workload_scenario(w)))
    try:
        runs["b"] = oh.run_flower(w, world, log)
    except Exception as exc:  # report what was measured, keep going
        runs["b"] = oh.Run("(b) Flower simulation (FedAvg)", w.clients, w.rounds, "-")
        runs["b"].status = f"failed: {type(exc).__name__}: {str(exc)[:100]}"
    if with_ray:
        try:
            runs["d"] = oh.run_hdus(w, "ray", log)
        except Exception as exc:
            runs["d"] = oh.Run("(d) hdus-sim Ray", w.clients, w.rounds, "-")
            runs["d"].status = f"failed: {type(exc).__name__}: {str(exc)[:100]}"
    else:
        runs["d"] = oh.Run("(d) hdus-sim Ray", w.clients, w.rounds, "-", status="not run")
    return runs


RATIOS = (
    ("(b)/(c2): Flower / cohorts", "b", "c2"),
    ("(a)/(c2): plain torch loop / cohorts", "a", "c2"),
    ("(c1)/(c2): one peer at a time / cohorts", "c1", "c2"),
    ("(b)/(d): Flower / Ray with cohorts", "b", "d"),
    ("(a)/(c1): plain torch loop / one peer at a time", "a", "c1"),
)


def ratio_rows(runs: dict[str, oh.Run]) -> list[list[str]]:
    """Every ratio of ms per client-round on every basis."""
    return [
        [name] + [_f(runs[num].basis(b) / runs[den].basis(b)) + "x" for b, _ in oh.BASES]
        for name, num, den in RATIOS
    ]


def overhead_section(sizes: list[int], rounds: list[int], ray_up_to: int) -> dict[int, Any]:
    """Section 1; returns each size's runs."""
    out: dict[int, Any] = {}
    for n, r in zip(sizes, rounds, strict=True):
        w = workload(n, r)
        log(f"overhead N={n}, R={r}")
        runs = overhead_at(w, with_ray=n <= ray_up_to)
        data = "digits" if not w.samples_per_client else f"synthetic, {w.samples_per_client}/client"
        _emit(f"\n### N = {n} clients, R = {r} rounds ({n * r} client-rounds; {data})\n")
        _emit(oh.results_table([runs[k] for k in ("a", "b", "c1", "c2", "d")]))
        _emit("\n" + _table(["ratio", *(label for _, label in oh.BASES)], ratio_rows(runs)))
        out[n] = runs
    return out


def breakdown(w: ow.Workload) -> list[list[str]]:
    """Where (c2)'s steady rounds go: its own timed run (timers add a little overhead).

    Learning is :func:`clients.cohort_round.train_together` (split into its batched
    training, teacher logits and distillation); message handling is the rest of
    ``train_round`` (every seed delivered, admitted, audited); evaluation scores every
    peer's main model, seeds and ensemble on its local and the global test set.
    """
    import clients.cohort_round as cr
    import hdus_sim.runtime.inprocess as ip
    from hdus_sim.simulation import Simulation

    timer = ow.CallTimer()
    calls = ("begin_round", "train_round", "heartbeat_round", "end_round", "evaluate")
    sim = Simulation.from_dict(ow.workload_scenario(w, {"kind": "inprocess"})).build()
    with contextlib.ExitStack() as stack:
        stack.enter_context(timer.patch(ip, ("train_together",), "learn."))
        stack.enter_context(
            timer.patch(cr, ("train_cohorts", "cohort_logits", "distil_cohorts"), "learn.")
        )
        stack.enter_context(timer.patch(ip.InProcessRuntime, calls))
        sim.step()  # round 0 (start-up) is not part of the steady figures
        timer.seconds.clear()
        t0 = time.perf_counter()
        while not sim.finished:
            sim.step()
        steady = time.perf_counter() - t0
    sim.close()
    client_rounds = w.clients * (w.rounds - 1)
    t = timer.get
    parts = [
        ("learning (train_together)", t("learn.train_together")),
        ("  local training, batched", t("learn.train_cohorts")),
        ("  teacher logits on the reference set, batched", t("learn.cohort_logits")),
        ("  seed distillation, batched", t("learn.distil_cohorts")),
        (
            "seed messages: delivery, admission, audit (rest of train_round)",
            t("train_round") - t("learn.train_together"),
        ),
        ("heartbeats, crash detection (heartbeat_round)", t("heartbeat_round")),
        ("evaluation of main, seeds, ensemble (evaluate)", t("evaluate")),
        ("begin/end of round", t("begin_round") + t("end_round")),
        ("rest (engine, events, metrics rows)", steady - sum(t(c) for c in calls)),
        ("steady rounds in all", steady),
    ]
    return [
        [label, _f(1000 * s / client_rounds, ".3f"), _f(100 * s / steady, ".0f") + " %"]
        for label, s in parts
    ]


# ---------------------------------------------------------------------- 2. arithmetic
def _gflops(flops: float, fn: Any, repeats: int) -> float:
    """GFLOP/s of ``fn`` (best of 3 blocks of ``repeats`` calls)."""
    fn()
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return flops / best / 1e9


def _cohort_round_gflops(peers: int) -> tuple[float, float, float]:
    """(GFLOP/s, ms per peer, MFLOP per peer) of one batched round of the overhead workload.

    ``peers`` peers of the digits workload train and distil together through
    :func:`clients.cohort_round.train_together` (no messages, no evaluation); the
    floating-point operations are counted from the layer shapes (forward 2mnk per product,
    backward twice that; optimiser and activations not counted).
    """
    from clients.cohort_round import train_together
    from hdus_sim.simulation import Simulation

    w = ow.Workload(clients=peers, rounds=2, samples_per_client=SYNTHETIC_PER_CLIENT)
    sim = Simulation.from_dict(ow.workload_scenario(w)).build()
    runtime: Any = sim.runtime  # the in-process runtime: its peers are in this process
    learners = [runtime.peers[pid] for pid in sorted(runtime.peers)]
    train_together(learners)  # warm: the first round fills caches, checks the platform
    t0 = time.perf_counter()
    train_together(learners)
    took = time.perf_counter() - t0
    main = 2 * (64 * 32 + 32 * 10)  # sensor MLP, per sample, forward
    seed = 2 * (64 * 16 + 16 * 10)  # seed_tiny
    per_peer = (
        w.local_steps * w.batch_size * 3 * main
        + w.reference_size * main
        + w.distill_steps * w.distill_batch * 3 * seed
    )
    sim.close()
    return per_peer * peers / took / 1e9, 1000 * took / peers, per_peer / 1e6


def arithmetic_section() -> None:
    """Section 2: the batched ops' rate against a large matmul, one thread."""
    torch.set_num_threads(1)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    big = _gflops(2 * 1024**3, lambda: torch.mm(a, b), 5)
    rows = [["torch.mm 1024x1024 @ 1024x1024 (the machine's large-matmul rate)", _f(big, ".1f")]]
    c = 100
    shapes = [
        ("baddbmm, 100 x (32x64 @ 64x32): sensor layer 1 forward, batch 32", (c, 32, 64, 32)),
        ("baddbmm, 100 x (32x32 @ 32x10): sensor layer 2 forward", (c, 32, 32, 10)),
        ("baddbmm, 100 x (64x32 @ 32x32): the layer 1 weight gradient's shape", (c, 64, 32, 32)),
        ("baddbmm, 100 x (64x64 @ 64x16): seed_tiny layer 1 forward, batch 64", (c, 64, 64, 16)),
    ]
    for label, (n, m, k, p) in shapes:
        x, wt, bias = torch.randn(n, m, k), torch.randn(n, k, p), torch.randn(n, 1, p)
        rate = _gflops(
            2 * n * m * k * p, lambda x=x, wt=wt, bias=bias: torch.baddbmm(bias, x, wt), 200
        )
        rows.append([label, _f(rate, ".1f")])
    rate, ms, mflop = _cohort_round_gflops(100)
    rows.append(
        [
            f"a whole cohort round (100 peers train + distil; {mflop:.2f} MFLOP per peer, "
            f"{ms:.2f} ms per peer)",
            _f(rate, ".2f"),
        ]
    )
    _emit(_table(["operation (1 thread)", "GFLOP/s"], rows))
    _emit(
        f"\nA client-round of this workload is {mflop:.2f} MFLOP: at the large-matmul rate it "
        f"would take {mflop / big:.3f} ms, at the batched products' rate about "
        f"{mflop / float(rows[1][1]):.3f} ms."
    )


# ---------------------------------------------------------------------- 3. scale series
def _child(n: int, cohorts: bool) -> dict[str, Any]:
    """Run scale_bench at ``n`` peers in this process; return its figures (a child's job)."""
    import yaml
    from scale_runtimes import scenario_for

    from hdus_sim.simulation import Simulation

    torch.set_num_threads(1)
    base = yaml.safe_load((ROOT / "scenarios" / "scale_bench.yaml").read_text())
    d = scenario_for(base, n, {"kind": "inprocess", "cohorts": cohorts}, 80)
    # 100,000 peers' synthetic data (80 samples each, 32 features) is over the default
    # size budget on purpose: raise it knowingly, as the budget's message says
    d.setdefault("limits", {})["max_synthetic_values"] = max(10**8, 2 * (80 * n + 10_000) * 32)
    t0 = time.perf_counter()
    sim = Simulation.from_dict(d).build()
    build = time.perf_counter() - t0
    rounds: list[float] = []
    while not sim.finished:
        t1 = time.perf_counter()
        sim.step()
        rounds.append(time.perf_counter() - t1)
    summary = sim.summary()
    report = summary.get("cohorts", {})
    sim.close()
    wall = time.perf_counter() - t0
    with open("/proc/self/status") as fh:
        peak_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    return {
        "peers": n,
        "cohorts": cohorts,
        "build_s": build,
        "rounds_s": rounds,
        "wall_s": wall,
        "peak_mib": peak_kb / 1024,
        "accuracy": summary["final_accuracy"]["global_ensemble"],
        "batched": report.get("batched"),
        "fallback": report.get("fallback"),
    }


def run_child(n: int, cohorts: bool) -> dict[str, Any]:
    """One scale run in a fresh process (its peak memory is its own)."""
    log(f"scale N={n} cohorts={'on' if cohorts else 'off'}")
    cmd = [sys.executable, __file__, "--child", str(n), "on" if cohorts else "off"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    if res.returncode != 0:
        tail = res.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"peers": n, "cohorts": cohorts, "error": f"exit {res.returncode}: {tail[0]}"}
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def scale_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """One row per scale run."""
    rows = []
    for r in results:
        how = "cohorts" if r["cohorts"] else "one at a time"
        if "error" in r:
            rows.append([f"{r['peers']:,}", how] + ["-"] * 7 + [r["error"]])
            continue
        rounds = r["rounds_s"]
        per = 1000 * sum(rounds) / (r["peers"] * len(rounds))
        rows.append(
            [
                f"{r['peers']:,}",
                how,
                _f(r["wall_s"], ".1f"),
                _f(r["build_s"], ".1f"),
                _f(rounds[0], ".1f"),
                _f(sum(rounds[1:]), ".1f"),
                _f(per, ".3f"),
                _f(r["peak_mib"], ".0f"),
                _f(1024 * r["peak_mib"] / r["peers"], ".0f"),
                f"{r['batched']} batched, {r['fallback'] or 'no fallback'}",
            ]
        )
    return rows


def scale_section(sizes: list[str]) -> None:
    """Section 3: the series, the last size chosen from memory if ``auto``."""
    results: list[dict[str, Any]] = [run_child(1000, False)]
    for size in sizes:
        if size == "auto":
            known = [r for r in results if r["cohorts"] and "error" not in r]
            if not known:
                continue
            top = max(known, key=lambda r: r["peers"])
            per_peer = top["peak_mib"] * 2**20 / top["peers"]
            fits = int(MEMORY_BUDGET / per_peer)
            n = 100_000 if fits >= 100_000 else (fits // 10_000) * 10_000
            _emit(
                f"\nMemory per peer at {top['peers']:,} peers: {per_peer / 1024:.0f} KiB, so "
                f"{MEMORY_BUDGET / 2**30:.0f} GiB fit about {fits:,} peers: the last run has "
                f"{n:,}."
            )
            if n <= top["peers"]:
                continue
        else:
            n = int(size)
        results.append(run_child(n, True))
    header = [
        "peers",
        "learning",
        "wall s",
        "build s",
        "round 0 s",
        "rounds 1.. s",
        "ms per peer-round",
        "peak MiB",
        "KiB per peer",
        "cohort engine",
    ]
    _emit("\n" + _table(header, scale_rows(results)))
    on = next(
        (r for r in results if r["cohorts"] and r["peers"] == 1000 and "error" not in r), None
    )
    off = results[0]
    if on is not None and "error" not in off:
        _emit(
            f"\nAt 1,000 peers cohorts take the whole run {off['wall_s'] / on['wall_s']:.2f}x "
            f"faster than one peer at a time (round 0: "
            f"{off['rounds_s'][0] / on['rounds_s'][0]:.2f}x); final mean global ensemble "
            f"accuracy {on['accuracy']:.6f} with cohorts, {off['accuracy']:.6f} without "
            f"({'identical' if on['accuracy'] == off['accuracy'] else 'DIFFERENT'})."
        )


# ---------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="N = 20, 100; scale 1,000 and 10,000")
    p.add_argument("--sizes", default="20,100,1000", help="overhead workload client counts")
    p.add_argument("--rounds", default="8,6,4", help="rounds at each size")
    p.add_argument("--ray-up-to", type=int, default=100, help="largest N Ray runs at")
    p.add_argument("--scale", default="1000,10000,auto", help="scale series sizes (auto: fit)")
    p.add_argument("--sections", default="1,2,3", help="which sections to run")
    p.add_argument("--child", nargs=2, metavar=("PEERS", "ON_OFF"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.scale = "20,100", "6,5", "1000,10000"
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the three sections and print their tables."""
    args = parse_args(argv)
    if args.child:
        print(json.dumps(_child(int(args.child[0]), args.child[1] == "on")))
        return
    torch.set_num_threads(1)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    _emit(f"load average at the start: {_load()} (1/5/15 min); torch threads: 1 everywhere")
    log("warm-up (untimed)")
    warm = ow.Workload(clients=6, rounds=2)
    loop = oh.PlainLoop(warm)
    oh.run_hdus(warm, "inprocess", lambda _m: None, between=loop.round)
    oh.run_hdus(warm, "inprocess", lambda _m: None, cohorts=False)
    loop.finish()
    import flwr.clientapp
    import flwr.serverapp
    import flwr.simulation  # noqa: F401  (its import time belongs to no figure)

    sections = set(args.sections.split(","))
    runs: dict[int, Any] = {}
    if "1" in sections:
        _emit("\n## 1. The overhead workload, five ways\n")
        sizes = [int(s) for s in args.sizes.split(",")]
        rounds = [int(s) for s in args.rounds.split(",")]
        runs = overhead_section(sizes, rounds, args.ray_up_to)
    if 100 in runs:
        r = runs[100]
        flower = r["b"].basis("steady") / r["c2"].basis("steady")
        plain = r["a"].basis("steady") / r["c2"].basis("steady")
        _emit("")
        for text, value, goal in (
            ("cohorts >= 10x faster than Flower (N = 100, steady)", flower, GOAL_FLOWER),
            ("cohorts >= 5x faster than the plain loop (N = 100, steady)", plain, GOAL_PLAIN),
        ):
            met = "met" if value >= goal else "MISSED"
            _emit(f"- goal {text}: {value:.2f}x -> {met}")
        _emit("\nWhere (c2)'s steady rounds go at N = 100 (a timed run of its own):\n")
        _emit(_table(["part", "ms/cr", "share"], BREAKDOWN))
    if "2" in sections:
        _emit("\n## 2. The arithmetic limit\n")
        log("arithmetic")
        arithmetic_section()
    if "3" in sections:
        _emit("\n## 3. Scale series (scale_bench, in-process)\n")
        scale_section(args.scale.split(","))
    _emit(f"\nload average at the end: {_load()}")


if __name__ == "__main__":
    main()
