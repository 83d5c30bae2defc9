"""Summation form (Cao & Yang 2015, the statistical-query approach): exact deletion by subtraction.

A head that touches the training data only through *sums* of per-sample statistics can
forget a sample by subtracting that sample's terms and recomputing the head from the sums.
Two heads are offered, both on the frozen features of :mod:`clients.unlearning.features`:

``"ridge"``
    One-vs-rest ridge regression on +-1 targets: sums ``X^T X``, ``X^T T`` and the count;
    weights ``W = (X^T X + lam I)^{-1} X^T T``.
``"gnb"``
    Gaussian naive Bayes: per-class counts, sums and sums of squares; per-class means and
    variances (plus ``var_smoothing`` times the largest feature variance, as scikit-learn
    does), class priors from the counts.

**Exactness, bit for bit.** Features are rounded onto the grid ``2**-20`` (a ~1e-6
change, far below what matters for prediction) and every statistic is kept as an *integer*
(``int64``): products of two grid values are integers below ``2**40``, and their sums are
computed exactly (float64 BLAS on chunks of 4096 rows, whose partial sums stay below
``2**53``, then int64 accumulation). Integer sums do not depend on the order of
additions, so after a deletion the statistics are *identical* to those of a fresh fit
without the deleted samples, and so is the head computed from them. Up to about 8
million samples fit in ``int64``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from clients.unlearning.base import (
    DeletionOutcome,
    NotFittedError,
    SampleBook,
    UnlearningError,
    as_input_tensor,
    check_fit_data,
    check_task,
    positive_float,
    positive_int,
)
from clients.unlearning.features import build_feature_map

__all__ = ["SQ_HEADS", "SummationModel"]

#: Heads trained from sums of per-sample statistics.
SQ_HEADS: tuple[str, ...] = ("ridge", "gnb")

#: Features are rounded to multiples of ``2**-GRID_BITS``.
GRID_BITS = 20
_SCALE = float(2**GRID_BITS)
_CHUNK = 4096  # rows per exact float64 product: 4096 * 2**40 < 2**53

#: Floor of the log-posteriors returned by the ``gnb`` head (classes without samples).
LOG_FLOOR = -1e4


def quantize(features: np.ndarray) -> np.ndarray:
    """Round features in [-1, 1] to integers on the ``2**-20`` grid (``int64``)."""
    return np.rint(features * _SCALE).astype(np.int64)


def exact_gram(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Return ``q^T r`` exactly as ``int64`` for integer matrices with entries <= 2**20.

    Float64 products of such integers are exact (< 2**40) and chunk sums of 4096 rows
    stay below 2**53, so every BLAS partial sum is an exact integer whatever its order.
    """
    out = np.zeros((q.shape[1], r.shape[1]), dtype=np.int64)
    for start in range(0, q.shape[0], _CHUNK):
        qa = q[start : start + _CHUNK].astype(np.float64)
        ra = r[start : start + _CHUNK].astype(np.float64)
        out += (qa.T @ ra).astype(np.int64)
    return out


class SummationModel:
    """A ridge or Gaussian naive Bayes head kept as exact integer sums.

    Parameters
    ----------
    input_shape, num_classes
        Task shape.
    seed
        Seed of the random feature map.
    head
        ``"ridge"`` (default) or ``"gnb"``.
    lam
        Ridge penalty (> 0), in the units of the summed ``X^T X`` (not scaled by n).
    var_smoothing
        GNB: fraction of the largest feature variance added to every variance (> 0).
    features, feature_map, public_x, normalize, bias
        The frozen feature map (see :func:`~clients.unlearning.features.build_feature_map`).
    """

    name = "sq"

    def __init__(
        self,
        *,
        input_shape: Sequence[int],
        num_classes: int,
        seed: int,
        head: str = "ridge",
        lam: float = 1.0,
        var_smoothing: float = 1e-3,
        features: int = 256,
        feature_map: str | Callable[[np.ndarray], np.ndarray] | nn.Module = "relu",
        public_x: np.ndarray | torch.Tensor | None = None,
        normalize: bool = True,
        bias: bool = True,
    ) -> None:
        self.input_shape, self.num_classes = check_task(input_shape, num_classes)
        if head not in SQ_HEADS:
            raise UnlearningError(f"unknown sq head {head!r}; choose one of {list(SQ_HEADS)}")
        self.head = head
        self.lam = positive_float("lam", lam)
        self.var_smoothing = positive_float("var_smoothing", var_smoothing)
        self.features = positive_int("features", features)
        self.feature_map = build_feature_map(
            feature_map,
            input_shape=self.input_shape,
            dim=self.features,
            seed=int(seed),
            public_x=public_x,
            bias=bool(bias),
            normalize=bool(normalize),
        )
        self._q: np.ndarray | None = None
        self._y = np.zeros(0, dtype=np.int64)
        # Row of ``_q``/``_y`` of every held id (aligned with the book's sorted ids). A
        # delete drops entries here instead of copying the (n, D) features; the arrays are
        # compacted once half their rows are deleted, so a delete costs O(k D^2 + n), not
        # O(n D).
        self._rows = np.zeros(0, dtype=np.int64)
        self._book = SampleBook(np.zeros(0, dtype=np.int64))
        self._stats: dict[str, np.ndarray] = {}
        self._params: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ protocol
    def fit(self, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
        """Compute the features, their integer statistics and the head."""
        xs, ys, ids_sorted = check_fit_data(x, y, ids, self.input_shape, self.num_classes)
        self._q = quantize(self.feature_map(xs))
        self._y = ys
        self._rows = np.arange(len(ys), dtype=np.int64)
        self._book = SampleBook(ids_sorted)
        self._stats = self._statistics(self._q, ys)
        self._solve()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``(n, num_classes)`` float32 scores.

        Ridge: the regression outputs. GNB: log posteriors (floored at ``-1e4`` so that
        classes the model never saw stay finite).
        """
        self._require_fit()
        q = quantize(self.feature_map(as_input_tensor(x, self.input_shape))) / _SCALE
        if self.head == "ridge":
            scores = q @ self._params["w"]
        else:
            mean, var, log_prior = (self._params[k] for k in ("mean", "var", "log_prior"))
            # sum_j log N(q_j; mean_kj, var_kj) for every (sample, class)
            quad = (q**2) @ (1.0 / var).T - 2.0 * q @ (mean / var).T + ((mean**2) / var).sum(1)
            log_lik = -0.5 * (np.log(2.0 * math.pi * var).sum(1) + quad)
            joint = log_lik + log_prior
            top = joint.max(axis=1, keepdims=True)
            norm = top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True))
            scores = np.maximum(joint - norm, LOG_FLOOR)
        return torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))

    @property
    def sample_ids(self) -> np.ndarray:
        """Ids the sums currently include (``int64``, sorted)."""
        return self._book.ids.copy()

    def certificate(self) -> str:
        """Always ``"exact"``: the sums equal those of training without the deleted ids."""
        return "exact"

    def delete(self, ids: Sequence[int]) -> DeletionOutcome:
        """Subtract the samples' terms from the sums and recompute the head.

        Raises
        ------
        UnknownSampleError
            If an id is not held (nothing is changed).
        """
        self._require_fit()
        start = time.perf_counter()
        request = self._book.resolve(ids, model="summation model")
        if request.size:
            assert self._q is not None
            rows = self._rows[self._book.positions(request)]
            removed = self._statistics(self._q[rows], self._y[rows])
            for key, value in removed.items():
                self._stats[key] = self._stats[key] - value
            self._rows = self._rows[self._book.remove(request)]
            if 2 * self._rows.size < self._q.shape[0]:
                self._q, self._y = self._q[self._rows], self._y[self._rows]
                self._rows = np.arange(self._rows.size, dtype=np.int64)
            self._solve()
        return DeletionOutcome(
            deleted=tuple(int(i) for i in request),
            method="subtract_statistics" if request.size else "noop",
            retrained={"statistics": sorted(self._stats), "head": self.head},
            certificate="exact",
            residual=None,
            budget_left=None,
            wall_s=time.perf_counter() - start,
            samples_processed=int(request.size),
        )

    # ------------------------------------------------------------------ audit
    @property
    def statistics(self) -> dict[str, np.ndarray]:
        """Copies of the integer sums (``int64``) the head is computed from."""
        self._require_fit()
        return {k: v.copy() for k, v in self._stats.items()}

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the head's float64 parameters (``w``; or ``mean``, ``var``, ``log_prior``)."""
        self._require_fit()
        return {k: v.copy() for k, v in self._params.items()}

    # ------------------------------------------------------------------ internals
    def _require_fit(self) -> None:
        if self._q is None:
            raise NotFittedError("summation model is not fitted; call fit() first")

    def _statistics(self, q: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        onehot = (y[:, None] == np.arange(self.num_classes)[None, :]).astype(np.int64)
        stats = {"count": onehot.sum(axis=0)}
        if self.head == "ridge":
            stats["xtx"] = exact_gram(q, q)
            stats["xty"] = exact_gram(q, 2 * onehot - 1)
        else:
            stats["sum"] = exact_gram(onehot, q)
            stats["sum_sq"] = exact_gram(onehot, q * q)
        return stats

    def _solve(self) -> None:
        st = self._stats
        if self.head == "ridge":
            gram = st["xtx"].astype(np.float64) / (_SCALE * _SCALE)
            gram[np.diag_indices_from(gram)] += self.lam
            rhs = st["xty"].astype(np.float64) / _SCALE
            self._params = {"w": np.linalg.solve(gram, rhs)}
            return
        count = st["count"].astype(np.float64)
        seen = count > 0
        safe = np.where(seen, count, 1.0)[:, None]
        mean = st["sum"].astype(np.float64) / _SCALE / safe
        var = st["sum_sq"].astype(np.float64) / (_SCALE * _SCALE) / safe - mean**2
        total = count.sum()
        all_mean = st["sum"].sum(axis=0).astype(np.float64) / _SCALE / total
        all_var = st["sum_sq"].sum(axis=0).astype(np.float64) / (_SCALE * _SCALE) / total
        floor = self.var_smoothing * max(float((all_var - all_mean**2).max()), 1e-12)
        var = np.maximum(var, 0.0) + floor
        mean = np.where(seen[:, None], mean, 0.0)
        with np.errstate(divide="ignore"):
            log_prior = np.where(seen, np.log(count / total), -np.inf)
        self._params = {"mean": mean, "var": var, "log_prior": log_prior}
