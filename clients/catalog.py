"""Names of what :mod:`clients` offers (architectures, datasets, unlearning options), torch-free.

Scenario validation only needs to know which names exist; importing :mod:`clients.models`
or :mod:`clients.unlearning` would pull in torch (about 2 s and 150 MB), so the names live
here and the real registries are checked against them in the tests
(``tests/clients/test_ensemble_models.py``).
"""

from __future__ import annotations

__all__ = [
    "DATASET_CLASSES",
    "MAIN_ARCHITECTURE_NAMES",
    "SEED_ARCHITECTURE_NAMES",
    "UNLEARNING_OPTION_NAMES",
]

#: Device classes, i.e. the keys of :data:`clients.models.MAIN_ARCHITECTURES`.
MAIN_ARCHITECTURE_NAMES: tuple[str, ...] = ("sensor", "phone", "gateway", "linear")

#: Seed architectures, i.e. the keys of :data:`clients.models.SEED_ARCHITECTURES`.
SEED_ARCHITECTURE_NAMES: tuple[str, ...] = ("seed_mlp", "seed_tiny")

#: Number of classes of every dataset :func:`clients.datasets.load_dataset` knows
#: (``synthetic`` as scenarios build it: ``make_synthetic``'s default of 10).
DATASET_CLASSES: dict[str, int] = {
    "digits": 10,
    "synthetic": 10,
    "mnist": 10,
    "fashion_mnist": 10,
    "cifar10": 10,
    "uci_har": 6,
}

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
