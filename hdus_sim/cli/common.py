"""What every ``hdus-sim`` command shares: the consoles, ``--set`` parsing, folder locks.

Kept apart from :mod:`hdus_sim.cli.app` (the parser and dispatch) so that the command
modules can import these without importing the app that registers them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

#: tables and result lines (stdout)
console = Console()
#: notes and progress (stderr)
err_console = Console(stderr=True)


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """Read ``--set field.path=value`` options into ``{field.path: value}`` (YAML values)."""
    from hdus_sim.scenario_yaml import read_yaml_text

    out: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise typer.BadParameter(
                f"--set {item!r}: write it as field.path=value, e.g. peers.rho=0.7"
            )
        key, value = item.split("=", 1)
        out[key.strip()] = read_yaml_text(value, f"--set {key.strip()}")
    return out


@contextlib.contextmanager
def owning(run_dir: Path) -> Iterator[None]:
    """Hold an existing run folder's lock while a command writes into it."""
    if not run_dir.is_dir():  # the command itself says what is missing
        yield
        return
    from hdus_sim.rundir import RunLock

    with RunLock(run_dir):
        yield


def print_notes(notes: list[str]) -> None:
    """Print a scenario's notes on stderr, one ``note:`` line each (plain text)."""
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def print_ray_note() -> None:
    """Say on stderr which Ray cluster the command ran on (after a Ray run)."""
    from hdus_sim.runtime.ray_runtime import RAY_CLUSTER

    err_console.print(f"[dim]ray: {RAY_CLUSTER.get('note')}[/]", soft_wrap=True)


def fmt(x: Any) -> str:
    """A table cell: ``-`` for missing, floats to 3 decimals (``nan`` kept), else ``str``."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if x != x else f"{x:.3f}"
    return str(x)
