"""The ``PeerService`` descriptor: every RPC's path, streaming flag and (de)serializers.

Read from the compiled ``.proto`` (``hdus_sim.proto.peer_pb2``), so the gRPC binding of
:mod:`hdus_sim.wire.service` follows the ``.proto`` without naming a protobuf class.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Final

from hdus_sim.proto import peer_pb2 as pb


@dataclass(frozen=True)
class ServiceMethod:
    """One RPC of ``PeerService``, read from the compiled ``.proto`` descriptor.

    ``parse_request``/``parse_response`` turn bytes into messages, ``dump`` turns a message
    into bytes: the gRPC layer binds methods with these, never with protobuf classes.
    """

    name: str
    path: str
    client_streaming: bool
    request_type: str
    parse_request: Any
    parse_response: Any
    dump: Any


#: Fully qualified service name, as on the wire.
SERVICE_NAME: Final[str] = pb.DESCRIPTOR.services_by_name["PeerService"].full_name

#: Every RPC of ``PeerService`` in ``.proto`` order, so the binding follows the ``.proto``.
SERVICE_METHODS: Final[tuple[ServiceMethod, ...]] = tuple(
    ServiceMethod(
        name=m.name,
        path=f"/{SERVICE_NAME}/{m.name}",
        client_streaming=m.client_streaming,
        request_type=m.input_type.name,
        parse_request=getattr(pb, m.input_type.name).FromString,
        parse_response=getattr(pb, m.output_type.name).FromString,
        dump=operator.methodcaller("SerializeToString"),
    )
    for m in pb.DESCRIPTOR.services_by_name["PeerService"].methods
)
