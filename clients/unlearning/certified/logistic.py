r"""The perturbed one-vs-rest logistic objective: training, Newton removal and its bound.

Pure numpy / scipy, float64: :func:`fit_head` returns the exact minimiser of the perturbed
sum-form objective, :func:`newton_removal` the one-Newton-step update and its data-dependent
gradient-residual bound (Guo et al. 2020, Corollary 1); see :mod:`clients.unlearning.certified`.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from scipy.special import expit

from clients.unlearning.base import CertificationError

__all__ = [
    "GAMMA_LOGISTIC",
    "fit_head",
    "newton_removal",
    "noise_constant",
    "objective_gradient",
    "point_gradients",
    "spectral_norm_upper",
]

#: Lipschitz constant of the logistic loss's second derivative used by Guo et al.
GAMMA_LOGISTIC = 0.25
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


def point_gradients(x: np.ndarray, ypm: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Sum over the rows of their loss gradients, every head: ``(D, K)``."""
    grad: np.ndarray = x.T @ (-ypm * expit(-ypm * (x @ w)))
    return grad


def objective_gradient(
    w: np.ndarray, x: np.ndarray, ypm: np.ndarray, lam: float, b: np.ndarray
) -> np.ndarray:
    """Gradient ``(D, K)`` of the sum-form perturbed objective ``L_b`` for every head."""
    grad: np.ndarray = point_gradients(x, ypm, w) + lam * x.shape[0] * w + b
    return grad


def _class_objective(
    w: np.ndarray, x: np.ndarray, y: np.ndarray, lam_n: float, b: np.ndarray
) -> float:
    return float(np.logaddexp(0.0, -y * (x @ w)).sum() + 0.5 * lam_n * (w @ w) + b @ w)


def _hessian(w: np.ndarray, x: np.ndarray, lam_n: float) -> np.ndarray:
    p = expit(x @ w)
    h: np.ndarray = x.T @ (x * (p * (1.0 - p))[:, None])
    h.flat[:: h.shape[0] + 1] += lam_n
    return h


def _solve_pd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``matrix @ v = rhs`` for a symmetric positive definite ``matrix`` (Cholesky)."""
    factor = scipy.linalg.cho_factor(matrix, check_finite=False)
    solution: np.ndarray = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
    return solution


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
