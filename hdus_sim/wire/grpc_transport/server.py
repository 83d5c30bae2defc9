"""The server half of the gRPC wire: one ``PeerService`` servicer per host.

An arrival is checked at the boundary, in this order: decoding
(:mod:`hdus_sim.wire.serde`), the certificate identity of the connection (mTLS),
signatures of leave notices (Ed25519), then the receiving peer's own checks. Every refusal
is a gRPC status with a message naming the problem; the receiver's state is unchanged.
Admission control (:mod:`hdus_sim.wire.admission`) has already charged the call to its
connection before any of this, and charges it to its sender once the sender is known.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import grpc

from clients.peer import Envelope, Message, Reaction, Refusal
from hdus_sim.errors import RunError
from hdus_sim.transport import Handler
from hdus_sim.wire import serde
from hdus_sim.wire.admission import Admission
from hdus_sim.wire.errors import WireError
from hdus_sim.wire.grpc_transport.config import WireConfig, WireStats
from hdus_sim.wire.security import KeyRing, TestPki, peer_ids_from_auth_context, server_credentials
from hdus_sim.wire.service import add_peer_service

__all__ = ["STATUS_FOR_REFUSAL", "HostServicer", "ServingTransport", "start_host_server"]

#: The gRPC status a receiver answers with for each kind of peer refusal.
STATUS_FOR_REFUSAL = {
    Refusal.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    Refusal.GONE: grpc.StatusCode.FAILED_PRECONDITION,
    Refusal.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Refusal.CORRUPT: grpc.StatusCode.DATA_LOSS,
    Refusal.STALE: grpc.StatusCode.ALREADY_EXISTS,
}


class ServingTransport(Protocol):
    """What a host's servicer needs from the transport it serves for.

    The servicer counts refusals into ``stats``, reads ``config``, ``pki`` and ``keyring``,
    and hands an accepted message to the runtime's handler under ``lock``, queueing what
    the receiving peer sends on with :meth:`submit`.
    """

    @property
    def config(self) -> WireConfig:
        """Wire settings (``max_seed_bytes``, ``max_items``)."""
        ...

    @property
    def pki(self) -> TestPki | None:
        """Certificates when mutual TLS is on: callers' identities are checked."""
        ...

    @property
    def keyring(self) -> KeyRing | None:
        """Public keys when signing is on: leave notices and deletion requests are verified."""
        ...

    @property
    def stats(self) -> WireStats:
        """Counters; the servicer adds the statuses it answers to ``rejected``."""
        ...

    @property
    def admission(self) -> Admission:
        """Admission control, charging each call to its sender."""
        ...

    @property
    def lock(self) -> threading.RLock:
        """Held while the runtime's handler runs (one message at a time per transport)."""
        ...

    @property
    def now(self) -> int:
        """The current scenario round."""
        ...

    @property
    def online(self) -> Callable[[], list[int]]:
        """Returns the ids of the peers online now."""
        ...

    def host_of(self, peer_id: int) -> str:
        """The host serving ``peer_id``."""
        ...

    def handler_or_fail(self) -> Handler:
        """The runtime messages are handed to."""
        ...

    def submit(self, src: int, env: Envelope) -> bool:
        """Queue one message that peer ``src`` sends on."""
        ...


class HostServicer:
    """The ``PeerService`` of one host: decode, check, hand to the peer, send on."""

    def __init__(self, transport: ServingTransport, name: str) -> None:
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


def start_host_server(transport: ServingTransport, name: str, port: int) -> tuple[grpc.Server, str]:
    """Start host ``name``'s gRPC server on ``127.0.0.1:port`` (0: the OS chooses).

    The server has ``config.server_workers`` threads, the message-size limits of the
    config, admission control's options, and mutual TLS when the transport has a PKI.

    Returns
    -------
    tuple of (grpc.Server, str)
        The started server and the ``"127.0.0.1:<port>"`` address it listens on.
    """
    config = transport.config
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
    ]
    options += transport.admission.server_options()
    server = grpc.server(
        ThreadPoolExecutor(max_workers=config.server_workers, thread_name_prefix=name),
        options=options,
        maximum_concurrent_rpcs=config.limits.max_concurrent_rpcs,
    )
    add_peer_service(HostServicer(transport, name), server, transport.admission)
    if transport.pki is not None:
        bound = server.add_secure_port(f"127.0.0.1:{port}", server_credentials(transport.pki, name))
    else:
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound == 0:
        raise RunError(f"could not bind a port on 127.0.0.1 for {name}")
    server.start()
    return server, f"127.0.0.1:{bound}"
