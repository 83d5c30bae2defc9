"""Run every benchmark and write ``BENCHMARKS.md`` with the machine, the date and every figure.

Usage::

    python benchmarks/run_all.py            # full runs (about 25 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # short runs (noisier figures)

Each benchmark is its own script in this folder and prints its figures, measured side by
side in one run; this runner executes them one after the other in fresh processes (so no
benchmark's warm state helps another) and collects their output verbatim.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: (script, title, takes --quick)
BENCHMARKS: tuple[tuple[str, str, bool], ...] = (
    (
        "combine_modes.py",
        "Ensemble combination: logits vs probabilities, by rho (quickstart)",
        False,
    ),
    ("wire_throughput.py", "Seed exchange over loopback gRPC vs the in-process hand-over", True),
    ("signing_cost.py", "Owner signatures: cost per message", False),
    ("fuzz_wire.py", "Hostile input on the wire: fuzzing every RPC of a live mTLS peer", False),
    ("point_deletion.py", "Point deletion: SISA, certified removal, summation form", True),
    ("scale_runtimes.py", "Runtimes side by side and the largest runs (in-process, Ray)", True),
    (
        "overhead.py",
        "Simulator overhead: plain torch vs Flower's simulation vs in-process vs Ray",
        True,
    ),
    (
        "baselines.py",
        "HDUS against its baselines (hdus-sim bench): quickstart and ring_churn",
        True,
    ),
    (
        "verify_scale.py",
        "Verify at scale: retrain oracle on a 100-device churn run with 100+ departures",
        True,
    ),
)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean(text: str) -> str:
    """Drop Ray's raylet log lines (they interleave with stdout) and colour codes."""
    return "\n".join(
        ANSI.sub("", line) for line in text.splitlines() if "(raylet)" not in line
    ).strip()


def _machine() -> str:
    try:
        mem = next(
            line
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem_gib = int(mem.split()[1]) / 2**20
    except (OSError, StopIteration):
        mem_gib = float("nan")
    import torch

    return (
        f"{os.cpu_count()} cores, {mem_gib:.1f} GiB RAM, {platform.machine()}, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def main() -> None:
    """Run the benchmarks and write BENCHMARKS.md at the repository root."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs of every benchmark")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = []
    for script, title, quick_flag in BENCHMARKS:
        cmd = [sys.executable, str(HERE / script)]
        if args.quick and quick_flag:
            cmd.append("--quick")
        print(f"== {script}", flush=True)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        took = time.perf_counter() - t0
        body = clean(res.stdout) or "(no output)"
        if res.returncode != 0:
            body += f"\n\nFAILED (exit {res.returncode}):\n{res.stderr.strip()[-3000:]}"
        shown = " ".join(c if c != sys.executable else "python" for c in cmd)
        shown = shown.replace(str(HERE) + "/", "benchmarks/")
        sections.append(f"## {title}\n\n`{shown}` ({took:.0f} s)\n\n```\n{body}\n```\n")
        print(body, flush=True)
    mode = "quick" if args.quick else "full"
    header = (
        "# hdus-sim benchmarks\n\n"
        f"Regenerate with `python benchmarks/run_all.py{' --quick' if args.quick else ''}`. "
        f"Run {started} ({mode} mode) on {_machine()}. Every figure below was measured side "
        "by side within one run of its benchmark; other jobs may have shared the machine, so "
        "compare ratios within a table rather than absolute times across tables.\n\n"
    )
    args.out.write_text(header + "\n".join(sections))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
