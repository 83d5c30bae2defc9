"""``hdus-sim sweep`` and ``hdus-sim bench``: many runs of one scenario, one table each.

``sweep`` runs the scenario over the product of ``--set PATH=V1,V2,...`` grids (optionally
as Ray tasks); ``bench`` runs HDUS beside its baselines (:mod:`hdus_sim.bench`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from hdus_sim.cli.common import console, err_console, fmt, parse_sets, print_ray_note


def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: Annotated[
        list[str], typer.Option("--set", help="PATH=V1,V2,... (repeat; the grid is their product).")
    ] = [],  # noqa: B006
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write sweep.csv/.md.")] = Path(
        "runs/sweep"
    ),
    parallel: Annotated[str, typer.Option(help="none, or ray (runs as Ray tasks).")] = "none",
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
) -> None:
    """Run SCENARIO over a grid of overrides and write one table."""
    from hdus_sim.scenario import load_scenario
    from hdus_sim.sweep import run_sweep

    axes: dict[str, list[Any]] = {}
    for item in set_:
        if "=" not in item:
            raise typer.BadParameter(f"--set {item!r}: write it as PATH=V1,V2,...")
        key, values = item.split("=", 1)
        axes[key.strip()] = [yaml.safe_load(v) for v in values.split(",")]
    rows = run_sweep(load_scenario(scenario), axes, out, parallel=parallel, address=address)
    if parallel == "ray":
        print_ray_note()
    table = Table(title=f"sweep of {scenario} ({len(rows)} runs)")
    for col in rows[0]:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*(fmt(v) for v in row.values()))
    console.print(table)
    console.print(f"wrote {out}/sweep.csv and {out}/sweep.md")


def bench(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write bench.md/.json.")] = Path(
        "runs/bench"
    ),
    methods: Annotated[
        str, typer.Option(help="Comma-separated subset of the methods (default: all).")
    ] = "all",
    baseline_arch: Annotated[
        str, typer.Option(help="Model of FedAvg, DSGD and the pooled baseline.")
    ] = "sensor",
    baseline_epochs: Annotated[
        int | None,
        typer.Option(help="FedAvg/DSGD local epochs per scenario round (default: HDUS's budget)."),
    ] = None,
    max_events: Annotated[
        int, typer.Option(help="Bench at most this many departures (the first ones).")
    ] = 6,
    set_: Annotated[list[str], typer.Option("--set", help="Override a field: path=value.")] = [],  # noqa: B006
) -> None:
    """Run HDUS and the baselines on SCENARIO and write one table (see hdus_sim.bench)."""
    from hdus_sim.bench import METHODS, BenchConfig, render, run_bench, write
    from hdus_sim.scenario import load_scenario, with_overrides

    chosen = METHODS if methods == "all" else tuple(m.strip() for m in methods.split(","))
    try:
        config = BenchConfig(
            methods=tuple(dict.fromkeys(("hdus", *chosen))),
            baseline_arch=baseline_arch,
            baseline_epochs=baseline_epochs,
            max_events=max_events,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    sc = load_scenario(scenario)
    if set_:
        sc = with_overrides(sc, parse_sets(set_))
    report = run_bench(sc, config, log=lambda msg: err_console.print(f"[dim]{msg}[/]"))
    write(report, out)
    typer.echo(render(report))
    console.print(f"wrote {out}/bench.md and {out}/bench.json")
