"""Churn's output records: :class:`ChurnEvent`, :class:`ChurnPlan`, and replaying events.

The event order is fixed: ``(round, join before leave before crash, peer)``, so a round
never passes through an empty network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hdus_sim.errors import ScenarioError

__all__ = ["CAUSES", "ChurnEvent", "ChurnPlan", "online_intervals"]

ChurnKind = Literal["join", "leave", "crash"]
Cause = Literal["session", "arrival", "diurnal", "outage", "battery", "trace", "anchor"]

#: Which process caused an event; a join or leave is blamed on the first of these (in this
#: order) whose own state changed, ``"anchor"`` when the keep-one-online rule did it.
CAUSES: tuple[str, ...] = ("arrival", "trace", "outage", "diurnal", "session", "battery")
_KIND_ORDER = {"join": 0, "leave": 1, "crash": 2}


@dataclass(frozen=True)
class ChurnEvent:
    """One generated event at the start of round ``at``, and the process that ``cause``-d it.

    ``device`` is set on joins of peers that are not initial peers (arrivals, trace peers),
    so the engine knows which class joins; it is ``None`` otherwise.
    """

    at: int
    kind: ChurnKind
    peer: int
    device: str | None
    cause: str

    def as_event(self) -> dict[str, Any]:
        """The scenario ``Event`` fields: ``make_event(**ev.as_event())``.

        Examples
        --------
        >>> ChurnEvent(3, "join", 7, "sensor", "arrival").as_event()
        {'at': 3, 'kind': 'join', 'peer': 7, 'device': 'sensor'}
        >>> ChurnEvent(5, "crash", 7, None, "session").as_event()
        {'at': 5, 'kind': 'crash', 'peer': 7}
        """
        out: dict[str, Any] = {"at": self.at, "kind": self.kind, "peer": self.peer}
        if self.kind == "join" and self.device is not None:
            out["device"] = self.device
        return out


@dataclass(frozen=True)
class ChurnPlan:
    """What :func:`plan_churn` generated: events plus what a report may want to show.

    Attributes
    ----------
    events
        Sorted by ``(round, join before leave before crash, peer)``: joins come first so a
        round never passes through an empty network.
    warnings
        Human-readable notes (the keep-one-online rule fired, battery classes unknown, ...).
    arrivals
        New peer id -> the round its Poisson arrival falls in (``ceil`` of the instant).
    devices
        Device class of every non-initial peer that churn brings in (when known).
    diurnal
        The peers the diurnal window applies to.
    anchor
        The peer kept online when nobody else would be (``None`` without churning peers).
    """

    events: tuple[ChurnEvent, ...]
    warnings: tuple[str, ...] = ()
    arrivals: Mapping[int, int] = field(default_factory=dict)
    devices: Mapping[int, str] = field(default_factory=dict)
    diurnal: frozenset[int] = frozenset()
    anchor: int | None = None

    @property
    def peers(self) -> list[int]:
        """Every peer id the events name, sorted (new ids need data and a device)."""
        return sorted({ev.peer for ev in self.events})


def online_intervals(
    events: Iterable[ChurnEvent | Any], initial: Iterable[int], rounds: int
) -> dict[int, list[tuple[int, int]]]:
    """Replay join / leave / crash events into each peer's online rounds ``[start, end)``.

    Initial peers are online from round 0; intervals are clipped to ``[0, rounds)`` and empty
    ones dropped. Events need ``at``, ``kind`` and ``peer`` (churn or scenario events); other
    kinds are ignored.

    Raises
    ------
    ScenarioError
        If the events are inconsistent (a join of an online peer, a leave of an offline one).

    Examples
    --------
    >>> evs = [ChurnEvent(2, "leave", 1, None, "session"),
    ...        ChurnEvent(4, "join", 1, None, "session"), ChurnEvent(3, "join", 5, None, "trace")]
    >>> online_intervals(evs, [0, 1], 6)
    {0: [(0, 6)], 1: [(0, 2), (4, 6)], 5: [(3, 6)]}
    """
    since: dict[int, int] = {int(p): 0 for p in initial}
    out: dict[int, list[tuple[int, int]]] = {p: [] for p in since}
    ordered = sorted(
        (e for e in events if e.kind in _KIND_ORDER),
        key=lambda e: (e.at, _KIND_ORDER[e.kind], e.peer),
    )
    for ev in ordered:
        pid = int(ev.peer)
        out.setdefault(pid, [])
        if ev.kind == "join":
            if pid in since:
                raise ScenarioError(f"join of peer {pid} at round {ev.at}: it is already online")
            since[pid] = ev.at
        else:
            if pid not in since:
                raise ScenarioError(f"{ev.kind} of peer {pid} at round {ev.at}: it is not online")
            start = since.pop(pid)
            if min(ev.at, rounds) > start:
                out[pid].append((start, min(ev.at, rounds)))
    for pid, start in since.items():
        if rounds > start:
            out[pid].append((start, rounds))
    return {pid: out[pid] for pid in sorted(out)}
