"""How messages write a set of ids: runs of consecutive ids as ranges.

Examples
--------
>>> id_ranges([0, 1, 2, 5])
'0-2, 5'
>>> id_ranges([])
'none'
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["id_ranges"]


def id_ranges(ids: Iterable[int], limit: int | None = 8) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``, cut after ``limit`` runs (``None``: never)."""
    items = sorted(ids)
    runs: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        runs.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    if limit is None:
        limit = len(runs)
    shown = ", ".join(runs[:limit])
    return (shown + ", ...") if len(runs) > limit else (shown or "none")
