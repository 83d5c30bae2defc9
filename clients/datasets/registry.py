"""Loading a dataset by its registry name: the one entry point scenarios use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from clients.datasets.base import Dataset
from clients.datasets.cifar import load_cifar10
from clients.datasets.generated import load_digits, make_synthetic
from clients.datasets.har import load_uci_har
from clients.datasets.idx import load_idx
from clients.datasets.mnist_subset import load_mnist_subset
from clients.errors import DatasetError

__all__ = ["DATASETS", "load_dataset"]

#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = (
    "digits",
    "mnist_subset",
    "synthetic",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "uci_har",
)


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    seed: int = 0,
    synthetic_samples: int | None = None,
    **synthetic_kwargs: Any,
) -> Dataset:
    """Load a dataset by its registry name, the one entry point scenarios use.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (case-insensitive; ``-`` is read as ``_``).
    root : str or Path, optional
        Folder with the dataset's files; required for ``mnist``, ``fashion_mnist``,
        ``cifar10`` and ``uci_har``, ignored otherwise.
    seed : int, default 0
        Seed of the synthetic generator (other datasets are not random).
    synthetic_samples : int, optional
        Number of samples for ``synthetic`` (required for it).
    **synthetic_kwargs
        Further keyword arguments of :func:`make_synthetic` (``num_classes``, ``dim``, ...);
        only valid with ``synthetic``.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        If the name is unknown (the valid names are listed), a needed option is missing
        (the option is named), or a loader fails.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if synthetic_kwargs and key != "synthetic":
        raise DatasetError(
            f"dataset {key!r} takes no generator options, got {sorted(synthetic_kwargs)}; "
            "these only apply to dataset 'synthetic'"
        )
    if key == "synthetic":
        if synthetic_samples is None:
            raise DatasetError(
                "dataset 'synthetic' needs its size: set synthetic_samples (e.g. 10000)"
            )
        return make_synthetic(synthetic_samples, seed=seed, **synthetic_kwargs)
    if key == "digits":
        return load_digits()
    if key == "mnist_subset":
        return load_mnist_subset()
    if root is None:
        raise DatasetError(
            f"dataset {key!r} is read from local files: set root to the folder holding them "
            "(nothing is downloaded)"
        )
    loaders: dict[str, Callable[[Path], Dataset]] = {
        "mnist": lambda r: load_idx(r, kind="mnist"),
        "fashion_mnist": lambda r: load_idx(r, kind="fashion_mnist"),
        "cifar10": load_cifar10,
        "uci_har": load_uci_har,
    }
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise DatasetError(
            f"dataset {key!r}: root {root_path} is not an existing folder; set root to the "
            "folder holding the dataset's files"
        )
    return loaders[key](root_path)
