"""Small helpers the benchmark scripts share: Markdown tables, numbers, load, Ray actor pids.

The scripts in this folder run as ``python benchmarks/NAME.py``, so this module is found
next to them (each script also puts this folder on ``sys.path`` for imports from elsewhere).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["actor_pids", "fmt", "load_average", "md_table", "wait_gone"]


def fmt(x: float | None, spec: str = ".2f") -> str:
    """``x`` formatted with ``spec``; ``-`` for a missing or NaN value.

    Examples
    --------
    >>> fmt(1.2345), fmt(float("nan")), fmt(None)
    ('1.23', '-', '-')
    """
    return "-" if x is None or math.isnan(x) else format(x, spec)


def md_table(header: list[str], rows: list[list[str]], *, left: bool = False) -> str:
    """A Markdown table; columns after the first are right-aligned unless ``left``.

    Examples
    --------
    >>> print(md_table(["a", "b"], [["x", "1"]]))
    | a | b |
    |---|---|
    | x | 1 |
    """
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        padded = (
            c.rjust(w) if i and not left else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def actor_pids(sim: Any) -> list[int]:
    """Process ids of a Ray-runtime simulation's actors (empty for other runtimes)."""
    info = sim.summary()["wire"].get("ray")
    return [int(a["pid"]) for a in info["actors"]] if info else []


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has no ``VmRSS`` line: it counts as gone)."""
    try:
        return "VmRSS:" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def wait_gone(pids: list[int], timeout_s: float = 30.0) -> list[int]:
    """Wait until the processes ``pids`` have exited; return those still alive."""
    deadline = time.monotonic() + timeout_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _running(p)]
        if alive:
            time.sleep(0.1)
    return alive
