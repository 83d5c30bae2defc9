"""Accuracy against epsilon: one freshly trained certified head per epsilon (for benchmarks)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clients.unlearning.base import UnlearningError
from clients.unlearning.certified.model import CertifiedRemovalModel

__all__ = ["DEFAULT_EPS_GRID", "EpsAccuracy", "accuracy_vs_eps"]

#: The epsilon grid printed by benchmarks (``inf`` = no perturbation).
DEFAULT_EPS_GRID: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0, math.inf)


@dataclass(frozen=True)
class EpsAccuracy:
    """One point of the accuracy-vs-epsilon curve.

    Attributes
    ----------
    eps
        Certificate epsilon (``inf``: no perturbation).
    sigma
        Perturbation standard deviation used.
    budget
        Gradient-residual budget between retrains (same for every finite eps when
        ``residual_budget`` is fixed).
    accuracy
        Test accuracy of the freshly trained head, in [0, 1].
    """

    eps: float
    sigma: float
    budget: float
    accuracy: float


def accuracy_vs_eps(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    seed: int,
    eps_values: Sequence[float] = DEFAULT_EPS_GRID,
    **options: Any,
) -> list[EpsAccuracy]:
    """Train one certified head per epsilon and return its test accuracy.

    With a fixed ``residual_budget`` (default :data:`DEFAULT_RESIDUAL_BUDGET`) every
    epsilon supports the same number of removals between retrains; smaller epsilon
    buys its stronger guarantee with more noise ``sigma = c * budget / eps``, hence
    lower accuracy. ``eps = inf`` is the non-private reference.

    Parameters
    ----------
    x_train, y_train, x_test, y_test
        Training and test data (inputs ``(n, *input_shape)``).
    input_shape, num_classes, seed
        As for :class:`CertifiedRemovalModel`.
    eps_values
        The epsilons to evaluate.
    **options
        Other :class:`CertifiedRemovalModel` options (not ``sigma`` or ``eps``).

    Returns
    -------
    list of EpsAccuracy
        One row per epsilon, in the order given.
    """
    if "sigma" in options or "eps" in options:
        raise UnlearningError(
            "accuracy_vs_eps derives sigma from each eps; pass residual_budget, not sigma/eps"
        )
    ids = np.arange(len(y_train), dtype=np.int64)
    y_true = np.asarray(y_test)
    rows = []
    for eps in eps_values:
        model = CertifiedRemovalModel(
            input_shape=input_shape, num_classes=num_classes, seed=seed, eps=eps, **options
        )
        model.fit(x_train, y_train, ids)
        pred = model.logits(torch.from_numpy(np.asarray(x_test, dtype=np.float32))).argmax(1)
        accuracy = float((pred.numpy() == y_true).mean())
        rows.append(EpsAccuracy(float(eps), model.sigma, model.budget, accuracy))
    return rows
