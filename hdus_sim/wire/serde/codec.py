"""Records ↔ bytes: parse by message name, encode/decode any non-seed record, round-trip.

The entry points a transport or a test uses without knowing which converter applies:
:func:`parse` turns bytes into the protobuf message of a given name (undecodable bytes
are ``DATA_LOSS``), :func:`encode_message`/:func:`decode_message` pick the converter of
:mod:`hdus_sim.wire.serde.records` by record type, and :func:`roundtrip` sends any record,
seeds included, through its whole encoding and back.
"""

from __future__ import annotations

from typing import Final, TypeVar

from google.protobuf.message import DecodeError, Message

from clients.messages import (
    DeletionReceipt,
    DeletionRequest,
    Heartbeat,
    JoinNotice,
    LeaveNotice,
    SeedMessage,
)
from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire.errors import WireError
from hdus_sim.wire.serde.checks import INT64_MAX
from hdus_sim.wire.serde.chunks import iter_seed_chunks, seed_from_chunks
from hdus_sim.wire.serde.records import (
    deletion_receipt_from_proto,
    deletion_receipt_to_proto,
    deletion_request_from_proto,
    deletion_request_to_proto,
    heartbeat_from_proto,
    heartbeat_to_proto,
    join_from_proto,
    join_to_proto,
    leave_from_proto,
    leave_to_proto,
)

#: Any record that crosses between peers.
WireRecord = SeedMessage | LeaveNotice | Heartbeat | JoinNotice | DeletionRequest | DeletionReceipt
_R = TypeVar(
    "_R", SeedMessage, LeaveNotice, Heartbeat, JoinNotice, DeletionRequest, DeletionReceipt
)

#: Protobuf message types by name, for :func:`parse` (e.g. a transport's deserializers).
PROTO_KINDS: Final[dict[str, type[Message]]] = {
    "Tensor": pb.Tensor,
    "DataOwner": pb.DataOwner,
    "SeedHeader": pb.SeedHeader,
    "TensorChunk": pb.TensorChunk,
    "SeedChunk": pb.SeedChunk,
    "LeaveNotice": pb.LeaveNotice,
    "JoinNotice": pb.JoinNotice,
    "Heartbeat": pb.Heartbeat,
    "Lease": pb.Lease,
    "SeedVersion": pb.SeedVersion,
    "DeletionRequest": pb.DeletionRequest,
    "DeletionReceipt": pb.DeletionReceipt,
    "Ack": pb.Ack,
    "HealthRequest": pb.HealthRequest,
    "HealthResponse": pb.HealthResponse,
}


# ---------------------------------------------------------------------------- bytes
def parse(kind: str, data: bytes) -> Message:
    """Parse ``data`` as the protobuf message named ``kind`` (a key of :data:`PROTO_KINDS`).

    Raises
    ------
    WireError
        ``DATA_LOSS`` if the bytes are not a valid encoding (protobuf's ``DecodeError``,
        e.g. a truncated varint or a string that is not UTF-8).
    KeyError
        If ``kind`` is not a known message name (a programming error).
    """
    cls = PROTO_KINDS[kind]
    try:
        return cls.FromString(data)
    except DecodeError as exc:
        raise WireError(f"cannot decode {kind} from {len(data)} bytes: {exc}", "DATA_LOSS") from exc


def encode_message(message: WireRecord, dst: int = 0) -> bytes:
    """Serialize a non-seed record (for peer ``dst``) to protobuf bytes.

    Seeds travel as a chunk stream: use :func:`seed_to_chunks` (or :func:`roundtrip`).
    ``dst`` is ignored for a :class:`~clients.messages.DeletionReceipt`.

    Raises
    ------
    WireError
        As the matching ``*_to_proto`` function.
    TypeError
        For a :class:`~clients.messages.SeedMessage` or a type that is not a record.
    """
    proto: Message
    if isinstance(message, LeaveNotice):
        proto = leave_to_proto(message, dst)
    elif isinstance(message, JoinNotice):
        proto = join_to_proto(message, dst)
    elif isinstance(message, Heartbeat):
        proto = heartbeat_to_proto(message, dst)
    elif isinstance(message, DeletionRequest):
        proto = deletion_request_to_proto(message, dst)
    elif isinstance(message, DeletionReceipt):
        proto = deletion_receipt_to_proto(message)
    elif isinstance(message, SeedMessage):
        raise TypeError("seeds travel as a chunk stream: use seed_to_chunks() or roundtrip()")
    else:
        raise TypeError(f"not a wire record: {type(message).__name__}")
    return proto.SerializeToString(deterministic=True)


def decode_message(kind: str, data: bytes) -> tuple[int | None, WireRecord]:
    """Parse bytes written by :func:`encode_message` back into ``(dst, record)``.

    Parameters
    ----------
    kind
        The record class name: ``"LeaveNotice"``, ``"JoinNotice"``, ``"Heartbeat"``,
        ``"DeletionRequest"`` or ``"DeletionReceipt"`` (whose ``dst`` is ``None``).
    data
        The serialized protobuf message.

    Raises
    ------
    WireError
        ``DATA_LOSS`` for undecodable bytes; otherwise as the matching ``*_from_proto``.
    KeyError
        For any other ``kind``.
    """
    if kind == "LeaveNotice":
        return leave_from_proto(parse(kind, data))  # type: ignore[arg-type]
    if kind == "JoinNotice":
        return join_from_proto(parse(kind, data))  # type: ignore[arg-type]
    if kind == "Heartbeat":
        return heartbeat_from_proto(parse(kind, data))  # type: ignore[arg-type]
    if kind == "DeletionRequest":
        return deletion_request_from_proto(parse(kind, data))  # type: ignore[arg-type]
    if kind == "DeletionReceipt":
        return None, deletion_receipt_from_proto(parse(kind, data))  # type: ignore[arg-type]
    raise KeyError(f"decode_message has no record kind {kind!r}")


def roundtrip(message: _R, dst: int = 0) -> _R:
    """Send ``message`` through its full protobuf encoding and back; return the copy.

    record → protobuf → bytes → protobuf → record, seeds through the chunk stream (each
    chunk serialized and parsed on its own). Used by the in-process runtime's optional
    "exercise the wire" mode and by tests: the result must equal the input (arrays
    compared with ``np.array_equal``).

    Raises
    ------
    WireError
        If the record cannot be encoded (or, for a corrupted encoding, decoded).
    """
    if isinstance(message, SeedMessage):
        wire = (c.SerializeToString() for c in iter_seed_chunks(message, dst))
        chunks = (parse("SeedChunk", b) for b in wire)
        _, seed = seed_from_chunks(chunks, max_bytes=INT64_MAX)  # type: ignore[arg-type]
        return seed  # type: ignore[return-value]
    _, record = decode_message(type(message).__name__, encode_message(message, dst))
    return record  # type: ignore[return-value]
