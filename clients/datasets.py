"""Datasets for simulated peers, loaded from what is on disk and never downloaded.

Every loader returns one :class:`Dataset`: all of a dataset's samples (a published train/test
split is concatenated; :mod:`clients.partition` makes its own splits), each with a stable
integer id so that later a single point can be named for deletion.

Where the data comes from:

* ``digits``: scikit-learn's bundled handwritten digits (real data, ships with the package).
* ``synthetic``: a class-conditional Gaussian mixture, sized by the scenario, for scale runs.
* ``mnist`` / ``fashion_mnist``: the four standard IDX files, from a folder the user names.
* ``cifar10``: the CIFAR-10 "python version" pickled batches, from a folder the user names.
* ``uci_har``: the UCI Human Activity Recognition text files, from a folder the user names.

No loader applies data-dependent normalisation (a mean or a standard deviation computed over
the samples): each sample's values depend on that sample alone, so the data of a peer that
leaves cannot linger in anybody else's inputs. Images are divided by their fixed maximum
pixel value; synthetic features are scaled by constants derived from the generator's
parameters; UCI HAR features are already bounded to [-1, 1] by the dataset's authors.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clients.errors import DatasetError

__all__ = [
    "DATASETS",
    "Dataset",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_idx",
    "load_uci_har",
    "make_synthetic",
    "read_idx",
]

#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = ("digits", "synthetic", "mnist", "fashion_mnist", "cifar10", "uci_har")


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

    @property
    def is_image(self) -> bool:
        """Whether inputs are images, i.e. ``input_shape`` is ``(channels, height, width)``."""
        return len(self.input_shape) == 3

    def __len__(self) -> int:
        """Return the number of samples ``N``."""
        return int(self.x.shape[0])


def _build(name: str, x: np.ndarray, y: np.ndarray, num_classes: int) -> Dataset:
    """Wrap arrays as a :class:`Dataset` with ids ``0 .. N-1`` and canonical dtypes."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return Dataset(
        name=name,
        x=x,
        y=np.ascontiguousarray(y, dtype=np.int64),
        num_classes=int(num_classes),
        input_shape=tuple(int(d) for d in x.shape[1:]),
        sample_ids=np.arange(x.shape[0], dtype=np.int64),
    )


# --------------------------------------------------------------------------------------------
# digits and synthetic: no files needed
# --------------------------------------------------------------------------------------------


def load_digits() -> Dataset:
    """Load scikit-learn's handwritten digits: 1797 real 8×8 grey images of 10 classes.

    The data ships inside scikit-learn, so this works offline and fast: the default dataset
    for tests and small scenarios.

    Returns
    -------
    Dataset
        ``name="digits"``, ``x`` of shape ``(1797, 1, 8, 8)`` with pixel intensities
        0..16 divided by 16 (so in [0, 1]), 10 classes.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0)
    return _build("digits", images[:, None, :, :], np.asarray(bunch.target), 10)


def make_synthetic(
    n_samples: int,
    *,
    num_classes: int = 10,
    dim: int = 32,
    clusters_per_class: int = 2,
    separation: float = 2.0,
    noise: float = 1.0,
    informative_dims: int = 8,
    seed: int,
) -> Dataset:
    """Generate a class-conditional Gaussian mixture: any size, deterministic from ``seed``.

    Each class is a mixture of ``clusters_per_class`` isotropic Gaussian clusters. Cluster
    centres are drawn in an ``informative_dims``-dimensional subspace (randomly oriented in
    the ``dim``-dimensional input space), so that several classes share the few directions
    that matter: with the defaults (and a few thousand training samples), a linear model
    reaches roughly 60-80 % accuracy and a small MLP roughly 90-95 %, which leaves room to
    see the effect of skew and unlearning.
    Classes are balanced (counts differ by at most one) and samples come in random order.
    The generator is vectorised: 100 000 samples take well under a second.

    Parameters
    ----------
    n_samples : int
        Number of samples ``N`` (at least ``num_classes``).
    num_classes : int, default 10
        Number of classes (at least 2).
    dim : int, default 32
        Number of features of one input.
    clusters_per_class : int, default 2
        Gaussian clusters per class; more clusters make the classes less linearly separable.
    separation : float, default 2.0
        Standard deviation of the cluster centres along each informative direction, in units
        of the features' raw noise scale: larger is easier.
    noise : float, default 1.0
        Standard deviation of the isotropic noise around each centre (> 0): larger is harder.
    informative_dims : int, default 8
        Dimension of the subspace holding the centres (capped at ``dim``).
    seed : int
        Seed of the generator (non-negative); the same arguments give identical arrays.

    Returns
    -------
    Dataset
        ``name="synthetic"``, ``x`` float32 of shape ``(n_samples, dim)``, divided by the
        analytic per-feature standard deviation ``sqrt(m * separation**2 / dim + noise**2)``
        (``m`` the informative dimension) so features are roughly unit-scale without any
        statistic computed from the data.

    Raises
    ------
    DatasetError
        If an argument is out of range; the message names the parameter and its range.
    """
    _check_int("n_samples", n_samples, minimum=1)
    _check_int("num_classes", num_classes, minimum=2)
    _check_int("dim", dim, minimum=1)
    _check_int("clusters_per_class", clusters_per_class, minimum=1)
    _check_int("informative_dims", informative_dims, minimum=1)
    _check_int("seed", seed, minimum=0)
    if n_samples < num_classes:
        raise DatasetError(
            f"make_synthetic: n_samples={n_samples} is smaller than num_classes={num_classes}; "
            "ask for at least one sample per class"
        )
    if not np.isfinite(separation) or separation < 0:
        raise DatasetError(
            f"make_synthetic: separation={separation!r} must be a finite number >= 0"
        )
    if not np.isfinite(noise) or noise <= 0:
        raise DatasetError(f"make_synthetic: noise={noise!r} must be a finite number > 0")

    rng = np.random.default_rng(seed)
    m = min(int(informative_dims), int(dim))
    centres = rng.standard_normal((num_classes, clusters_per_class, m)) * separation
    # Orthonormal basis of a random m-dimensional subspace of R^dim (rows of `basis`).
    q, _ = np.linalg.qr(rng.standard_normal((dim, m)))
    basis = q.T  # (m, dim)
    centres_full = (centres @ basis).astype(np.float32)  # (C, K, dim)

    y = rng.permutation(np.arange(n_samples, dtype=np.int64) % num_classes)
    cluster = rng.integers(clusters_per_class, size=n_samples)
    x = rng.standard_normal((n_samples, dim), dtype=np.float32)
    x *= np.float32(noise)
    x += centres_full[y, cluster]
    scale = np.sqrt(m * float(separation) ** 2 / dim + float(noise) ** 2)
    x /= np.float32(scale)
    return _build("synthetic", x, y, num_classes)


def _check_int(name: str, value: object, *, minimum: int) -> None:
    """Raise :class:`DatasetError` unless ``value`` is an int (not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise DatasetError(f"make_synthetic: {name}={value!r} must be an integer >= {minimum}")


# --------------------------------------------------------------------------------------------
# MNIST / Fashion-MNIST: IDX files
# --------------------------------------------------------------------------------------------

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

    parts_x: list[np.ndarray] = []
    parts_y: list[np.ndarray] = []
    for split in ("train", "test"):
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
        parts_x.append(images)
        parts_y.append(labels)
    if parts_x[0].shape[1:] != parts_x[1].shape[1:]:
        raise DatasetError(
            f"{kind}: train images are {parts_x[0].shape[1:]} but test images are "
            f"{parts_x[1].shape[1:]}; both files must come from the same dataset"
        )
    x = np.concatenate(parts_x).astype(np.float32) / np.float32(255.0)
    y = np.concatenate(parts_y).astype(np.int64)
    return _build(kind, x[:, None, :, :], y, 10)


# --------------------------------------------------------------------------------------------
# CIFAR-10: pickled python batches
# --------------------------------------------------------------------------------------------

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
    return _build("cifar10", x, np.concatenate(ys), 10)


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


# --------------------------------------------------------------------------------------------
# UCI HAR: whitespace-separated text files
# --------------------------------------------------------------------------------------------

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
    return _build("uci_har", np.concatenate(xs), np.concatenate(ys), 6)


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


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------


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
