r"""Incremental certified removal: a Hessian kept up to date, and the exact residual that certifies.

A removal must cost far less than training the head again. Guo et al.'s one-step removal
rebuilds every head's Hessian on the remaining data and refactors it: ``O(K n d^2)``, the
cost of one Newton iteration of training itself. Here instead:

* **The preconditioner** (:class:`Preconditioner`) holds, per head ``k``, the Hessian
  ``P_k = X^T diag(s_k) X + lambda n I`` of the remaining rows at *anchor* weights (the
  training optimum, or the weights of the last :meth:`~Preconditioner.rebuild`), together
  with its inverse ``A_k = P_k^{-1}``. Removing rows subtracts their curvature ``s_ik x_i
  x_i^T`` from ``P_k`` exactly and updates ``A_k`` by the Sherman-Morrison-Woodbury formula:
  ``O(K (m d^2 + m^3))`` for ``m`` rows, no pass over the data. (The equivalent of a
  rank-one Cholesky downdate, in two BLAS calls per batch instead of a Python loop over
  ``d`` columns; it stays well defined because ``P_k >= lambda n I`` after the downdate.)
  The regulariser's share ``lambda`` per removed row is subtracted from ``P_k`` at once
  but reaches ``A_k`` only when it is re-inverted (every ``refold`` removed rows, an
  ``O(K d^3)`` step, which also clears the updates' rounding drift).
* **The step** is a quasi-Newton step on the *current* exact gradient of the perturbed
  objective on the remaining data: ``w <- w - A g``. Using the whole gradient, not only the
  removed points' share, also corrects what earlier steps left over, so residuals do not
  pile up from removal to removal.
* **The certificate** is the gradient residual of the released head on the remaining
  data, ``||grad L_b(w; D')||_F``, computed exactly in one ``O(K n d)`` pass
  (:func:`certified_residual`) and inflated by a proven bound on that computation's own
  float64 rounding. Theorem 3 of Guo et al. needs an upper bound on exactly this
  quantity; their Corollary 1 is a worst-case bound of it, this is its value. It does not
  depend on the preconditioner being right: a wrong downdate costs a worse step (a
  larger residual, charged in full, and a rebuild or retrain when the budget would be
  exceeded), never a false certificate.

Like Corollary 1's data-dependent bound, the residual depends on the data and on the
perturbation through ``w``; Guo et al.'s Algorithm 2 certifies with such a bound in the
same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

__all__ = [
    "Preconditioner",
    "ResidualCheck",
    "certified_residual",
    "head_curvature",
]

#: Unit roundoff of float64 (``2^-53``).
_U = 2.0**-53


def _gamma(n: int) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``: relative error bound of an ``n``-term sum."""
    nu = n * _U
    return nu / (1.0 - nu)


def head_curvature(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-row, per-head logistic curvature ``s_ik = p_ik (1 - p_ik)``, ``(n, K)``.

    The Hessian of head ``k``'s loss on row ``i`` is ``s_ik x_i x_i^T`` (labels ``+-1``
    do not enter it).
    """
    p = expit(x @ w)
    curvature: np.ndarray = p * (1.0 - p)
    return curvature


@dataclass(frozen=True)
class ResidualCheck:
    """The exact gradient residual of a head on the remaining data, and what certifies it.

    Attributes
    ----------
    gradient
        ``grad L_b(w; D')`` as computed, ``(d, K)`` (the next step's direction).
    computed
        Its Frobenius norm as computed in float64.
    margin
        A proven bound on the rounding of that computation (and of an independent
        recomputation in the same precision), in the same units.
    """

    gradient: np.ndarray
    computed: float
    margin: float

    @property
    def certified(self) -> float:
        """``computed + margin``: an upper bound on the true residual norm."""
        return self.computed + self.margin


def certified_residual(
    w: np.ndarray,
    x: np.ndarray,
    alive: np.ndarray,
    ypm: np.ndarray,
    lam: float,
    b: np.ndarray,
) -> ResidualCheck:
    """Compute ``||grad L_b(w; D')||_F`` on the rows ``alive`` of ``x`` in one pass.

    Rows not alive enter with weight exactly 0 (no copy of ``x``). The rounding margin
    follows the standard forward error bounds (Higham, *Accuracy and Stability of
    Numerical Algorithms*, 3.1 and 3.5), using that every feature row has norm <= 1:

    * ``z = X w``: ``|dz_ik| <= gamma_d ||w_k||``; the loss derivative is 1/4-Lipschitz
      in ``z`` and ``expit`` is accurate to a few ulps, so ``|dr_ik| <= e_r =
      gamma_d max_k ||w_k|| / 4 + 4u``;
    * ``X^T r``: ``gamma_n |X|^T |r|``, of Frobenius norm ``<= gamma_n ||X||_F ||r||_F``,
      plus the propagated ``e_r`` term ``<= e_r sqrt(n K) ||X||_F``;
    * adding ``lambda n w + b`` and taking the norm: relative ``gamma_{dK + 3}``.

    The bound is doubled so that an independent recomputation (the audit's) is covered
    too. It is far below any residual budget (about 1e-9 at n = 60,000).
    """
    mask = alive.astype(np.float64)
    n = int(alive.sum())
    dim, classes = w.shape
    r = -ypm * expit(-ypm * (x @ w)) * mask[:, None]
    data = x.T @ r
    gradient: np.ndarray = data + lam * n * w + b
    computed = float(np.linalg.norm(gradient))
    x_fro = math.sqrt(n)  # every alive row has norm <= 1; dead rows are multiplied by 0
    w_max = float(np.linalg.norm(w, axis=0).max()) if w.size else 0.0
    e_r = _gamma(dim) * w_max / 4.0 + 4.0 * _U
    n_rows = x.shape[0]
    product = (
        _gamma(n_rows) * x_fro * float(np.linalg.norm(r)) + e_r * math.sqrt(n * classes) * x_fro
    )
    terms = float(np.linalg.norm(data)) + product + lam * n * float(np.linalg.norm(w))
    terms += float(np.linalg.norm(b))
    margin = 2.0 * (product + _gamma(dim * classes + 3) * (terms + computed))
    return ResidualCheck(gradient=gradient, computed=computed, margin=margin)


class Preconditioner:
    """Per-head Hessians of the remaining data at anchor weights, and their inverses.

    Parameters
    ----------
    x
        Feature rows, ``(n0, d)`` (all rows ever held this generation).
    alive
        Boolean mask of the rows still held.
    w
        Anchor weights ``(d, K)`` at which the curvature is taken.
    lam
        Mean-form regularisation (the sum form uses ``lam * n``).
    refold
        Removed rows after which the inverse is recomputed from ``P`` (``O(K d^3)``).
    """

    def __init__(
        self, x: np.ndarray, alive: np.ndarray, w: np.ndarray, lam: float, *, refold: int
    ) -> None:
        self.lam = lam
        self.refold = max(1, int(refold))
        self.rebuild(x, alive, w)

    def rebuild(self, x: np.ndarray, alive: np.ndarray, w: np.ndarray) -> int:
        """Recompute every head's Hessian on the alive rows at ``w``; return rows processed."""
        rows = x[alive]
        n = int(rows.shape[0])
        self.curvature = np.zeros((x.shape[0], w.shape[1]))
        self.curvature[alive] = head_curvature(rows, w)
        s = self.curvature[alive]
        dim, classes = w.shape
        self.hessian = np.empty((classes, dim, dim))
        for k in range(classes):
            hk = rows.T @ (rows * s[:, k : k + 1])
            hk.flat[:: dim + 1] += self.lam * n
            self.hessian[k] = hk
        self._refold()
        return int(n * classes)

    def _refold(self) -> None:
        """Invert ``P`` afresh (symmetrised), clearing pending regulariser shifts and drift."""
        inverse = np.linalg.inv(self.hessian)
        self.inverse = 0.5 * (inverse + inverse.transpose(0, 2, 1))
        self.pending = 0

    def downdate(self, x: np.ndarray, rows: np.ndarray) -> None:
        """Remove rows ``rows`` (indices into ``x``): subtract their curvature, update ``A``.

        Woodbury per head: with ``U`` the ``(d, m)`` scaled rows ``sqrt(s_ik) x_i``,
        ``(P - U U^T)^{-1} = A + A U (I - U^T A U)^{-1} U^T A``. The ``lambda`` share of
        each row leaves ``P`` now and ``A`` at the next re-inversion.
        """
        if rows.size == 0:
            return
        m = rows.size
        feats = x[rows]  # (m, d)
        scale = np.sqrt(self.curvature[rows])  # (m, K)
        u = scale.T[:, None, :] * feats.T[None, :, :]  # (K, d, m)
        self.hessian -= u @ u.transpose(0, 2, 1)
        dim = self.hessian.shape[1]
        idx = np.arange(dim)
        self.hessian[:, idx, idx] -= self.lam * m
        self.curvature[rows] = 0.0
        self.pending += m
        if self.pending >= self.refold:
            self._refold()
            return
        au = self.inverse @ u  # (K, d, m)
        capacitance = np.eye(m)[None] - u.transpose(0, 2, 1) @ au
        self.inverse += au @ np.linalg.solve(capacitance, au.transpose(0, 2, 1))

    def solve(self, g: np.ndarray) -> np.ndarray:
        """Return ``A_k g_k`` for every head: the quasi-Newton direction, ``(d, K)``."""
        step: np.ndarray = np.einsum("kij,jk->ik", self.inverse, g)
        return step
