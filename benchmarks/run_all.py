"""Run every benchmark and write ``BENCHMARKS.md`` with the machine, the date and every figure.

Usage::

    python benchmarks/run_all.py            # full runs (about 25 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # short runs (noisier figures)
    python benchmarks/run_all.py --only verify_scale.py fuzz_wire.py   # re-measure some

With ``--only``, the named benchmarks are re-run and their sections replaced in the
existing ``BENCHMARKS.md`` (each section states when it was measured); the rest is kept.

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
    ("certified_sizes.py", "Certified removal at real sizes (n up to 60,000, d up to 512)", True),
    ("deletion_sizes.py", "SISA and summation-form deletion at real sizes (n up to 60,000)", True),
    ("scale_runtimes.py", "Runtimes side by side and the largest runs (in-process, Ray)", True),
    (
        "overhead.py",
        "Simulator overhead: plain torch vs Flower's simulation vs in-process vs Ray",
        True,
    ),
    (
        "cohorts.py",
        "Cohort engine: batched learning vs one peer at a time, Flower and the plain loop",
        True,
    ),
    (
        "baselines.py",
        "HDUS against its baselines (hdus-sim bench): quickstart and ring_churn",
        True,
    ),
    (
        "model_stability.py",
        "Every device class at the HDUS authors' learning rate (3 seeds, digits and mnist_subset)",
        True,
    ),
    (
        "hdus_paper.py",
        "The HDUS authors' unlearning experiment: rho curves beside their notebook's",
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


def _sections(path: Path) -> dict[str, str]:
    """The sections of an existing BENCHMARKS.md by benchmark title (verbatim)."""
    if not path.is_file():
        return {}
    titles = {title for _, title, _ in BENCHMARKS}
    out: dict[str, str] = {}
    current: str | None = None
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("## ") and line[3:].strip() in titles:
            current = line[3:].strip()
            out[current] = ""
        if current is not None:
            out[current] += line
    return {k: v.rstrip() + "\n" for k, v in out.items()}


def main() -> None:
    """Run the benchmarks and write BENCHMARKS.md at the repository root."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs of every benchmark")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", help="re-run just these")
    args = parser.parse_args()
    known = [script for script, _, _ in BENCHMARKS]
    for name in args.only or []:
        if name not in known:
            parser.error(f"--only {name}: no such benchmark; choose from {known}")
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    kept = _sections(args.out) if args.only else {}
    sections = []
    for script, title, quick_flag in BENCHMARKS:
        if args.only and script not in args.only:
            sections.append(kept.get(title, f"## {title}\n\n(not measured yet)\n"))
            continue
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
        when = f", measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC" if args.only else ""
        sections.append(f"## {title}\n\n`{shown}` ({took:.0f} s{when})\n\n```\n{body}\n```\n")
        print(body, flush=True)
    mode = "quick" if args.quick else "full"
    header = (
        "# hdus-sim benchmarks\n\n"
        f"Regenerate with `python benchmarks/run_all.py{' --quick' if args.quick else ''}`. "
        f"Run {started} ({mode} mode) on {_machine()}. Every figure below was measured side "
        "by side within one run of its benchmark; other jobs may have shared the machine, so "
        "compare ratios within a table rather than absolute times across tables.\n\n"
    )
    if args.only and args.out.is_file():
        header = args.out.read_text().split("\n## ", 1)[0].rstrip() + "\n\n"
    args.out.write_text(header + "\n".join(sections))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
