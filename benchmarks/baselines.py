"""HDUS against its baselines on the library scenarios: ``hdus-sim bench`` for each, one table each.

Usage::

    python benchmarks/baselines.py [--quick] [scenarios/quickstart.yaml ...]

Runs :func:`hdus_sim.bench.run_bench` (HDUS, HDUS retrained from scratch, local-only, SISA
per peer, DSGD, FedAvg on Flower's simulation engine with retrain and with KD repair, and a
pooled model) on ``quickstart`` and ``ring_churn`` by default, prints each bench table and
a summary of the two figures the bench exists for: how much cheaper HDUS's unlearning is
than each retrain-based method (wall time, measured side by side in this run), and how far
HDUS's accuracy after each departure is from each retrain's. ``--quick`` leaves out the
Flower runs (the slowest part: one simulation per training segment and per retrain).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from hdus_sim.bench import METHODS, BenchConfig, comparisons, render, run_bench
from hdus_sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ("scenarios/quickstart.yaml", "scenarios/ring_churn.yaml")


def main() -> None:
    """Bench every scenario given and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list(DEFAULT))
    parser.add_argument("--quick", action="store_true", help="leave out the Flower baselines")
    args = parser.parse_args()
    methods = tuple(m for m in METHODS if not (args.quick and m.startswith("fedavg")))
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    summary = []
    for path in args.scenarios:
        t0 = time.perf_counter()
        sc = load_scenario(ROOT / path if not Path(path).is_file() else path)
        report = run_bench(
            sc, BenchConfig(methods=methods), log=lambda m: print(m, file=sys.stderr)
        )
        print(render(report))
        print(f"({sc.name}: bench wall {time.perf_counter() - t0:.0f} s)\n")
        for c in comparisons(report):
            summary.append((sc.name, c))
    if summary:
        print("### Summary: HDUS's unlearning against each retrain-based method\n")
        print("| scenario | event | versus | speed-up | ≥ 1000× | local gap (points) | ≤ 2 |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, c in summary:
            print(
                f"| {name} | {c['event']} | {c['versus']} | {c['speedup']:,.0f}× "
                f"| {'yes' if c['speedup'] >= 1000 else 'no'} | {c['local_gap_points']:+.1f} "
                f"| {'yes' if abs(c['local_gap_points']) <= 2 else 'no'} |"
            )
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
