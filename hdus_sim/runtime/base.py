"""The interface between the scenario engine and a runtime, in plain records.

The engine decides *what* happens (who joins, leaves, links, trains); a runtime decides
*where* peers live and *how* messages travel. Everything crossing this interface is plain
Python data, so the engine imports no torch, Ray or gRPC.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hdus_sim.plan import PeerSpec

if TYPE_CHECKING:
    from clients.peer import Peer, PeerSeeds
    from hdus_sim.audit import AuditTrail

__all__ = [
    "DeliveryStats",
    "DropListener",
    "PeerObserver",
    "PeerSpec",
    "Runtime",
    "RuntimeSnapshot",
]

DataOwner = tuple[int, int]

#: Called as ``listener(holder, (owner, epoch), now)`` whenever a holder drops a seed.
DropListener = Callable[[int, tuple[int, int], int], None]


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


@dataclass(frozen=True)
class RuntimeSnapshot:
    """What every runtime can say about its peers at one moment, as one typed record.

    Attributes
    ----------
    online
        Ids of the peers running, sorted.
    holdings
        Per online peer: epoch, device, held seeds with lineage, tombstones.
    neighbors
        Per online peer: the links it knows of.
    declared_dead
        Online peers that learned others declared them crashed (they must re-key).
    main_parameters
        Main-model parameter count per online peer.
    wire
        Counters of the wire and its fault layer (empty in memory).
    learning
        What the cohort engine computed batched and alone
        (:meth:`clients.cohort.CohortReport.as_dict`, summed over hosts).
    """

    online: list[int]
    holdings: dict[int, dict[str, Any]]
    neighbors: dict[int, set[int]]
    declared_dead: list[int]
    main_parameters: dict[int, int]
    wire: dict[str, Any]
    learning: dict[str, Any] = field(default_factory=dict)


#: one sent or received message, a learn, distil, drop or delete at one peer:
#: ``observer(peer, round, kind, data)`` (the audit chain and removal tracking subscribe)
PeerObserver = Callable[[int, int, str, dict[str, Any]], None]


class Runtime(ABC):
    """Where peers live and how their messages travel: the one boundary the engine calls.

    The simulation drives a run only through these methods; capabilities a runtime lacks
    have a default here that says so (no ``hasattr`` probing). Runtimes register by
    ``runtime.kind`` in :mod:`hdus_sim.runtime.registry`.
    """

    #: the ``runtime.kind`` this class runs
    kind: ClassVar[str] = ""

    # ------------------------------------------------------------------ lifecycle
    @abstractmethod
    def spawn(self, spec: PeerSpec) -> None:
        """Create and start a peer."""

    @abstractmethod
    def retire(self, peer_id: int, *, graceful: bool, now: int) -> None:
        """Stop a peer; a graceful one first sends its leave notices."""

    def restore(self, peer_id: int, epoch: int, seeds: PeerSeeds) -> bool:
        """Bring a departed peer back with its model (``churn.on_return: restore``).

        ``False``: this runtime keeps no departed peers, the caller spawns a fresh one.
        """
        return False

    @abstractmethod
    def rekey(self, peer_id: int, epoch: int, seeds: PeerSeeds) -> None:
        """Move a peer to a new epoch (it keeps its data and main model)."""

    @abstractmethod
    def close(self) -> None:
        """Release sockets, threads and processes; observation still answers after it."""

    # ------------------------------------------------------------------ the graph
    @abstractmethod
    def link(self, a: int, b: int, now: int) -> None:
        """Tell both ends of a new edge about each other (they exchange seeds)."""

    # ------------------------------------------------------------------ protocol steps
    @abstractmethod
    def begin_round(self) -> None:
        """Reset the per-round message counters."""

    @abstractmethod
    def train_round(self, now: int) -> list[int]:
        """Let every peer with budget left train and re-distil; returns who made a new seed."""

    @abstractmethod
    def heartbeat_round(self, now: int) -> list[tuple[int, DataOwner, str]]:
        """Heartbeats, then crash detection and lease expiry: ``(holder, owner, cause)``."""

    def end_round(self, now: int) -> None:
        """After a round's protocol steps (hosted runtimes checkpoint here)."""
        return None

    @abstractmethod
    def delete_points(
        self, peer_id: int, ids: list[int], request_id: str, now: int
    ) -> dict[str, Any]:
        """Point deletion at ``peer_id``; its new seed spreads. Returns the receipt."""

    # ------------------------------------------------------------------ faults
    def kill_actor(self, index: int, now: int) -> dict[str, Any] | None:
        """Kill host process ``index`` (it restarts from its checkpoint).

        ``None``: this runtime has no host processes; the engine applies the restart
        policy to the peers that host would have held, so oracles agree.
        """
        return None

    def check_hosts(self) -> None:
        """Find a host lost since the last call (before a round); nothing to do in-process."""
        return None

    # ------------------------------------------------------------------ observation
    @abstractmethod
    def online(self) -> list[int]:
        """Ids of peers currently running, sorted."""

    def is_online(self, peer_id: int) -> bool:
        """Whether ``peer_id`` runs."""
        return peer_id in self.online()

    @abstractmethod
    def round_stats(self) -> DeliveryStats:
        """Message counters since :meth:`begin_round`."""

    @abstractmethod
    def evaluate(self, now: int) -> list[dict[str, Any]]:
        """Per-peer accuracy rows (main-only, seeds-only, ensemble; local and global test)."""

    @abstractmethod
    def predict_probe(self) -> dict[int, Any]:
        """Each online peer's ensemble scores on the probe set, keyed by peer id."""

    @abstractmethod
    def holders_of(self, owner: DataOwner) -> set[int]:
        """Online peers holding a seed of ``owner``."""

    @abstractmethod
    def declared_dead(self) -> list[int]:
        """Online peers that learned others declared them crashed (they must re-key)."""

    @abstractmethod
    def neighbor_sets(self) -> dict[int, set[int]]:
        """The links every online peer currently knows of."""

    @abstractmethod
    def snapshot(self) -> RuntimeSnapshot:
        """Holdings, links, declared-dead peers and wire counters, as one record."""

    def holdings(self) -> dict[int, dict[str, Any]]:
        """Each online peer's epoch, device, held seeds with lineage and tombstones."""
        return self.snapshot().holdings

    @abstractmethod
    def peer(self, peer_id: int) -> Peer:
        """The peer ``peer_id`` (a copy where it lives in another process)."""

    @abstractmethod
    def audit_trail(self) -> AuditTrail | None:
        """Every peer's hash-chained audit records so far (``None``: not recorded)."""

    def describe(self) -> dict[str, Any]:
        """Where hosts run (processes, nodes); empty in-process."""
        return {}
