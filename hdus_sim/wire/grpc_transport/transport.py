"""The gRPC transport: hosts' servers, a bounded sender queue, and round quiescence.

:class:`GrpcTransport` ties the halves together: it starts one server per local host
(:mod:`~hdus_sim.wire.grpc_transport.server`), signs outgoing leave notices, queues every
message into a per-destination lane served by a pool of sender threads, hands each copy
the fault layer plans to the client half (:mod:`~hdus_sim.wire.grpc_transport.client`),
and counts messages in flight. :meth:`GrpcTransport.deliver` returns once none is in
flight (counted from hand-over to the sender queue until the receiver has handled it and
queued what it sends on), so a round of the scenario engine completes before the next.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from clients.messages import LeaveNotice
from clients.peer import Envelope, Message
from hdus_sim.errors import RunError
from hdus_sim.transport import Handler
from hdus_sim.wire.admission import Admission
from hdus_sim.wire.faults import FaultLayer
from hdus_sim.wire.grpc_transport.client import RpcClient
from hdus_sim.wire.grpc_transport.config import WireConfig, WireStats
from hdus_sim.wire.grpc_transport.server import start_host_server
from hdus_sim.wire.lanes import Job, Lanes
from hdus_sim.wire.security import KeyRing, TestPki

__all__ = ["GrpcTransport"]


class GrpcTransport:
    """Real gRPC between hosts on loopback; see :mod:`hdus_sim.wire.grpc_transport`.

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
        self._client = RpcClient(config, self.stats, self.pki, self.addresses)
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
                self._client.forget(name)
            self.addresses[name] = address

    def start(self) -> GrpcTransport:
        """Start one gRPC server per host on ``127.0.0.1``, ports chosen by the OS."""
        if self._started:
            return self
        for name in self.local_hosts:
            server, address = start_host_server(self, name, self.port)
            self._servers.append(server)
            self.addresses[name] = address
        self._started = True
        return self

    def probe(self, src_host: str, dst_host: str, timeout_s: float) -> bool:
        """Ask ``dst_host`` for its health (blocks up to ``timeout_s``); ``True``: serving."""
        return self._client.probe(src_host, dst_host, timeout_s)

    def close(self) -> None:
        """Stop servers, close channels and the sender pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.admission.close()
        self._client.close()
        for server in self._servers:
            server.stop(0)
        self._servers.clear()

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

    def _rpc(self, src: int, dst: int, message: Message) -> None:
        """One copy's RPC, with retries (``benchmarks/overhead_workload.py`` times this)."""
        dst_host = self.host_of(dst)
        if dst_host not in self.addresses:
            self.stats.refused["NO_ADDRESS"] += 1  # nobody told us where that host listens
            return
        self._client.send(self.host_of(src), dst_host, dst, message)

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
