"""The :class:`Dataset` record every loader returns, and the helper that builds one.

One dataset is all its samples, each with a stable integer id, so that a single point can
later be named for deletion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clients.errors import DatasetError

__all__ = ["Dataset"]


@dataclass(frozen=True)
class Dataset:
    """All samples of one dataset, in memory, ready to be split among peers.

    Attributes
    ----------
    name : str
        Registry name of the dataset (one of :data:`DATASETS`).
    x : numpy.ndarray
        Inputs, ``float32``, shape ``(N, *input_shape)``. Images are scaled to [0, 1]
        (channels first); feature vectors are roughly zero-mean, unit-scale.
    y : numpy.ndarray
        Labels, ``int64``, shape ``(N,)``, values ``0 .. num_classes - 1``.
    num_classes : int
        Number of classes the labels may take (a class may still have no sample).
    input_shape : tuple of int
        Shape of one input: ``(channels, height, width)`` for images, ``(features,)``
        for feature vectors.
    sample_ids : numpy.ndarray
        ``int64``, shape ``(N,)``: stable, unique id of every sample (``0 .. N-1`` for the
        bundled loaders). Ids survive every split, so a deletion request can name a point.
    train_count : int or None
        Where the dataset has a published train/test split, the number of leading samples
        that form its train split (the rest are its test split, in the published order);
        ``None`` if it has none. The ``hdus`` partition scheme slices the train split and
        uses the test split as the reference set, as the HDUS authors did.

    Raises
    ------
    DatasetError
        If the arrays disagree in length, shape or dtype with each other or with
        ``input_shape`` / ``num_classes``.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    sample_ids: np.ndarray
    train_count: int | None = None

    def __post_init__(self) -> None:
        n = self.x.shape[0] if self.x.ndim else -1
        where = f"dataset {self.name!r}"
        if self.x.dtype != np.float32:
            raise DatasetError(f"{where}: x must be float32, got {self.x.dtype}")
        if tuple(self.x.shape[1:]) != tuple(self.input_shape):
            raise DatasetError(
                f"{where}: x has shape {self.x.shape}, which does not match "
                f"(N, *input_shape) with input_shape={tuple(self.input_shape)}"
            )
        if self.y.dtype != np.int64 or self.y.shape != (n,):
            raise DatasetError(
                f"{where}: y must be int64 of shape ({n},), got {self.y.dtype} {self.y.shape}"
            )
        if self.sample_ids.dtype != np.int64 or self.sample_ids.shape != (n,):
            raise DatasetError(
                f"{where}: sample_ids must be int64 of shape ({n},), got "
                f"{self.sample_ids.dtype} {self.sample_ids.shape}"
            )
        if self.num_classes < 1:
            raise DatasetError(f"{where}: num_classes must be >= 1, got {self.num_classes}")
        if n and (self.y.min() < 0 or self.y.max() >= self.num_classes):
            raise DatasetError(
                f"{where}: labels must lie in 0..{self.num_classes - 1}, found "
                f"{int(self.y.min())}..{int(self.y.max())}"
            )
        if n and np.unique(self.sample_ids).size != n:
            raise DatasetError(f"{where}: sample_ids must be unique")
        if self.train_count is not None and not 0 < self.train_count < n:
            raise DatasetError(
                f"{where}: train_count={self.train_count} must lie in 1..{n - 1} (the "
                "published train split's size), or be None"
            )

    @property
    def is_image(self) -> bool:
        """Whether inputs are images, i.e. ``input_shape`` is ``(channels, height, width)``."""
        return len(self.input_shape) == 3

    def __len__(self) -> int:
        """Return the number of samples ``N``."""
        return int(self.x.shape[0])


def _build(
    name: str, x: np.ndarray, y: np.ndarray, num_classes: int, train_count: int | None = None
) -> Dataset:
    """Wrap arrays as a :class:`Dataset` with ids ``0 .. N-1`` and canonical dtypes.

    ``train_count``: size of the published train split at the front, if there is one.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    return Dataset(
        name=name,
        x=x,
        y=np.ascontiguousarray(y, dtype=np.int64),
        num_classes=int(num_classes),
        input_shape=tuple(int(d) for d in x.shape[1:]),
        sample_ids=np.arange(x.shape[0], dtype=np.int64),
        train_count=train_count,
    )
