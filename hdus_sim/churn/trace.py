"""Availability traces: a CSV ``peer,start,end`` (or inline intervals) -> online intervals.

Rounds are integers, ``start`` inclusive and ``end`` exclusive; touching intervals of one
peer merge, overlapping ones are an error naming the file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hdus_sim.errors import ScenarioError

__all__ = ["load_trace"]


def _normalise_intervals(
    rows: Mapping[int, Sequence[tuple[int, int, Any]]], where: Any
) -> dict[int, list[tuple[int, int]]]:
    """Check and merge per-peer intervals ``(start, end, tag)``; ``where(peer, tag)`` names one.

    Touching intervals (``end == next start``) are merged: no event separates them.
    """
    out: dict[int, list[tuple[int, int]]] = {}
    for peer in sorted(rows):
        spans = sorted(rows[peer], key=lambda row: (row[0], row[1]))
        for start, end, tag in spans:
            if end <= start:
                raise ScenarioError(
                    f"{where(peer, tag)}: end ({end}) must be after start ({start}); "
                    "end is exclusive, so a one-round interval is `start, start + 1`"
                )
        merged: list[tuple[int, int]] = []
        prev_tag: Any = None
        for start, end, tag in spans:
            if merged and start < merged[-1][1]:
                raise ScenarioError(
                    f"{where(peer, tag)}: peer {peer}'s interval [{start}, {end}) overlaps its "
                    f"interval ending at {merged[-1][1]} ({where(peer, prev_tag)}); "
                    "merge them into one or fix the rounds"
                )
            if merged and start == merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
            prev_tag = tag
        out[peer] = merged
    return out


def _int_cell(path: Path, line: int, column: str, cell: str) -> int:
    try:
        value = int(cell)
    except ValueError:
        raise ScenarioError(
            f"{path}:{line}: {column} {cell!r} is not an integer; "
            f"write whole rounds and peer ids, e.g. `3,0,12`"
        ) from None
    if value < 0:
        raise ScenarioError(f"{path}:{line}: {column} must be >= 0, got {value}")
    return value


def load_trace(path: str | Path) -> dict[int, list[tuple[int, int]]]:
    r"""Read an availability trace: CSV ``peer,start,end`` -> sorted online intervals per peer.

    Rounds are integers, ``start`` inclusive and ``end`` exclusive. Blank lines and lines
    starting with ``#`` are skipped; touching intervals of one peer are merged.

    Raises
    ------
    ScenarioError
        Naming the file, the line and the fix: missing file, bad header, wrong number of
        columns, non-integer or negative value, ``end <= start``, overlapping intervals.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = Path(tmp) / "t.csv"
    ...     _ = p.write_text("peer,start,end\n0,0,5\n0,8,10\n1,2,4\n")
    ...     load_trace(p)
    {0: [(0, 5), (8, 10)], 1: [(2, 4)]}
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(
            f"trace file {path} does not exist; give `churn.trace.file` as a path relative "
            "to the scenario file's folder, or an absolute path"
        )
    rows: dict[int, list[tuple[int, int, int]]] = {}
    header = False
    try:
        _read_trace_rows(path, rows)
        header = True
    except _EmptyTrace:
        header = False
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"trace file {path} is not UTF-8 text (byte offset {exc.start}); save it as UTF-8 CSV"
        ) from None
    except csv.Error as exc:
        raise ScenarioError(f"trace file {path} is not a readable CSV file: {exc}") from None
    if not header:
        raise ScenarioError(f"trace file {path} is empty; it needs the header `peer,start,end`")
    return _normalise_intervals(rows, lambda _peer, line: f"{path}:{line}")


class _EmptyTrace(Exception):
    """The trace file holds no header line."""


def _read_trace_rows(path: Path, rows: dict[int, list[tuple[int, int, int]]]) -> None:
    """Fill ``rows`` (peer -> ``(start, end, line)``) from the CSV at ``path``."""
    header = False
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        for row in reader:
            line = reader.line_num
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not header:
                if [c.lower() for c in cells] != ["peer", "start", "end"]:
                    raise ScenarioError(
                        f"{path}:{line}: the header must be `peer,start,end`, got "
                        f"`{','.join(cells)}`; put that header on the first line"
                    )
                header = True
                continue
            if len(cells) != 3:
                raise ScenarioError(
                    f"{path}:{line}: expected 3 columns `peer,start,end`, got {len(cells)} "
                    f"(`{','.join(cells)}`)"
                )
            peer, start, end = (
                _int_cell(path, line, col, cell)
                for col, cell in zip(("peer", "start", "end"), cells, strict=True)
            )
            rows.setdefault(peer, []).append((start, end, line))
    if not header:
        raise _EmptyTrace
