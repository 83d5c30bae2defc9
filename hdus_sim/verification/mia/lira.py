"""LiRA (Carlini et al. 2022): per-example in/out Gaussians of shadow confidences.

For every example, Gaussians are fitted to the logit-scaled confidence
``phi = log(p / (1 - p))`` of shadow models that trained on it ("in") and of shadow models
that did not ("out"); an example's score is the log likelihood ratio of the target's
``phi`` under the two fits. :func:`shadow_inclusion` decides which shadows train on which
example (every example in exactly half of them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LiraFit", "fit_lira", "shadow_inclusion"]


@dataclass(frozen=True)
class LiraFit:
    """Per-example Gaussians of ``phi`` for shadows with ("in") and without ("out") it."""

    mu_in: np.ndarray
    sd_in: np.ndarray
    mu_out: np.ndarray
    sd_out: np.ndarray

    def score(self, phi: np.ndarray) -> np.ndarray:
        """Log likelihood ratio ``log N(phi; in) - log N(phi; out)`` per example."""
        phi = np.asarray(phi, float)
        z_in = (phi - self.mu_in) / self.sd_in
        z_out = (phi - self.mu_out) / self.sd_out
        return -0.5 * z_in**2 - np.log(self.sd_in) + 0.5 * z_out**2 + np.log(self.sd_out)


def fit_lira(
    phi: np.ndarray, inclusion: np.ndarray, *, variance: str = "global", min_sd: float = 1e-4
) -> LiraFit:
    """Fit the in/out Gaussians of every example from shadow confidences.

    Parameters
    ----------
    phi : numpy.ndarray
        ``(shadows, n)`` logit-scaled confidences of every shadow on every example.
    inclusion : numpy.ndarray
        ``(shadows, n)`` booleans: whether the shadow trained on the example.
    variance : str
        ``"global"`` (one pooled standard deviation per side) or ``"per_example"``.
    min_sd : float
        Floor of every standard deviation (shadows that agree exactly would give 0).

    Examples
    --------
    >>> inc = np.array([[True, False], [False, True], [True, False], [False, True]])
    >>> phi = np.where(inc, 3.0, 0.0) + np.array([[0.1], [-0.1], [-0.1], [0.1]])
    >>> fit = fit_lira(phi, inc)
    >>> [round(float(v), 3) for v in fit.mu_in], [round(float(v), 3) for v in fit.mu_out]
    ([3.0, 3.0], [0.0, 0.0])
    """
    phi = np.asarray(phi, float)
    inc = np.asarray(inclusion, bool)
    if phi.shape != inc.shape or phi.ndim != 2:
        raise ValueError(f"phi {phi.shape} and inclusion {inc.shape} must be equal 2-d shapes")
    n_in, n_out = inc.sum(axis=0), (~inc).sum(axis=0)
    if (n_in == 0).any() or (n_out == 0).any():
        raise ValueError("every example needs at least one shadow in and one out")
    mu_in = np.where(inc, phi, 0.0).sum(axis=0) / n_in
    mu_out = np.where(~inc, phi, 0.0).sum(axis=0) / n_out
    dev_in = np.where(inc, phi - mu_in, 0.0) ** 2
    dev_out = np.where(~inc, phi - mu_out, 0.0) ** 2
    if variance == "per_example":
        sd_in = np.sqrt(dev_in.sum(axis=0) / np.maximum(n_in - 1, 1))
        sd_out = np.sqrt(dev_out.sum(axis=0) / np.maximum(n_out - 1, 1))
    else:
        dof_in = max(int(n_in.sum() - n_in.size), 1)
        dof_out = max(int(n_out.sum() - n_out.size), 1)
        sd_in = np.full(phi.shape[1], np.sqrt(dev_in.sum() / dof_in))
        sd_out = np.full(phi.shape[1], np.sqrt(dev_out.sum() / dof_out))
    return LiraFit(mu_in, np.maximum(sd_in, min_sd), mu_out, np.maximum(sd_out, min_sd))


def shadow_inclusion(y: np.ndarray, shadows: int, seed: int) -> np.ndarray:
    """Which candidates each shadow trains on: complementary pairs of stratified halves.

    Shadow ``2j`` takes a random half of every class, shadow ``2j + 1`` the rest, so each
    candidate is in exactly half of the shadows and each shadow has half of every class.

    Examples
    --------
    >>> inc = shadow_inclusion(np.array([0, 0, 1, 1, 1]), 4, seed=0)
    >>> inc.shape, inc.sum(axis=0).tolist()
    ((4, 5), [2, 2, 2, 2, 2])
    """
    y = np.asarray(y)
    k = shadows + shadows % 2
    inc = np.zeros((k, y.size), dtype=bool)
    rng = np.random.default_rng(seed)
    for j in range(k // 2):
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            half = (idx.size + (j % 2)) // 2  # odd classes: alternate which side gets more
            inc[2 * j, idx[:half]] = True
        inc[2 * j + 1] = ~inc[2 * j]
    return inc
