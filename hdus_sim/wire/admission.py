"""Admission control for a ``PeerService`` server: rate limits, busy refusals, idle streams.

A peer's server must stay responsive whatever one caller does. Three defences, each
refusing with a gRPC status that names the limit and how to get under it:

* **Rate limits** (token buckets in wall-clock seconds): per *connection* (the caller's
  transport address, checked on the raw bytes before anything is parsed), in messages and
  in bytes; and per claimed *sender peer* (checked once the message has been decoded and
  its sender matched to the connection's certificate). Over the limit the call is refused
  with ``RESOURCE_EXHAUSTED`` and trailing metadata ``hdus-retry-after-ms`` saying when a
  token will be free again; honest senders wait that long and retry, so a burst of honest
  traffic is delayed, never lost.
* **Bounded concurrency**: gRPC's own ``maximum_concurrent_rpcs`` answers calls beyond the
  server's capacity at once with ``RESOURCE_EXHAUSTED`` ("Concurrent RPC limit exceeded!")
  instead of queueing them past their deadline; HTTP/2 ``max_concurrent_streams`` bounds
  what one connection may hold open (further calls queue at the caller).
* **Bounded parsing**: a single (non-streamed) message over ``max_unary_bytes`` is
  refused unparsed (honest heartbeats and notices stay far below it: a heartbeat carries
  at most ``wire.max_items`` entries of each kind), and at most ``big_parses`` messages
  over ``big_message_bytes`` are parsed at once — a flood of large messages costs a
  bounded amount of memory, not one parse per server thread.
* **Idle stream deadlines**: a seed stream that sends no chunk for ``stream_idle_s`` is
  cancelled by a watchdog thread, freeing its server thread (a slow-loris caller holds a
  thread at most that long); other streams are untouched.

Why wall-clock limits cannot change a simulation's result: refusals are retried by the
sender after the hinted wait and the scenario engine waits for quiescence, so every honest
message still arrives in the same round; the defaults are far above honest traffic.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

__all__ = ["RETRY_AFTER_KEY", "Admission", "AdmissionLimits", "TokenBucket", "retry_after_s"]

#: trailing-metadata key of a ``RESOURCE_EXHAUSTED`` refusal: milliseconds until admitted
RETRY_AFTER_KEY = "hdus-retry-after-ms"
#: gRPC's own answer when ``maximum_concurrent_rpcs`` is reached (retry-worthy)
GRPC_BUSY_DETAILS = "Concurrent RPC limit exceeded!"


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; a call takes ``cost`` tokens.

    >>> clock = iter([0.0, 0.0, 0.0, 0.0, 0.5]).__next__  # made at 0, three calls at 0
    >>> bucket = TokenBucket(rate=2.0, burst=2.0, clock=clock)
    >>> bucket.take(1), bucket.take(1), bucket.take(1)   # the third waits half a second
    (0.0, 0.0, 0.5)
    >>> bucket.take(1)                                   # half a second later: admitted
    0.0
    """

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.clock = clock
        self.stamp = clock()

    def take(self, cost: float) -> float:
        """Take ``cost`` tokens and return 0, or take none and return seconds to wait."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        cost = min(cost, self.burst)  # one oversized call still passes once the bucket is full
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate

    def idle(self) -> bool:
        """Full again (forgettable: a new bucket would behave the same)."""
        return self.tokens + (self.clock() - self.stamp) * self.rate >= self.burst


@dataclass(frozen=True)
class AdmissionLimits:
    """The limits of one server (see the module docstring; 0 turns a rate limit off).

    Attributes
    ----------
    connection_msgs_per_s, connection_burst_msgs
        Calls per second one connection may make, and how many may come at once.
    connection_bytes_per_s, connection_burst_bytes
        Request bytes per second one connection may send, and at once.
    sender_msgs_per_s, sender_burst_msgs
        Messages per second one (authenticated) sender peer may send, and at once.
    max_concurrent_rpcs
        Calls the server handles or queues at once; more are refused at once.
    max_streams_per_connection
        HTTP/2 streams one connection may have open (further calls wait at the caller).
    stream_idle_s
        A seed stream with no chunk for this many seconds is cancelled.
    max_unary_bytes
        Largest single (non-streamed) request; seeds are streamed in chunks and limited
        by the transport's ``max_seed_bytes`` instead.
    big_message_bytes, big_parses
        Requests over ``big_message_bytes`` are parsed at most ``big_parses`` at a time;
        more are refused as busy (retry hint) until one is done.

    A burst left ``None`` is two seconds' worth of its rate.
    """

    connection_msgs_per_s: float = 2000.0
    connection_burst_msgs: float | None = None
    connection_bytes_per_s: float = 64.0 * 2**20
    connection_burst_bytes: float | None = None
    sender_msgs_per_s: float = 1000.0
    sender_burst_msgs: float | None = None
    max_concurrent_rpcs: int = 256
    max_streams_per_connection: int = 32
    stream_idle_s: float = 10.0
    max_unary_bytes: int = 1 << 20
    big_message_bytes: int = 64 << 10
    big_parses: int = 2


@dataclass
class AdmissionStats:
    """What admission control refused or cut (by reason)."""

    limited: Counter[str] = field(default_factory=Counter)
    idle_cancelled: int = 0


def retry_after_s(err: grpc.RpcError) -> float | None:
    """Seconds a refused sender should wait before retrying, or ``None``: do not retry.

    ``RESOURCE_EXHAUSTED`` from a rate limit carries the wait in trailing metadata;
    gRPC's own busy refusal carries none (retry after the usual backoff: 0.0). Any other
    ``RESOURCE_EXHAUSTED`` (a seed over the receiver's size limit) will not pass later.
    """
    if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    for item in err.trailing_metadata() or ():
        if item.key == RETRY_AFTER_KEY:
            try:
                return max(0.0, int(item.value) / 1000.0)
            except ValueError:
                return None
    return 0.0 if err.details() == GRPC_BUSY_DETAILS else None


class _Stream:
    """One open seed stream: its call context and when it last sent a chunk."""

    def __init__(self, context: grpc.ServicerContext, now: float) -> None:
        self.context = context
        self.last = now
        self.cancelled = False


class Admission:
    """The admission checks of one server; thread-safe, one instance per gRPC server."""

    def __init__(
        self, limits: AdmissionLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.stats = AdmissionStats()
        self._lock = threading.Lock()
        self._msgs: dict[str, TokenBucket] = {}
        self._bytes: dict[str, TokenBucket] = {}
        self._senders: dict[int, TokenBucket] = {}
        self._streams: set[_Stream] = set()
        self._stop = threading.Event()
        self._big = threading.BoundedSemaphore(max(1, limits.big_parses))
        self._watchdog: threading.Thread | None = None

    # ------------------------------------------------------------ server options
    def server_options(self) -> list[tuple[str, int]]:
        """Server channel arguments (for ``grpc.server``) enforcing these limits."""
        return [("grpc.max_concurrent_streams", self.limits.max_streams_per_connection)]

    # ------------------------------------------------------------ rate limits
    def _bucket(
        self, table: dict[Any, TokenBucket], key: Any, rate: float, burst: float | None
    ) -> TokenBucket:
        bucket = table.get(key)
        if bucket is None:
            if len(table) >= 4096:  # forget callers whose buckets are full again
                for old in [k for k, b in table.items() if b.idle()]:
                    del table[old]
            bucket = table[key] = TokenBucket(rate, burst or 2 * rate, self.clock)
        return bucket

    def _refuse(self, context: grpc.ServicerContext, what: str, wait: float, why: str) -> None:
        self.stats.limited[what] += 1
        ms = max(1, round(wait * 1000))
        context.set_trailing_metadata(((RETRY_AFTER_KEY, str(ms)),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{why}; retry in {ms} ms")

    def admit_connection(
        self, context: grpc.ServicerContext, nbytes: int, *, call: bool = True
    ) -> None:
        """Charge ``nbytes`` request bytes (and one call, if ``call``) to the connection."""
        lim = self.limits
        caller = context.peer()
        with self._lock:
            wait = 0.0
            if call and lim.connection_msgs_per_s > 0:
                wait = self._bucket(
                    self._msgs, caller, lim.connection_msgs_per_s, lim.connection_burst_msgs
                ).take(1)
            if wait == 0.0 and lim.connection_bytes_per_s > 0 and nbytes:
                wait = self._bucket(
                    self._bytes, caller, lim.connection_bytes_per_s, lim.connection_burst_bytes
                ).take(nbytes)
        if wait > 0:
            self._refuse(
                context,
                "connection",
                wait,
                f"connection {caller} is over its rate limit "
                f"({lim.connection_msgs_per_s:g} calls/s, "
                f"{lim.connection_bytes_per_s / 2**20:g} MiB/s; wire.connection_*)",
            )

    @contextlib.contextmanager
    def parsing(self, context: grpc.ServicerContext, nbytes: int, what: str) -> Iterator[None]:
        """Hold one of the few big-parse slots while parsing ``nbytes`` (unary requests)."""
        lim = self.limits
        if nbytes > lim.max_unary_bytes:
            self.stats.limited["too_big"] += 1
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{what} of {nbytes} bytes exceeds this receiver's limit of "
                f"{lim.max_unary_bytes} bytes per message (wire.max_unary_bytes); "
                "honest heartbeats carry at most wire.max_items entries of each kind",
            )
        if nbytes <= lim.big_message_bytes:
            yield
            return
        if not self._big.acquire(blocking=False):
            self._refuse(
                context,
                "big_parse",
                0.05,
                f"{lim.big_parses} large messages are being parsed already (wire.big_parses)",
            )
        try:
            yield
        finally:
            self._big.release()

    def admit_sender(self, context: grpc.ServicerContext, sender: int) -> None:
        """Charge one message to ``sender`` (after its identity was checked)."""
        lim = self.limits
        if lim.sender_msgs_per_s <= 0:
            return
        with self._lock:
            wait = self._bucket(
                self._senders, sender, lim.sender_msgs_per_s, lim.sender_burst_msgs
            ).take(1)
        if wait > 0:
            self._refuse(
                context,
                "sender",
                wait,
                f"peer {sender} is over its rate limit of {lim.sender_msgs_per_s:g} "
                "messages/s (wire.sender_msgs_per_s)",
            )

    # ------------------------------------------------------------ idle streams
    def watch(self, context: grpc.ServicerContext, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The raw ``chunks`` of a stream, charged as they come and cancelled if it stalls.

        The first chunk counts as the call; every chunk's bytes are charged.
        """
        stream = _Stream(context, self.clock())
        with self._lock:
            self._streams.add(stream)
            self._start_watchdog()
        try:
            first = True
            for chunk in chunks:
                stream.last = self.clock()
                self.admit_connection(context, len(chunk), call=first)
                first = False
                yield chunk
        finally:
            with self._lock:
                self._streams.discard(stream)

    def _start_watchdog(self) -> None:
        if self._watchdog is None and self.limits.stream_idle_s > 0:
            self._watchdog = threading.Thread(
                target=self._patrol, name="hdus-idle-watchdog", daemon=True
            )
            self._watchdog.start()

    def _patrol(self) -> None:
        period = max(0.05, self.limits.stream_idle_s / 4)
        while not self._stop.wait(period):
            self.cancel_idle()

    def cancel_idle(self) -> int:
        """Cancel every seed stream silent for ``stream_idle_s``; returns how many."""
        now = self.clock()
        with self._lock:
            stale = [
                s
                for s in self._streams
                if not s.cancelled and now - s.last >= self.limits.stream_idle_s
            ]
            for s in stale:
                s.cancelled = True
                self._streams.discard(s)
            self.stats.idle_cancelled += len(stale)
        for s in stale:
            s.context.cancel()
        return len(stale)

    def open_streams(self) -> int:
        """Seed streams currently being received."""
        with self._lock:
            return len(self._streams)

    def close(self) -> None:
        """Stop the watchdog."""
        self._stop.set()
