"""Tests for clients.datasets: bundled and synthetic data, and loaders fed tiny local files."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from clients.datasets import (
    DATASETS,
    Dataset,
    load_cifar10,
    load_dataset,
    load_digits,
    load_idx,
    load_uci_har,
    make_synthetic,
    read_idx,
)
from clients.errors import ClientsError, DatasetError

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_NAMES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")


# --------------------------------------------------------------------------------------------
# helpers writing tiny dataset files
# --------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic 0x0000 08 ndim, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_file(path: Path, data: bytes, *, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def write_mnist(
    root: Path, *, side: int = 28, n_train: int = 5, n_test: int = 3, gz: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Write the four IDX files; return the images and labels concatenated (train first)."""
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, size=(n_train, side, side), dtype=np.uint8)
    test_x = rng.integers(0, 256, size=(n_test, side, side), dtype=np.uint8)
    train_y = (np.arange(n_train) % 10).astype(np.uint8)
    test_y = ((np.arange(n_test) + 7) % 10).astype(np.uint8)
    for name, arr in zip(IDX_NAMES, (train_x, train_y, test_x, test_y), strict=True):
        write_file(root / name, idx_bytes(arr), gz=gz)
    return np.concatenate([train_x, test_x]), np.concatenate([train_y, test_y])


def write_cifar(folder: Path, *, per_batch: int = 2) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    xs, ys = [], []
    for i, name in enumerate((*CIFAR_NAMES, "test_batch")):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(per_batch)]
        with (folder / name).open("wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, fh)
        xs.append(data)
        ys.extend(labels)
    return np.concatenate(xs), np.asarray(ys)


def write_har(folder: Path, *, features: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    x_all, y_all = [], []
    for split, n in (("train", 5), ("test", 3)):
        (folder / split).mkdir(parents=True, exist_ok=True)
        x = np.round(rng.uniform(-1, 1, size=(n, features)), 6)
        y = (np.arange(n) % 6) + 1
        lines = ["  " + " ".join(f"{v:.7e}" for v in row) for row in x]
        (folder / split / f"X_{split}.txt").write_text("\n".join(lines) + "\n")
        (folder / split / f"y_{split}.txt").write_text("\n".join(str(v) for v in y) + "\n")
        x_all.append(x)
        y_all.append(y)
    return np.concatenate(x_all), np.concatenate(y_all)


# --------------------------------------------------------------------------------------------
# digits, synthetic, registry
# --------------------------------------------------------------------------------------------


def test_errors_hierarchy() -> None:
    assert issubclass(DatasetError, ClientsError)
    assert issubclass(DatasetError, ValueError)


def test_digits_shape_and_range() -> None:
    d = load_digits()
    assert d.name == "digits"
    assert d.x.shape == (1797, 1, 8, 8)
    assert d.x.dtype == np.float32
    assert d.x.min() == 0.0
    assert d.x.max() == 1.0
    assert d.y.dtype == np.int64
    assert set(np.unique(d.y)) == set(range(10))
    assert d.num_classes == 10
    assert d.input_shape == (1, 8, 8)
    assert d.is_image
    np.testing.assert_array_equal(d.sample_ids, np.arange(1797))
    assert len(d) == 1797


def test_synthetic_shape_balance_and_determinism() -> None:
    a = make_synthetic(1003, num_classes=7, dim=12, seed=3)
    b = make_synthetic(1003, num_classes=7, dim=12, seed=3)
    c = make_synthetic(1003, num_classes=7, dim=12, seed=4)
    assert a.x.shape == (1003, 12)
    assert a.x.dtype == np.float32
    assert a.input_shape == (12,)
    assert not a.is_image
    assert a.num_classes == 7
    counts = np.bincount(a.y, minlength=7)
    assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    # roughly unit-scale features without data-dependent normalisation
    assert 0.5 < float(a.x.std()) < 2.0
    # labels come shuffled, not in blocks
    assert len(np.unique(a.y[:20])) > 2


def test_synthetic_is_learnable_but_not_trivial() -> None:
    from sklearn.linear_model import LogisticRegression

    d = make_synthetic(3000, seed=0)
    acc = LogisticRegression(max_iter=500).fit(d.x[:2500], d.y[:2500]).score(d.x[2500:], d.y[2500:])
    assert 0.3 < acc < 0.97


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 5}, "num_classes"),  # fewer samples than classes
        ({"n_samples": 100, "num_classes": 1}, "num_classes"),
        ({"n_samples": 100, "noise": 0.0}, "noise"),
        ({"n_samples": 100, "separation": -1.0}, "separation"),
        ({"n_samples": 100, "dim": 0}, "dim"),
    ],
)
def test_synthetic_bad_arguments(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(DatasetError, match=param):
        make_synthetic(**kwargs, seed=0)  # type: ignore[arg-type]


def test_load_dataset_dispatch() -> None:
    from clients.catalog import DATASET_CLASSES

    assert set(DATASETS) == set(DATASET_CLASSES)  # the torch-free catalog knows every name
    assert {"digits", "mnist_subset", "synthetic", "mnist", "cifar10"} <= set(DATASETS)
    assert load_dataset("digits").x.shape == (1797, 1, 8, 8)
    s = load_dataset("synthetic", synthetic_samples=50, seed=2, num_classes=3, dim=5)
    assert s.x.shape == (50, 5)
    assert s.num_classes == 3
    np.testing.assert_array_equal(s.x, make_synthetic(50, num_classes=3, dim=5, seed=2).x)


def test_load_dataset_unknown_name_lists_names() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'") as info:
        load_dataset("imagenet")
    for name in DATASETS:
        assert name in str(info.value)


def test_load_dataset_missing_options() -> None:
    with pytest.raises(DatasetError, match="synthetic_samples"):
        load_dataset("synthetic")
    for name in ("mnist", "fashion_mnist", "cifar10", "uci_har"):
        with pytest.raises(DatasetError, match="set root"):
            load_dataset(name)
    with pytest.raises(DatasetError, match="dim"):
        load_dataset("digits", dim=3)


def test_load_dataset_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not an existing folder"):
        load_dataset("mnist", root=tmp_path / "nope")


def test_dataset_validates_shapes() -> None:
    with pytest.raises(DatasetError, match="input_shape"):
        Dataset(
            name="bad",
            x=np.zeros((3, 4), dtype=np.float32),
            y=np.zeros(3, dtype=np.int64),
            num_classes=2,
            input_shape=(5,),
            sample_ids=np.arange(3, dtype=np.int64),
        )
    with pytest.raises(DatasetError, match="labels"):
        Dataset(
            name="bad",
            x=np.zeros((3, 4), dtype=np.float32),
            y=np.array([0, 1, 2], dtype=np.int64),
            num_classes=2,
            input_shape=(4,),
            sample_ids=np.arange(3, dtype=np.int64),
        )


# --------------------------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("side", [28, 3])
def test_idx_loads(tmp_path: Path, gz: bool, side: int) -> None:
    images, labels = write_mnist(tmp_path, side=side, gz=gz)
    d = load_idx(tmp_path)
    assert d.name == "mnist"
    assert d.x.shape == (8, 1, side, side)
    assert d.input_shape == (1, side, side)
    assert d.x.dtype == np.float32
    np.testing.assert_allclose(d.x[:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d.y, labels)
    assert d.num_classes == 10
    np.testing.assert_array_equal(d.sample_ids, np.arange(8))


def test_idx_fashion_through_registry(tmp_path: Path) -> None:
    write_mnist(tmp_path, side=4)
    d = load_dataset("fashion_mnist", root=tmp_path)
    assert d.name == "fashion_mnist"
    assert d.x.shape == (8, 1, 4, 4)
    assert load_dataset("mnist", root=str(tmp_path)).name == "mnist"


def test_idx_torchvision_layout(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_mnist(raw, side=3)
    assert load_idx(tmp_path).x.shape == (8, 1, 3, 3)


def test_read_idx_other_dtypes(tmp_path: Path) -> None:
    arr = (np.arange(6) - 2).astype(">i4").reshape(2, 3)
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 3) + arr.tobytes())
    out = read_idx(path)
    np.testing.assert_array_equal(out, arr)
    assert out.dtype.isnative


def test_idx_missing_file_is_named(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as info:
        load_idx(tmp_path)
    msg = str(info.value)
    assert "t10k-labels-idx1-ubyte" in msg
    assert str(tmp_path / "t10k-labels-idx1-ubyte") in msg
    assert "train-images-idx3-ubyte" in msg  # lists what the loader needs


def test_idx_bad_magic(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x1f\x8b\x08\x00" + path.read_bytes()[4:])
    with pytest.raises(DatasetError, match="bad magic number"):
        load_idx(tmp_path)


def test_idx_truncated(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="truncated"):
        load_idx(tmp_path)
    path.write_bytes(path.read_bytes()[:9])  # inside the header
    with pytest.raises(DatasetError, match="truncated"):
        load_idx(tmp_path)


def test_idx_count_mismatch(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    write_file(
        tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, dtype=np.uint8)), gz=False
    )
    with pytest.raises(DatasetError, match=r"5 images but .* 4 labels"):
        load_idx(tmp_path)


def test_idx_swapped_files(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    labels = (tmp_path / "train-labels-idx1-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(labels)
    with pytest.raises(DatasetError, match="3 dimensions"):
        load_idx(tmp_path)


def test_idx_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="kind"):
        load_idx(tmp_path, kind="kmnist")


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------


def test_cifar10_loads(tmp_path: Path) -> None:
    data, labels = write_cifar(tmp_path)
    d = load_cifar10(tmp_path)
    assert d.name == "cifar10"
    assert d.x.shape == (12, 3, 32, 32)
    assert d.input_shape == (3, 32, 32)
    assert d.is_image
    np.testing.assert_array_equal(d.y, labels)
    # channel-major layout: the first 1024 values are the red plane, row by row
    assert d.x[0, 0, 0, 1] == pytest.approx(data[0, 1] / 255.0)
    assert d.x[0, 1, 0, 0] == pytest.approx(data[0, 1024] / 255.0)
    assert d.x[0, 2, 31, 31] == pytest.approx(data[0, 3071] / 255.0)
    assert d.x.min() >= 0.0
    assert d.x.max() <= 1.0


def test_cifar10_subfolder_and_registry(tmp_path: Path) -> None:
    write_cifar(tmp_path / "cifar-10-batches-py")
    assert load_dataset("cifar10", root=tmp_path).x.shape == (12, 3, 32, 32)


def test_cifar10_missing_batch_is_named(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    (tmp_path / "test_batch").unlink()
    with pytest.raises(DatasetError) as info:
        load_cifar10(tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "data_batch_3") in msg
    assert str(tmp_path / "test_batch") in msg
    assert "data_batch_2," not in msg.split("needs")[0]  # only missing files before "needs"


def test_cifar10_malformed_batch(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    with (tmp_path / "data_batch_2").open("wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(DatasetError, match="3072"):
        load_cifar10(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_2"):
        load_cifar10(tmp_path)


# --------------------------------------------------------------------------------------------
# UCI HAR
# --------------------------------------------------------------------------------------------


def test_uci_har_loads_and_shifts_labels(tmp_path: Path) -> None:
    x, y = write_har(tmp_path)
    d = load_uci_har(tmp_path)
    assert d.name == "uci_har"
    assert d.x.shape == (8, 4)
    assert d.input_shape == (4,)
    assert not d.is_image
    assert d.num_classes == 6
    np.testing.assert_allclose(d.x, x, rtol=1e-6)
    np.testing.assert_array_equal(d.y, y - 1)
    assert d.y.min() == 0


def test_uci_har_parent_folder_and_registry(tmp_path: Path) -> None:
    write_har(tmp_path / "UCI HAR Dataset", features=7)
    assert load_dataset("uci_har", root=tmp_path).x.shape == (8, 7)


def test_uci_har_missing_file_is_named(tmp_path: Path) -> None:
    write_har(tmp_path)
    (tmp_path / "test" / "y_test.txt").unlink()
    with pytest.raises(DatasetError, match=r"y_test\.txt") as info:
        load_uci_har(tmp_path)
    assert str(tmp_path / "test" / "y_test.txt") in str(info.value)


def test_uci_har_bad_files(tmp_path: Path) -> None:
    write_har(tmp_path)
    path = tmp_path / "train" / "X_train.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], lines[2] + " 0.5", *lines[3:]]))
    with pytest.raises(DatasetError, match="line 3"):
        load_uci_har(tmp_path)
    write_har(tmp_path)
    (tmp_path / "test" / "y_test.txt").write_text("1\n7\n2\n")
    with pytest.raises(DatasetError, match=r"1\.\.6"):
        load_uci_har(tmp_path)
    (tmp_path / "test" / "y_test.txt").write_text("1\n2\n")
    with pytest.raises(DatasetError, match="3 rows but"):
        load_uci_har(tmp_path)
