"""Names of what :mod:`clients` offers (architectures, datasets, unlearning options), torch-free.

Scenario validation only needs to know which names exist; importing :mod:`clients.models`
or :mod:`clients.unlearning` would pull in torch (about 2 s and 150 MB), so the names live
here and the real registries are checked against them in the tests
(``tests/clients/test_ensemble_models.py``).
"""

from __future__ import annotations

__all__ = [
    "DATASETS_WITH_TEST_SPLIT",
    "DATASET_CLASSES",
    "FAMILY_NAMES",
    "MAIN_ARCHITECTURE_NAMES",
    "SEED_ARCHITECTURE_NAMES",
    "UNLEARNING_OPTION_NAMES",
    "VECTOR_DATASETS",
]

#: The HDUS authors' convolutional families (:mod:`clients.model_families`): image inputs
#: only; each is a device class and a seed architecture.
FAMILY_NAMES: tuple[str, ...] = (
    "resnet8",
    "resnet18",
    "resnet50",
    "mobilenet_s",
    "mobilenet_m",
    "mobilenet_l",
)

#: Device classes, i.e. the keys of :data:`clients.models.MAIN_ARCHITECTURES`.
MAIN_ARCHITECTURE_NAMES: tuple[str, ...] = (
    "sensor",
    "phone",
    "gateway",
    "linear",
    *FAMILY_NAMES,
)

#: Seed architectures, i.e. the keys of :data:`clients.models.SEED_ARCHITECTURES`.
SEED_ARCHITECTURE_NAMES: tuple[str, ...] = ("seed_mlp", "seed_tiny", *FAMILY_NAMES)

#: Number of classes of every dataset :func:`clients.datasets.load_dataset` knows
#: (``synthetic`` as scenarios build it: ``make_synthetic``'s default of 10).
DATASET_CLASSES: dict[str, int] = {
    "digits": 10,
    "mnist_subset": 10,
    "synthetic": 10,
    "mnist": 10,
    "fashion_mnist": 10,
    "cifar10": 10,
    "uci_har": 6,
}

#: Datasets of feature vectors rather than images (no convolutional family fits them).
VECTOR_DATASETS: tuple[str, ...] = ("synthetic", "uci_har")

#: Datasets with a published train/test split (what the ``hdus`` partition scheme needs).
DATASETS_WITH_TEST_SPLIT: tuple[str, ...] = (
    "mnist_subset",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "uci_har",
)

_FEATURE_OPTIONS = ("features", "feature_map", "public_x", "normalize", "bias")

#: Options of every point-deletion kind, i.e. :data:`clients.unlearning.OPTIONS`.
UNLEARNING_OPTION_NAMES: dict[str, tuple[str, ...]] = {
    "sisa": ("shards", "slices", "epochs_per_slice", "batch_size", "lr", "aggregation"),
    "certified": (
        "eps",
        "delta",
        "lam",
        "sigma",
        "residual_budget",
        "tol",
        "max_newton_iter",
        "removal_steps",
        "rebuild_hessian",
        *_FEATURE_OPTIONS,
    ),
    "sq": ("head", "lam", "var_smoothing", *_FEATURE_OPTIONS),
    "retrain": ("epochs", "batch_size", "lr"),
}
