"""Records ↔ protobuf: the one place where the plain frozen records meet the wire.

Every record of :mod:`clients.messages` has a symmetric pair here, ``x_to_proto`` and
``x_from_proto``; seeds travel as a client stream of :class:`SeedChunk` messages (a header,
then each tensor's bytes in chunks of at most ``chunk_bytes``) so that a model larger than
gRPC's maximum message size still fits. Nothing outside this package and the generated
``hdus_sim.proto`` package touches protobuf classes; nothing here imports gRPC.

Every request carries ``dst``, the destination peer id, because one server hosts many
peers: the ``*_to_proto`` functions take it as an argument and the ``*_from_proto``
functions return it next to the record (a :class:`~clients.messages.DeletionReceipt` is a
response and has none).

Malformed input raises :class:`~hdus_sim.wire.errors.WireError` whose ``code`` names the
gRPC status the transport answers with:

==================== ==========================================================
code                 when
==================== ==========================================================
INVALID_ARGUMENT     negative id/epoch/version/ttl, unspecified leave reason,
                     unknown dtype, chunks out of order (two headers, tensor
                     before header, index out of order, gap in offsets), sizes
                     that do not match ``dtype`` x ``shape``
RESOURCE_EXHAUSTED   a seed larger than the receiver's ``max_bytes``
DATA_LOSS            undecodable bytes; a stream that ends early (no header, a
                     tensor without its ``last`` chunk, fewer than
                     ``n_tensors`` tensors)
==================== ==========================================================

Checks here are about *form*; whether a well-formed seed is acceptable (digest, NaNs,
architecture, tombstones, neighbours) is the receiving peer's job.

Modules
-------
:mod:`~hdus_sim.wire.serde.checks`
    form checks and limits shared by every converter;
:mod:`~hdus_sim.wire.serde.tensors`
    one named array ↔ a whole ``Tensor``;
:mod:`~hdus_sim.wire.serde.chunks`
    a seed ↔ its ``SeedChunk`` stream;
:mod:`~hdus_sim.wire.serde.records`
    the symmetric pairs of every other record, acks and health;
:mod:`~hdus_sim.wire.serde.codec`
    bytes: parse by name, encode/decode any record, round-trip;
:mod:`~hdus_sim.wire.serde.descriptor`
    the ``PeerService`` RPCs read from the compiled ``.proto``.

This package re-exports all of them, so ``from hdus_sim.wire import serde`` keeps working.

Examples
--------
>>> from clients.messages import LeaveNotice, LeaveReason
>>> notice = LeaveNotice(peer=3, epoch=1, reason=LeaveReason.CRASH, reporter=2, ttl=1)
>>> dst, back = leave_from_proto(leave_to_proto(notice, dst=5))
>>> (dst, back == notice)
(5, True)
>>> roundtrip(notice) == notice
True
"""

from __future__ import annotations

from hdus_sim.wire.serde.checks import (
    ALLOWED_DTYPES,
    DEFAULT_CHUNK_BYTES,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_TENSORS,
    MAX_DIMS,
)
from hdus_sim.wire.serde.chunks import iter_seed_chunks, seed_from_chunks, seed_to_chunks
from hdus_sim.wire.serde.codec import (
    PROTO_KINDS,
    WireRecord,
    decode_message,
    encode_message,
    parse,
    roundtrip,
)
from hdus_sim.wire.serde.descriptor import SERVICE_METHODS, SERVICE_NAME, ServiceMethod
from hdus_sim.wire.serde.records import (
    HealthStatus,
    ack,
    ack_from_proto,
    deletion_receipt_from_proto,
    deletion_receipt_to_proto,
    deletion_request_from_proto,
    deletion_request_to_proto,
    health_from_proto,
    health_request,
    health_to_proto,
    heartbeat_from_proto,
    heartbeat_to_proto,
    join_from_proto,
    join_to_proto,
    lease_from_proto,
    lease_to_proto,
    leave_from_proto,
    leave_to_proto,
)
from hdus_sim.wire.serde.tensors import tensor_from_proto, tensor_to_proto

__all__ = [
    "ALLOWED_DTYPES",
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_TENSORS",
    "MAX_DIMS",
    "PROTO_KINDS",
    "SERVICE_METHODS",
    "SERVICE_NAME",
    "HealthStatus",
    "ServiceMethod",
    "WireRecord",
    "ack",
    "ack_from_proto",
    "decode_message",
    "deletion_receipt_from_proto",
    "deletion_receipt_to_proto",
    "deletion_request_from_proto",
    "deletion_request_to_proto",
    "encode_message",
    "health_from_proto",
    "health_request",
    "health_to_proto",
    "heartbeat_from_proto",
    "heartbeat_to_proto",
    "iter_seed_chunks",
    "join_from_proto",
    "join_to_proto",
    "lease_from_proto",
    "lease_to_proto",
    "leave_from_proto",
    "leave_to_proto",
    "parse",
    "roundtrip",
    "seed_from_chunks",
    "seed_to_chunks",
    "tensor_from_proto",
    "tensor_to_proto",
]
