"""The certified-removal main model: a perturbed linear head on frozen features.

:class:`CertifiedRemovalModel` trains the head (:func:`~.logistic.fit_head`), removes
points by incremental quasi-Newton steps certified by the head's exact gradient residual
(:mod:`~clients.unlearning.certified.incremental`) while that residual stays within the
certificate's budget, and retrains with a fresh perturbation when it would not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from clients.unlearning.base import (
    PURPOSE_PERTURBATION,
    CertificationError,
    DeletionOutcome,
    NotFittedError,
    SampleBook,
    UnlearningError,
    as_input_tensor,
    check_fit_data,
    check_task,
    derive_seed,
    positive_float,
    positive_int,
)
from clients.unlearning.certified.incremental import Preconditioner, certified_residual
from clients.unlearning.certified.logistic import (
    _targets,
    fit_head,
    noise_constant,
    objective_gradient,
    point_gradients,
)
from clients.unlearning.features import build_feature_map

__all__ = ["DEFAULT_RESIDUAL_BUDGET", "CertifiedRemovalModel"]

#: Gradient-residual budget ``eps'`` allowed between retrains when ``sigma`` is not given
#: (sum-form gradient units). The certified residual after a removal is its exact value,
#: which does not pile up: on 1,000 digits it stays near 0.01 over 200 removals.
DEFAULT_RESIDUAL_BUDGET = 0.25
#: Quasi-Newton steps tried per request before the Hessians are rebuilt at the current
#: weights (one more step after that, then a retrain from scratch).
DEFAULT_REMOVAL_STEPS = 2


@dataclass(frozen=True)
class _Step:
    """What one incremental removal attempt did: kept or not, steps, rebuild, samples."""

    accepted: bool
    steps: int
    rebuilt: bool
    processed: int


class CertifiedRemovalModel:
    """Linear one-vs-rest logistic head with (eps, delta)-certified removal.

    Parameters
    ----------
    input_shape, num_classes
        Task shape.
    seed
        Seed of the random feature map and of every perturbation draw (one per
        training generation).
    eps, delta
        The certificate's privacy parameters (``eps = inf``: no certificate, no noise).
    lam
        L2 regularisation ``lambda > 0`` of the mean-form objective (the sum form uses
        ``lambda * n``). Larger means smaller removal bounds but underfitting.
    sigma
        Standard deviation of the perturbation ``b``. Give it, or ``residual_budget``.
    residual_budget
        Gradient-residual budget ``eps'`` between retrains; sets ``sigma = c eps'/eps``.
        Default :data:`DEFAULT_RESIDUAL_BUDGET` when neither is given.
    features
        Output dimension of the built-in feature maps.
    feature_map
        ``"relu"`` (default), ``"pca"``, ``"identity"``, or a callable / ``nn.Module``
        trained on public data (see :mod:`clients.unlearning.features`).
    public_x
        Public inputs (e.g. the reference set) for ``"pca"`` and for centring.
    normalize, bias
        Feature row normalisation and constant feature (see :class:`FeatureMap`).
    tol
        Gradient-norm tolerance of training; the measured residual is charged to ``beta``.
    max_newton_iter
        Newton iterations per head before training is declared failed.
    removal_steps
        Quasi-Newton steps (one data pass each) a removal may take to bring the certified
        residual within the budget. ``1`` is Guo et al.'s single step.
    rebuild_hessian
        Whether a removal whose steps all miss the budget may rebuild the Hessians at the
        current weights (one Newton iteration's cost) and step once more before falling
        back to a retrain from scratch.
    """

    name = "certified"

    def __init__(
        self,
        *,
        input_shape: Sequence[int],
        num_classes: int,
        seed: int,
        eps: float = 1.0,
        delta: float = 1e-5,
        lam: float = 1e-2,
        sigma: float | None = None,
        residual_budget: float | None = None,
        features: int = 256,
        feature_map: str | Callable[[np.ndarray], np.ndarray] | nn.Module = "relu",
        public_x: np.ndarray | torch.Tensor | None = None,
        normalize: bool = True,
        bias: bool = True,
        tol: float = 1e-8,
        max_newton_iter: int = 50,
        removal_steps: int = DEFAULT_REMOVAL_STEPS,
        rebuild_hessian: bool = True,
    ) -> None:
        self.input_shape, self.num_classes = check_task(input_shape, num_classes)
        self.seed = int(seed)
        self.eps = positive_float("eps", eps, allow_inf=True)
        self.delta = float(delta)
        if not 0.0 < self.delta < 1.0:
            raise UnlearningError(f"option 'delta' must lie in (0, 1), got {delta!r}")
        try:
            lam_value = float(lam)
        except (TypeError, ValueError):
            lam_value = math.nan
        if not lam_value > 0 or math.isinf(lam_value):
            raise CertificationError(
                f"option 'lam' must be > 0 and finite (the certificate needs a strongly convex "
                f"objective), got {lam!r}"
            )
        self.lam = lam_value
        self.c = noise_constant(self.delta)
        if sigma is not None and residual_budget is not None:
            raise UnlearningError(
                "give option 'sigma' or option 'residual_budget', not both: each determines "
                "the other through sigma = c * residual_budget / eps"
            )
        if sigma is None:
            budget = (
                DEFAULT_RESIDUAL_BUDGET
                if residual_budget is None
                else positive_float("residual_budget", residual_budget)
            )
            self.sigma = 0.0 if math.isinf(self.eps) else self.c * budget / self.eps
        else:
            self.sigma = float(sigma)
            if not (self.sigma >= 0 and math.isfinite(self.sigma)):
                raise UnlearningError(f"option 'sigma' must be >= 0 and finite, got {sigma!r}")
        #: The total gradient residual allowed between retrains: ``sigma * eps / c``.
        self.budget = math.inf if math.isinf(self.eps) else self.sigma * self.eps / self.c
        self.features = positive_int("features", features)
        self.tol = positive_float("tol", tol)
        self.max_newton_iter = positive_int("max_newton_iter", max_newton_iter)
        self.removal_steps = positive_int("removal_steps", removal_steps)
        self.rebuild_hessian = bool(rebuild_hessian)
        self.feature_map = build_feature_map(
            feature_map,
            input_shape=self.input_shape,
            dim=self.features,
            seed=self.seed,
            public_x=public_x,
            bias=bool(bias),
            normalize=bool(normalize),
        )
        self._x: np.ndarray | None = None
        self._y = np.zeros(0, dtype=np.int64)
        #: Every feature row of this generation, its +-1 targets, which rows are still
        #: held, and their ids (rows leave by mask; they are compacted at a retrain).
        self._ypm = np.zeros((0, self.num_classes))
        self._alive = np.zeros(0, dtype=bool)
        self._row_ids = np.zeros(0, dtype=np.int64)
        self._grad = np.zeros(0)
        self._pre: Preconditioner | None = None
        self._removals = 0
        self._book = SampleBook(np.zeros(0, dtype=np.int64))
        self._w = np.zeros(0)
        self._b = np.zeros(0)
        self._beta = 0.0
        self._tau = 0.0
        self._bounds: list[float] = []
        #: Number of trainings from scratch so far (each with a fresh perturbation).
        self.generation = 0
        self.newton_removals = 0
        #: Requests whose steps needed the Hessians rebuilt at the current weights.
        self.hessian_rebuilds = 0

    # ------------------------------------------------------------------ protocol
    def fit(self, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> None:
        """Extract frozen features and train the perturbed head from scratch.

        Raises
        ------
        CertificationError
            If a precondition fails (feature norms, optimum not reached).
        """
        xs, ys, ids_sorted = check_fit_data(x, y, ids, self.input_shape, self.num_classes)
        feats = self.feature_map(xs)
        self._train(feats, ys, generation=0)  # commits only if training succeeds
        self._book = SampleBook(ids_sorted)
        self._row_ids = ids_sorted.copy()
        self.newton_removals = 0

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Return the heads' margins ``phi(x) @ w`` as ``(n, num_classes)`` float32."""
        self._require_fit()
        feats = self.feature_map(as_input_tensor(x, self.input_shape))
        return torch.from_numpy((feats @ self._w).astype(np.float32))

    @property
    def sample_ids(self) -> np.ndarray:
        """Ids the head currently learned from (``int64``, sorted)."""
        return self._book.ids.copy()

    def certificate(self) -> str:
        """``"certified(eps=..,delta=..,spent=..)"`` (``eps=inf``: vacuous, no noise).

        ``spent`` is :attr:`eps_spent`, the epsilon the current residual certifies
        (``<= eps`` while the budget holds).
        """
        return f"certified(eps={self.eps:g},delta={self.delta:g},spent={self.eps_spent:.3g})"

    def delete(self, ids: Sequence[int]) -> DeletionOutcome:
        """Remove ``ids`` in one incremental step, retraining if the budget would run out.

        All requested rows leave at once (a batch removal, as Guo et al. batch): their
        curvature leaves the preconditioner, one quasi-Newton step on the exact gradient
        of the remaining data moves the head, and one pass computes the residual that
        certifies it (:mod:`~clients.unlearning.certified.incremental`). If that residual
        exceeds :attr:`budget`, a second step is tried, then a step after rebuilding the
        Hessians at the best weights so far; if the residual is still too large, nothing of
        the steps is kept and the head is trained from scratch on the remaining data with
        a fresh perturbation (``method="full_retrain"``, Algorithm 2).

        Raises
        ------
        UnknownSampleError
            If an id is not held (nothing is changed).
        """
        self._require_fit()
        start = time.perf_counter()
        request = self._book.resolve(ids, model="certified removal")
        if not request.size:
            return self._outcome(request, "noop", {}, 0, start)
        rows = np.searchsorted(self._row_ids, request)
        step = self._remove_rows(rows)
        processed = step.processed
        if step.accepted:
            self._book.remove(request)
            self.newton_removals += int(request.size)
            self._removals += int(request.size)
            retrained = {
                "newton_steps": step.steps,
                "hessian_rebuilt": step.rebuilt,
                "full_retrain": False,
                "generation": self.generation,
            }
            return self._outcome(request, "newton_step", retrained, processed, start)
        assert self._x is not None
        keep = self._alive.copy()
        keep[rows] = False
        processed += self._train(self._x[keep], self._y[keep], generation=self.generation + 1)
        self._row_ids = self._row_ids[keep]
        self._book.remove(request)
        retrained = {
            "newton_steps": 0,
            "hessian_rebuilt": False,
            "full_retrain": True,
            "generation": self.generation,
        }
        return self._outcome(request, "full_retrain", retrained, processed, start)

    def _outcome(
        self,
        request: np.ndarray,
        method: str,
        retrained: dict[str, Any],
        processed: int,
        start: float,
    ) -> DeletionOutcome:
        """The outcome of one request, with the certificate's trade-off in ``terms``."""
        return DeletionOutcome(
            deleted=tuple(int(i) for i in request),
            method=method,
            retrained=retrained,
            certificate=self.certificate(),
            residual=self._beta,
            budget_left=self.budget - self._beta,
            wall_s=time.perf_counter() - start,
            samples_processed=processed,
            terms={
                "eps": self.eps,
                "delta": self.delta,
                "sigma": self.sigma,
                "lam": self.lam,
                "budget": self.budget,
                "residual": self._beta,
                "eps_spent": self.eps_spent,
                "removals_since_training": self._removals,
                "generation": self.generation,
            },
        )

    def _remove_rows(self, rows: np.ndarray) -> _Step:
        """Try to remove ``rows`` incrementally; commit and return the step if certified.

        The state changes only when the certified residual of the new head is within the
        budget; otherwise the caller retrains (the preconditioner is then rebuilt too).
        """
        assert self._x is not None and self._pre is not None
        x, ypm = self._x, self._ypm
        alive = self._alive.copy()
        alive[rows] = False
        m = rows.size
        grad = self._grad - point_gradients(x[rows], ypm[rows], self._w)
        grad = grad - self.lam * m * self._w
        self._pre.downdate(x, rows)
        n_left = int(alive.sum())
        # The best point so far (smallest gradient norm): where a rebuild starts from.
        best_norm, best_w, best_grad = float(np.linalg.norm(grad)), self._w, grad
        w = self._w
        processed = 0
        rebuilt = False
        attempts = self.removal_steps + (1 if self.rebuild_hessian else 0)
        for attempt in range(attempts):
            if attempt == self.removal_steps:
                w, grad = best_w, best_grad
                processed += self._pre.rebuild(x, alive, w)
                rebuilt = True
                self.hessian_rebuilds += 1
            w = w - self._pre.solve(grad)
            check = certified_residual(w, x, alive, ypm, self.lam, self._b)
            processed += n_left
            if check.certified <= self.budget:
                self._w, self._grad, self._alive = w, check.gradient, alive
                self._beta = check.certified
                self._bounds.append(check.certified)
                return _Step(True, attempt + 1, rebuilt, processed)
            grad = check.gradient
            if check.computed < best_norm:
                best_norm, best_w, best_grad = check.computed, w, grad
        return _Step(False, 0, rebuilt, processed)

    # ------------------------------------------------------------------ audit
    @property
    def residual_bound(self) -> float:
        """``beta``: certified upper bound on the head's ``||grad L_b(w; D')||`` now.

        The exact residual of the released head on the remaining data plus its rounding
        margin (:func:`~clients.unlearning.certified.incremental.certified_residual`); right
        after training, the optimum's measured residual ``tau``.
        """
        return self._beta

    @property
    def removal_bounds(self) -> tuple[float, ...]:
        """The certified residual after each removal request since the last training."""
        return tuple(self._bounds)

    @property
    def eps_spent(self) -> float:
        """``c * beta / sigma``: the epsilon the current residual bound certifies."""
        if self._beta == 0.0:
            return 0.0
        return math.inf if self.sigma == 0 else self.c * self._beta / self.sigma

    @property
    def weights(self) -> np.ndarray:
        """Copy of the released head weights ``(D, num_classes)``, float64."""
        self._require_fit()
        return self._w.copy()

    def true_gradient_residual(self) -> float:
        """The actual ``||grad L_b(w; D')||_F`` on the remaining data, same ``b``.

        Must never exceed :attr:`residual_bound` (the audit B-3 checks it).
        """
        self._require_fit()
        assert self._x is not None
        rows = self._alive
        grad = objective_gradient(
            self._w, self._x[rows], _targets(self._y[rows], self.num_classes), self.lam, self._b
        )
        return float(np.linalg.norm(grad))

    def reference_weights(self) -> np.ndarray:
        """The exact minimiser of ``L_b(.; D')`` on the remaining data with the same ``b``.

        What the removed head approximates (audit B-5); costs a full training.
        """
        self._require_fit()
        assert self._x is not None
        rows = self._alive
        w, _, _ = fit_head(
            self._x[rows],
            _targets(self._y[rows], self.num_classes),
            self.lam,
            self._b,
            tol=self.tol,
            max_iter=self.max_newton_iter,
        )
        return w

    # ------------------------------------------------------------------ internals
    def _require_fit(self) -> None:
        if self._x is None:
            raise NotFittedError("certified removal model is not fitted; call fit() first")

    def _train(self, feats: np.ndarray, y: np.ndarray, *, generation: int) -> int:
        """Draw generation ``generation``'s ``b``, train from scratch on ``(feats, y)``.

        The model's state changes only once training succeeded (a
        :class:`CertificationError` leaves it as it was). Returns samples processed
        (Newton iterations times samples).
        """
        rng = np.random.default_rng(derive_seed(self.seed, PURPOSE_PERTURBATION, generation))
        b = rng.standard_normal((feats.shape[1], self.num_classes)) * self.sigma
        w, iterations, tau = fit_head(
            feats,
            _targets(y, self.num_classes),
            self.lam,
            b,
            tol=self.tol,
            max_iter=self.max_newton_iter,
        )
        alive = np.ones(feats.shape[0], dtype=bool)
        pre = Preconditioner(feats, alive, w, self.lam, refold=max(16, feats.shape[1]))
        ypm = _targets(y, self.num_classes)
        check = certified_residual(w, feats, alive, ypm, self.lam, b)
        self._x, self._y, self._w, self._b = feats, y, w, b
        self._ypm, self._alive, self._pre, self._grad = ypm, alive, pre, check.gradient
        self._tau = tau
        self._beta = max(tau, check.certified)
        self._bounds = []
        self._removals = 0
        self.generation = generation
        # Newton iterations over the heads, the Hessians for the preconditioner, one pass.
        return int((iterations + ypm.shape[1] + 1) * feats.shape[0])
