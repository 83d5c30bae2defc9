"""The ``PeerService`` gRPC binding, driven by the ``.proto`` descriptor.

grpcio-tools would also generate a ``peer_pb2_grpc`` module, but its servicer base class
is a set of placeholder methods that raise ``NotImplementedError``. Instead the binding is
built here from :data:`hdus_sim.wire.serde.SERVICE_METHODS` (read from the compiled
``.proto``): a server registers an object that must implement every RPC, and a client gets
one callable per RPC. Adding an RPC to the ``.proto`` adds it here; a servicer that lacks
it is refused when the server is built, not when a call arrives.
"""

from __future__ import annotations

from typing import Any

import grpc

from hdus_sim.errors import RunError
from hdus_sim.wire.serde import SERVICE_METHODS, SERVICE_NAME

__all__ = ["PeerServiceClient", "add_peer_service"]


def add_peer_service(servicer: Any, server: grpc.Server) -> None:
    """Serve every ``PeerService`` RPC on ``server`` with ``servicer``'s same-named methods."""
    missing = [m.name for m in SERVICE_METHODS if not callable(getattr(servicer, m.name, None))]
    if missing:
        raise RunError(f"{type(servicer).__name__} lacks PeerService RPC(s) {missing}")
    handlers = {}
    for m in SERVICE_METHODS:
        make = (
            grpc.stream_unary_rpc_method_handler
            if m.client_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[m.name] = make(
            getattr(servicer, m.name),
            request_deserializer=m.parse_request,
            response_serializer=m.dump,
        )
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
