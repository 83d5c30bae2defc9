"""UCI Human Activity Recognition (smartphone sensors, 6 activities) from its text files.

Features are kept as the dataset's authors scaled them (to [-1, 1]); labels 1..6 become
0..5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clients.datasets.base import Dataset, _build
from clients.errors import DatasetError

__all__ = ["load_uci_har"]

_HAR_FOLDER = "UCI HAR Dataset"
_HAR_FILES: tuple[tuple[str, str], ...] = (
    ("train/X_train.txt", "train/y_train.txt"),
    ("test/X_test.txt", "test/y_test.txt"),
)
_HAR_SOURCE = (
    "https://archive.ics.uci.edu/dataset/240 (unzip 'UCI HAR Dataset.zip'; the folder "
    "'UCI HAR Dataset' holds train/ and test/)"
)


def load_uci_har(root: str | Path) -> Dataset:
    """Load UCI Human Activity Recognition (smartphone sensors, 6 activities) from text files.

    Reads ``train/X_train.txt``, ``train/y_train.txt``, ``test/X_test.txt`` and
    ``test/y_test.txt`` from ``root`` or from ``root/UCI HAR Dataset/``; train and test are
    concatenated (train first). Each ``X`` line holds the features of one window
    (561 in the real dataset, already scaled to [-1, 1] by its authors, kept as they are);
    each ``y`` line one activity label 1..6, shifted here to 0..5.

    Parameters
    ----------
    root : str or Path
        The ``UCI HAR Dataset`` folder, or its parent.

    Returns
    -------
    Dataset
        ``name="uci_har"``, ``x`` of shape ``(N, n_features)`` (count read from the files),
        6 classes.

    Raises
    ------
    DatasetError
        If a file is missing (exact paths named), has ragged or non-numeric lines, labels
        outside 1..6, or if feature and label counts disagree.
    """
    root = Path(root)
    folder = root
    if not (root / _HAR_FILES[0][0]).is_file() and (root / _HAR_FOLDER).is_dir():
        folder = root / _HAR_FOLDER
    needed = [rel for pair in _HAR_FILES for rel in pair]
    missing = [rel for rel in needed if not (folder / rel).is_file()]
    if missing:
        raise DatasetError(
            f"uci_har: missing file(s) {', '.join(str(folder / m) for m in missing)}. The "
            f"loader needs {', '.join(needed)} under {root} or under {root / _HAR_FOLDER}; "
            f"get them from {_HAR_SOURCE}"
        )
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for x_rel, y_rel in _HAR_FILES:
        x = _read_text_matrix(folder / x_rel)
        y = _read_text_matrix(folder / y_rel)
        if y.shape[1] != 1:
            raise DatasetError(
                f"{folder / y_rel} has {y.shape[1]} values per line; a label file has one"
            )
        if x.shape[0] != y.shape[0]:
            raise DatasetError(
                f"uci_har: {folder / x_rel} has {x.shape[0]} rows but {folder / y_rel} has "
                f"{y.shape[0]} labels; the two files must come from the same release"
            )
        labels = y[:, 0]
        if labels.size and (
            not np.all(labels == np.round(labels)) or labels.min() < 1 or labels.max() > 6
        ):
            raise DatasetError(
                f"{folder / y_rel}: labels must be integers 1..6 (activity ids), found "
                f"{labels.min():g}..{labels.max():g}"
            )
        xs.append(x)
        ys.append(labels.astype(np.int64) - 1)
    if xs[0].shape[1] != xs[1].shape[1]:
        raise DatasetError(
            f"uci_har: train rows have {xs[0].shape[1]} features but test rows have "
            f"{xs[1].shape[1]}; both files must come from the same release"
        )
    return _build("uci_har", np.concatenate(xs), np.concatenate(ys), 6, train_count=len(ys[0]))


def _read_text_matrix(path: Path) -> np.ndarray:
    """Read whitespace-separated numbers, one row per non-blank line, as float64 (rows, cols)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        raise DatasetError(f"{path} is empty; re-extract it ({_HAR_SOURCE})")
    widths = np.fromiter((len(ln.split()) for ln in lines), dtype=np.int64, count=len(lines))
    if np.any(widths != widths[0]):
        bad = int(np.flatnonzero(widths != widths[0])[0])
        raise DatasetError(
            f"{path}: line {bad + 1} has {widths[bad]} values but line 1 has {widths[0]}; "
            "every line must hold the same number of values, re-extract the file"
        )
    try:
        values = np.array(" ".join(lines).split(), dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path} holds a value that is not a number: {exc}") from exc
    return values.reshape(len(lines), int(widths[0]))
