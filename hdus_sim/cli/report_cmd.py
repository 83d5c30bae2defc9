"""``hdus-sim report``: a run folder's Markdown and self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hdus_sim.cli.common import console, owning


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `hdus-sim run`.")],
    rounds: Annotated[
        list[int], typer.Option("--graph-round", help="Rounds to draw the graph at (repeat).")
    ] = [],  # noqa: B006
) -> None:
    """Write DIR/report.md and a self-contained DIR/report.html with plots."""
    from hdus_sim.report import write_report

    with owning(run_dir):
        paths = write_report(run_dir, graph_rounds=rounds or None)
    console.print(f"wrote {paths.html} and {paths.markdown} ({len(paths.plots)} plots)")
