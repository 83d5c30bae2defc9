"""The in-process runtime: every peer in this Python process, messages as plain records.

Delivery goes through a :class:`~hdus_sim.transport.Transport`: by default a FIFO
queue drained to quiescence after each protocol step (a seed relayed ``k`` hops arrives
within the round it was sent); the gRPC transport sends the same records over real sockets.
Messages to a peer that is gone are counted as lost. Seed logits on the global test set are
cached per seed version: every holder of a seed would compute the same numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clients.cohort import CohortReport
from clients.cohort_round import train_together
from clients.credentials import UNCHECKED, Credentials
from clients.messages import DataOwner, Heartbeat, SeedMessage
from clients.peer import Envelope, Message, Peer, PeerSeeds, Reaction
from hdus_sim.audit import AuditTrail
from hdus_sim.errors import RunError
from hdus_sim.runtime.base import (
    DeliveryStats,
    DropListener,
    PeerObserver,
    PeerSpec,
    Runtime,
    RuntimeSnapshot,
)
from hdus_sim.runtime.evaluation import Evaluator
from hdus_sim.transport import LocalTransport, Transport

__all__ = ["InProcessRuntime"]


def describe_message(message: Message) -> dict[str, Any]:
    """What an audit record says of a message: its type, owner, epoch and version."""
    if isinstance(message, SeedMessage):
        rec = message.record
        return {
            "message": "seed",
            "owner": rec.owner,
            "epoch": rec.epoch,
            "version": rec.version,
            "digest": rec.digest,
        }
    if isinstance(message, Heartbeat):
        return {"message": "heartbeat", "owner": message.sender, "epoch": message.epoch}
    return {
        "message": f"leave:{message.reason.value}",
        "owner": message.peer,
        "epoch": message.epoch,
        "vouched_by": message.vouched_by,
    }


@dataclass(frozen=True)
class DropRelay:
    """An observer passing on only the drops: ``listener(holder, (owner, epoch), round)``."""

    listener: DropListener

    def __call__(self, peer: int, now: int, kind: str, data: dict[str, Any]) -> None:
        if kind == "drop":
            self.listener(peer, (data["owner"], data["epoch"]), now)


def _message_sender(message: Message) -> int:
    """The peer that put ``message`` on the wire (a relay, a vouching reporter)."""
    if isinstance(message, SeedMessage | Heartbeat):
        return message.sender
    return message.reporter


class InProcessRuntime(Runtime):
    """Peers as plain objects in one process.

    Parameters
    ----------
    factory
        Builds a :class:`~clients.peer.Peer` from a :class:`PeerSpec`.
    global_x, global_y
        The global test set (also the probe set for the oracle).
    on_drop
        Called whenever a holder drops a seed (for removal latency).
    credentials
        Gives each peer its signing credentials (default: no-op signatures).
    cohorts
        Batch the peers' training and distillation by architecture (bit-identical to
        training them one at a time; ``runtime.cohorts: false`` turns it off).
    """

    def __init__(
        self,
        factory: Callable[[PeerSpec], Peer],
        global_x: torch.Tensor,
        global_y: torch.Tensor,
        on_drop: DropListener | None = None,
        transport: Transport | None = None,
        credentials: Callable[[int], Credentials] | None = None,
        cohorts: bool = True,
    ) -> None:
        self.factory = factory
        #: compute the peers' learning batched by cohort (``runtime.cohorts``)
        self.cohorts = cohorts
        #: what the cohort engine batched and what it trained alone, over the run
        self.cohort_report = CohortReport()
        self.credentials = credentials
        self.transport: Transport = transport if transport is not None else LocalTransport()
        # Peers are touched by the caller's thread and, over gRPC, by server threads
        # delivering messages: every access to peer state holds this lock, and nothing
        # waits for the network while holding it.
        self.lock: threading.RLock = getattr(self.transport, "lock", None) or threading.RLock()
        self.global_x = global_x
        self.global_y = global_y
        self.on_drop = on_drop
        self.peers: dict[int, Peer] = {}
        self.stats = DeliveryStats()
        self._pending: list[tuple[int, list[Envelope]]] = []
        #: departed peers kept for ``churn.on_return: restore``
        self.parked: dict[int, Peer] = {}
        #: told of every learn, distil, send, receive, drop and delete at a peer here
        #: (removal tracking through ``on_drop``, the audit through :meth:`record_audit`)
        self.observers: list[PeerObserver] = [] if on_drop is None else [DropRelay(on_drop)]
        #: the hash-chained audit those events are recorded in (``None``: off)
        self.audit: AuditTrail | None = None
        #: the round's accuracy rows (caches seed outputs shared by many holders)
        self.evaluator = Evaluator(global_x, global_y, batched=cohorts)

    # ------------------------------------------------------------------ lifecycle
    def __getstate__(self) -> dict[str, Any]:
        if not isinstance(self.transport, LocalTransport):
            raise RunError("only the in-memory transport can be checkpointed")
        state = dict(self.__dict__)
        state["lock"] = None
        state["evaluator"] = Evaluator(self.global_x, self.global_y, batched=self.cohorts)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.lock = threading.RLock()

    def peer(self, peer_id: int) -> Peer:
        """The running peer ``peer_id``; a clear error if it is not online."""
        if peer_id not in self.peers:
            raise RunError(f"peer {peer_id} is not online; online peers: {sorted(self.peers)}")
        return self.peers[peer_id]

    def spawn(self, spec: PeerSpec) -> None:
        """Create a peer (it trains in the next training step)."""
        if spec.peer_id in self.peers:
            raise RunError(f"peer {spec.peer_id} is already online")
        peer = self.factory(spec)
        peer.credentials = UNCHECKED if self.credentials is None else self.credentials(spec.peer_id)
        with self.lock:
            self.peers[spec.peer_id] = peer

    def retire(self, peer_id: int, *, graceful: bool, now: int) -> None:
        """Remove a peer; a graceful leaver first sends its leave notices."""
        peer = self.peer(peer_id)
        if graceful:
            with self.lock:
                notices = peer.leave_notices()
            self._deliver(peer_id, notices, now)
        with self.lock:
            self.parked[peer_id] = self.peers.pop(peer_id)

    def restore(self, peer_id: int, epoch: int, seeds: PeerSeeds) -> bool:
        """Bring a departed peer back with its trained model under a new ``epoch``.

        Returns ``False`` if it was never here (the caller then spawns a fresh one).
        """
        with self.lock:
            peer = self.parked.pop(peer_id, None)
            if peer is None:
                return False
            peer.rekey(epoch, seeds)
            self.peers[peer_id] = peer
        return True

    def open_link(self, local: int, other: int, other_epoch: int, now: int) -> None:
        """First half of a link: ``local`` learns of ``other``; its seeds wait for :meth:`flush`.

        The connection handshake tells ``local`` the other's epoch (as a join notice does
        on the wire), so a peer always knows which epoch of a neighbour it would declare
        crashed, whether or not that neighbour's seed ever reached it.
        """
        peer = self.peer(local)
        with self.lock:
            self._report_drops(local, peer.note_epoch(other, other_epoch), now)
            self._pending.append((local, peer.add_neighbor(other, now)))

    def flush(self, now: int) -> None:
        """Send what opened links queued (after both ends know each other)."""
        pending, self._pending = self._pending, []
        for src, envelopes in pending:
            self._deliver(src, envelopes, now)

    def link(self, a: int, b: int, now: int) -> None:
        """Connect two online peers; each sends the other its seed (and relayable seeds)."""
        self.open_link(a, b, self.peer(b).epoch, now)
        self.open_link(b, a, self.peer(a).epoch, now)
        self.flush(now)

    def unlink(self, a: int, b: int) -> None:
        """Disconnect two online peers (held seeds are kept)."""
        with self.lock:
            self.peer(a).remove_neighbor(b)
            self.peer(b).remove_neighbor(a)

    def online(self) -> list[int]:
        """Ids of online peers, sorted."""
        return sorted(self.peers)

    def is_online(self, peer_id: int) -> bool:
        """Whether ``peer_id`` is running here."""
        return peer_id in self.peers

    def begin_round(self) -> None:
        """Reset the per-round message counters."""
        self.stats = DeliveryStats()

    def round_stats(self) -> DeliveryStats:
        """Message counters since :meth:`begin_round`."""
        return self.stats

    def main_parameters(self) -> dict[int, int]:
        """Main-model parameter count of every online peer."""
        return {pid: p.main_parameters for pid, p in sorted(self.peers.items())}

    def declared_dead(self) -> list[int]:
        """Online peers that learned others declared them crashed (they must re-key)."""
        with self.lock:
            return [pid for pid in self.online() if self.peers[pid].declared_dead]

    def rekey(self, peer_id: int, epoch: int, seeds: PeerSeeds) -> None:
        """Move a falsely suspected peer to a new epoch (it keeps data and main model)."""
        with self.lock:
            self.peer(peer_id).rekey(epoch, seeds)

    def neighbors_of(self, peer_id: int) -> set[int]:
        """The links peer ``peer_id`` currently knows of."""
        with self.lock:
            return set(self.peer(peer_id).neighbors)

    def neighbor_sets(self) -> dict[int, set[int]]:
        """The links every online peer currently knows of."""
        with self.lock:
            return {pid: set(p.neighbors) for pid, p in sorted(self.peers.items())}

    def close(self) -> None:
        """Stop the transport; peers stay inspectable."""
        self.transport.close()
        self.evaluator.clear()

    # ------------------------------------------------------------------ delivery
    def record_audit(self, trail: AuditTrail | None = None) -> AuditTrail:
        """Record every peer event here in ``trail`` (a new one by default); returns it."""
        self.audit = AuditTrail() if trail is None else trail
        self.observers.append(self.audit.observe)
        return self.audit

    def _emit(self, peer: int, now: int, kind: str, data: dict[str, Any]) -> None:
        for observer in self.observers:
            observer(peer, now, kind, data)

    def count_sent(self, src: int, message: Message, dst: int = -1, now: int = -1) -> None:
        """Account one message sent by ``src`` to ``dst`` (transports call this per attempt).

        Seeds and notices (not heartbeats) are ``send`` events of the sender, recorded
        where the sender lives, so each peer's audit chain is whole on every runtime.
        """
        self.stats.sent[src] += 1
        self.stats.bytes_sent[src] += message.nbytes
        if self.observers and not isinstance(message, Heartbeat) and src in self.peers:
            self._emit(src, now, "send", {"to": dst, **describe_message(message)})

    def handle(self, dst: int, message: Message, now: int) -> Reaction | None:
        """Hand one delivered message to peer ``dst``; ``None`` if it is not online (lost).

        Transports call this on arrival; the caller sends ``reaction.outgoing`` on.
        """
        receiver = self.peers.get(dst)
        if receiver is None:
            self.stats.lost += 1
            return None
        reaction = receiver.receive(message, now)
        if not reaction.accepted:
            self.stats.refused[str(reaction.code)] += 1
        if not isinstance(message, Heartbeat) or not reaction.accepted:
            # every seed and notice, and every refused heartbeat (a flood, a forged lease)
            self._received(dst, message, reaction, now)
        self._report_drops(dst, reaction.dropped, now)
        return reaction

    def note_refusal(self, dst: int, message: Message, reason: str, now: int) -> None:
        """Audit a message the transport refused before the peer saw it (bad signature)."""
        if dst in self.peers:
            self.stats.refused["forbidden"] += 1
            self._received(dst, message, Reaction(False, reason), now)

    def _deliver(self, src: int, envelopes: list[Envelope], now: int) -> None:
        self.transport.deliver(self, src, envelopes, now)

    def _received(self, dst: int, message: Message, reaction: Reaction, now: int) -> None:
        """A ``receive`` event of ``dst``: what came, from whom, accepted or why not."""
        if self.observers:
            data = {
                "sender": _message_sender(message),
                "accepted": reaction.accepted,
                "reason": reaction.reason,
                **describe_message(message),
            }
            self._emit(dst, now, "receive", data)

    def _report_drops(
        self, holder: int, dropped: list[DataOwner], now: int, cause: str | None = None
    ) -> None:
        extra = {} if cause is None else {"cause": cause}
        for key in dropped:
            self._emit(holder, now, "drop", {"owner": key[0], "epoch": key[1], **extra})

    # ------------------------------------------------------------------ protocol steps
    def train_round(self, now: int) -> list[int]:
        """Train every peer with budget left (sorted id order); announce new seeds.

        With cohorts on, the peers' learning is computed first, batched
        (:func:`~clients.cohort_round.train_together`, bit-identical to one at a time);
        the announcements, audit records and deliveries then follow peer by peer in the
        same order either way (learning never reads what a delivery changes).
        """
        pids = self.online()
        trained: dict[int, bool] = {}
        if self.cohorts:
            with self.lock:
                made, report = train_together([self.peers[pid] for pid in pids])
            trained = dict(zip(pids, made, strict=True))
            self.cohort_report = self.cohort_report.merge(report)
        changed: list[int] = []
        for pid in pids:
            with self.lock:
                peer = self.peers[pid]
                if not (trained[pid] if self.cohorts else peer.train_round()):
                    continue
                announcements = peer.announce_seed(now)
                if peer.own_seed is not None:
                    learned = {
                        "epoch": peer.epoch,
                        "model_version": peer.model_version,
                        "samples": len(peer.data.train_ids),
                    }
                    self._emit(pid, now, "learn", learned)
                    distilled = {
                        "epoch": peer.epoch,
                        "version": peer.own_seed.version,
                        "digest": peer.own_seed.digest,
                    }
                    self._emit(pid, now, "distil", distilled)
            changed.append(pid)
            self._deliver(pid, announcements, now)
        return changed

    def send_heartbeats(self, now: int) -> None:
        """Every online peer sends a heartbeat (with its tombstones) to each neighbour."""
        for pid in self.online():
            with self.lock:
                beats = self.peers[pid].heartbeats(now)
            self._deliver(pid, beats, now)

    def detect(self, now: int) -> list[tuple[int, DataOwner, str]]:
        """Crash detection and lease expiry at every peer.

        Returns ``(holder, owner, cause)`` triples: ``cause`` is ``"crash"`` when the holder
        declared a silent neighbour crashed, ``"lease"`` when a held seed's lease (or a
        hint's grace) ran out and the holder dropped it.
        """
        found: list[tuple[int, DataOwner, str]] = []
        for pid in self.online():
            with self.lock:
                peer = self.peers.get(pid)
                if peer is None:
                    continue
                crashed, out, dropped = peer.detect_crashes(now)
                found += [(pid, key, "crash") for key in crashed]
                self._report_drops(pid, dropped, now, "crash")
                expired = peer.expire_leases(now)
                found += [(pid, key, "lease") for key in expired]
                self._report_drops(pid, expired, now, "lease")
            self._deliver(pid, out, now)
        return found

    def heartbeat_round(self, now: int) -> list[tuple[int, DataOwner, str]]:
        """Exchange heartbeats, then detect crashes and expire leases (see :meth:`detect`)."""
        self.send_heartbeats(now)
        return self.detect(now)

    def delete_points(
        self, peer_id: int, ids: list[int], request_id: str, now: int
    ) -> dict[str, Any]:
        """Point deletion at ``peer_id``; its new seed version is announced. Returns the receipt."""
        with self.lock:
            peer = self.peer(peer_id)
            receipt = peer.delete_points(ids, request_id)
            announcements = peer.announce_seed(now) if receipt["new_seed_version"] else []
            deleted = {
                "request": request_id,
                "receipt": receipt["receipt"],
                "deleted": receipt["deleted"],
                "model_version": receipt["new_model_version"],
                "seed_version": receipt["new_seed_version"],
                "certificate": receipt.get("certificate"),
            }
            self._emit(peer_id, now, "delete", deleted)
        self._deliver(peer_id, announcements, now)
        return receipt

    def send_raw(self, src: int, dst: int, message: SeedMessage, now: int) -> None:
        """Deliver one hand-made message (tests and fault hooks use this)."""
        self._deliver(src, [Envelope(dst, message)], now)

    # ------------------------------------------------------------------ observation
    def evaluate(self, now: int) -> list[dict[str, Any]]:
        """Accuracy of main-only, seeds-only and ensemble on local and global test, per peer."""
        with self.lock:
            return self.evaluator.rows({pid: self.peers[pid] for pid in self.online()}, now)

    def predict_probe(self) -> dict[int, np.ndarray]:
        """Each online peer's ensemble scores on the probe (global test) inputs."""
        with self.lock:
            return {pid: self.peers[pid].predict(self.global_x).numpy() for pid in self.online()}

    def holdings(self) -> dict[int, dict[str, Any]]:
        """Each online peer's epoch, held seeds with lineage, tombstones and total lineage."""
        with self.lock:
            return self._holdings()

    def _holdings(self) -> dict[int, dict[str, Any]]:
        return {
            pid: {
                "epoch": p.epoch,
                "device": p.config.device,
                "held": {f"{k[0]}:{k[1]}": v for k, v in p.holdings().items()},
                "lineage": sorted(p.lineage()),
                "tombstones": sorted(p.tombstones),
            }
            for pid, p in sorted(self.peers.items())
        }

    def holders_of(self, owner: DataOwner) -> set[int]:
        """Online peers that hold a seed of ``owner``."""
        with self.lock:
            return {pid for pid, p in self.peers.items() if owner in p.held}

    def snapshot(self) -> RuntimeSnapshot:
        """Holdings, links, declared-dead peers and wire counters, as one record."""
        with self.lock:
            return RuntimeSnapshot(
                online=self.online(),
                holdings=self._holdings(),
                neighbors={pid: set(p.neighbors) for pid, p in sorted(self.peers.items())},
                declared_dead=[pid for pid in self.online() if self.peers[pid].declared_dead],
                main_parameters=self.main_parameters(),
                wire=self.wire_stats(),
                learning=self.cohort_report.as_dict(self.cohorts),
            )

    def wire_stats(self) -> dict[str, Any]:
        """Counters of the wire and its fault layer (empty in memory)."""
        return dict(self.transport.counters())

    def audit_trail(self) -> AuditTrail | None:
        """The audit chains recorded here (``None`` unless :meth:`record_audit` was called)."""
        return self.audit
