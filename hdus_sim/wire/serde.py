"""Records ↔ protobuf: the one place where the plain frozen records meet the wire.

Every record of :mod:`clients.messages` has a symmetric pair here, ``x_to_proto`` and
``x_from_proto``; seeds travel as a client stream of :class:`SeedChunk` messages (a header,
then each tensor's bytes in chunks of at most ``chunk_bytes``) so that a model larger than
gRPC's maximum message size still fits. Nothing outside this module and the generated
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

import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import numpy as np
from google.protobuf.message import DecodeError, Message

from clients.messages import (
    DataOwner,
    DeletionReceipt,
    DeletionRequest,
    Heartbeat,
    JoinNotice,
    Lease,
    LeaveNotice,
    LeaveReason,
    SeedMessage,
    SeedRecord,
)
from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire.errors import WireError

__all__ = [
    "ALLOWED_DTYPES",
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_TENSORS",
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
    "leave_from_proto",
    "leave_to_proto",
    "parse",
    "roundtrip",
    "seed_from_chunks",
    "seed_to_chunks",
    "tensor_from_proto",
    "tensor_to_proto",
]

#: numpy dtype names a tensor may have on the wire (always little-endian, C order).
ALLOWED_DTYPES: Final[tuple[str, ...]] = ("float32", "float64", "float16", "int64", "int32")
#: Default largest tensor-data slice per :class:`SeedChunk`, bytes (1 MiB, well under
#: gRPC's default 4 MiB message limit).
DEFAULT_CHUNK_BYTES: Final[int] = 1 << 20
#: Default largest seed a receiver accepts, bytes of tensor data (256 MiB).
DEFAULT_MAX_BYTES: Final[int] = 256 << 20
#: Default largest number of tensors in one seed (bounds memory for empty tensors too).
DEFAULT_MAX_TENSORS: Final[int] = 1 << 16

_INT64_MAX: Final[int] = (1 << 63) - 1
_INT32_MAX: Final[int] = (1 << 31) - 1

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

_REASON_TO_PB: Final[dict[LeaveReason, int]] = {
    LeaveReason.GRACEFUL: pb.GRACEFUL,
    LeaveReason.CRASH: pb.CRASH,
}
_REASON_FROM_PB: Final[dict[int, LeaveReason]] = {v: k for k, v in _REASON_TO_PB.items()}


# ---------------------------------------------------------------------------- field checks
def _nonneg(field: str, value: Any, *, bits: int = 64) -> int:
    """Return ``value`` as an int in ``[0, 2**(bits-1))`` or raise naming ``field``.

    Ids, epochs, versions, rounds and ttls are never negative; the upper bound is the
    protobuf field's signed range (int64 or int32).
    """
    try:
        number = operator.index(value)
    except TypeError:
        raise WireError(
            f"{field} must be an integer, got {type(value).__name__} {value!r}"
        ) from None
    limit = _INT64_MAX if bits == 64 else _INT32_MAX
    if number < 0:
        raise WireError(f"{field} must be >= 0, got {number}")
    if number > limit:
        raise WireError(f"{field} must be <= {limit} (int{bits}), got {number}")
    return number


def _owners(field: str, owners: Iterable[Any]) -> list[DataOwner]:
    """Check ``(peer, epoch)`` pairs and return them sorted (deterministic encoding)."""
    out: list[DataOwner] = []
    for i, item in enumerate(owners):
        try:
            peer, epoch = item
        except (TypeError, ValueError):
            raise WireError(f"{field}[{i}] must be a (peer, epoch) pair, got {item!r}") from None
        out.append((_nonneg(f"{field}[{i}].peer", peer), _nonneg(f"{field}[{i}].epoch", epoch)))
    return sorted(out)


def _owners_from_proto(field: str, owners: Iterable[pb.DataOwner]) -> frozenset[DataOwner]:
    """Decode repeated :class:`DataOwner` into a frozenset of checked pairs."""
    return frozenset(_owners(field, ((o.peer, o.epoch) for o in owners)))


def _ids(field: str, values: Iterable[Any]) -> tuple[int, ...]:
    """Check a sequence of non-negative int64 ids (sample ids)."""
    return tuple(_nonneg(f"{field}[{i}]", v) for i, v in enumerate(values))


@contextmanager
def _building(kind: str) -> Iterator[None]:
    """Turn protobuf's own ``ValueError``/``TypeError`` while filling ``kind`` into WireError.

    Raised e.g. for strings that are not valid UTF-8 (lone surrogates) or non-bytes
    signatures; :class:`WireError` raised by our own checks passes through unchanged.
    """
    try:
        yield
    except WireError:
        raise
    except (ValueError, TypeError) as exc:
        raise WireError(f"cannot encode {kind}: {exc}") from exc


def _dtype(field: str, name: str) -> np.dtype[Any]:
    """Return the little-endian numpy dtype for an allowed dtype ``name``."""
    if name not in ALLOWED_DTYPES:
        raise WireError(f"{field} {name!r} is not allowed; use one of {list(ALLOWED_DTYPES)}")
    return np.dtype(name).newbyteorder("<")


#: most dimensions a tensor may declare (numpy's own limit)
MAX_DIMS: Final[int] = 32


def _shape(field: str, shape: Sequence[Any]) -> tuple[int, ...]:
    """Check ``shape`` has at most :data:`MAX_DIMS` dimensions, each a non-negative int64."""
    if len(shape) > MAX_DIMS:
        raise WireError(f"{field} has {len(shape)} dimensions; a tensor has at most {MAX_DIMS}")
    return tuple(_nonneg(f"{field}[{i}]", d) for i, d in enumerate(shape))


def _nbytes(shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    """Exact byte size of a C-order array (Python ints: no overflow for absurd shapes)."""
    return math.prod(shape) * dtype.itemsize


# ---------------------------------------------------------------------------- tensors
def _wire_array(field: str, name: str, array: Any) -> tuple[np.dtype[Any], np.ndarray]:
    """Check one ``(name, array)`` pair and return its wire dtype and flat LE byte view."""
    if not isinstance(name, str) or not name:
        raise WireError(f"{field}.name must be a non-empty string, got {name!r}")
    arr = np.asarray(array)
    dtype = _dtype(f"{field} ({name}) dtype", arr.dtype.name)
    flat = np.ascontiguousarray(arr, dtype=dtype).reshape(-1).view(np.uint8)
    return dtype, flat


def _array_from_bytes(buf: np.ndarray, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
    """Turn a filled uint8 buffer (owned, not shared) into a native-order C array."""
    arr = buf.view(dtype).reshape(shape)
    if not dtype.isnative:  # big-endian host: one converting copy
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def tensor_to_proto(name: str, array: np.ndarray) -> pb.Tensor:
    """Encode one named array as a whole :class:`Tensor` (little-endian, C order).

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for an empty name or a dtype outside :data:`ALLOWED_DTYPES`.
    """
    dtype, flat = _wire_array("Tensor", name, array)
    shape = _shape(f"Tensor ({name}) shape", np.shape(array))
    with _building("Tensor"):
        return pb.Tensor(name=name, dtype=dtype.name, shape=shape, data=flat.tobytes())


def tensor_from_proto(p: pb.Tensor) -> tuple[str, np.ndarray]:
    """Decode a :class:`Tensor` into ``(name, array)``; the array is a fresh C-order copy.

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for an empty name, unknown dtype, negative dimension, or
        ``data`` whose length is not ``product(shape) * itemsize``.
    """
    if not p.name:
        raise WireError("Tensor.name must be a non-empty string")
    dtype = _dtype(f"Tensor ({p.name}) dtype", p.dtype)
    shape = _shape(f"Tensor ({p.name}) shape", p.shape)
    expected = _nbytes(shape, dtype)
    if len(p.data) != expected:
        raise WireError(
            f"Tensor ({p.name}) size mismatch: {p.dtype}{list(shape)} needs {expected} bytes, "
            f"data has {len(p.data)}"
        )
    buf = np.frombuffer(p.data, dtype=np.uint8).copy()
    return p.name, _array_from_bytes(buf, dtype, shape)


# ---------------------------------------------------------------------------- seeds
def _seed_header(msg: SeedMessage, dst: int, total: int, n_tensors: int) -> pb.SeedHeader:
    """Build the checked :class:`SeedHeader` of ``msg``."""
    rec = msg.record
    lineage = _owners("SeedRecord.lineage", rec.lineage)
    with _building("SeedHeader"):
        return pb.SeedHeader(
            owner=_nonneg("SeedRecord.owner", rec.owner),
            epoch=_nonneg("SeedRecord.epoch", rec.epoch),
            version=_nonneg("SeedRecord.version", rec.version),
            arch=rec.arch,
            lineage=[pb.DataOwner(peer=p, epoch=e) for p, e in lineage],
            deletions=list(rec.deletions),
            digest=rec.digest,
            sender=_nonneg("SeedMessage.sender", msg.sender),
            ttl=_nonneg("SeedMessage.ttl", msg.ttl, bits=32),
            total_bytes=total,
            n_tensors=_nonneg("SeedRecord.tensors (count)", n_tensors, bits=32),
            dst=_nonneg("dst", dst),
            signature=rec.signature,
            lease=None if msg.lease is None else lease_to_proto(msg.lease, "SeedMessage.lease"),
        )


def lease_to_proto(lease: Lease, field: str = "Lease") -> pb.Lease:
    """Encode a lease renewal; negative numbers raise :class:`WireError` naming ``field``."""
    with _building(field):
        return pb.Lease(
            owner=_nonneg(f"{field}.owner", lease.owner),
            epoch=_nonneg(f"{field}.epoch", lease.epoch),
            seq=_nonneg(f"{field}.seq", lease.seq),
            floor=_nonneg(f"{field}.floor", lease.floor),
            signature=lease.signature,
            age=_nonneg(f"{field}.age", lease.age),
        )


def lease_from_proto(p: pb.Lease, field: str = "Lease") -> Lease:
    """Decode a lease renewal; negative numbers raise :class:`WireError` naming ``field``."""
    return Lease(
        owner=_nonneg(f"{field}.owner", p.owner),
        epoch=_nonneg(f"{field}.epoch", p.epoch),
        seq=_nonneg(f"{field}.seq", p.seq),
        floor=_nonneg(f"{field}.floor", p.floor),
        signature=p.signature,
        age=_nonneg(f"{field}.age", p.age),
    )


def _chunk_stream(
    header: pb.SeedHeader,
    prepared: list[tuple[str, np.dtype[Any], tuple[int, ...], np.ndarray]],
    chunk_bytes: int,
) -> Iterator[pb.SeedChunk]:
    """Yield the header chunk, then every tensor's bytes in slices of ``chunk_bytes``."""
    yield pb.SeedChunk(header=header)
    for index, (name, dtype, shape, flat) in enumerate(prepared):
        size = flat.size
        offset = 0
        while True:
            end = min(offset + chunk_bytes, size)
            yield pb.SeedChunk(
                tensor=pb.TensorChunk(
                    index=index,
                    name=name,
                    dtype=dtype.name,
                    shape=shape,
                    offset=offset,
                    data=flat[offset:end].tobytes(),
                    last=end == size,
                )
            )
            if end == size:
                break
            offset = end


def iter_seed_chunks(
    msg: SeedMessage, dst: int, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[pb.SeedChunk]:
    """Check ``msg`` now, then lazily yield its :class:`SeedChunk` stream.

    The lazy form suits a gRPC client stream (one chunk's bytes in memory at a time);
    every check runs before this function returns, so errors never surface mid-stream.
    Parameters, errors and chunk layout are as for :func:`seed_to_chunks`.
    """
    if operator.index(chunk_bytes) < 1:
        raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
    prepared: list[tuple[str, np.dtype[Any], tuple[int, ...], np.ndarray]] = []
    seen: set[str] = set()
    for i, pair in enumerate(msg.record.tensors):
        try:
            name, array = pair
        except (TypeError, ValueError):
            raise WireError(f"SeedRecord.tensors[{i}] must be a (name, array) pair") from None
        dtype, flat = _wire_array(f"SeedRecord.tensors[{i}]", name, array)
        if name in seen:
            raise WireError(f"SeedRecord.tensors[{i}].name {name!r} is repeated")
        seen.add(name)
        shape = _shape(f"SeedRecord.tensors[{i}] ({name}) shape", np.shape(array))
        prepared.append((name, dtype, shape, flat))
    total = sum(flat.size for _, _, _, flat in prepared)
    header = _seed_header(msg, dst, total, len(prepared))
    return _chunk_stream(header, prepared, chunk_bytes)


def seed_to_chunks(
    msg: SeedMessage, dst: int, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> list[pb.SeedChunk]:
    """Encode a seed in transit as the chunk stream of ``PushSeed``.

    Parameters
    ----------
    msg
        The seed and its relay fields (``sender``, ``ttl``).
    dst
        Destination peer id on the receiving server.
    chunk_bytes
        Largest slice of tensor data per chunk, bytes (default 1 MiB). Keep it well below
        the channel's maximum message size: names, shape and framing add a few dozen bytes.

    Returns
    -------
    list of SeedChunk
        One header chunk, then for tensor ``i`` (state-dict order) ``ceil(nbytes / chunk_bytes)``
        chunks (one empty chunk for an empty tensor) with contiguous offsets, the final one
        marked ``last``. Tensor data is little-endian, C order.

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative ids/epoch/version/ttl/dst, a dtype outside
        :data:`ALLOWED_DTYPES`, an empty or repeated tensor name, or a non-UTF-8 string.
    ValueError
        If ``chunk_bytes < 1``.
    """
    return list(iter_seed_chunks(msg, dst, chunk_bytes=chunk_bytes))


@dataclass
class _Partial:
    """A tensor being received: its metadata and the bytes filled so far."""

    index: int
    name: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    buf: np.ndarray
    filled: int = 0


def _header_from_proto(
    h: pb.SeedHeader, max_bytes: int, max_tensors: int
) -> tuple[int, frozenset[DataOwner]]:
    """Check a received header's numbers and limits; return its ``dst`` and lineage."""
    dst = _nonneg("SeedHeader.dst", h.dst)
    for field in ("owner", "epoch", "version", "sender", "ttl", "total_bytes", "n_tensors"):
        _nonneg(f"SeedHeader.{field}", getattr(h, field))
    lineage = _owners_from_proto("SeedHeader.lineage", h.lineage)
    if h.total_bytes > max_bytes:
        raise WireError(
            f"seed of {h.total_bytes} bytes exceeds this receiver's limit of {max_bytes} bytes",
            "RESOURCE_EXHAUSTED",
        )
    if h.n_tensors > max_tensors:
        raise WireError(
            f"seed of {h.n_tensors} tensors exceeds this receiver's limit of {max_tensors}",
            "RESOURCE_EXHAUSTED",
        )
    return dst, lineage


def _start_tensor(
    t: pb.TensorChunk, pos: int, expected_index: int, names: set[str]
) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """Check the first chunk of a tensor; return its dtype, shape and size in bytes."""
    if t.index != expected_index:
        raise WireError(
            f"chunk {pos}: tensor index {t.index} out of order, expected {expected_index}"
        )
    if t.offset != 0:
        raise WireError(
            f"chunk {pos}: tensor {t.index} starts at offset {t.offset}, expected 0 (gap)"
        )
    if not t.name:
        raise WireError(f"chunk {pos}: tensor {t.index} has an empty name")
    if t.name in names:
        raise WireError(f"chunk {pos}: tensor name {t.name!r} is repeated")
    dtype = _dtype(f"chunk {pos}: tensor {t.index} ({t.name}) dtype", t.dtype)
    shape = _shape(f"chunk {pos}: tensor {t.index} ({t.name}) shape", t.shape)
    return dtype, shape, _nbytes(shape, dtype)


def seed_from_chunks(
    chunks: Iterable[pb.SeedChunk],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_tensors: int = DEFAULT_MAX_TENSORS,
) -> tuple[int, SeedMessage]:
    """Decode a ``PushSeed`` chunk stream into ``(dst, SeedMessage)``.

    Reads ``chunks`` one at a time (an iterator such as a gRPC request stream is fine) and
    stops at the first problem, so a bad or oversized stream is refused before it is read
    to the end. Memory is bounded by ``max_bytes`` of tensor data.

    Parameters
    ----------
    chunks
        The stream: a header chunk, then tensor chunks as written by :func:`seed_to_chunks`
        (any chunk size).
    max_bytes
        Largest total tensor data accepted, bytes; checked against the header's
        ``total_bytes`` and the declared tensor sizes before any buffer is allocated.
    max_tensors
        Largest number of tensors accepted.

    Returns
    -------
    tuple of (int, SeedMessage)
        The destination peer id and the seed; arrays are fresh, writable, C-contiguous,
        native byte order, with the sent dtype and shape. The digest is *not* verified
        here (the receiving peer does that).

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for structural problems (no header first, a second header,
        an empty chunk, index out of order, offset gap or overlap, a tensor whose name,
        dtype or shape changes between its chunks, a byte count that does not match
        ``dtype`` x ``shape``, a total that does not match ``total_bytes``, more tensors
        than ``n_tensors``, unknown dtype, negative numbers);
        ``RESOURCE_EXHAUSTED`` above ``max_bytes`` or ``max_tensors``;
        ``DATA_LOSS`` when the stream ends early (empty stream, a tensor without its
        ``last`` chunk, fewer than ``n_tensors`` tensors).
    """
    stream = iter(chunks)
    first = next(stream, None)
    if first is None:
        raise WireError("seed stream ended before its SeedHeader (no chunks)", "DATA_LOSS")
    part = first.WhichOneof("part")
    if part == "tensor":
        raise WireError("seed stream must start with a SeedHeader chunk, got a tensor chunk")
    if part != "header":
        raise WireError("chunk 0 carries neither a header nor a tensor (missing SeedHeader)")
    h = first.header
    dst, lineage = _header_from_proto(h, max_bytes, max_tensors)

    tensors: list[tuple[str, np.ndarray]] = []
    names: set[str] = set()
    declared = 0
    current: _Partial | None = None
    for pos, chunk in enumerate(stream, start=1):
        part = chunk.WhichOneof("part")
        if part == "header":
            raise WireError(f"chunk {pos} is a second SeedHeader; a seed carries exactly one")
        if part != "tensor":
            raise WireError(f"chunk {pos} carries neither a header nor a tensor")
        t = chunk.tensor
        if not t.data and not t.last:
            raise WireError(f"chunk {pos}: tensor {t.index} chunk is empty and not last")
        if current is None:
            if len(tensors) >= h.n_tensors:
                raise WireError(
                    f"chunk {pos}: more tensors than the header's n_tensors={h.n_tensors}"
                )
            dtype, shape, size = _start_tensor(t, pos, len(tensors), names)
            declared += size
            if declared > max_bytes:
                raise WireError(
                    f"chunk {pos}: tensors add up to {declared} bytes, over this receiver's "
                    f"limit of {max_bytes} bytes",
                    "RESOURCE_EXHAUSTED",
                )
            if declared > h.total_bytes:
                raise WireError(
                    f"chunk {pos}: tensors add up to {declared} bytes, more than the "
                    f"header's total_bytes={h.total_bytes}"
                )
            # Declared sizes are bounded by max_bytes before anything is allocated.
            current = _Partial(t.index, t.name, dtype, shape, np.empty(size, dtype=np.uint8))
            names.add(t.name)
        else:
            if t.index != current.index:
                raise WireError(
                    f"chunk {pos}: tensor index {t.index} out of order: tensor "
                    f"{current.index} ({current.name}) has not sent its last chunk"
                )
            if (t.name, t.dtype, tuple(t.shape)) != (
                current.name,
                current.dtype.name,
                current.shape,
            ):
                raise WireError(
                    f"chunk {pos}: tensor {t.index} changed name, dtype or shape between chunks"
                )
            if t.offset != current.filled:
                raise WireError(
                    f"chunk {pos}: tensor {t.index} ({current.name}) offset {t.offset} is not "
                    f"contiguous, expected {current.filled} (gap or overlap)"
                )
        n = len(t.data)
        size = current.buf.size
        if current.filled + n > size:
            raise WireError(
                f"chunk {pos}: tensor {t.index} ({current.name}) size mismatch: "
                f"{current.dtype.name}{list(current.shape)} holds {size} bytes, chunks carry "
                f"at least {current.filled + n}"
            )
        current.buf[current.filled : current.filled + n] = np.frombuffer(t.data, np.uint8)
        current.filled += n
        if t.last:
            if current.filled != size:
                raise WireError(
                    f"chunk {pos}: tensor {t.index} ({current.name}) size mismatch: "
                    f"{current.dtype.name}{list(current.shape)} needs {size} bytes, got "
                    f"{current.filled}"
                )
            tensors.append(
                (current.name, _array_from_bytes(current.buf, current.dtype, current.shape))
            )
            current = None

    if current is not None:
        raise WireError(
            f"seed stream ended inside tensor {current.index} ({current.name}): "
            f"{current.filled} of {current.buf.size} bytes and no last chunk",
            "DATA_LOSS",
        )
    if len(tensors) != h.n_tensors:
        raise WireError(
            f"seed stream ended after {len(tensors)} of n_tensors={h.n_tensors} tensors",
            "DATA_LOSS",
        )
    if declared != h.total_bytes:
        raise WireError(
            f"tensors add up to {declared} bytes but the header's total_bytes={h.total_bytes}"
        )
    record = SeedRecord(
        owner=h.owner,
        epoch=h.epoch,
        version=h.version,
        arch=h.arch,
        tensors=tuple(tensors),
        lineage=lineage,
        deletions=tuple(h.deletions),
        digest=h.digest,
        signature=h.signature,
    )
    lease = lease_from_proto(h.lease, "SeedHeader.lease") if h.HasField("lease") else None
    return dst, SeedMessage(record=record, sender=h.sender, ttl=h.ttl, lease=lease)


# ---------------------------------------------------------------------------- small records
def leave_to_proto(n: LeaveNotice, dst: int) -> pb.LeaveNotice:
    """Encode a leave notice for peer ``dst``.

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative peer/epoch/reporter/ttl/dst or an unknown reason.
    """
    reason = _REASON_TO_PB.get(n.reason)
    if reason is None:
        raise WireError(f"LeaveNotice.reason must be a LeaveReason, got {n.reason!r}")
    with _building("LeaveNotice"):
        return pb.LeaveNotice(
            peer=_nonneg("LeaveNotice.peer", n.peer),
            epoch=_nonneg("LeaveNotice.epoch", n.epoch),
            reason=reason,
            reporter=_nonneg("LeaveNotice.reporter", n.reporter),
            ttl=_nonneg("LeaveNotice.ttl", n.ttl, bits=32),
            signature=n.signature,
            dst=_nonneg("dst", dst),
            origin=_origin(n.origin),
        )


def leave_from_proto(p: pb.LeaveNotice) -> tuple[int, LeaveNotice]:
    """Decode a leave notice into ``(dst, LeaveNotice)``.

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative numbers, or a reason that is
        ``LEAVE_REASON_UNSPECIFIED`` (field missing) or unknown.
    """
    reason = _REASON_FROM_PB.get(p.reason)
    if reason is None:
        what = "LEAVE_REASON_UNSPECIFIED" if p.reason == 0 else f"unknown value {p.reason}"
        raise WireError(f"LeaveNotice.reason is {what}; senders must set GRACEFUL or CRASH")
    notice = LeaveNotice(
        peer=_nonneg("LeaveNotice.peer", p.peer),
        epoch=_nonneg("LeaveNotice.epoch", p.epoch),
        reason=reason,
        reporter=_nonneg("LeaveNotice.reporter", p.reporter),
        ttl=_nonneg("LeaveNotice.ttl", p.ttl, bits=32),
        signature=p.signature,
        origin=_origin(p.origin),
    )
    return _nonneg("LeaveNotice.dst", p.dst), notice


def _origin(value: int) -> int:
    """``LeaveNotice.origin``: a peer id, or -1 for "the reporter"."""
    return -1 if value == -1 else _nonneg("LeaveNotice.origin", value)


def join_to_proto(n: JoinNotice, dst: int) -> pb.JoinNotice:
    """Encode a join notice for peer ``dst``; negative peer/epoch/dst raise WireError."""
    with _building("JoinNotice"):
        return pb.JoinNotice(
            peer=_nonneg("JoinNotice.peer", n.peer),
            epoch=_nonneg("JoinNotice.epoch", n.epoch),
            device=n.device,
            address=n.address,
            dst=_nonneg("dst", dst),
        )


def join_from_proto(p: pb.JoinNotice) -> tuple[int, JoinNotice]:
    """Decode a join notice into ``(dst, JoinNotice)``; negative numbers raise WireError."""
    notice = JoinNotice(
        peer=_nonneg("JoinNotice.peer", p.peer),
        epoch=_nonneg("JoinNotice.epoch", p.epoch),
        device=p.device,
        address=p.address,
    )
    return _nonneg("JoinNotice.dst", p.dst), notice


def heartbeat_to_proto(h: Heartbeat, dst: int) -> pb.Heartbeat:
    """Encode a heartbeat for peer ``dst``; sets are sent sorted (deterministic bytes).

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative sender/epoch/round/dst or negative entries.
    """
    tombstones = _owners("Heartbeat.tombstones", h.tombstones)
    holding = sorted(h.holding)
    with _building("Heartbeat"):
        return pb.Heartbeat(
            sender=_nonneg("Heartbeat.sender", h.sender),
            epoch=_nonneg("Heartbeat.epoch", h.epoch),
            round=_nonneg("Heartbeat.round", h.round),
            tombstones=[pb.DataOwner(peer=p, epoch=e) for p, e in tombstones],
            dst=_nonneg("dst", dst),
            leases=[lease_to_proto(x, f"Heartbeat.leases[{i}]") for i, x in enumerate(h.leases)],
            holding=[
                pb.SeedVersion(
                    peer=_nonneg(f"Heartbeat.holding[{i}].peer", p),
                    epoch=_nonneg(f"Heartbeat.holding[{i}].epoch", e),
                    version=_nonneg(f"Heartbeat.holding[{i}].version", v),
                )
                for i, (p, e, v) in enumerate(holding)
            ],
            proofs=[leave_to_proto(n, 0) for n in h.proofs],
        )


def heartbeat_from_proto(p: pb.Heartbeat, max_items: int | None = None) -> tuple[int, Heartbeat]:
    """Decode a heartbeat into ``(dst, Heartbeat)``; negative numbers raise WireError.

    With ``max_items``, a heartbeat with more entries of one kind is refused
    (``INVALID_ARGUMENT``) before any is converted: a flood costs its parse, not more.
    """
    if max_items is not None:
        for what, items in (
            ("tombstones", p.tombstones),
            ("leases", p.leases),
            ("holdings", p.holding),
            ("leave proofs", p.proofs),
        ):
            if len(items) > max_items:
                raise WireError(
                    f"heartbeat from {p.sender} carries {len(items)} {what}, more than the "
                    f"{max_items} this receiver takes per heartbeat (wire.max_items)"
                )
    beat = Heartbeat(
        sender=_nonneg("Heartbeat.sender", p.sender),
        epoch=_nonneg("Heartbeat.epoch", p.epoch),
        round=_nonneg("Heartbeat.round", p.round),
        tombstones=_owners_from_proto("Heartbeat.tombstones", p.tombstones),
        leases=tuple(lease_from_proto(x, f"Heartbeat.leases[{i}]") for i, x in enumerate(p.leases)),
        holding=frozenset(
            (
                _nonneg(f"Heartbeat.holding[{i}].peer", r.peer),
                _nonneg(f"Heartbeat.holding[{i}].epoch", r.epoch),
                _nonneg(f"Heartbeat.holding[{i}].version", r.version),
            )
            for i, r in enumerate(p.holding)
        ),
        proofs=tuple(leave_from_proto(n)[1] for n in p.proofs),
    )
    return _nonneg("Heartbeat.dst", p.dst), beat


def deletion_request_to_proto(r: DeletionRequest, dst: int) -> pb.DeletionRequest:
    """Encode a deletion request for peer ``dst``.

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative peer/epoch/requester/dst or sample ids.
    """
    with _building("DeletionRequest"):
        return pb.DeletionRequest(
            request_id=r.request_id,
            peer=_nonneg("DeletionRequest.peer", r.peer),
            epoch=_nonneg("DeletionRequest.epoch", r.epoch),
            sample_ids=_ids("DeletionRequest.sample_ids", r.sample_ids),
            requester=_nonneg("DeletionRequest.requester", r.requester),
            signature=r.signature,
            dst=_nonneg("dst", dst),
        )


def deletion_request_from_proto(p: pb.DeletionRequest) -> tuple[int, DeletionRequest]:
    """Decode a deletion request into ``(dst, DeletionRequest)``; negatives raise WireError."""
    request = DeletionRequest(
        request_id=p.request_id,
        peer=_nonneg("DeletionRequest.peer", p.peer),
        epoch=_nonneg("DeletionRequest.epoch", p.epoch),
        sample_ids=_ids("DeletionRequest.sample_ids", p.sample_ids),
        requester=_nonneg("DeletionRequest.requester", p.requester),
        signature=p.signature,
    )
    return _nonneg("DeletionRequest.dst", p.dst), request


def _wall_s(value: Any) -> float:
    """Check a wall-clock duration: a finite float >= 0, seconds."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise WireError(f"DeletionReceipt.wall_s must be a number, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise WireError(f"DeletionReceipt.wall_s must be finite and >= 0 s, got {seconds}")
    return seconds


def deletion_receipt_to_proto(r: DeletionReceipt) -> pb.DeletionReceipt:
    """Encode a deletion receipt (a response: it has no ``dst``).

    Raises
    ------
    WireError
        ``INVALID_ARGUMENT`` for negative peer/epoch/versions or deleted ids, or a
        ``wall_s`` that is negative or not finite.
    """
    with _building("DeletionReceipt"):
        return pb.DeletionReceipt(
            request_id=r.request_id,
            peer=_nonneg("DeletionReceipt.peer", r.peer),
            epoch=_nonneg("DeletionReceipt.epoch", r.epoch),
            deleted=_ids("DeletionReceipt.deleted", r.deleted),
            new_model_version=_nonneg("DeletionReceipt.new_model_version", r.new_model_version),
            new_seed_version=_nonneg("DeletionReceipt.new_seed_version", r.new_seed_version),
            certificate=r.certificate,
            wall_s=_wall_s(r.wall_s),
        )


def deletion_receipt_from_proto(p: pb.DeletionReceipt) -> DeletionReceipt:
    """Decode a deletion receipt; the same checks as :func:`deletion_receipt_to_proto`."""
    return DeletionReceipt(
        request_id=p.request_id,
        peer=_nonneg("DeletionReceipt.peer", p.peer),
        epoch=_nonneg("DeletionReceipt.epoch", p.epoch),
        deleted=_ids("DeletionReceipt.deleted", p.deleted),
        new_model_version=_nonneg("DeletionReceipt.new_model_version", p.new_model_version),
        new_seed_version=_nonneg("DeletionReceipt.new_seed_version", p.new_seed_version),
        certificate=p.certificate,
        wall_s=_wall_s(p.wall_s),
    )


# ---------------------------------------------------------------------------- acks and health
def ack(accepted: bool, reason: str = "") -> pb.Ack:
    """Build the reply to a one-way message (``reason``: short human-readable text)."""
    with _building("Ack"):
        return pb.Ack(accepted=bool(accepted), reason=reason)


def ack_from_proto(p: pb.Ack) -> tuple[bool, str]:
    """Decode an :class:`Ack` into ``(accepted, reason)``."""
    return p.accepted, p.reason


@dataclass(frozen=True)
class HealthStatus:
    """A server's liveness answer.

    Attributes
    ----------
    status
        ``"SERVING"``, or a short reason the server is not serving.
    peers
        Ids of the peers this server hosts.
    round
        The server's current scenario round.
    """

    status: str
    peers: tuple[int, ...]
    round: int


def health_request() -> pb.HealthRequest:
    """Build the (empty) liveness probe."""
    return pb.HealthRequest()


def health_to_proto(h: HealthStatus) -> pb.HealthResponse:
    """Encode a server's liveness answer; negative peer ids or round raise WireError."""
    with _building("HealthResponse"):
        return pb.HealthResponse(
            status=h.status,
            peers=_ids("HealthResponse.peers", h.peers),
            round=_nonneg("HealthResponse.round", h.round),
        )


def health_from_proto(p: pb.HealthResponse) -> HealthStatus:
    """Decode a liveness answer; negative peer ids or round raise WireError."""
    return HealthStatus(
        status=p.status,
        peers=_ids("HealthResponse.peers", p.peers),
        round=_nonneg("HealthResponse.round", p.round),
    )


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
        _, seed = seed_from_chunks(chunks, max_bytes=_INT64_MAX)  # type: ignore[arg-type]
        return seed  # type: ignore[return-value]
    _, record = decode_message(type(message).__name__, encode_message(message, dst))
    return record  # type: ignore[return-value]


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
