"""The event engine orders events by round, then priority, then insertion."""

from __future__ import annotations

import pytest

from hdus_sim.engine import Engine, EventQueue
from hdus_sim.errors import RunError


class Recorder:
    def __init__(self) -> None:
        self.log: list[tuple[str, int, object]] = []

    def apply_event(self, event: object, now: int) -> None:
        self.log.append(("event", now, event))

    def run_round(self, now: int, *, train: bool) -> None:
        self.log.append(("round", now, train))


def test_queue_order_is_stable() -> None:
    q = EventQueue()
    for i, at in enumerate([3, 1, 3, 1]):
        q.push(at, i)
    assert [s.event for s in q.pop_due(3)] == [1, 3, 0, 2]
    assert len(q) == 0


def test_engine_runs_events_before_their_round_and_settles() -> None:
    rec = Recorder()
    eng = Engine(rec, rounds=3, settle=2)
    eng.schedule(1, "x")
    while not eng.finished:
        eng.step()
    assert rec.log[:4] == [
        ("round", 0, True),
        ("event", 1, "x"),
        ("round", 1, True),
        ("round", 2, True),
    ]
    assert rec.log[-2:] == [("round", 3, False), ("round", 4, False)]
    with pytest.raises(RunError, match="over"):
        eng.step()


def test_engine_refuses_past_and_out_of_range_events() -> None:
    eng = Engine(Recorder(), rounds=3)
    eng.step()
    with pytest.raises(RunError, match="clock is at 1"):
        eng.schedule(0, "late")
    with pytest.raises(RunError, match="scripted rounds end"):
        eng.schedule(5, "far")
