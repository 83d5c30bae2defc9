"""How messages travel between peers of a runtime: in memory, or over a real wire.

A transport delivers envelopes and drains until no message is in flight, so every protocol
step of a round completes before the next. On arrival it calls ``runtime.handle`` and sends
the reaction's outgoing messages on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from clients.peer import Envelope, Message, Reaction

__all__ = ["Handler", "LocalTransport", "Transport"]


class Handler(Protocol):
    """The runtime side a transport talks to."""

    def handle(self, dst: int, message: Message, now: int) -> Reaction | None:
        """Deliver one message to peer ``dst``; ``None`` if it is gone."""

    def count_sent(self, src: int, message: Message, dst: int = -1, now: int = -1) -> None:
        """Account one message sent by ``src`` to ``dst`` at round ``now``."""

    def note_refusal(self, dst: int, message: Message, reason: str, now: int) -> None:
        """Record a message the transport refused at its boundary (e.g. a bad signature)."""


class Transport(Protocol):
    """Delivers messages; ``deliver`` returns once nothing is in flight.

    ``keyring`` holds the Ed25519 keys peers sign with (a ``hdus_sim.wire.security.KeyRing``),
    or ``None`` when signatures are off.
    """

    keyring: Any

    def deliver(self, handler: Handler, src: int, envelopes: list[Envelope], now: int) -> None:
        """Send ``envelopes`` from ``src`` and everything they cause, until quiescent."""

    def counters(self) -> dict[str, Any]:
        """Counters of the wire and its fault layer (empty in memory)."""

    def close(self) -> None:
        """Release sockets and threads."""


class LocalTransport:
    """In-memory FIFO delivery, optionally passing every message through a codec.

    Parameters
    ----------
    codec
        Applied to each message before delivery, e.g. a protobuf round trip
        (``hdus_sim.wire.serde.roundtrip``) to prove records survive the wire encoding.
    """

    #: in memory nobody forges anything: owner signatures are no-ops
    keyring: Any = None

    def __init__(self, codec: Callable[[Message], Message] | None = None) -> None:
        self.codec = codec

    def deliver(self, handler: Handler, src: int, envelopes: list[Envelope], now: int) -> None:
        """Drain a FIFO queue of messages, breadth first."""
        queue: deque[tuple[int, Envelope]] = deque((src, e) for e in envelopes)
        while queue:
            sender, env = queue.popleft()
            handler.count_sent(sender, env.message, env.dst, now)
            message = env.message if self.codec is None else self.codec(env.message)
            reaction = handler.handle(env.dst, message, now)
            if reaction is not None:
                queue.extend((env.dst, e) for e in reaction.outgoing)

    def counters(self) -> dict[str, Any]:
        """Nothing travels a wire in memory: no counters."""
        return {}

    def close(self) -> None:
        """Nothing to release."""
