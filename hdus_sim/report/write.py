"""Writing a report: read the run directory, draw the plots, render both formats.

:func:`write_report` is the one entry point (``hdus-sim report DIR`` calls it). It writes
every file atomically, so an interrupted report never leaves a half-written page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdus_sim.errors import RunError
from hdus_sim.report.data import load_run_data
from hdus_sim.report.figures import (
    plot_accuracy_bands,
    plot_graphs,
    plot_latency,
    plot_online,
    plot_traffic,
)
from hdus_sim.report.render import render_html, render_markdown
from hdus_sim.report.sections import build_sections
from hdus_sim.rundir import atomic_write

__all__ = ["ReportPaths", "write_report"]


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`write_report` wrote the report.

    Attributes
    ----------
    markdown : Path
        ``DIR/report.md``.
    html : Path
        ``DIR/report.html`` (self-contained: plots embedded as data URIs).
    plots : dict of str to Path
        Plot name (see :data:`PLOT_NAMES`) -> ``DIR/report/NAME.png``.
    """

    markdown: Path
    html: Path
    plots: dict[str, Path]


def _default_graph_rounds(rounds: Sequence[int]) -> list[int]:
    """The first, the middle and the last of ``rounds`` (fewer if they coincide)."""
    picks = [rounds[0], rounds[len(rounds) // 2], rounds[-1]]
    return sorted(set(picks))


def _check_graph_rounds(graph_rounds: Sequence[int], rounds: Sequence[int]) -> list[int]:
    """``graph_rounds`` as distinct ints in the order given, each within ``rounds``.

    Raises
    ------
    RunError
        If one is not an integer or is outside the run, or none is given.
    """
    out = []
    for r in graph_rounds:
        if isinstance(r, bool) or not isinstance(r, int | np.integer):
            raise RunError(
                f"graph_rounds: {r!r} is not a round number; pass integers "
                f"between {rounds[0]} and {rounds[-1]}"
            )
        if not rounds[0] <= int(r) <= rounds[-1]:
            raise RunError(
                f"graph_rounds: round {r} is outside the run's rounds "
                f"{rounds[0]}..{rounds[-1]}; pass rounds in that range"
            )
        if int(r) not in out:
            out.append(int(r))
    if not out:
        raise RunError("graph_rounds is empty; pass at least one round, or None for defaults")
    return out


def write_report(run_dir: str | Path, *, graph_rounds: Sequence[int] | None = None) -> ReportPaths:
    """Write ``DIR/report.md``, ``DIR/report.html`` and the plots under ``DIR/report/``.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by ``hdus-sim run SCENARIO --out DIR``; if ``hdus-sim verify
        DIR`` ran, its verdicts are included, otherwise the report says it did not.
    graph_rounds : sequence of int, optional
        Rounds at which to draw the graph. Default: the first, the middle and the last
        recorded round.

    Returns
    -------
    ReportPaths
        The Markdown and HTML files and every plot (keys: :data:`PLOT_NAMES`).

    Raises
    ------
    RunError
        If a file the report needs is missing or unreadable, or a round of
        ``graph_rounds`` is outside the run.
    """
    data = load_run_data(run_dir)
    rounds = data.round_numbers
    chosen = (
        _default_graph_rounds(rounds)
        if graph_rounds is None
        else _check_graph_rounds(graph_rounds, rounds)
    )
    out_dir = data.run_dir / "report"
    out_dir.mkdir(exist_ok=True)
    plots = {
        "accuracy": plot_accuracy_bands(data, out_dir / "accuracy.png"),
        "online": plot_online(data, out_dir / "online.png"),
        "graph": plot_graphs(data, chosen, out_dir / "graph.png"),
        "latency": plot_latency(data, out_dir / "latency.png"),
        "traffic": plot_traffic(data, out_dir / "traffic.png"),
    }
    sections = build_sections(data, chosen)
    md_path = data.run_dir / "report.md"
    html_path = data.run_dir / "report.html"
    atomic_write(md_path, render_markdown(data, sections, plots))
    atomic_write(html_path, render_html(data, sections, plots))
    return ReportPaths(markdown=md_path, html=html_path, plots=plots)
