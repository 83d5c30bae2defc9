"""Data poisoning (the backdoor's planter): the trigger, which samples, determinism."""

from __future__ import annotations

import numpy as np

from clients.poisoning import plant, stamp


def test_stamp_sets_the_trigger_on_images_and_vectors_without_touching_the_input() -> None:
    images = np.zeros((2, 1, 4, 4), dtype=np.float32)
    out = stamp(images)
    assert (out[:, :, 2:, 2:] == 1.0).all() and out[:, :, :2, :].sum() == 0
    assert images.sum() == 0  # a copy
    vectors = np.zeros((3, 8), dtype=np.float64)
    flat = stamp(vectors)
    assert flat.dtype == np.float32 and (flat[:, -3:] == 4.0).all() and flat[:, :-3].sum() == 0


def test_plant_poisons_the_fraction_relabels_it_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    x2, y2 = plant(x, y, fraction=0.25, target=7, seed=11)
    poisoned = np.flatnonzero(y2 == 7)
    assert poisoned.size == 10
    assert (x2[poisoned, -3:] == 4.0).all()
    clean = np.setdiff1d(np.arange(40), poisoned)
    assert np.array_equal(x2[clean], x[clean]) and np.array_equal(y2[clean], y[clean])
    again = plant(x, y, fraction=0.25, target=7, seed=11)
    assert np.array_equal(again[0], x2) and np.array_equal(again[1], y2)
    assert (plant(x, y, fraction=0.0, target=7, seed=1)[1] == 7).sum() == 1  # at least one
