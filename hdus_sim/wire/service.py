"""The ``PeerService`` gRPC binding, driven by the ``.proto`` descriptor.

grpcio-tools would also generate a ``peer_pb2_grpc`` module, but its servicer base class
is a set of placeholder methods that raise ``NotImplementedError``. Instead the binding is
built here from :data:`hdus_sim.wire.serde.SERVICE_METHODS` (read from the compiled
``.proto``): a server registers an object that must implement every RPC, and a client gets
one callable per RPC. Adding an RPC to the ``.proto`` adds it here; a servicer that lacks
it is refused when the server is built, not when a call arrives.

Requests reach the server as raw bytes and are parsed here, after admission control
(:mod:`hdus_sim.wire.admission`) has charged them to the caller: a flood over its rate is
refused before any parsing, and bytes that are not the RPC's message get ``DATA_LOSS``
naming the message type (gRPC's own deserializer would answer an anonymous ``INTERNAL``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from hdus_sim.errors import RunError
from hdus_sim.wire.admission import Admission
from hdus_sim.wire.serde import SERVICE_METHODS, SERVICE_NAME, ServiceMethod

__all__ = ["PeerServiceClient", "add_peer_service"]


def _parse(m: ServiceMethod, raw: bytes, context: grpc.ServicerContext) -> Any:
    try:
        return m.parse_request(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        context.abort(
            grpc.StatusCode.DATA_LOSS,
            f"{m.name}: {len(raw)} bytes are not a valid {m.request_type} message ({exc})",
        )


def _bind(m: ServiceMethod, method: Callable[..., Any], admission: Admission | None) -> Any:
    if m.client_streaming:

        def streaming(raw_chunks: Iterator[bytes], context: grpc.ServicerContext) -> Any:
            if admission is not None:
                raw_chunks = admission.watch(context, raw_chunks)
            return method((_parse(m, raw, context) for raw in raw_chunks), context)

        return grpc.stream_unary_rpc_method_handler(streaming, response_serializer=m.dump)

    def unary(raw: bytes, context: grpc.ServicerContext) -> Any:
        if admission is None:
            return method(_parse(m, raw, context), context)
        admission.admit_connection(context, len(raw))
        with admission.parsing(context, len(raw), m.request_type):
            request = _parse(m, raw, context)
        return method(request, context)

    return grpc.unary_unary_rpc_method_handler(unary, response_serializer=m.dump)


def add_peer_service(
    servicer: Any, server: grpc.Server, admission: Admission | None = None
) -> None:
    """Serve every ``PeerService`` RPC on ``server`` with ``servicer``'s same-named methods.

    With ``admission``, every call is charged to its connection before it is parsed and
    seed streams that stall are cancelled.
    """
    missing = [m.name for m in SERVICE_METHODS if not callable(getattr(servicer, m.name, None))]
    if missing:
        raise RunError(f"{type(servicer).__name__} lacks PeerService RPC(s) {missing}")
    handlers = {m.name: _bind(m, getattr(servicer, m.name), admission) for m in SERVICE_METHODS}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))


class PeerServiceClient:
    """One callable attribute per ``PeerService`` RPC over ``channel`` (``client.Health(req)``)."""

    def __init__(self, channel: grpc.Channel) -> None:
        for m in SERVICE_METHODS:
            make = channel.stream_unary if m.client_streaming else channel.unary_unary
            setattr(
                self,
                m.name,
                make(m.path, request_serializer=m.dump, response_deserializer=m.parse_response),
            )

    def __getattr__(self, name: str) -> Any:  # only reached for unknown names
        known = [m.name for m in SERVICE_METHODS]
        raise AttributeError(f"PeerService has no RPC {name!r}; it has {known}")
