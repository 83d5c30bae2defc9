"""What every baseline shares: the run's timeline, per-event outcomes and accuracy spreads.

A :class:`Timeline` is read off an HDUS run of the scenario (see :mod:`hdus_sim.bench`):
which data owners ``(peer, epoch)`` are online in each scripted round, the graph among
them, and every departure (leave or crash) with its round. Baselines replay it on the same
data split, so every method sees the same devices, the same data and the same events.

Conventions, shared by every method so their numbers line up:

* an event at round ``r`` happens at the start of round ``r``; *before* is the state after
  round ``r - 1``, *after* is the state once the departed owner's data is unlearned (for
  HDUS, when the last holder dropped its seed);
* accuracy is measured on the peers that are online both before and after (the survivors)
  on each one's own local test set, and on the global test set; the spread is over peers;
* a crash is a departure like a leave: its data must be unlearned too;
* compute is counted in sample-passes: training samples times epochs (one forward and
  backward pass of one sample), summed over every model trained.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hdus_sim.world import World

__all__ = [
    "DepartureEvent",
    "EventOutcome",
    "MethodResult",
    "Spread",
    "Timeline",
    "accuracy_of",
    "survivor_accuracy",
]

DataOwner = tuple[int, int]


@dataclass(frozen=True)
class DepartureEvent:
    """A leave or crash at the start of scripted round ``round``."""

    round: int
    peer: int
    epoch: int
    kind: str

    @property
    def key(self) -> DataOwner:
        """The departed data owner ``(peer, epoch)``."""
        return (self.peer, self.epoch)

    @property
    def label(self) -> str:
        """Short name for tables, e.g. ``leave 4 @r4``."""
        return f"{self.kind} {self.peer} @r{self.round}"


@dataclass(frozen=True)
class Timeline:
    """Who trains in which round and over which graph, as the HDUS run had it.

    Attributes
    ----------
    online
        ``online[r]``: data owners online in scripted round ``r`` (after that round's events).
    edges
        ``edges[r]``: undirected links ``(a, b)``, ``a < b``, among ``online[r]``'s peers.
    departures
        Leaves and crashes, in round order.
    """

    online: tuple[frozenset[DataOwner], ...]
    edges: tuple[frozenset[tuple[int, int]], ...]
    departures: tuple[DepartureEvent, ...]

    @property
    def rounds(self) -> int:
        """Scripted rounds in the timeline."""
        return len(self.online)

    def members(self, r: int, *, excluding: Iterable[DataOwner] = ()) -> frozenset[int]:
        """Peer ids online in round ``r`` whose current epoch is not in ``excluding``."""
        gone = set(excluding)
        return frozenset(p for p, e in self.online[r] if (p, e) not in gone)

    def departed_by(self, r: int) -> frozenset[DataOwner]:
        """Owners that departed at or before round ``r`` (their data is unlearned by then)."""
        return frozenset(d.key for d in self.departures if d.round <= r)

    def survivors(self, event: DepartureEvent) -> list[int]:
        """Peers online both just before ``event`` and in its round, other than the leaver."""
        before = {p for p, _ in self.online[event.round - 1]} if event.round > 0 else set()
        after = {p for p, _ in self.online[event.round]}
        return sorted((before & after) - {event.peer})


@dataclass(frozen=True)
class Spread:
    """Accuracy over peers: mean, standard deviation, min and max (fractions in [0, 1])."""

    mean: float
    std: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        """Summarise ``values`` (NaN-free); an empty input gives NaNs and ``n = 0``."""
        v = np.asarray([x for x in values if not np.isnan(x)], float)
        if v.size == 0:
            nan = float("nan")
            return cls(nan, nan, nan, nan, 0)
        return cls(float(v.mean()), float(v.std()), float(v.min()), float(v.max()), int(v.size))

    def as_dict(self) -> dict[str, float | int]:
        """Plain data for JSON (rounded to 4 decimals)."""
        return {
            "mean": round(self.mean, 4),
            "std": round(self.std, 4),
            "min": round(self.min, 4),
            "max": round(self.max, 4),
            "n": self.n,
        }


@dataclass
class EventOutcome:
    """One method's handling of one departure."""

    event: DepartureEvent
    local_before: Spread
    local_after: Spread
    global_before: float
    global_after: float
    #: wall time of the unlearning itself (s): a retrain, a drop, a subtraction
    unlearn_wall_s: float
    #: compute of the unlearning in sample-passes (training samples x epochs)
    unlearn_sample_epochs: int
    #: what the method may claim for this event: EXACT, EMPIRICAL (approximate) or n/a
    verdict: str
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "event": self.event.label,
            "round": self.event.round,
            "peer": self.event.peer,
            "epoch": self.event.epoch,
            "kind": self.event.kind,
            "local_before": self.local_before.as_dict(),
            "local_after": self.local_after.as_dict(),
            "global_before": round(self.global_before, 4),
            "global_after": round(self.global_after, 4),
            "unlearn_wall_s": self.unlearn_wall_s,
            "unlearn_sample_epochs": self.unlearn_sample_epochs,
            "verdict": self.verdict,
            "notes": self.notes,
        }


@dataclass
class MethodResult:
    """A method's whole run on the timeline."""

    method: str
    #: which models it trains, e.g. "sensor MLP on every client (2,410 parameters)"
    models: str
    events: list[EventOutcome] = field(default_factory=list)
    #: bytes sent by all training traffic over the run (models, seeds; not control messages)
    bytes_sent: int = 0
    #: wall time of the method's whole run (s), unlearning included
    wall_s: float = 0.0
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "method": self.method,
            "models": self.models,
            "bytes_sent": self.bytes_sent,
            "wall_s": round(self.wall_s, 3),
            "notes": self.notes,
            "events": [e.as_dict() for e in self.events],
        }


def accuracy_of(predict: Callable[[torch.Tensor], torch.Tensor], x: Any, y: Any) -> float:
    """Fraction of ``x`` that ``predict`` (inputs to scores) labels ``y``; NaN if empty."""
    xt = torch.as_tensor(np.asarray(x)).float()
    yt = torch.as_tensor(np.asarray(y)).long()
    if yt.numel() == 0:
        return float("nan")
    with torch.no_grad():
        return float((predict(xt).argmax(dim=1) == yt).float().mean())


def survivor_accuracy(
    world: World,
    predictors: Mapping[int, Callable[[torch.Tensor], torch.Tensor]],
    peers: Iterable[int],
) -> tuple[Spread, float]:
    """Spread of local-test accuracy over ``peers`` and their mean global-test accuracy.

    ``predictors[p]`` is what peer ``p`` predicts with (its own model, a shared global
    model, an ensemble).
    """
    local, global_ = [], []
    for pid in peers:
        data = world.split.peers[pid]
        local.append(accuracy_of(predictors[pid], data.test_x, data.test_y))
        global_.append(accuracy_of(predictors[pid], world.global_x, world.global_y))
    g = [v for v in global_ if not np.isnan(v)]
    return Spread.of(local), float(np.mean(g)) if g else float("nan")
