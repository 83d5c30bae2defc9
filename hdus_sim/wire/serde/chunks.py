"""A seed in transit ↔ the ``PushSeed`` client stream of :class:`SeedChunk` messages.

A seed travels as one header chunk, then each tensor's bytes in chunks of at most
``chunk_bytes``, so that a model larger than gRPC's maximum message size still fits.
Sending checks everything before the first chunk is yielded; receiving reads one chunk
at a time and stops at the first problem, with memory bounded by the receiver's
``max_bytes`` of tensor data (see :func:`seed_from_chunks` for the status of each problem).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from clients.messages import DataOwner, SeedMessage, SeedRecord
from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire.errors import WireError
from hdus_sim.wire.serde.checks import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_TENSORS,
    building,
    check_dtype,
    check_nonneg,
    check_owners,
    check_shape,
    nbytes_of,
    owners_from_proto,
)
from hdus_sim.wire.serde.records import lease_from_proto, lease_to_proto
from hdus_sim.wire.serde.tensors import array_from_bytes, wire_array


# ---------------------------------------------------------------------------- seeds
def _seed_header(msg: SeedMessage, dst: int, total: int, n_tensors: int) -> pb.SeedHeader:
    """Build the checked :class:`SeedHeader` of ``msg``."""
    rec = msg.record
    lineage = check_owners("SeedRecord.lineage", rec.lineage)
    with building("SeedHeader"):
        return pb.SeedHeader(
            owner=check_nonneg("SeedRecord.owner", rec.owner),
            epoch=check_nonneg("SeedRecord.epoch", rec.epoch),
            version=check_nonneg("SeedRecord.version", rec.version),
            arch=rec.arch,
            lineage=[pb.DataOwner(peer=p, epoch=e) for p, e in lineage],
            deletions=list(rec.deletions),
            digest=rec.digest,
            sender=check_nonneg("SeedMessage.sender", msg.sender),
            ttl=check_nonneg("SeedMessage.ttl", msg.ttl, bits=32),
            total_bytes=total,
            n_tensors=check_nonneg("SeedRecord.tensors (count)", n_tensors, bits=32),
            dst=check_nonneg("dst", dst),
            signature=rec.signature,
            lease=None if msg.lease is None else lease_to_proto(msg.lease, "SeedMessage.lease"),
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
        dtype, flat = wire_array(f"SeedRecord.tensors[{i}]", name, array)
        if name in seen:
            raise WireError(f"SeedRecord.tensors[{i}].name {name!r} is repeated")
        seen.add(name)
        shape = check_shape(f"SeedRecord.tensors[{i}] ({name}) shape", np.shape(array))
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
    dst = check_nonneg("SeedHeader.dst", h.dst)
    for field in ("owner", "epoch", "version", "sender", "ttl", "total_bytes", "n_tensors"):
        check_nonneg(f"SeedHeader.{field}", getattr(h, field))
    lineage = owners_from_proto("SeedHeader.lineage", h.lineage)
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
    dtype = check_dtype(f"chunk {pos}: tensor {t.index} ({t.name}) dtype", t.dtype)
    shape = check_shape(f"chunk {pos}: tensor {t.index} ({t.name}) shape", t.shape)
    return dtype, shape, nbytes_of(shape, dtype)


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
    h, dst, lineage = _read_header(stream, max_bytes, max_tensors)
    reader = _TensorReader(h, max_bytes)
    for pos, chunk in enumerate(stream, start=1):
        reader.feed(pos, chunk)
    tensors = reader.finish()
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


def _read_header(
    stream: Iterator[pb.SeedChunk], max_bytes: int, max_tensors: int
) -> tuple[pb.SeedHeader, int, frozenset[DataOwner]]:
    """Take the stream's first chunk, which must be the header; return it, ``dst``, lineage."""
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
    return h, dst, lineage


@dataclass
class _TensorReader:
    """The tensor chunks after the header, fed one at a time, checked against the header.

    ``declared`` is the byte total of the tensors started so far (bounded by ``max_bytes``
    before any buffer is allocated); ``current`` is the tensor whose ``last`` chunk has
    not arrived yet.
    """

    header: pb.SeedHeader
    max_bytes: int
    tensors: list[tuple[str, np.ndarray]] = dataclasses.field(default_factory=list)
    names: set[str] = dataclasses.field(default_factory=set)
    declared: int = 0
    current: _Partial | None = None

    def feed(self, pos: int, chunk: pb.SeedChunk) -> None:
        """Check chunk number ``pos`` (the header is 0) and copy its bytes into place."""
        part = chunk.WhichOneof("part")
        if part == "header":
            raise WireError(f"chunk {pos} is a second SeedHeader; a seed carries exactly one")
        if part != "tensor":
            raise WireError(f"chunk {pos} carries neither a header nor a tensor")
        t = chunk.tensor
        if not t.data and not t.last:
            raise WireError(f"chunk {pos}: tensor {t.index} chunk is empty and not last")
        if self.current is None:
            current = self._begin(pos, t)
        else:
            current = self.current
            _check_continues(pos, t, current)
        self._append(pos, t, current)

    def _begin(self, pos: int, t: pb.TensorChunk) -> _Partial:
        """Start the next tensor at its first chunk ``t``: check sizes, allocate its buffer."""
        h = self.header
        if len(self.tensors) >= h.n_tensors:
            raise WireError(f"chunk {pos}: more tensors than the header's n_tensors={h.n_tensors}")
        dtype, shape, size = _start_tensor(t, pos, len(self.tensors), self.names)
        self.declared += size
        if self.declared > self.max_bytes:
            raise WireError(
                f"chunk {pos}: tensors add up to {self.declared} bytes, over this receiver's "
                f"limit of {self.max_bytes} bytes",
                "RESOURCE_EXHAUSTED",
            )
        if self.declared > h.total_bytes:
            raise WireError(
                f"chunk {pos}: tensors add up to {self.declared} bytes, more than the "
                f"header's total_bytes={h.total_bytes}"
            )
        # Declared sizes are bounded by max_bytes before anything is allocated.
        self.current = _Partial(t.index, t.name, dtype, shape, np.empty(size, dtype=np.uint8))
        self.names.add(t.name)
        return self.current

    def _append(self, pos: int, t: pb.TensorChunk, current: _Partial) -> None:
        """Copy ``t``'s bytes into ``current``; on its ``last`` chunk, finish the tensor."""
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
            self.tensors.append(
                (current.name, array_from_bytes(current.buf, current.dtype, current.shape))
            )
            self.current = None

    def finish(self) -> list[tuple[str, np.ndarray]]:
        """The stream has ended: check nothing is missing and return the tensors in order."""
        h, current = self.header, self.current
        if current is not None:
            raise WireError(
                f"seed stream ended inside tensor {current.index} ({current.name}): "
                f"{current.filled} of {current.buf.size} bytes and no last chunk",
                "DATA_LOSS",
            )
        if len(self.tensors) != h.n_tensors:
            raise WireError(
                f"seed stream ended after {len(self.tensors)} of n_tensors={h.n_tensors} tensors",
                "DATA_LOSS",
            )
        if self.declared != h.total_bytes:
            raise WireError(
                f"tensors add up to {self.declared} bytes but the header's "
                f"total_bytes={h.total_bytes}"
            )
        return self.tensors


def _check_continues(pos: int, t: pb.TensorChunk, current: _Partial) -> None:
    """Check that chunk ``t`` continues ``current``: same tensor, same metadata, no gap."""
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
