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

from clients.unlearning.certified.logistic import (
    GAMMA_LOGISTIC,
    fit_head,
    newton_removal,
    noise_constant,
    objective_gradient,
    spectral_norm_upper,
)
from clients.unlearning.certified.model import DEFAULT_RESIDUAL_BUDGET, CertifiedRemovalModel
from clients.unlearning.certified.sweep import DEFAULT_EPS_GRID, EpsAccuracy, accuracy_vs_eps

__all__ = [
    "DEFAULT_EPS_GRID",
    "DEFAULT_RESIDUAL_BUDGET",
    "GAMMA_LOGISTIC",
    "CertifiedRemovalModel",
    "EpsAccuracy",
    "accuracy_vs_eps",
    "fit_head",
    "newton_removal",
    "noise_constant",
    "objective_gradient",
    "spectral_norm_upper",
]
