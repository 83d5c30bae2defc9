"""Run metrics: per-round accuracy rows, message counts, and leave-removal latency.

Removal latency of a departure is measured from the moment the leave or crash happens to
the moment the last peer that held the departed seed dropped it, both in rounds and in wall
seconds (wall time includes the rounds a crash takes to be detected).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Departure", "RemovalTracker", "mean_of"]


@dataclass
class Departure:
    """One leave or crash and the progress of its removal."""

    peer: int
    epoch: int
    kind: str
    round: int
    wall_start: float
    holders_at_start: list[int]
    pending: set[int] = field(default_factory=set)
    done_round: int | None = None
    latency_s: float | None = None
    detected_round: int | None = None
    detectors: list[int] = field(default_factory=list)
    #: wall clock (``time.perf_counter``) of the first holder's drop, for the removal work time
    first_drop_wall: float | None = None
    #: seconds of removal work: from the leave notice (graceful) or the first holder's drop
    #: (crash: detection is waiting for missed heartbeats, not work) to the last holder's drop
    removal_work_s: float | None = None

    @property
    def complete(self) -> bool:
        """Whether every holder has dropped the seed (or gone)."""
        return not self.pending

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        d = asdict(self)
        d["pending"] = sorted(self.pending)
        d.pop("first_drop_wall")  # a process-local clock reading, meaningless in a file
        d["latency_rounds"] = None if self.done_round is None else self.done_round - self.round
        d["detection_rounds"] = (
            None if self.detected_round is None else self.detected_round - self.round
        )
        return d


class RemovalTracker:
    """Follows every departure until no online peer holds its seed."""

    def __init__(self) -> None:
        self.departures: dict[tuple[int, int], Departure] = {}

    def start(self, peer: int, epoch: int, kind: str, now: int, holders: set[int]) -> Departure:
        """Record a departure and who holds its seed at that moment."""
        dep = Departure(peer, epoch, kind, now, time.perf_counter(), sorted(holders), set(holders))
        self.departures[(peer, epoch)] = dep
        self._maybe_done(dep, now)
        return dep

    def _maybe_done(self, dep: Departure, now: int) -> None:
        if not dep.pending and dep.done_round is None:
            dep.done_round = now
            end = time.perf_counter()
            dep.latency_s = end - dep.wall_start
            start = dep.wall_start if dep.kind == "leave" else dep.first_drop_wall
            dep.removal_work_s = end - (dep.wall_start if start is None else start)

    def dropped(self, holder: int, owner: tuple[int, int], now: int) -> None:
        """A holder dropped ``owner``'s seed."""
        dep = self.departures.get(owner)
        if dep is not None and holder in dep.pending:
            if dep.first_drop_wall is None:
                dep.first_drop_wall = time.perf_counter()
            dep.pending.discard(holder)
            self._maybe_done(dep, now)

    def detected(self, owner: tuple[int, int], detector: int, now: int) -> None:
        """A neighbour declared ``owner`` crashed (the first detection sets the round)."""
        dep = self.departures.get(owner)
        if dep is not None:
            if dep.detected_round is None:
                dep.detected_round = now
            dep.detectors.append(detector)

    def holder_gone(self, holder: int, now: int) -> None:
        """A holder itself left: it no longer counts as holding anything."""
        for dep in self.departures.values():
            if holder in dep.pending:
                dep.pending.discard(holder)
                self._maybe_done(dep, now)

    def rows(self) -> list[dict[str, Any]]:
        """One row per departure."""
        return [d.as_dict() for _, d in sorted(self.departures.items(), key=lambda kv: kv[1].round)]


def mean_of(rows: list[dict[str, Any]], key: str) -> float:
    """Mean of ``key`` over rows, ignoring NaN (NaN if nothing is left)."""
    vals = [float(r[key]) for r in rows if r.get(key) is not None and not math.isnan(float(r[key]))]
    return sum(vals) / len(vals) if vals else float("nan")
