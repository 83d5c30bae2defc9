"""Run metrics: per-round accuracy rows, message counts, and time-to-forget.

Time-to-forget (removal latency) of a departure is measured from the moment the leave or
crash happens to the moment the last peer that held the departed seed dropped it, both in
rounds and in wall seconds (wall time includes the rounds a crash takes to be detected).
Holders are those at the departure *and* any peer that took the seed in afterwards (a
relay that had not yet heard passed it on), so "complete" means nobody holds it. Each
departure carries its bound, the lease: no holder may keep the seed longer.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Departure", "RemovalTracker", "forgetting_summary", "mean_of"]


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
    #: rounds within which every holder must have dropped the seed (the lease)
    bound_rounds: int | None = None
    #: holder -> round it dropped the seed (or left)
    drops: dict[int, int] = field(default_factory=dict)
    #: holders that dropped it because its lease ran out (or a hint's grace)
    lease_drops: list[int] = field(default_factory=list)
    #: peers that took the seed in after the departure (from a relay that had not heard)
    late_holders: list[int] = field(default_factory=list)

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
        d["drops"] = {str(h): r for h, r in sorted(self.drops.items())}
        d["within_bound"] = (
            None
            if self.bound_rounds is None or self.done_round is None
            else self.done_round - self.round <= self.bound_rounds
        )
        return d


class RemovalTracker:
    """Follows every departure until no online peer holds its seed."""

    def __init__(self) -> None:
        self.departures: dict[tuple[int, int], Departure] = {}

    def start(
        self,
        peer: int,
        epoch: int,
        kind: str,
        now: int,
        holders: set[int],
        bound_rounds: int | None = None,
    ) -> Departure:
        """Record a departure, who holds its seed at that moment, and its forgetting bound."""
        dep = Departure(peer, epoch, kind, now, time.perf_counter(), sorted(holders), set(holders))
        dep.bound_rounds = bound_rounds
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
            dep.drops[holder] = now
            self._maybe_done(dep, now)

    def expired(self, holder: int, owner: tuple[int, int]) -> None:
        """The drop of ``owner``'s seed at ``holder`` was a lease expiry (or a hint's grace)."""
        dep = self.departures.get(owner)
        if dep is not None and holder not in dep.lease_drops:
            dep.lease_drops.append(holder)

    def acquired(self, holder: int, owner: tuple[int, int], now: int) -> bool:
        """``holder`` took in the seed of a departure after it happened.

        While the removal is under way the holder joins the pending set (the removal is
        complete only when nobody holds the seed); returns ``False`` if the removal had
        already completed (a resurrection, which the caller reports).
        """
        dep = self.departures.get(owner)
        if dep is None or holder in dep.pending:
            return True
        if dep.done_round is not None:
            return False
        dep.pending.add(holder)
        dep.late_holders.append(holder)
        return True

    def incomplete(self) -> list[tuple[int, int]]:
        """Departures whose seed somebody may still hold."""
        return [k for k, d in sorted(self.departures.items()) if d.done_round is None]

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
                dep.drops[holder] = now
                self._maybe_done(dep, now)

    def rows(self) -> list[dict[str, Any]]:
        """One row per departure."""
        return [d.as_dict() for _, d in sorted(self.departures.items(), key=lambda kv: kv[1].round)]


def mean_of(rows: list[dict[str, Any]], key: str) -> float:
    """Mean of ``key`` over rows, ignoring NaN (NaN if nothing is left)."""
    vals = [float(r[key]) for r in rows if r.get(key) is not None and not math.isnan(float(r[key]))]
    return sum(vals) / len(vals) if vals else float("nan")


def forgetting_summary(departures: list[dict[str, Any]], end_round: int) -> dict[str, Any]:
    """Time-to-forget over a run's departures (rows of :meth:`RemovalTracker.rows`).

    Returns the lease bound, the median and worst rounds to forget, how many were forgotten
    by lease expiry somewhere, and every departure held past its bound (still held at
    ``end_round`` counts from its departure to then).

    Examples
    --------
    >>> rows = [{"peer": 1, "epoch": 0, "round": 2, "latency_rounds": 0, "bound_rounds": 4,
    ...          "lease_drops": []}, {"peer": 2, "epoch": 0, "round": 3,
    ...          "latency_rounds": 3, "bound_rounds": 4, "lease_drops": [5]}]
    >>> s = forgetting_summary(rows, 9)
    >>> s["worst_rounds"], s["median_rounds"], s["by_lease"], s["past_bound"]
    (3, 1.5, 1, [])
    """
    done = sorted(int(d["latency_rounds"]) for d in departures if d["latency_rounds"] is not None)
    past = []
    for d in departures:
        bound = d.get("bound_rounds")
        took = d["latency_rounds"]
        if bound is None:
            continue
        if took is None and end_round - int(d["round"]) > bound:
            past.append({"peer": d["peer"], "epoch": d["epoch"], "rounds": None, "bound": bound})
        elif took is not None and took > bound:
            past.append({"peer": d["peer"], "epoch": d["epoch"], "rounds": took, "bound": bound})
    mid = len(done) // 2
    median = None if not done else (done[mid] if len(done) % 2 else (done[mid - 1] + done[mid]) / 2)
    bounds = sorted({int(d["bound_rounds"]) for d in departures if d.get("bound_rounds")})
    return {
        "departures": len(departures),
        "forgotten": len(done),
        "lease_rounds": bounds[0] if len(bounds) == 1 else bounds,
        "median_rounds": median,
        "worst_rounds": done[-1] if done else None,
        "by_lease": sum(1 for d in departures if d.get("lease_drops")),
        "past_bound": past,
    }
