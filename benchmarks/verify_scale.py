"""Verify at scale: ``verify`` with its retrain oracle on a 100-device churn run.

The scenario is the forgetting soak of :func:`hdus_sim.stress.forgetting_soak` (Weibull
sessions, 35 % crashes, re-joins under new epochs, Poisson arrivals, devices that crash
unseen, seeds relayed 2 hops) on the in-process runtime, with the seed-sized model every
device runs. The script runs it, verifies it (lineage + combined oracle, split only where
it differs), and prints the run's and the verify's wall time, the departures, the oracle
re-runs and the verdicts. Side by side, one single-departure oracle is timed (``--events``
on one event, a fresh cache): the per-departure fallback would cost about that times the
number of departures.

Usage::

    python benchmarks/verify_scale.py            # 100 devices, 20 rounds
    python benchmarks/verify_scale.py --quick    # 40 devices, 12 rounds
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import md_table


def main() -> None:
    """Build, run and verify the churn scenario; print its figures as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 devices, 12 rounds")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    n = args.devices or (40 if args.quick else 100)
    rounds = args.rounds or (12 if args.quick else 20)

    from hdus_sim import Simulation, verify_run
    from hdus_sim.stress import forgetting_soak

    sc = forgetting_soak(n, rounds)
    sc["runtime"] = {"kind": "inprocess"}  # the wire's faults need gRPC; churn is the point
    sc.pop("faults")
    work = Path(tempfile.mkdtemp(prefix="verify_scale_"))
    try:
        t0 = time.perf_counter()
        sim = Simulation.from_dict(sc).run()
        run_s = time.perf_counter() - t0
        sim.write(work / "run")
        deps = sim.summary()["departures"]
        t0 = time.perf_counter()
        report = verify_run(work / "run")
        verify_s = time.perf_counter() - t0
        # one departure alone, with its own oracle (what the old fallback ran per event)
        shutil.rmtree(work / "run" / "oracles", ignore_errors=True)
        t0 = time.perf_counter()
        one = verify_run(work / "run", events=[1], receipts=False)
        single_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    verdicts = collections.Counter(e.verdict for e in report.events)
    kinds = collections.Counter(d["kind"] for d in deps)
    rows = [
        ["devices (initial / ever)", f"{n} / {len(sc_ids(sim))}"],
        ["rounds (incl. settle)", str(sim.engine.total_rounds)],
        ["departures", f"{len(deps)} ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))})"],
        ["run wall (s)", f"{run_s:.1f}"],
        ["verify wall (s), with oracle", f"{verify_s:.1f}"],
        ["oracle re-runs (cached)", f"{report.oracle_reruns} ({report.oracle_cached})"],
        [
            "group oracles (size: passed)",
            ", ".join(f"{g['size']}: {g['passed']}" for g in report.oracle_groups) or "-",
        ],
        ["verdicts", ", ".join(f"{v} x {k}" for k, v in sorted(verdicts.items()))],
        ["one departure's own oracle (s)", f"{single_s:.1f} ({one.oracle_reruns} re-run)"],
        [
            "per-departure fallback, estimated (s)",
            f"{single_s * len(deps):.0f} ({len(deps)} x {single_s:.1f})",
        ],
    ]
    print(md_table(["verify at scale", "figure"], rows))
    print()
    print(
        f"verify {'passed' if report.passed else 'FAILED'}: {len(report.events)} events in "
        f"{verify_s:.1f} s with {report.oracle_reruns} oracle re-run(s); "
        f"{len(deps) * single_s / max(verify_s, 1e-9):.0f}x less than one oracle per departure"
    )
    if not report.passed:
        sys.exit(1)


def sc_ids(sim: object) -> list[int]:
    """Every device id the scenario ever brings online (initial and arrivals)."""
    return list(sim.scenario.all_peer_ids)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
