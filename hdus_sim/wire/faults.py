"""An injectable fault layer for the wire: drop, duplicate, delay, reorder, partition.

Every decision is a pure function of (fault seed, round, sender, receiver, message identity,
how many identical messages went that way before), never of thread timing, so a faulty run
is as reproducible as a clean one and the retrain oracle sees the same faults.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clients.messages import Heartbeat, LeaveNotice, SeedMessage

__all__ = ["FaultConfig", "FaultLayer", "Partition", "fault_layer_for", "message_identity"]


@dataclass(frozen=True)
class Partition:
    """Cut ``peers`` off from everybody else for rounds ``start <= round < end``."""

    peers: frozenset[int]
    start: int
    end: int

    def separates(self, now: int, a: int, b: int) -> bool:
        """Whether a message from ``a`` to ``b`` crosses the cut at round ``now``."""
        return self.start <= now < self.end and ((a in self.peers) != (b in self.peers))


@dataclass(frozen=True)
class FaultConfig:
    """Probabilities per message (0..1) and delays in milliseconds."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_ms: tuple[float, float] = (0.0, 0.0)
    reorder_ms: float = 20.0
    partitions: tuple[Partition, ...] = ()
    seed: int = 0

    @property
    def active(self) -> bool:
        """Whether any fault is configured."""
        return bool(
            self.drop or self.duplicate or self.reorder or self.delay_ms[1] or self.partitions
        )


def message_identity(message: object) -> str:
    """A short stable identity of a message's content (not of its relay path)."""
    if isinstance(message, SeedMessage):
        r = message.record
        return f"seed:{r.owner}:{r.epoch}:{r.version}:{message.sender}:{message.ttl}"
    if isinstance(message, LeaveNotice):
        return f"leave:{message.peer}:{message.epoch}:{message.reporter}:{message.ttl}"
    if isinstance(message, Heartbeat):
        return f"hb:{message.sender}:{message.epoch}:{message.round}"
    return type(message).__name__


@dataclass
class FaultStats:
    """Counts of injected faults."""

    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    reordered: int = 0
    partitioned: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)


class FaultLayer:
    """Decides, per message, how many copies go out and after what delay."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.stats = FaultStats()
        self._seen: Counter[tuple[int, int, int, str]] = Counter()
        self._lock = threading.Lock()

    def plan(self, now: int, src: int, dst: int, message: object) -> list[float]:
        """Return the delays (seconds) of the copies to send; an empty list drops it."""
        cfg = self.config
        ident = message_identity(message)
        with self._lock:
            key = (now, src, dst, ident)
            nth = self._seen[key]
            self._seen[key] += 1
            if any(p.separates(now, src, dst) for p in cfg.partitions):
                self.stats.partitioned += 1
                return []
            digest = hashlib.sha256(f"{cfg.seed}|{now}|{src}|{dst}|{ident}|{nth}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            u = rng.random(4)
            if u[0] < cfg.drop:
                self.stats.dropped += 1
                self.stats.by_kind[ident.split(":")[0]] += 1
                return []
            low, high = cfg.delay_ms
            delay = (low + (high - low) * rng.random()) / 1000.0
            if high > 0:
                self.stats.delayed += 1
            if u[1] < cfg.reorder:
                delay += cfg.reorder_ms / 1000.0
                self.stats.reordered += 1
            copies = [delay]
            if u[2] < cfg.duplicate:
                copies.append(delay + (high - low) / 2000.0 + 0.001)
                self.stats.duplicated += 1
            return copies


def fault_layer_for(scenario: Any) -> FaultLayer | None:
    """The fault layer a scenario's ``faults:`` section asks for (``None`` when it is empty).

    Seeded from the scenario seed, so every process of a run (and every oracle) decides
    the same faults for the same messages.
    """
    from hdus_sim.rng import derive_seed

    f = scenario.faults
    layer = FaultLayer(
        FaultConfig(
            drop=f.drop,
            duplicate=f.duplicate,
            reorder=f.reorder,
            delay_ms=(float(f.delay_ms[0]), float(f.delay_ms[1])),
            reorder_ms=f.reorder_ms,
            partitions=tuple(Partition(frozenset(p.peers), p.start, p.end) for p in f.partitions),
            seed=derive_seed(scenario.seed, "faults"),
        )
    )
    return layer if layer.config.active else None
