"""Retrain from scratch: the naive, exact reference every other deletion method is measured by.

The model is one architecture from :mod:`clients.models`, initialised from the seed and
trained with a batch order drawn from the seed, on the samples sorted by id. A deletion
drops the samples and trains a new model from the same initialisation on the rest: the
result is, parameter for parameter, what :meth:`RetrainModel.fit` on the remaining data
gives. The cost is a full training per deletion request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from clients.models import build_model
from clients.training import TrainConfig, logits_of, train_supervised
from clients.unlearning.base import (
    PURPOSE_BATCHES,
    PURPOSE_INIT,
    DeletionOutcome,
    NotFittedError,
    SampleBook,
    as_input_tensor,
    check_fit_data,
    check_task,
    derive_seed,
    positive_float,
    positive_int,
    torch_generator,
)

__all__ = ["RetrainModel"]


class RetrainModel:
    """A main model that forgets by retraining from scratch.

    Parameters
    ----------
    arch
        Architecture name (see :func:`clients.models.build_model`).
    input_shape, num_classes
        Task shape.
    seed
        Seed of the initial weights and of the batch order.
    epochs, batch_size, lr
        Training budget: passes over the data, samples per step, Adam learning rate.
    """

    name = "retrain"

    def __init__(
        self,
        *,
        arch: str,
        input_shape: Sequence[int],
        num_classes: int,
        seed: int,
        epochs: int = 5,
        batch_size: int = 32,
        lr: float = 0.01,
    ) -> None:
        self.input_shape, self.num_classes = check_task(input_shape, num_classes)
        self.arch = arch
        self.seed = int(seed)
        self.config = TrainConfig(
            epochs=positive_int("epochs", epochs),
            batch_size=positive_int("batch_size", batch_size),
            lr=positive_float("lr", lr),
        )
        # Build once now so a bad architecture fails at construction, not at fit.
        self.model: nn.Module = self._fresh()
        self._x = np.zeros((0, *self.input_shape), dtype=np.float32)
        self._y = np.zeros(0, dtype=np.int64)
        self._book = SampleBook(np.zeros(0, dtype=np.int64))
        self._fitted = False

    def fit(self, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
        """Train a fresh model on the data sorted by id."""
        self._x, self._y, ids_sorted = check_fit_data(x, y, ids, self.input_shape, self.num_classes)
        self._book = SampleBook(ids_sorted)
        self._train()
        self._fitted = True

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Return the model's ``(n, num_classes)`` logits in eval mode."""
        self._require_fit()
        return logits_of(self.model, as_input_tensor(x, self.input_shape))

    @property
    def sample_ids(self) -> np.ndarray:
        """Ids the model was trained on (``int64``, sorted)."""
        return self._book.ids.copy()

    def certificate(self) -> str:
        """Always ``"exact"``."""
        return "exact"

    def delete(self, ids: Sequence[int]) -> DeletionOutcome:
        """Drop the samples and retrain from the initial weights on the rest.

        Raises
        ------
        UnknownSampleError
            If an id is not held (nothing is changed).
        """
        self._require_fit()
        start = time.perf_counter()
        request = self._book.resolve(ids, model="retrain model")
        processed = 0
        if request.size:
            keep = self._book.remove(request)
            self._x, self._y = self._x[keep], self._y[keep]
            processed = self._train()
        return DeletionOutcome(
            deleted=tuple(int(i) for i in request),
            method="full_retrain" if request.size else "noop",
            retrained={"full_retrain": bool(request.size), "epochs": self.config.epochs},
            certificate="exact",
            residual=None,
            budget_left=None,
            wall_s=time.perf_counter() - start,
            samples_processed=processed,
        )

    def _fresh(self) -> nn.Module:
        seed = derive_seed(self.seed, PURPOSE_INIT)
        return build_model(self.arch, self.input_shape, self.num_classes, seed=seed)

    def _train(self) -> int:
        self.model = self._fresh()
        gen = torch_generator(derive_seed(self.seed, PURPOSE_BATCHES))
        x, y = torch.from_numpy(self._x), torch.from_numpy(self._y)
        train_supervised(self.model, x, y, self.config, generator=gen)
        return self.config.epochs * len(self._y)

    def _require_fit(self) -> None:
        if not self._fitted:
            raise NotFittedError("retrain model is not fitted; call fit() first")
