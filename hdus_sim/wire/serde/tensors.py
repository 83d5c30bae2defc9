"""One named array ↔ a whole protobuf ``Tensor`` (little-endian, C order).

Seeds stream their tensors in chunks (:mod:`hdus_sim.wire.serde.chunks`); the byte-level
helpers here (the flat little-endian view of an array, and its inverse) are shared by both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hdus_sim.proto import peer_pb2 as pb
from hdus_sim.wire.errors import WireError
from hdus_sim.wire.serde.checks import building, check_dtype, check_shape, nbytes_of


def wire_array(field: str, name: str, array: Any) -> tuple[np.dtype[Any], np.ndarray]:
    """Check one ``(name, array)`` pair and return its wire dtype and flat LE byte view."""
    if not isinstance(name, str) or not name:
        raise WireError(f"{field}.name must be a non-empty string, got {name!r}")
    arr = np.asarray(array)
    dtype = check_dtype(f"{field} ({name}) dtype", arr.dtype.name)
    flat = np.ascontiguousarray(arr, dtype=dtype).reshape(-1).view(np.uint8)
    return dtype, flat


def array_from_bytes(buf: np.ndarray, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
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
    dtype, flat = wire_array("Tensor", name, array)
    shape = check_shape(f"Tensor ({name}) shape", np.shape(array))
    with building("Tensor"):
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
    dtype = check_dtype(f"Tensor ({p.name}) dtype", p.dtype)
    shape = check_shape(f"Tensor ({p.name}) shape", p.shape)
    expected = nbytes_of(shape, dtype)
    if len(p.data) != expected:
        raise WireError(
            f"Tensor ({p.name}) size mismatch: {p.dtype}{list(shape)} needs {expected} bytes, "
            f"data has {len(p.data)}"
        )
    buf = np.frombuffer(p.data, dtype=np.uint8).copy()
    return p.name, array_from_bytes(buf, dtype, shape)
