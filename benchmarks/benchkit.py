"""Small helpers the benchmark scripts share: Markdown tables, numbers, load, Ray actor pids.

The scripts in this folder run as ``python benchmarks/NAME.py``, so this module is found
next to them (each script also puts this folder on ``sys.path`` for imports from elsewhere).
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "actor_pids",
    "fmt",
    "gaussian_mixture",
    "load_average",
    "md_table",
    "timed",
    "wait_gone",
]

T = TypeVar("T")


def fmt(x: float | None, spec: str = ".2f") -> str:
    """``x`` formatted with ``spec``; ``-`` for a missing or NaN value.

    Examples
    --------
    >>> fmt(1.2345), fmt(float("nan")), fmt(None)
    ('1.23', '-', '-')
    """
    return "-" if x is None or math.isnan(x) else format(x, spec)


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """Run ``fn`` once: ``(result, wall seconds, CPU seconds of this process)``.

    The garbage collector is paused during the call (``timeit``'s convention), so no
    collection lands inside a measurement. Collect *before* preparing a call's inputs
    (``gc.collect()``, then e.g. the model copy), not right before the clock starts: a
    full collection walks the whole heap and leaves the caches cold, which charges every
    call a fixed wake-up cost (about 0.8 ms on a 12 ms SISA delete here); both sides of a
    ratio pay it, the short side relatively more.

    Examples
    --------
    >>> out, wall, cpu = timed(lambda: sum(range(1000)))
    >>> out, wall >= 0.0, cpu >= 0.0, gc.isenabled()
    (499500, True, True, True)
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        if enabled:
            gc.enable()


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


def gaussian_mixture(
    n: int, d: int, seed: int, *, classes: int = 10, test: int = 5000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A ``classes``-class Gaussian mixture in ``d`` dimensions, drawn from ``seed``.

    Returns train ``(n, d)`` float32 inputs and labels, then ``test`` test rows and labels.
    Class means are ``N(0, 1.2^2/d)`` per coordinate, noise ``N(0, 0.45^2)``: classes
    overlap enough that a linear head reaches about 0.8 accuracy. Used where no bundled
    dataset holds enough samples per peer (n up to 60,000).

    >>> x, y, tx, ty = gaussian_mixture(50, 4, 0, test=10)
    >>> x.shape, y.shape, tx.shape, int(y.max()) < 10
    ((50, 4), (50,), (10, 4), True)
    """
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((classes, d)) * 1.2 / math.sqrt(d)

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, m)
        return (means[y] + rng.standard_normal((m, d)) * 0.45).astype(np.float32), y

    x, y = draw(n)
    tx, ty = draw(test)
    return x, y, tx, ty
