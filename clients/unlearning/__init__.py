"""Point-level deletion inside a peer: main models that can forget single training samples.

Four implementations of one protocol, :class:`UnlearnableModel`, built by name with
:func:`build_unlearnable`:

=========== ============================================== ==============================
kind        model                                          guarantee after ``delete``
=========== ============================================== ==============================
sisa        S shard models trained slice by slice, with    exact (bitwise, retrain of the
            content-addressed checkpoints (Bourtoule+ 19)  affected shards only)
certified   logistic head on frozen features, Newton-step  (eps, delta)-certified; auto
            removal with a residual budget (Guo+ 20)       retrain when the budget is spent
sq          ridge / Gaussian NB head kept as integer sums  exact (bitwise: sums equal a
            (summation form, Cao & Yang 15)                fresh fit's)
retrain     one model retrained from scratch               exact (the naive reference)
=========== ============================================== ==============================

Examples
--------
>>> import numpy as np, torch
>>> model = build_unlearnable(
...     "sq", arch="sensor", input_shape=(4,), num_classes=2, seed=0, features=8
... )
>>> x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
>>> model.fit(x, (x[:, 0] > 0).astype(np.int64), np.arange(20))
>>> model.delete([3, 7]).deleted
(3, 7)
>>> model.certificate()
'exact'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from clients.catalog import UNLEARNING_OPTION_NAMES
from clients.unlearning.base import (
    CertificationError,
    DeletionOutcome,
    NotFittedError,
    UnknownSampleError,
    UnlearnableModel,
    UnlearningError,
    check_options,
)
from clients.unlearning.certified import CertifiedRemovalModel, EpsAccuracy, accuracy_vs_eps
from clients.unlearning.features import FEATURE_MAPS, FeatureMap, build_feature_map
from clients.unlearning.retrain import RetrainModel
from clients.unlearning.sisa import AGGREGATIONS, CheckpointInfo, SisaModel
from clients.unlearning.summation import SQ_HEADS, SummationModel

__all__ = [
    "AGGREGATIONS",
    "FEATURE_MAPS",
    "OPTIONS",
    "SQ_HEADS",
    "UNLEARNABLE_KINDS",
    "CertificationError",
    "CertifiedRemovalModel",
    "CheckpointInfo",
    "DeletionOutcome",
    "EpsAccuracy",
    "FeatureMap",
    "NotFittedError",
    "RetrainModel",
    "SisaModel",
    "SummationModel",
    "UnknownSampleError",
    "UnlearnableModel",
    "UnlearningError",
    "accuracy_vs_eps",
    "build_feature_map",
    "build_unlearnable",
]

#: Options each kind accepts (beyond arch, input_shape, num_classes, seed); the one list,
#: kept torch-free in :mod:`clients.catalog` so scenario validation can read it.
OPTIONS: dict[str, tuple[str, ...]] = UNLEARNING_OPTION_NAMES

#: The kinds :func:`build_unlearnable` knows.
UNLEARNABLE_KINDS: tuple[str, ...] = tuple(OPTIONS)

_USES_ARCH = ("sisa", "retrain")


def build_unlearnable(
    kind: str,
    *,
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    seed: int,
    **options: Any,
) -> UnlearnableModel:
    """Build an unfitted point-deletion model of ``kind``.

    Parameters
    ----------
    kind
        One of :data:`UNLEARNABLE_KINDS`: ``"sisa"``, ``"certified"``, ``"sq"``,
        ``"retrain"``.
    arch
        Architecture of the trained networks (``"sisa"``: every shard; ``"retrain"``: the
        model). ``"certified"`` and ``"sq"`` train a linear head on a frozen feature map
        instead and ignore it, so a peer can pass its device class whatever the kind.
    input_shape, num_classes
        Task shape.
    seed
        The model's one seed; every random stream (initial weights, batch orders,
        shard/slice assignment, feature map, perturbation) is derived from it.
    **options
        Kind-specific options, listed in :data:`OPTIONS` (see each class).

    Raises
    ------
    UnlearningError
        If ``kind`` is unknown or an option is unknown or invalid.
    ModelError
        If ``arch`` or the task shape is unusable.

    Examples
    --------
    >>> build_unlearnable("sisa", arch="sensor", input_shape=(1, 8, 8), num_classes=10,
    ...                   seed=1, shards=2).name
    'sisa'
    """
    if kind not in OPTIONS:
        raise UnlearningError(
            f"unknown unlearning kind {kind!r}; choose one of {list(UNLEARNABLE_KINDS)}"
        )
    check_options(kind, options, OPTIONS[kind])
    builders: dict[str, Callable[..., UnlearnableModel]] = {
        "sisa": SisaModel,
        "certified": CertifiedRemovalModel,
        "sq": SummationModel,
        "retrain": RetrainModel,
    }
    common: dict[str, Any] = {"input_shape": input_shape, "num_classes": num_classes, "seed": seed}
    if kind in _USES_ARCH:
        common["arch"] = arch
    try:
        return builders[kind](**common, **options)
    except TypeError as exc:  # pragma: no cover - guarded by check_options
        raise UnlearningError(f"bad options for unlearning kind {kind!r}: {exc}") from None
