r"""Certified removal (Guo, Goldstein, Hannun, van der Maaten, ICML 2020) for a linear head.

The model is one-vs-rest L2-regularised logistic regression on frozen features ``x`` with
``||x|| <= 1`` (:mod:`clients.unlearning.features`). For every class ``k`` (labels
``y_ik = +1`` for class ``k``, ``-1`` otherwise) the training algorithm returns the exact
minimiser (Newton's method in float64) of the *perturbed* sum-form objective

.. math::

    L_b(w_k; D) = \sum_{i \in D} \log(1 + e^{-y_{ik} w_k^\top x_i})
                  + \frac{\lambda |D|}{2} \|w_k\|^2 + b_k^\top w_k,
    \qquad b \sim \mathcal N(0, \sigma^2 I_{D \times K}) \text{ drawn once}.

**Removal** of ``(x, y)`` is one Newton step on the remaining data ``D'`` (Guo et al.,
Eq. 4): with ``Delta_k = lambda w_k + grad l(w_k^T x, y_k)`` (the point's loss gradient
plus its share of the regulariser) and ``H_k`` the Hessian of ``L(.; D')`` at ``w_k``,

.. math:: w_k \leftarrow w_k + H_k^{-1} \Delta_k .

**Bound** (Corollary 1, data dependent, per removal, summed over the ``K`` heads):

.. math::

    \beta_t = \sum_k \gamma \, \|X'\|_2 \, \|H_k^{-1}\Delta_k\|_2 \, \|X' H_k^{-1}\Delta_k\|_2
              + \|H_k v_k - \Delta_k\|_2

with ``gamma = 1/4`` (the Lipschitz constant the paper uses for the logistic loss's second
derivative; the true one, ``1/(6 sqrt 3)``, is smaller, so the bound is conservative),
``X'`` the feature matrix of ``D'`` and ``||X'||_2`` its exact spectral norm (symmetric
eigensolver on ``X'^T X'``, never a power iteration, plus a 1e-8 relative margin). The
last term accounts for the linear solve's own rounding. The accumulated residual bound is
``beta = tau + sum_t beta_t`` where ``tau`` is the training optimum's measured gradient
norm (the theorems assume an exact minimiser, so its small error is charged too).

**Certificate** (Theorem 3): with ``c = sqrt(2 ln(1.5 / delta))``, the removed model is
``(eps, delta)``-indistinguishable from retraining as long as ``beta <= sigma * eps / c``:
the *budget*. ``sigma`` is given directly (``sigma=``), or derived from the residual
budget ``eps'`` one wants to allow (``residual_budget=``) as ``sigma = c * eps' / eps``,
Theorem 3's form; then the budget equals ``eps'`` whatever ``eps``: smaller ``eps`` means
more noise, not fewer removals. When a removal would push ``beta`` past the budget, the
head is retrained from scratch on the remaining data with a fresh ``b`` and ``beta``
restarts at the new ``tau`` (Algorithm 2: the outcome says ``"full_retrain"``).
``eps = inf`` gives the non-private reference (``sigma = 0`` unless given, unlimited
budget): its certificate is vacuous.

Preconditions are checked, never assumed: ``lambda > 0``, feature rows of norm <= 1,
the optimum reached (gradient norm <= ``tol``); otherwise :class:`CertificationError`.
The perturbation ``b`` and the pre-removal weights are private: they are never returned.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import torch
from scipy.special import expit
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
from clients.unlearning.features import build_feature_map

__all__ = [
    "DEFAULT_EPS_GRID",
    "DEFAULT_RESIDUAL_BUDGET",
    "GAMMA_LOGISTIC",
    "CertifiedRemovalModel",
    "EpsAccuracy",
    "accuracy_vs_eps",
    "noise_constant",
    "spectral_norm_upper",
]

#: Lipschitz constant of the logistic loss's second derivative used by Guo et al.
GAMMA_LOGISTIC = 0.25

#: Gradient-residual budget ``eps'`` allowed between retrains when ``sigma`` is not given
#: (sum-form gradient units). On 1,000 digits with the defaults one removal costs about
#: 0.05, so this allows a handful of removals per retrain.
DEFAULT_RESIDUAL_BUDGET = 0.25

#: The epsilon grid printed by benchmarks (``inf`` = no perturbation).
DEFAULT_EPS_GRID: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0, math.inf)

#: Relative safety margin on the computed spectral norm (eigensolver and Gram rounding).
_SPECTRAL_MARGIN = 1e-8


def noise_constant(delta: float) -> float:
    """Return ``c = sqrt(2 ln(1.5 / delta))`` of Guo et al.'s Theorem 3.

    Examples
    --------
    >>> round(noise_constant(1e-5), 2)
    4.88
    """
    return math.sqrt(2.0 * math.log(1.5 / delta))


def spectral_norm_upper(x: np.ndarray) -> float:
    """Return an upper bound on ``||x||_2`` (largest singular value), tight to ~1e-8.

    Computed from the largest eigenvalue of the Gram matrix ``x^T x`` with LAPACK's
    symmetric eigensolver (backward stable), then inflated by a relative 1e-8 margin that
    covers its rounding: a proven bound, unlike a power iteration, which underestimates.
    """
    if x.shape[0] == 0:
        return 0.0
    gram = x.T @ x
    top = scipy.linalg.eigh(
        gram, eigvals_only=True, subset_by_index=[gram.shape[0] - 1, gram.shape[0] - 1]
    )[0]
    return math.sqrt(max(float(top), 0.0)) * (1.0 + _SPECTRAL_MARGIN) + 1e-300


def _targets(y: np.ndarray, num_classes: int) -> np.ndarray:
    """One-vs-rest labels: ``+1`` for the sample's class, ``-1`` elsewhere, ``(n, K)``."""
    return np.where(y[:, None] == np.arange(num_classes)[None, :], 1.0, -1.0)


def objective_gradient(
    w: np.ndarray, x: np.ndarray, ypm: np.ndarray, lam: float, b: np.ndarray
) -> np.ndarray:
    """Gradient ``(D, K)`` of the sum-form perturbed objective ``L_b`` for every head."""
    z = x @ w
    return x.T @ (-ypm * expit(-ypm * z)) + lam * x.shape[0] * w + b


def _class_objective(
    w: np.ndarray, x: np.ndarray, y: np.ndarray, lam_n: float, b: np.ndarray
) -> float:
    return float(np.logaddexp(0.0, -y * (x @ w)).sum() + 0.5 * lam_n * (w @ w) + b @ w)


def _hessian(w: np.ndarray, x: np.ndarray, lam_n: float) -> np.ndarray:
    p = expit(x @ w)
    h = x.T @ (x * (p * (1.0 - p))[:, None])
    h.flat[:: h.shape[0] + 1] += lam_n
    return h


def _solve_pd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``matrix @ v = rhs`` for a symmetric positive definite ``matrix`` (Cholesky)."""
    factor = scipy.linalg.cho_factor(matrix, check_finite=False)
    return scipy.linalg.cho_solve(factor, rhs, check_finite=False)


def fit_head(
    x: np.ndarray, ypm: np.ndarray, lam: float, b: np.ndarray, *, tol: float, max_iter: int
) -> tuple[np.ndarray, int, float]:
    """Minimise ``L_b`` exactly (damped Newton, float64) for every one-vs-rest head.

    Returns
    -------
    tuple
        ``(w, iterations, residual)``: weights ``(D, K)``, total Newton iterations over
        the heads (each one pass over the data), and ``||grad L_b(w; D)||_F``.

    Raises
    ------
    CertificationError
        If the gradient norm is still above ``tol`` after ``max_iter`` iterations per head.
    """
    n, dim = x.shape
    classes = ypm.shape[1]
    lam_n = lam * n
    w_all = np.zeros((dim, classes))
    per_class = tol / math.sqrt(classes)
    iterations = 0
    for k in range(classes):
        w, y, bk = w_all[:, k].copy(), ypm[:, k], b[:, k]
        for _ in range(max_iter):
            grad = x.T @ (-y * expit(-y * (x @ w))) + lam_n * w + bk
            if np.linalg.norm(grad) <= per_class:
                break
            step = -_solve_pd(_hessian(w, x, lam_n), grad)
            f0, slope, t = _class_objective(w, x, y, lam_n, bk), float(grad @ step), 1.0
            while t > 1.0 / 1024 and _class_objective(w + t * step, x, y, lam_n, bk) > (
                f0 + 1e-4 * t * slope
            ):
                t *= 0.5
            # Near the optimum rounding hides the decrease: the full step is then right.
            w = w + (t if t > 1.0 / 1024 else 1.0) * step
            iterations += 1
        w_all[:, k] = w
    residual = float(np.linalg.norm(objective_gradient(w_all, x, ypm, lam, b)))
    if not residual <= tol:
        raise CertificationError(
            f"training did not reach the exact optimum the certificate assumes: gradient "
            f"norm {residual:.3g} > tol {tol:.3g} after {max_iter} Newton iterations per "
            "class; raise lam, max_newton_iter or tol"
        )
    return w_all, iterations, residual


def newton_removal(
    w: np.ndarray,
    x_rem: np.ndarray,
    x_del: np.ndarray,
    ypm_del: np.ndarray,
    lam: float,
) -> tuple[np.ndarray, float]:
    """One Newton removal step for one point; return ``(update (D, K), residual bound)``.

    ``x_rem`` is the feature matrix of the remaining data ``D'`` (without the point),
    ``x_del`` the removed point's features and ``ypm_del`` its ``(K,)`` +-1 labels. The
    update is ``H_k^{-1} Delta_k`` per head; the bound is Corollary 1 summed over heads
    plus the linear solves' residuals (module docstring).
    """
    lam_n = lam * x_rem.shape[0]
    x_norm = spectral_norm_upper(x_rem)
    update = np.empty_like(w)
    bound = 0.0
    for k in range(w.shape[1]):
        wk, yk = w[:, k], float(ypm_del[k])
        delta = lam * wk + x_del * (-yk * expit(-yk * float(x_del @ wk)))
        hess = _hessian(wk, x_rem, lam_n)
        v = _solve_pd(hess, delta)
        solve_error = float(np.linalg.norm(hess @ v - delta))
        bound += (
            GAMMA_LOGISTIC * x_norm * float(np.linalg.norm(v)) * float(np.linalg.norm(x_rem @ v))
        )
        bound += solve_error
        update[:, k] = v
    return update, bound


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
        return iterations * feats.shape[0]


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
