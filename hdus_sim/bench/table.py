"""The bench's Markdown table and its files (``bench.md``, ``bench.json``).

Accuracies are shown in percent, wall times in µs/ms/s, traffic in B/kB/MB/GB; a missing
value (NaN) is an en dash in the table and ``null`` in the JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hdus_sim.baselines.common import Spread
from hdus_sim.bench.results import BenchReport, comparisons


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
