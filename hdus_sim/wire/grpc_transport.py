"""Peers talking real gRPC: a ``PeerService`` server per host and a non-blocking client.

One *host* is one gRPC server on ``127.0.0.1`` (port chosen by the OS) serving some peers:
in a simulation many peers share a host; on a device a host serves one peer. Every message
between peers on different hosts *and on the same host* goes through a real RPC.

Sending never blocks the caller's training: messages go into a bounded queue served by a
pool of sender threads, each call with a deadline and retried with exponential backoff
when the receiver is unavailable. Arrivals are checked at the boundary, in this order:
decoding (:mod:`hdus_sim.wire.serde`), the certificate identity of the connection (mTLS),
signatures of leave notices (Ed25519), then the receiving peer's own checks. Every refusal
is a gRPC status with a message naming the problem; the receiver's state is unchanged.
Before any of that, admission control (:mod:`hdus_sim.wire.admission`) charges the call to
its connection and sender: a caller over its rate, or a server at capacity, gets
``RESOURCE_EXHAUSTED`` with a retry hint that honest senders follow, and a seed stream that
stalls is cancelled; heartbeats with more entries than ``max_items`` are refused before
they are converted.

:meth:`GrpcTransport.deliver` returns once no message is in flight (counted from hand-over
to the sender queue until the receiver has handled it and queued what it sends on), so a
round of the scenario engine still completes before the next.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any

import grpc

from clients.messages import Heartbeat, LeaveNotice, SeedMessage
from clients.peer import Envelope, Message, Reaction, Refusal
from hdus_sim.errors import RunError
from hdus_sim.transport import Handler
from hdus_sim.wire import serde
from hdus_sim.wire.admission import Admission, AdmissionLimits, retry_after_s
from hdus_sim.wire.errors import WireError
from hdus_sim.wire.faults import FaultLayer
from hdus_sim.wire.lanes import Job, Lanes
from hdus_sim.wire.security import (
    KeyRing,
    TestPki,
    channel_credentials,
    peer_ids_from_auth_context,
    server_credentials,
)
from hdus_sim.wire.service import PeerServiceClient, add_peer_service

__all__ = ["GrpcTransport", "WireConfig"]

STATUS_FOR_REFUSAL = {
    Refusal.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    Refusal.GONE: grpc.StatusCode.FAILED_PRECONDITION,
    Refusal.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Refusal.CORRUPT: grpc.StatusCode.DATA_LOSS,
    Refusal.STALE: grpc.StatusCode.ALREADY_EXISTS,
}
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class WireConfig:
    """Settings of the gRPC wire.

    Attributes
    ----------
    hosts
        gRPC servers to spread the peers over (peer ``i`` lives on host ``i % hosts``).
    tls
        Mutual TLS with a per-run test CA; a message's claimed sender must be one of the
        peers named in the connection's client certificate.
    sign
        Leave notices must carry an Ed25519 signature of the peer that vouches for them.
    deadline_s
        Deadline of one RPC attempt (seconds).
    retries, backoff_s
        Attempts after the first for UNAVAILABLE / DEADLINE_EXCEEDED, and the first backoff
        (doubled each attempt).
    max_queue
        Messages waiting to be sent before new ones are dropped (backpressure).
    max_pending_per_peer
        Messages waiting for one destination peer while its previous one is in flight;
        beyond it the oldest is dropped (a frozen neighbour holds one sender thread and
        a bounded backlog, see :mod:`hdus_sim.wire.lanes`).
    quiesce
        ``deliver`` waits until nothing is in flight (the scenario engine's rounds);
        a standalone device sends and goes on (``False``).
    workers
        Sender threads.
    chunk_bytes
        Bytes of tensor data per streamed seed chunk.
    max_message_bytes
        gRPC's per-message limit (chunks must fit; whole seeds need not).
    max_seed_bytes
        Largest seed a receiver accepts.
    drain_timeout_s
        How long ``deliver`` waits for quiescence before failing the run.
    max_items
        Most entries of each kind (tombstones, leases, holdings, proofs) a heartbeat may
        carry; more is refused before the message is converted (a flood costs a parse).
    server_workers
        Threads of each gRPC server.
    busy_wait_s
        Longest a sender keeps retrying a message refused as busy/rate-limited, following
        the receiver's retry hints (these retries do not count against ``retries``).
    limits
        Admission control of each server (rates, concurrency, idle streams).
    """

    hosts: int = 2
    tls: bool = False
    sign: bool = True
    deadline_s: float = 10.0
    retries: int = 4
    backoff_s: float = 0.05
    max_queue: int = 100_000
    max_pending_per_peer: int = 100_000
    quiesce: bool = True
    workers: int = 8
    chunk_bytes: int = 1 << 20
    max_message_bytes: int = 4 << 20
    max_seed_bytes: int = 64 << 20
    drain_timeout_s: float = 300.0
    max_items: int = 4096
    server_workers: int = 16
    busy_wait_s: float = 120.0
    limits: AdmissionLimits = field(default_factory=AdmissionLimits)

    @classmethod
    def from_spec(cls, spec: Any, **overrides: Any) -> WireConfig:
        """The wire of a scenario's ``runtime.wire`` (a ``WireSpec``), with ``overrides``.

        Fields named alike are copied; ``chunk_kb`` becomes ``chunk_bytes``; the admission
        limits come from the spec's fields named like :class:`AdmissionLimits`'.
        """
        given = dict(spec) if not hasattr(spec, "model_dump") else spec.model_dump()
        given = {k: v for k, v in given.items() if v is not None}
        mine = {f.name for f in fields(cls)}
        values = {k: v for k, v in given.items() if k in mine and k != "limits"}
        if "chunk_kb" in given:
            values["chunk_bytes"] = int(given["chunk_kb"]) * 1024
        limit_names = {f.name for f in fields(AdmissionLimits)}
        limits = {k: v for k, v in given.items() if k in limit_names}
        if limits:
            values["limits"] = AdmissionLimits(**limits)
        values.update(overrides)
        return cls(**values)


@dataclass
class WireStats:
    """What happened on the wire.

    ``refused`` counts error statuses senders got back, ``rejected`` the ones receivers
    answered with (both by status name); in one process they describe the same calls.
    """

    rpcs: int = 0
    retries: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    backpressure_drops: int = 0
    failed: int = 0
    busy_retries: int = 0


class _Host:
    """The ``PeerService`` of one host: decode, check, hand to the peer, send on."""

    def __init__(self, transport: GrpcTransport, name: str) -> None:
        self.transport = transport
        self.name = name

    # -------------------------------------------------------------- checks
    def _abort(self, context: grpc.ServicerContext, code: grpc.StatusCode, why: str) -> None:
        self.transport.stats.rejected[code.name] += 1
        context.abort(code, why)

    def _check_identity(self, context: grpc.ServicerContext, claimed: int, field: str) -> None:
        if self.transport.pki is None:
            return
        allowed = peer_ids_from_auth_context(context.auth_context())
        if claimed not in allowed:
            self._abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{field} {claimed} does not match the connection's certificate, which speaks "
                f"for peers {sorted(allowed)}",
            )

    def _decode(self, context: grpc.ServicerContext, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except WireError as exc:
            self._abort(context, getattr(grpc.StatusCode, exc.code), str(exc))
        return None  # unreachable: abort raises

    def _handle(self, context: grpc.ServicerContext, dst: int, message: Message) -> Any:
        transport = self.transport
        if transport.host_of(dst) != self.name:
            self._abort(
                context, grpc.StatusCode.NOT_FOUND, f"peer {dst} is not served by host {self.name}"
            )
        with transport.lock:
            reaction: Reaction | None = transport.handler_or_fail().handle(
                dst, message, transport.now
            )
            if reaction is not None:
                for env in reaction.outgoing:
                    transport.submit(dst, env)
        if reaction is None:
            self._abort(context, grpc.StatusCode.NOT_FOUND, f"peer {dst} is not online")
            return None
        if not reaction.accepted:
            code = STATUS_FOR_REFUSAL.get(
                reaction.code or Refusal.INVALID, grpc.StatusCode.INVALID_ARGUMENT
            )
            self._abort(context, code, f"peer {dst} refused: {reaction.reason}")
        return serde.ack(True, reaction.reason)

    # -------------------------------------------------------------- RPCs
    def PushSeed(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        """Receive a seed streamed in chunks."""
        dst, msg = self._decode(
            context,
            lambda: serde.seed_from_chunks(
                request_iterator, max_bytes=self.transport.config.max_seed_bytes
            ),
        )
        self._check_identity(context, msg.sender, "seed sender")
        self.transport.admission.admit_sender(context, msg.sender)
        return self._handle(context, dst, msg)

    def NotifyLeave(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Receive a leave notice (graceful, or a suspected crash)."""
        dst, notice = self._decode(context, lambda: serde.leave_from_proto(request))
        self._check_identity(context, notice.reporter, "leave notice reporter")
        self.transport.admission.admit_sender(context, notice.reporter)
        keys = self.transport.keyring
        if keys is not None and not keys.verify(
            notice.vouched_by, notice.signed_payload(), notice.signature
        ):
            why = (
                f"leave notice for peer {notice.peer} is not signed by peer {notice.vouched_by}, "
                "who vouches for it"
            )
            with self.transport.lock:
                self.transport.handler_or_fail().note_refusal(dst, notice, why, self.transport.now)
            self._abort(context, grpc.StatusCode.PERMISSION_DENIED, why)
        return self._handle(context, dst, notice)

    def SendHeartbeat(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Receive a heartbeat (with the sender's tombstones)."""
        limit = self.transport.config.max_items
        dst, beat = self._decode(
            context, lambda: serde.heartbeat_from_proto(request, max_items=limit)
        )
        self._check_identity(context, beat.sender, "heartbeat sender")
        self.transport.admission.admit_sender(context, beat.sender)
        return self._handle(context, dst, beat)

    def NotifyJoin(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Acknowledge a join notice (links are made by the engine's topology policy)."""
        _, notice = self._decode(context, lambda: serde.join_from_proto(request))
        self._check_identity(context, notice.peer, "joining peer")
        return serde.ack(True, "noted")

    def RequestDeletion(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Check a deletion request's signature; serving it is not implemented here yet."""
        _, req = self._decode(context, lambda: serde.deletion_request_from_proto(request))
        self._check_identity(context, req.requester, "deletion requester")
        keys = self.transport.keyring
        if keys is not None and not keys.verify(req.peer, req.signed_payload(), req.signature):
            self._abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                f"deletion request {req.request_id!r} is not signed by peer {req.peer}, "
                "whose data it concerns",
            )
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "point-level deletion requests are not served by this runtime yet",
        )

    def Health(self, request: Any, context: grpc.ServicerContext) -> Any:
        """Report serving status, the peers served here and the current round."""
        peers = tuple(
            sorted(p for p in self.transport.online() if self.transport.host_of(p) == self.name)
        )
        return serde.health_to_proto(serde.HealthStatus("SERVING", peers, self.transport.now))


class GrpcTransport:
    """Real gRPC between hosts on loopback; see the module docstring.

    Parameters
    ----------
    config
        Wire settings.
    pki
        Certificates for mutual TLS (required when ``config.tls``).
    keyring
        Ed25519 keys: the transport signs leave notices for the peers it speaks for and
        verifies every notice it receives (required when ``config.sign``).
    faults
        Optional fault layer applied to every outgoing message.
    online
        Returns the peer ids currently online (for health checks).
    """

    def __init__(
        self,
        config: WireConfig,
        *,
        pki: TestPki | None = None,
        keyring: KeyRing | None = None,
        faults: FaultLayer | None = None,
        online: Callable[[], list[int]] | None = None,
        local_hosts: list[str] | None = None,
        placement: Callable[[int], str] | None = None,
        port: int = 0,
    ) -> None:
        if config.tls and pki is None:
            raise RunError("wire.tls is on but no certificates were given")
        if config.sign and keyring is None:
            raise RunError("wire.sign is on but no key ring was given")
        self.config = config
        self.pki = pki if config.tls else None
        self.keyring = keyring if config.sign else None
        self.faults = faults
        self.online = online or (lambda: [])
        self.stats = WireStats()
        self.admission = Admission(config.limits)
        self.lock = threading.RLock()
        self.now = 0
        self.handler: Handler | None = None
        self.addresses: dict[str, str] = {}
        self._servers: list[grpc.Server] = []
        self._channels: dict[tuple[str, str], grpc.Channel] = {}
        self._stubs: dict[tuple[str, str], PeerServiceClient] = {}
        self._pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="hdus-send")
        self._inflight = 0
        self._lanes = Lanes(self._pool, config.max_pending_per_peer, self._dropped)
        self._idle = threading.Condition()
        self._started = False
        self.local_hosts = (
            list(local_hosts)
            if local_hosts is not None
            else [self.host_name(i) for i in range(config.hosts)]
        )
        self.placement = placement
        self.port = port  # 0: the OS chooses (only meaningful with one local host)
        #: messages handed to the sender queue / whose RPC finished (for global quiescence)
        self.submitted = 0
        self.completed = 0

    # -------------------------------------------------------------- lifecycle
    def host_name(self, index: int) -> str:
        """Name of host ``index`` (also its certificate's common name)."""
        return f"host{index}"

    def host_of(self, peer_id: int) -> str:
        """The host serving ``peer_id``."""
        if self.placement is not None:
            return self.placement(peer_id)
        return self.host_name(peer_id % self.config.hosts)

    def set_directory(self, addresses: dict[str, str]) -> None:
        """Learn (or update) where remote hosts listen; stale channels are dropped."""
        for name, address in addresses.items():
            if name in self.local_hosts:
                continue
            if self.addresses.get(name) != address:
                for key in [k for k in self._stubs if k[1] == name]:
                    self._stubs.pop(key)
                    self._channels.pop(key).close()
            self.addresses[name] = address

    def start(self) -> GrpcTransport:
        """Start one gRPC server per host on ``127.0.0.1``, ports chosen by the OS."""
        if self._started:
            return self
        options = [
            ("grpc.max_receive_message_length", self.config.max_message_bytes),
            ("grpc.max_send_message_length", self.config.max_message_bytes),
        ]
        options += self.admission.server_options()
        for name in self.local_hosts:
            server = grpc.server(
                ThreadPoolExecutor(max_workers=self.config.server_workers, thread_name_prefix=name),
                options=options,
                maximum_concurrent_rpcs=self.config.limits.max_concurrent_rpcs,
            )
            add_peer_service(_Host(self, name), server, self.admission)
            if self.pki is not None:
                port = server.add_secure_port(
                    f"127.0.0.1:{self.port}", server_credentials(self.pki, name)
                )
            else:
                port = server.add_insecure_port(f"127.0.0.1:{self.port}")
            if port == 0:
                raise RunError(f"could not bind a port on 127.0.0.1 for {name}")
            server.start()
            self._servers.append(server)
            self.addresses[name] = f"127.0.0.1:{port}"
        self._started = True
        return self

    def _stub(self, src_host: str, dst_host: str) -> PeerServiceClient:
        key = (src_host, dst_host)
        stub = self._stubs.get(key)
        if stub is None:
            target = self.addresses[dst_host]
            options = [
                ("grpc.max_send_message_length", self.config.max_message_bytes),
                ("grpc.max_receive_message_length", self.config.max_message_bytes),
            ]
            if self.pki is not None:
                channel = grpc.secure_channel(
                    target, channel_credentials(self.pki, src_host), options=options
                )
            else:
                channel = grpc.insecure_channel(target, options=options)
            self._channels[key] = channel
            stub = self._stubs[key] = PeerServiceClient(channel)
        return stub

    def probe(self, src_host: str, dst_host: str, timeout_s: float) -> bool:
        """Ask ``dst_host`` for its health (blocks up to ``timeout_s``); ``True``: serving."""
        if dst_host not in self.addresses:
            return False
        try:
            reply = self._stub(src_host, dst_host).Health(serde.health_request(), timeout=timeout_s)
        except grpc.RpcError:
            return False
        return bool(reply.status == "SERVING")

    def close(self) -> None:
        """Stop servers, close channels and the sender pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.admission.close()
        for channel in self._channels.values():
            channel.close()
        for server in self._servers:
            server.stop(0)
        self._servers.clear()
        self._channels.clear()
        self._stubs.clear()

    def handler_or_fail(self) -> Handler:
        """The runtime messages are handed to."""
        if self.handler is None:
            raise RunError("the gRPC transport has no handler: call deliver() through a runtime")
        return self.handler

    # -------------------------------------------------------------- sending
    def _sign(self, src: int, message: Message) -> Message:
        if (
            self.keyring is not None
            and isinstance(message, LeaveNotice)
            and not message.signature
            and message.vouched_by == src
            and self.keyring.can_sign(src)
        ):
            import dataclasses

            return dataclasses.replace(
                message, signature=self.keyring.sign(src, message.signed_payload())
            )
        return message

    def submit(self, src: int, env: Envelope) -> bool:
        """Queue one message from ``src``; ``False`` if the queue is full (dropped)."""
        handler = self.handler_or_fail()
        message = self._sign(src, env.message)
        with self._idle:
            if self._inflight >= self.config.max_queue:
                self.stats.backpressure_drops += 1
                return False
            self._inflight += 1
            self.submitted += 1
        handler.count_sent(src, message, env.dst, self.now)
        if self.faults is None:
            self._send(src, env.dst, message, self.now)  # no delays: straight to the lane
        else:
            self._pool.submit(self._send, src, env.dst, message, self.now)
        return True

    def _dropped(self, job: Job) -> None:
        """A lane pushed out one waiting copy: count it as a backpressure drop."""
        self.stats.backpressure_drops += 1
        _, (_, _, _, copies) = job
        self._copy_done(copies)

    def _copy_done(self, copies: list[int]) -> None:
        """One copy of a message finished (sent, refused, failed or dropped)."""
        with self._idle:
            copies[0] -= 1
            if copies[0] > 0:
                return
            self._inflight -= 1
            self.completed += 1
            if self._inflight == 0:
                self._idle.notify_all()

    def _send(self, src: int, dst: int, message: Message, now: int) -> None:
        """Hand every copy the fault layer plans (at its delay) to the destination's lane."""
        delays = [0.0] if self.faults is None else sorted(self.faults.plan(now, src, dst, message))
        copies = [len(delays)]
        if not delays:  # dropped by the fault layer
            copies[0] = 1
            self._copy_done(copies)
            return
        start = time.perf_counter()
        for delay in delays:
            wait = delay - (time.perf_counter() - start)
            if wait > 0:
                time.sleep(wait)
            self._lanes.submit(dst, self._send_copy, src, dst, message, copies)

    def _send_copy(self, src: int, dst: int, message: Message, copies: list[int]) -> None:
        try:
            self._rpc(src, dst, message)
        except Exception:
            self.stats.failed += 1
        finally:
            self._copy_done(copies)

    def _call(self, stub: PeerServiceClient, dst: int, message: Message) -> Any:
        timeout = self.config.deadline_s
        if isinstance(message, SeedMessage):
            chunks = serde.iter_seed_chunks(message, dst, chunk_bytes=self.config.chunk_bytes)
            return stub.PushSeed(chunks, timeout=timeout)
        if isinstance(message, LeaveNotice):
            return stub.NotifyLeave(serde.leave_to_proto(message, dst), timeout=timeout)
        if isinstance(message, Heartbeat):
            return stub.SendHeartbeat(serde.heartbeat_to_proto(message, dst), timeout=timeout)
        raise RunError(f"no RPC for message type {type(message).__name__}")

    def _rpc(self, src: int, dst: int, message: Message) -> None:
        if self.host_of(dst) not in self.addresses:
            self.stats.refused["NO_ADDRESS"] += 1  # nobody told us where that host listens
            return
        stub = self._stub(self.host_of(src), self.host_of(dst))
        backoff = self.config.backoff_s
        attempt = 0
        busy_until = time.monotonic() + self.config.busy_wait_s
        while True:
            self.stats.rpcs += 1
            try:
                self._call(stub, dst, message)
                return
            except grpc.RpcError as err:
                code = err.code()
                wait = retry_after_s(err)
                if wait is not None and time.monotonic() + wait < busy_until:
                    # busy or over a rate: the receiver says when to come back
                    self.stats.busy_retries += 1
                    time.sleep(max(wait, self.config.backoff_s))
                    continue
                if code in RETRYABLE and attempt < self.config.retries:
                    attempt += 1
                    self.stats.retries += 1
                    time.sleep(backoff)
                    backoff *= 2
                    continue
                self.stats.refused[code.name] += 1
                return

    def counters(self) -> dict[str, Any]:
        """The wire's counters (and its fault layer's and admission control's), as plain data."""
        st = self.stats
        out: dict[str, Any] = {
            "rpcs": st.rpcs,
            "retries": st.retries,
            "busy_retries": st.busy_retries,
            "failed": st.failed,
            "refused": dict(st.refused),
            "rejected": dict(st.rejected),
            "backpressure_drops": st.backpressure_drops,
            "limited": dict(self.admission.stats.limited),
            "idle_streams_cancelled": self.admission.stats.idle_cancelled,
        }
        if self.faults is not None:
            fs = self.faults.stats
            out["faults"] = {
                "dropped": fs.dropped,
                "duplicated": fs.duplicated,
                "delayed": fs.delayed,
                "reordered": fs.reordered,
                "partitioned": fs.partitioned,
            }
        return out

    # -------------------------------------------------------------- delivery
    def deliver(self, handler: Handler, src: int, envelopes: list[Envelope], now: int) -> None:
        """Send ``envelopes`` and (with ``quiesce``) wait until nothing is in flight."""
        self.handler = handler
        self.now = now
        self.start()
        with self.lock:
            for env in envelopes:
                self.submit(src, env)
        if self.config.quiesce:
            self.wait_idle()

    def wait_idle(self) -> None:
        """Block until no message is in flight; a clear error after ``drain_timeout_s``."""
        with self._idle:
            if not self._idle.wait_for(
                lambda: self._inflight == 0, timeout=self.config.drain_timeout_s
            ):
                raise RunError(
                    f"{self._inflight} messages still in flight after "
                    f"{self.config.drain_timeout_s} s; raise wire.drain_timeout_s or check hosts"
                )
