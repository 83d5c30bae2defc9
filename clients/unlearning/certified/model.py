"""The certified-removal main model: a perturbed linear head on frozen features.

:class:`CertifiedRemovalModel` trains the head (:func:`~.logistic.fit_head`), removes
points by Newton steps while the accumulated residual bound stays within the certificate's
budget, and retrains with a fresh perturbation when it would not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

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
from clients.unlearning.certified.logistic import (
    _targets,
    fit_head,
    newton_removal,
    noise_constant,
    objective_gradient,
)
from clients.unlearning.features import build_feature_map

__all__ = ["DEFAULT_RESIDUAL_BUDGET", "CertifiedRemovalModel"]

#: Gradient-residual budget ``eps'`` allowed between retrains when ``sigma`` is not given
#: (sum-form gradient units). On 1,000 digits with the defaults one removal costs about
#: 0.05, so this allows a handful of removals per retrain.
DEFAULT_RESIDUAL_BUDGET = 0.25


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
        self._book = SampleBook(np.zeros(0, dtype=np.int64))
        self._w = np.zeros(0)
        self._b = np.zeros(0)
        self._beta = 0.0
        self._tau = 0.0
        self._bounds: list[float] = []
        #: Number of trainings from scratch so far (each with a fresh perturbation).
        self.generation = 0
        self.newton_removals = 0

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
        """``"certified(eps=..,delta=..)"`` (``eps=inf``: vacuous, no noise)."""
        return f"certified(eps={self.eps:g},delta={self.delta:g})"

    def delete(self, ids: Sequence[int]) -> DeletionOutcome:
        """Remove ``ids`` one at a time by Newton steps, retraining if the budget runs out.

        Ids are processed in ascending order. Each Newton step charges its bound to
        ``beta``; the first step that would push ``beta`` past :attr:`budget` is not
        applied: instead every still-requested id is dropped and the head is trained
        from scratch with a fresh perturbation (``method="full_retrain"``).

        Raises
        ------
        UnknownSampleError
            If an id is not held (nothing is changed).
        """
        self._require_fit()
        start = time.perf_counter()
        request = self._book.resolve(ids, model="certified removal")
        processed = 0
        steps = 0
        retrain = False
        for sample in request.tolist():
            assert self._x is not None
            pos = int(self._book.positions(np.array([sample]))[0])
            x_rem = np.delete(self._x, pos, axis=0)
            ypm_del = _targets(self._y[pos : pos + 1], self.num_classes)[0]
            update, bound = newton_removal(self._w, x_rem, self._x[pos], ypm_del, self.lam)
            processed += x_rem.shape[0] * self.num_classes  # one Hessian pass per head
            if self._beta + bound > self.budget:
                retrain = True
                break
            self._w = self._w + update
            self._beta += bound
            self._bounds.append(bound)
            self._x = x_rem
            self._y = np.delete(self._y, pos)
            self._book.remove(np.array([sample], dtype=np.int64))
            steps += 1
            self.newton_removals += 1
        if retrain:
            assert self._x is not None
            rest = request[np.isin(request, self._book.ids)]
            keep = ~np.isin(self._book.ids, rest)
            processed += self._train(self._x[keep], self._y[keep], generation=self.generation + 1)
            self._book.remove(rest)
        return DeletionOutcome(
            deleted=tuple(int(i) for i in request),
            method="noop" if not request.size else ("full_retrain" if retrain else "newton_step"),
            retrained={
                "newton_steps": steps,
                "full_retrain": retrain,
                "generation": self.generation,
            },
            certificate=self.certificate(),
            residual=self._beta,
            budget_left=self.budget - self._beta,
            wall_s=time.perf_counter() - start,
            samples_processed=processed,
        )

    # ------------------------------------------------------------------ audit
    @property
    def residual_bound(self) -> float:
        """``beta``: certified upper bound on ``||grad L_b(w; D')||`` since the last training."""
        return self._beta

    @property
    def removal_bounds(self) -> tuple[float, ...]:
        """Per-removal bounds ``beta_t`` of the Newton steps since the last training."""
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
        grad = objective_gradient(
            self._w, self._x, _targets(self._y, self.num_classes), self.lam, self._b
        )
        return float(np.linalg.norm(grad))

    def reference_weights(self) -> np.ndarray:
        """The exact minimiser of ``L_b(.; D')`` on the remaining data with the same ``b``.

        What the removed head approximates (audit B-5); costs a full training.
        """
        self._require_fit()
        assert self._x is not None
        w, _, _ = fit_head(
            self._x,
            _targets(self._y, self.num_classes),
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
        self._x, self._y, self._w, self._b = feats, y, w, b
        self._tau = self._beta = tau
        self._bounds = []
        self.generation = generation
        return int(iterations * feats.shape[0])
