"""MNIST and Fashion-MNIST from their four IDX files (raw or gzipped), parsed here.

IDX: two zero bytes, an element-type byte, a byte giving the number of dimensions, the
big-endian sizes, then the elements. Nothing is downloaded: the user names the folder.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from clients.datasets.base import Dataset, _build
from clients.errors import DatasetError

__all__ = ["load_idx", "read_idx"]

#: IDX element type code (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

#: The four IDX files a MNIST-format dataset needs, by role.
_IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_IDX_KINDS: dict[str, tuple[str, str]] = {
    "mnist": ("MNIST", "https://yann.lecun.com/exdb/mnist/ (or any MNIST mirror)"),
    "fashion_mnist": (
        "FashionMNIST",
        "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)",
    ),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (raw or gzip-compressed) into a numpy array.

    The IDX format (used by MNIST) is: two zero bytes, one element-type byte, one byte
    giving the number of dimensions ``d``, then ``d`` big-endian unsigned 32-bit sizes,
    then the elements in C order, big-endian.

    Parameters
    ----------
    path : str or Path
        File to read; a name ending in ``.gz`` is decompressed first.

    Returns
    -------
    numpy.ndarray
        Array of the file's shape, in native byte order.

    Raises
    ------
    DatasetError
        If the file is not IDX (bad magic number), is truncated, or has trailing bytes.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as exc:  # gzip raises these on corrupt archives
        raise DatasetError(
            f"cannot read IDX file {path}: {exc}; re-extract or re-fetch it"
        ) from exc

    if len(raw) < 4:
        raise DatasetError(
            f"IDX file {path} is truncated: {len(raw)} bytes, shorter than the 4-byte magic "
            "number; re-fetch the file"
        )
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DatasetError(
            f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()} (expected 0x0000 "
            "then a type byte 0x08..0x0E and the number of dimensions, e.g. 0x00000803 for "
            "images); check that the file is the unzipped MNIST-format file"
        )
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(
            f"IDX file {path} is truncated: its header announces {ndim} dimensions "
            f"({header} bytes) but the file has only {len(raw)} bytes; re-fetch the file"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) < expected:
        raise DatasetError(
            f"IDX file {path} is truncated: shape {shape} needs {expected} bytes but the file "
            f"has {len(raw)}; re-fetch the file"
        )
    if len(raw) > expected:
        raise DatasetError(
            f"IDX file {path} has {len(raw) - expected} unexpected bytes after the "
            f"{expected} its header announces (shape {shape}); the file is corrupt, re-fetch it"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find_idx_file(dirs: list[Path], stem: str) -> Path | None:
    """Return the first existing ``stem`` / ``stem.gz`` (or dotted variant) in ``dirs``."""
    dotted = stem.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte (Kaggle copies)
    for d in dirs:
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            candidate = d / name
            if candidate.is_file():
                return candidate
    return None


def load_idx(root: str | Path, *, kind: str = "mnist") -> Dataset:
    """Load MNIST or Fashion-MNIST from the four standard IDX files in ``root``.

    The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or gzipped (``.gz``).
    ``root`` may also be a torchvision-style folder holding them in ``raw/`` or
    ``MNIST/raw/`` / ``FashionMNIST/raw/``. Train and test are concatenated (train first).

    Parameters
    ----------
    root : str or Path
        Folder holding the files.
    kind : {"mnist", "fashion_mnist"}
        Which dataset the files hold; sets the dataset's name.

    Returns
    -------
    Dataset
        ``x`` of shape ``(N, 1, rows, cols)`` (sizes read from the files: 28×28 for the real
        datasets), pixels divided by 255; 10 classes.

    Raises
    ------
    DatasetError
        If a file is missing (the message lists the exact paths looked at), is not IDX,
        is truncated, or if image and label counts or image sizes disagree.
    """
    if kind not in _IDX_KINDS:
        raise DatasetError(f"load_idx: kind={kind!r} is unknown; use one of {list(_IDX_KINDS)}")
    root = Path(root)
    folder, source = _IDX_KINDS[kind]
    dirs = [root, root / "raw", root / folder / "raw"]

    paths = _idx_paths(dirs, root, source, kind)
    parts_x: list[np.ndarray] = []
    parts_y: list[np.ndarray] = []
    for split in ("train", "test"):
        images, labels = _read_idx_split(paths, kind, split)
        parts_x.append(images)
        parts_y.append(labels)
    if parts_x[0].shape[1:] != parts_x[1].shape[1:]:
        raise DatasetError(
            f"{kind}: train images are {parts_x[0].shape[1:]} but test images are "
            f"{parts_x[1].shape[1:]}; both files must come from the same dataset"
        )
    x = np.concatenate(parts_x).astype(np.float32) / np.float32(255.0)
    y = np.concatenate(parts_y).astype(np.int64)
    return _build(kind, x[:, None, :, :], y, 10, train_count=len(parts_y[0]))


def _idx_paths(dirs: list[Path], root: Path, source: str, kind: str) -> dict[str, Path]:
    """The four IDX files by role, found in ``dirs``; a missing one is named in the error."""
    paths: dict[str, Path] = {}
    missing: list[str] = []
    for role, stem in _IDX_FILES.items():
        found = _find_idx_file(dirs, stem)
        if found is None:
            missing.append(stem)
        else:
            paths[role] = found
    if missing:
        raise DatasetError(
            f"{kind}: missing IDX file(s) {', '.join(missing)}: expected e.g. "
            f"{root / missing[0]} (or {root / missing[0]}.gz). The loader needs all four of "
            f"{', '.join(_IDX_FILES.values())} (raw or .gz) in {root}; get them from {source}"
        )
    return paths


def _read_idx_split(paths: dict[str, Path], kind: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(count, rows, cols)`` and labels ``(count,)`` of one split, checked."""
    img_path, lab_path = paths[f"{split}_images"], paths[f"{split}_labels"]
    images = read_idx(img_path)
    labels = read_idx(lab_path)
    if images.ndim != 3:
        raise DatasetError(
            f"{img_path} holds an array of shape {images.shape}; an image file must have "
            "3 dimensions (count, rows, cols): is it a label file under the wrong name?"
        )
    if labels.ndim != 1:
        raise DatasetError(
            f"{lab_path} holds an array of shape {labels.shape}; a label file must have "
            "1 dimension (count): is it an image file under the wrong name?"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{kind} {split} split: {img_path.name} has {images.shape[0]} images but "
            f"{lab_path.name} has {labels.shape[0]} labels; the two files must come from "
            "the same release, re-fetch them"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(
            f"{lab_path} holds labels {int(labels.min())}..{int(labels.max())}; "
            f"{kind} labels must lie in 0..9"
        )
    return images, labels
