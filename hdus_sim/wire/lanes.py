"""Per-destination sending lanes: one message in flight per destination, bounded backlog.

Why: a sender shares a small thread pool among all its neighbours. If one neighbour stops
answering (frozen, partitioned), every call to it waits out its deadline; with a plain
pool, those calls soon occupy every thread and messages to *healthy* neighbours queue
behind them. A lane per destination runs at most one of its messages at a time, so a dead
destination holds at most one thread; its backlog is bounded, and when it is full the
oldest waiting message is dropped (newer heartbeats and seeds supersede older ones).

>>> from concurrent.futures import ThreadPoolExecutor
>>> done = []
>>> with ThreadPoolExecutor(2) as pool:
...     lanes = Lanes(pool, max_pending=8, on_drop=lambda job: None)
...     for i in range(3):
...         lanes.submit("peer0", done.append, i)
...     lanes.wait_empty(5.0)
True
>>> done                     # one lane keeps its order
[0, 1, 2]
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from typing import Any

__all__ = ["Job", "Lanes"]

#: a queued call: the function and its arguments
Job = tuple[Callable[..., Any], tuple[Any, ...]]


class Lanes:
    """Run jobs on ``pool``, at most one per lane at a time, at most ``max_pending`` waiting.

    ``on_drop(job)`` is called (outside the lock) for a job pushed out of a full lane.
    """

    def __init__(self, pool: Executor, max_pending: int, on_drop: Callable[[Job], None]) -> None:
        self.pool = pool
        self.max_pending = max_pending
        self.on_drop = on_drop
        self._lock = threading.Lock()
        self._empty = threading.Condition(self._lock)
        self._pending: dict[Hashable, deque[Job]] = {}
        self._busy: set[Hashable] = set()

    def submit(self, lane: Hashable, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` once ``lane`` is free (at once if it is)."""
        dropped: Job | None = None
        with self._lock:
            if lane in self._busy:
                queue = self._pending.setdefault(lane, deque())
                if len(queue) >= self.max_pending:
                    dropped = queue.popleft()
                queue.append((fn, args))
            else:
                self._busy.add(lane)
                self.pool.submit(self._run, lane, (fn, args))
        if dropped is not None:
            self.on_drop(dropped)

    def _run(self, lane: Hashable, job: Job) -> None:
        while True:
            fn, args = job
            with contextlib.suppress(Exception):  # a job's failure must not stall its lane
                fn(*args)
            with self._lock:
                queue = self._pending.get(lane)
                if not queue:
                    self._pending.pop(lane, None)
                    self._busy.discard(lane)
                    if not self._busy:
                        self._empty.notify_all()
                    return
                job = queue.popleft()

    def backlog(self, lane: Hashable) -> int:
        """Jobs waiting (not running) in ``lane``."""
        with self._lock:
            return len(self._pending.get(lane, ()))

    def wait_empty(self, timeout: float) -> bool:
        """Block until no lane has work; ``False`` after ``timeout`` seconds."""
        with self._lock:
            return self._empty.wait_for(lambda: not self._busy, timeout=timeout)
