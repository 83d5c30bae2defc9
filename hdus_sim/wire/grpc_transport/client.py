"""The client half of the gRPC wire: channels to remote hosts and one RPC per message.

Every message becomes one RPC with a deadline (``config.deadline_s``). A receiver that is
busy or over its rate answers ``RESOURCE_EXHAUSTED`` with a retry hint, which the sender
follows for up to ``config.busy_wait_s``; ``UNAVAILABLE`` and ``DEADLINE_EXCEEDED`` are
retried ``config.retries`` times with exponential backoff from ``config.backoff_s``
(seconds, doubled each attempt). Any other status is final and counted in
``stats.refused``.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from clients.messages import Heartbeat, LeaveNotice, SeedMessage
from clients.peer import Message
from hdus_sim.errors import RunError
from hdus_sim.wire import serde
from hdus_sim.wire.admission import retry_after_s
from hdus_sim.wire.grpc_transport.config import WireConfig, WireStats
from hdus_sim.wire.security import TestPki, channel_credentials
from hdus_sim.wire.service import PeerServiceClient

__all__ = ["RETRYABLE", "RpcClient"]

#: Statuses retried with exponential backoff (the receiver may come back).
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class RpcClient:
    """Channels and stubs from local hosts to remote ones, and the retrying RPC of a message.

    Parameters
    ----------
    config
        Wire settings (deadline, retries, backoff, message-size limit, chunk size).
    stats
        Counters this client adds RPCs, retries and refusals to.
    pki
        Certificates for mutual TLS, or ``None`` for insecure channels.
    addresses
        Host name -> ``"ip:port"``; shared with (and kept up to date by) the transport.
    """

    def __init__(
        self,
        config: WireConfig,
        stats: WireStats,
        pki: TestPki | None,
        addresses: dict[str, str],
    ) -> None:
        self.config = config
        self.stats = stats
        self.pki = pki
        self.addresses = addresses
        self._channels: dict[tuple[str, str], grpc.Channel] = {}
        self._stubs: dict[tuple[str, str], PeerServiceClient] = {}

    def stub(self, src_host: str, dst_host: str) -> PeerServiceClient:
        """The client of ``dst_host`` for calls from ``src_host`` (one channel per pair)."""
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

    def forget(self, dst_host: str) -> None:
        """Close every channel to ``dst_host`` (it moved: the next call dials afresh)."""
        for key in [k for k in self._stubs if k[1] == dst_host]:
            self._stubs.pop(key)
            self._channels.pop(key).close()

    def probe(self, src_host: str, dst_host: str, timeout_s: float) -> bool:
        """Ask ``dst_host`` for its health (blocks up to ``timeout_s``); ``True``: serving."""
        if dst_host not in self.addresses:
            return False
        try:
            reply = self.stub(src_host, dst_host).Health(serde.health_request(), timeout=timeout_s)
        except grpc.RpcError:
            return False
        return bool(reply.status == "SERVING")

    def send(self, src_host: str, dst_host: str, dst: int, message: Message) -> None:
        """Deliver ``message`` to peer ``dst`` on ``dst_host``, retrying as the module says.

        Never raises for a refusal: the final status is counted in ``stats.refused``.
        """
        stub = self.stub(src_host, dst_host)
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

    def _call(self, stub: PeerServiceClient, dst: int, message: Message) -> Any:
        """One attempt: the RPC of ``message``'s type, with the configured deadline."""
        timeout = self.config.deadline_s
        if isinstance(message, SeedMessage):
            chunks = serde.iter_seed_chunks(message, dst, chunk_bytes=self.config.chunk_bytes)
            return stub.PushSeed(chunks, timeout=timeout)
        if isinstance(message, LeaveNotice):
            return stub.NotifyLeave(serde.leave_to_proto(message, dst), timeout=timeout)
        if isinstance(message, Heartbeat):
            return stub.SendHeartbeat(serde.heartbeat_to_proto(message, dst), timeout=timeout)
        raise RunError(f"no RPC for message type {type(message).__name__}")

    def close(self) -> None:
        """Close every channel."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
        self._stubs.clear()
