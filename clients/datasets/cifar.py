"""CIFAR-10 from its six pickled "python version" batches, in a folder the user names.

The batches are Python pickles: only load files from a source you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from clients.datasets.base import Dataset, _build
from clients.errors import DatasetError

__all__ = ["load_cifar10"]

_CIFAR_BATCHES: tuple[str, ...] = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
)
_CIFAR_SUBFOLDER = "cifar-10-batches-py"
_CIFAR_SOURCE = "https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR-10 python version)"


def load_cifar10(root: str | Path) -> Dataset:
    """Load CIFAR-10 from its six pickled "python version" batches.

    The batches ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` are read from
    ``root`` or from ``root/cifar-10-batches-py/`` (the folder the official archive unpacks
    to), concatenated in that order. Each is a pickle of a dict with ``b"data"``
    (``N × 3072`` uint8, channel-major: 1024 red, 1024 green, 1024 blue values) and
    ``b"labels"``.

    The batches are Python pickles: only load files from a source you trust.

    Parameters
    ----------
    root : str or Path
        Folder holding the batches, or their parent.

    Returns
    -------
    Dataset
        ``name="cifar10"``, ``x`` of shape ``(N, 3, 32, 32)``, pixels divided by 255,
        10 classes.

    Raises
    ------
    DatasetError
        If a batch is missing (each missing file is named) or malformed.
    """
    root = Path(root)
    folder = root
    if not (root / _CIFAR_BATCHES[0]).is_file() and (root / _CIFAR_SUBFOLDER).is_dir():
        folder = root / _CIFAR_SUBFOLDER
    missing = [name for name in _CIFAR_BATCHES if not (folder / name).is_file()]
    if missing:
        raise DatasetError(
            f"cifar10: missing batch file(s) {', '.join(str(folder / m) for m in missing)}. "
            f"The loader needs all six of {', '.join(_CIFAR_BATCHES)} in {root} or in "
            f"{root / _CIFAR_SUBFOLDER}; get them by unpacking cifar-10-python.tar.gz from "
            f"{_CIFAR_SOURCE}"
        )
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for name in _CIFAR_BATCHES:
        data, labels = _read_cifar_batch(folder / name)
        xs.append(data)
        ys.append(labels)
    x = np.concatenate(xs).reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255.0)
    return _build("cifar10", x, np.concatenate(ys), 10, train_count=sum(len(y) for y in ys[:-1]))


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch: ``(data uint8 (n, 3072), labels int64 (n,))``."""
    try:
        with path.open("rb") as fh:
            batch: Any = pickle.load(fh, encoding="bytes")
    except Exception as exc:  # pickle can raise nearly anything on a corrupt file
        raise DatasetError(
            f"cannot unpickle CIFAR-10 batch {path}: {exc!r}; re-extract it from "
            f"cifar-10-python.tar.gz ({_CIFAR_SOURCE})"
        ) from exc
    if not isinstance(batch, dict):
        raise DatasetError(f"CIFAR-10 batch {path} holds a {type(batch).__name__}, not a dict")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise DatasetError(
            f"CIFAR-10 batch {path} lacks the keys b'data' and b'labels' (has "
            f"{sorted(map(repr, batch))}); is it the python version of CIFAR-10?"
        )
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(
            f"CIFAR-10 batch {path}: b'data' is {data.dtype} of shape {data.shape}, expected "
            "uint8 of shape (N, 3072)"
        )
    if labels.shape[0] != data.shape[0]:
        raise DatasetError(
            f"CIFAR-10 batch {path} has {data.shape[0]} images but {labels.shape[0]} labels; "
            "re-extract it"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(
            f"CIFAR-10 batch {path} holds labels {int(labels.min())}..{int(labels.max())}; "
            "they must lie in 0..9"
        )
    return data, labels
