r"""Certified removal (Guo, Goldstein, Hannun, van der Maaten, ICML 2020) for a linear head.

The model is one-vs-rest L2-regularised logistic regression on frozen features ``x`` with
``||x|| <= 1`` (:mod:`clients.unlearning.features`). For every class ``k`` (labels
``y_ik = +1`` for class ``k``, ``-1`` otherwise) the training algorithm returns the exact
minimiser (Newton's method in float64) of the *perturbed* sum-form objective

.. math::

    L_b(w_k; D) = \sum_{i \in D} \log(1 + e^{-y_{ik} w_k^\top x_i})
                  + \frac{\lambda |D|}{2} \|w_k\|^2 + b_k^\top w_k,
    \qquad b \sim \mathcal N(0, \sigma^2 I_{D \times K}) \text{ drawn once}.

**Removal** (:mod:`~clients.unlearning.certified.incremental`) of one point or a batch:
their curvature leaves a per-head preconditioner ``A_k ~ H_k^{-1}`` kept up to date by
Sherman-Morrison-Woodbury downdates (``O(K m d^2)``, no pass over the data), and the head
takes a quasi-Newton step on the exact gradient of the remaining data,
``w_k <- w_k - A_k grad L_b(w_k; D')`` (Guo et al., Eq. 4, with the Hessian kept current
instead of rebuilt). Up to ``removal_steps`` such steps are taken while the certificate
would not hold, then one after rebuilding the Hessians at the current weights.

**Bound**: the gradient residual of the released head on the remaining data,
``beta = ||grad L_b(w; D')||_F``, computed exactly in one ``O(K n d)`` pass and inflated
by a proven bound on its own float64 rounding. Theorem 3 needs an upper bound on this
quantity; Guo et al.'s Corollary 1 (kept as :func:`newton_removal` for comparison, with
``gamma = 1/4`` and an exact ``||X'||_2``) is a worst-case one that piles up over
removals, this is its value. A wrong preconditioner costs steps, never the certificate.

**Certificate** (Theorem 3): with ``c = sqrt(2 ln(1.5 / delta))``, the removed model is
``(eps, delta)``-indistinguishable from retraining as long as ``beta <= sigma * eps / c``:
the *budget*. ``sigma`` is given directly (``sigma=``), or derived from the residual
budget ``eps'`` one wants to allow (``residual_budget=``) as ``sigma = c * eps' / eps``,
Theorem 3's form; then the budget equals ``eps'`` whatever ``eps``: smaller ``eps`` means
more noise, not fewer removals. When a removal would push ``beta`` past the budget, the
head is retrained from scratch on the remaining data with a fresh ``b`` and ``beta``
restarts at the new optimum's residual (Algorithm 2: the outcome says ``"full_retrain"``).
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
