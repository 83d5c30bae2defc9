"""The interface between the scenario engine and a runtime, in plain records.

The engine decides *what* happens (who joins, leaves, links, trains); a runtime decides
*where* peers live and *how* messages travel. Everything crossing this interface is plain
Python data, so the engine imports no torch, Ray or gRPC.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["DeliveryStats", "DropListener", "PeerSpec", "Runtime"]

#: Called as ``listener(holder, (owner, epoch), now)`` whenever a holder drops a seed.
DropListener = Callable[[int, tuple[int, int], int], None]


@dataclass(frozen=True)
class PeerSpec:
    """Everything a runtime needs to create one peer (data comes from the shared split)."""

    peer_id: int
    epoch: int
    device: str
    withhold_epochs: frozenset[int] = frozenset()
    keep_dropped_seeds: bool = False


@dataclass
class DeliveryStats:
    """Message counters of one round (reset by the engine each round).

    Attributes
    ----------
    sent, bytes_sent
        Per sending peer: messages and approximate payload bytes.
    lost
        Messages addressed to a peer that is no longer online.
    refused
        Refusal reasons, counted (a refused message leaves the receiver unchanged).
    """

    sent: Counter[int] = field(default_factory=Counter)
    bytes_sent: Counter[int] = field(default_factory=Counter)
    lost: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    def total(self) -> dict[str, int]:
        """Totals over all peers."""
        return {
            "messages": int(sum(self.sent.values())),
            "bytes": int(sum(self.bytes_sent.values())),
            "lost": self.lost,
            "refused": int(sum(self.refused.values())),
        }


class Runtime(Protocol):
    """What the engine asks of a runtime; see :class:`~hdus_sim.runtime.InProcessRuntime`."""

    stats: DeliveryStats

    def spawn(self, spec: PeerSpec) -> None:
        """Create and start a peer."""

    def retire(self, peer_id: int, *, graceful: bool, now: int) -> None:
        """Stop a peer; a graceful one first sends its leave notices."""

    def link(self, a: int, b: int, now: int) -> None:
        """Tell both ends of a new edge about each other (they exchange seeds)."""

    def unlink(self, a: int, b: int) -> None:
        """Tell both ends of a removed edge between two online peers."""

    def online(self) -> list[int]:
        """Ids of peers currently running, sorted."""

    def train_round(self, now: int) -> list[int]:
        """Let every peer with budget left train and re-distil; returns who made a new seed."""

    def heartbeat_round(self, now: int) -> list[tuple[int, tuple[int, int]]]:
        """Send heartbeats, then let each peer detect silent neighbours; returns detections."""

    def evaluate(self, now: int) -> list[dict[str, Any]]:
        """Per-peer accuracy rows (main-only, seeds-only, ensemble; local and global test)."""

    def predict_probe(self) -> dict[int, Any]:
        """Each online peer's ensemble scores on the probe set, keyed by peer id."""

    def holdings(self) -> dict[int, dict[str, Any]]:
        """Each online peer's epoch, held seeds and lineage."""

    def holders_of(self, owner: tuple[int, int]) -> set[int]:
        """Online peers holding a seed of ``owner``."""

    def close(self) -> None:
        """Release resources."""
