"""What a standalone device runs around its one peer: runtime, transport and re-linker.

* :class:`DeviceRuntime`: the in-process runtime holding this device's single peer; it
  also notes why each seed was dropped (a signed leave, a detected crash, an expired
  lease ...), for the status file. Like every runtime it records its peer's audit events
  (a ``send`` where the sender lives, a ``receive`` where the receiver lives).
* :class:`Relinker`: re-makes links to configured neighbours that were dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

from clients.credentials import Credentials
from clients.messages import DataOwner, Heartbeat, LeaveNotice, LeaveReason
from clients.peer import Message, Peer, Reaction
from hdus_sim.runtime.base import PeerSpec
from hdus_sim.runtime.inprocess import InProcessRuntime
from hdus_sim.wire.grpc_transport import GrpcTransport

__all__ = ["DeviceRuntime", "Relinker", "host_name"]

#: how many of the latest drops the status file lists
DROPS_KEPT = 100


def host_name(peer_id: int) -> str:
    """The host (certificate common name) serving ``peer_id``: one peer per device."""
    return f"peer{peer_id}"


def drop_reason(message: Message) -> str:
    """Why handling ``message`` can make a holder drop seeds (a status-file label)."""
    if isinstance(message, LeaveNotice):
        return "leave" if message.reason is LeaveReason.GRACEFUL else "crash notice"
    if isinstance(message, Heartbeat):
        return "heartbeat"  # a leave proof or a removal hint it carried
    return "newer epoch"  # a seed of a newer epoch retires the older ones


class DeviceRuntime(InProcessRuntime):
    """:class:`InProcessRuntime` for one device, keeping a log of its drops with their reasons.

    ``drops`` holds ``{"seed": "peer:epoch", "tick": t, "reason": r}`` for the latest
    :data:`DROPS_KEPT` seeds dropped; ``r`` is one of ``"leave"`` (the owner's signed
    leave notice), ``"crash"`` (this peer declared it crashed), ``"lease"`` (its lease
    ran out), ``"crash notice"``, ``"heartbeat"`` or ``"newer epoch"``.
    """

    def __init__(
        self,
        factory: Callable[[PeerSpec], Peer],
        global_x: torch.Tensor,
        global_y: torch.Tensor,
        transport: GrpcTransport,
        credentials: Callable[[int], Credentials] | None = None,
    ) -> None:
        super().__init__(
            factory,
            global_x,
            global_y,
            on_drop=self._note_drop,
            transport=transport,
            credentials=credentials,
        )
        self.drops: list[dict[str, Any]] = []
        self._why = "other"

    def _note_drop(self, holder: int, key: DataOwner, now: int) -> None:
        self.drops.append({"seed": f"{key[0]}:{key[1]}", "tick": now, "reason": self._why})
        del self.drops[:-DROPS_KEPT]

    def handle(self, dst: int, message: Message, now: int) -> Reaction | None:
        """As :meth:`InProcessRuntime.handle`; drops are noted with the message's reason."""
        with self.lock:
            self._why = drop_reason(message)
            try:
                return super().handle(dst, message, now)
            finally:
                self._why = "other"

    def detect(self, now: int) -> list[tuple[int, DataOwner, str]]:
        """As :meth:`InProcessRuntime.detect`; drops are noted as ``crash`` or ``lease``."""
        with self.lock:
            start = len(self.drops)
            self._why = "crash"
            try:
                found = super().detect(now)
            finally:
                self._why = "other"
            expired = {f"{k[0]}:{k[1]}" for _, k, cause in found if cause == "lease"}
            for drop in self.drops[start:]:
                if drop["seed"] in expired:
                    drop["reason"] = "lease"
        return found


class Relinker(threading.Thread):
    """Re-make links to configured neighbours that were dropped, probing with backoff.

    Runs beside the tick loop (probes block up to a deadline; the loop must not).
    ``tick()`` reads the loop's current tick. Once :attr:`stop` is set no link is made.
    """

    MAX_BACKOFF_TICKS = 16

    def __init__(
        self,
        runtime: Any,
        peer: Any,
        neighbors: list[int],
        tick: Callable[[], int],
        tick_s: float,
        deadline_s: float,
    ) -> None:
        super().__init__(name="hdus-relinker", daemon=True)
        self.runtime, self.peer, self.neighbors = runtime, peer, neighbors
        self.tick, self.tick_s, self.deadline_s = tick, tick_s, deadline_s
        self.stop = threading.Event()
        self.relinks = 0
        self._due: dict[int, tuple[int, int]] = {}  # neighbour -> (next tick, backoff)

    def run(self) -> None:
        """Visit every configured neighbour once a tick until :attr:`stop` is set."""
        while not self.stop.wait(self.tick_s):
            for other in self.neighbors:
                self.visit(other)

    def visit(self, other: int) -> None:
        """Probe ``other`` if it is unlinked and due; re-link it if it answers."""
        now = self.tick()
        with self.runtime.lock:
            linked = other in self.peer.neighbors
        if linked:
            self._due.pop(other, None)
            return
        due, backoff = self._due.get(other, (now, 1))
        if now < due:
            return
        transport = self.runtime.transport
        if not transport.probe(host_name(self.peer.peer_id), host_name(other), self.deadline_s):
            backoff = min(2 * backoff, self.MAX_BACKOFF_TICKS)
            self._due[other] = (self.tick() + backoff, backoff)
            return
        with self.runtime.lock:
            if self.stop.is_set():  # the device is leaving: make no new link
                return
            envelopes = self.peer.add_neighbor(other, self.tick())
        transport.deliver(self.runtime, self.peer.peer_id, envelopes, self.tick())
        self._due.pop(other, None)
        self.relinks += 1
