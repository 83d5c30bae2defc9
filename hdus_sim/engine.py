"""A small discrete-event engine: a round clock and a queue of scheduled events.

Like SimPy's environment, the engine only orders things in time; what an event *does* is up
to the handler that scenario code gives it. Events due at the same round run in
``(priority, insertion order)``. It imports no torch, Ray or gRPC.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

from hdus_sim.errors import RunError

__all__ = ["Engine", "EventQueue", "RoundHandler", "Scheduled"]


@dataclass(order=True, frozen=True)
class Scheduled:
    """An event due at round ``at``; lower ``priority`` runs first within a round."""

    at: int
    priority: int
    seq: int
    event: Any = field(compare=False)


class EventQueue:
    """A heap of scheduled events with a stable tie order.

    Examples
    --------
    >>> q = EventQueue()
    >>> q.push(2, "b"); q.push(1, "a"); q.push(2, "c", priority=-1)
    >>> [s.event for s in q.pop_due(2)]
    ['a', 'c', 'b']
    """

    def __init__(self) -> None:
        self._heap: list[Scheduled] = []
        self._seq = itertools.count()

    def push(self, at: int, event: Any, priority: int = 0) -> None:
        """Schedule ``event`` at round ``at``."""
        heapq.heappush(self._heap, Scheduled(at, priority, next(self._seq), event))

    def pop_due(self, now: int) -> list[Scheduled]:
        """Remove and return every event due at or before ``now``, in order."""
        due: list[Scheduled] = []
        while self._heap and self._heap[0].at <= now:
            due.append(heapq.heappop(self._heap))
        return due

    def __len__(self) -> int:
        return len(self._heap)

    def pending(self) -> list[Scheduled]:
        """Scheduled events not yet run, in order."""
        return sorted(self._heap)


class RoundHandler(Protocol):
    """What the engine drives: applying an event and running one round."""

    def apply_event(self, event: Any, now: int) -> None:
        """Apply one due event at round ``now``."""

    def run_round(self, now: int, *, train: bool) -> None:
        """Run round ``now``; ``train`` is ``False`` in the settle phase."""


class Engine:
    """Round clock over ``rounds`` scripted rounds followed by ``settle`` rounds.

    Settle rounds apply no scripted events and train nothing: they only let messages,
    heartbeats and crash detection finish, so every removal can complete before the end.
    """

    def __init__(self, handler: RoundHandler, rounds: int, settle: int = 0) -> None:
        self.handler = handler
        self.rounds = rounds
        self.settle = settle
        self.queue = EventQueue()
        self.now = 0

    @property
    def total_rounds(self) -> int:
        """Scripted plus settle rounds."""
        return self.rounds + self.settle

    @property
    def finished(self) -> bool:
        """Whether every round has run."""
        return self.now >= self.total_rounds

    def schedule(self, at: int, event: Any, priority: int = 0) -> None:
        """Schedule an event; rounds already run are refused."""
        if at < self.now:
            raise RunError(f"cannot schedule an event at round {at}: the clock is at {self.now}")
        if at >= self.rounds:
            raise RunError(
                f"cannot schedule an event at round {at}: scripted rounds end at {self.rounds - 1}"
            )
        self.queue.push(at, event, priority)

    def step(self) -> int:
        """Run the next round (its due events first); return the round number that ran."""
        if self.finished:
            raise RunError(f"the run is over: all {self.total_rounds} rounds have run")
        now = self.now
        for scheduled in self.queue.pop_due(now):
            self.handler.apply_event(scheduled.event, now)
        self.handler.run_round(now, train=now < self.rounds)
        self.now = now + 1  # (a checkpoint taken inside the round already advanced it)
        return now
