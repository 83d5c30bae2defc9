"""Deciding many events with few oracles: whole groups first, split where they differ.

One oracle can stand for many events: if the run's surviving predictions equal, bit for
bit, those of the oracle withholding a *group* of events, no survivor depends on any of
them. :func:`check_groups` therefore starts with one oracle for every event and splits a
group only when its oracle differs (halves, then single events), so a clean run with
hundreds of departures costs one re-run, and a failing one names each culprit with about
``2 k log2(n / k)`` re-runs for ``k`` culprits among ``n`` events instead of ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

__all__ = ["check_groups"]

#: what :func:`check_groups` decides: an event's key (a departure, a deletion request)
Item = TypeVar("Item", bound=Hashable)


def check_groups(
    items: Sequence[Item],
    group_ok: Callable[[Sequence[Item]], bool],
    single: Callable[[Item], None],
    *,
    planned: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Decide ``items`` with as few oracles as possible: whole groups first, split on failure.

    ``group_ok(group)`` runs one oracle withholding every item of ``group`` and says
    whether the run's survivors predict identically (then every item of it passes);
    ``single(item)`` checks one item with its own oracle (and records its verdict,
    naming the peers that differ). A group that differs is split in two halves, in
    order, each checked by its own oracle; a half that differs is split again. When
    *both* halves differ, failures are dense there and each of their items goes straight
    to its own oracle (bisecting further would cost more than checking each). A group of
    at most 3 that differs is checked item by item. ``planned(n)`` is told whenever ``n``
    more oracles are queued. Returns one row per group oracle run: its size and whether
    it passed.
    """
    rows: list[dict[str, Any]] = []

    def note(n: int) -> None:
        if planned is not None:
            planned(n)

    def ok(group: Sequence[Item]) -> bool:
        passed = group_ok(group)
        rows.append({"size": len(group), "passed": passed})
        return passed

    def singles(group: Sequence[Item]) -> None:
        note(len(group))
        for item in group:
            single(item)

    def split(group: Sequence[Item]) -> None:  # its oracle differed
        if len(group) <= 3:
            singles(group)
            return
        mid = len(group) // 2
        halves = [group[:mid], group[mid:]]
        note(2)
        failed = [half for half in halves if not ok(half)]
        if len(failed) == 2:
            for half in failed:
                singles(half)
        else:
            for half in failed:
                split(half)

    if len(items) == 1:
        singles(items)
    elif items:
        note(1)
        if not ok(items):
            split(items)
    return rows
