"""Shared data for the point-deletion tests: scikit-learn's real handwritten digits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from clients.datasets import load_digits


@dataclass(frozen=True)
class Digits:
    """A peer's private training data, a public (reference) set and a test set."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    public_x: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    def without(self, deleted: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = ~np.isin(self.ids, deleted)
        return self.x[keep], self.y[keep], self.ids[keep]


@pytest.fixture(scope="session")
def digits() -> Digits:
    """1,100 private samples (ids shuffled), 300 public inputs, 397 test samples."""
    ds = load_digits()
    perm = np.random.default_rng(0).permutation(len(ds.y))
    train, public, test = perm[:1100], perm[1100:1400], perm[1400:]
    return Digits(
        ds.x[train],
        ds.y[train],
        ds.sample_ids[train],
        ds.x[public],
        ds.x[test],
        ds.y[test],
    )


@pytest.fixture(scope="session")
def small(digits: Digits) -> Digits:
    """The first 400 private samples: enough for fast exactness checks."""
    return Digits(
        digits.x[:400],
        digits.y[:400],
        digits.ids[:400],
        digits.public_x,
        digits.test_x,
        digits.test_y,
    )
