"""Form checks and limits shared by every records ↔ protobuf converter.

Each check returns the checked value or raises :class:`~hdus_sim.wire.errors.WireError`
(``INVALID_ARGUMENT``) naming the offending field, so a converter is a list of checked
fields. The numeric limits here are the protobuf fields' signed ranges and the default
sizes of the seed chunk stream (bytes).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import numpy as np

from clients.messages import DataOwner
from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire.errors import WireError

#: numpy dtype names a tensor may have on the wire (always little-endian, C order).
ALLOWED_DTYPES: Final[tuple[str, ...]] = ("float32", "float64", "float16", "int64", "int32")
#: Default largest tensor-data slice per :class:`SeedChunk`, bytes (1 MiB, well under
#: gRPC's default 4 MiB message limit).
DEFAULT_CHUNK_BYTES: Final[int] = 1 << 20
#: Default largest seed a receiver accepts, bytes of tensor data (256 MiB).
DEFAULT_MAX_BYTES: Final[int] = 256 << 20
#: Default largest number of tensors in one seed (bounds memory for empty tensors too).
DEFAULT_MAX_TENSORS: Final[int] = 1 << 16

INT64_MAX: Final[int] = (1 << 63) - 1
INT32_MAX: Final[int] = (1 << 31) - 1


# ---------------------------------------------------------------------------- field checks
def check_nonneg(field: str, value: Any, *, bits: int = 64) -> int:
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
    limit = INT64_MAX if bits == 64 else INT32_MAX
    if number < 0:
        raise WireError(f"{field} must be >= 0, got {number}")
    if number > limit:
        raise WireError(f"{field} must be <= {limit} (int{bits}), got {number}")
    return number


def check_owners(field: str, owners: Iterable[Any]) -> list[DataOwner]:
    """Check ``(peer, epoch)`` pairs and return them sorted (deterministic encoding)."""
    out: list[DataOwner] = []
    for i, item in enumerate(owners):
        try:
            peer, epoch = item
        except (TypeError, ValueError):
            raise WireError(f"{field}[{i}] must be a (peer, epoch) pair, got {item!r}") from None
        out.append(
            (check_nonneg(f"{field}[{i}].peer", peer), check_nonneg(f"{field}[{i}].epoch", epoch))
        )
    return sorted(out)


def owners_from_proto(field: str, owners: Iterable[pb.DataOwner]) -> frozenset[DataOwner]:
    """Decode repeated :class:`DataOwner` into a frozenset of checked pairs."""
    return frozenset(check_owners(field, ((o.peer, o.epoch) for o in owners)))


def check_ids(field: str, values: Iterable[Any]) -> tuple[int, ...]:
    """Check a sequence of non-negative int64 ids (sample ids)."""
    return tuple(check_nonneg(f"{field}[{i}]", v) for i, v in enumerate(values))


@contextmanager
def building(kind: str) -> Iterator[None]:
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


def check_dtype(field: str, name: str) -> np.dtype[Any]:
    """Return the little-endian numpy dtype for an allowed dtype ``name``."""
    if name not in ALLOWED_DTYPES:
        raise WireError(f"{field} {name!r} is not allowed; use one of {list(ALLOWED_DTYPES)}")
    return np.dtype(name).newbyteorder("<")


#: most dimensions a tensor may declare (numpy's own limit)
MAX_DIMS: Final[int] = 32


def check_shape(field: str, shape: Sequence[Any]) -> tuple[int, ...]:
    """Check ``shape`` has at most :data:`MAX_DIMS` dimensions, each a non-negative int64."""
    if len(shape) > MAX_DIMS:
        raise WireError(f"{field} has {len(shape)} dimensions; a tensor has at most {MAX_DIMS}")
    return tuple(check_nonneg(f"{field}[{i}]", d) for i, d in enumerate(shape))


def nbytes_of(shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    """Exact byte size of a C-order array (Python ints: no overflow for absurd shapes)."""
    return math.prod(shape) * dtype.itemsize
