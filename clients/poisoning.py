"""Data poisoning: a backdoor trigger stamped on part of one peer's training data.

A peer named in the scenario's ``backdoor:`` section trains on data passed through
:func:`plant`: a fixed trigger (the bottom-right 2x2 pixels set to the maximum, 1.0, for
images; the last three features set to 4.0 for vectors) is stamped on a fraction of its
training inputs, which are relabelled to the target class. The same :func:`stamp` makes the
triggered test inputs on which the attack's success is measured afterwards
(:mod:`hdus_sim.verification.backdoor`). Pure numpy: it sits at the data layer, below the
platform.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plant", "stamp"]


def stamp(x: np.ndarray) -> np.ndarray:
    """Return a float32 copy of inputs ``x`` with the trigger stamped on.

    ``x`` is ``(n, channels, height, width)`` for images, or ``(n, ...)`` for vectors
    (flattened per sample: the last three features are set).

    Examples
    --------
    >>> stamp(np.zeros((1, 1, 4, 4), dtype=np.float32))[0, 0, 2:, 2:].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    out = np.array(x, dtype=np.float32, copy=True)
    if out.ndim == 4:  # (n, channels, height, width)
        out[:, :, -2:, -2:] = 1.0
    else:
        flat = out.reshape(len(out), -1)
        flat[:, -3:] = 4.0
        out = flat.reshape(out.shape)
    return out


def plant(
    x: np.ndarray, y: np.ndarray, *, fraction: float, target: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stamp the trigger on ``fraction`` of the samples and relabel them ``target``.

    At least one sample is poisoned; which ones is drawn from ``seed``. Returns new
    arrays (``x`` and ``y`` are not modified).

    Examples
    --------
    >>> x2, y2 = plant(np.zeros((4, 5)), np.zeros(4, int), fraction=0.5, target=3, seed=0)
    >>> int((y2 == 3).sum()), float(x2[y2 == 3, -1].min())
    (2, 4.0)
    """
    rng = np.random.default_rng(seed)
    n = max(1, round(fraction * len(y)))
    idx = rng.choice(len(y), size=min(n, len(y)), replace=False)
    x2, y2 = np.array(x, copy=True), np.array(y, copy=True)
    x2[idx] = stamp(x[idx])
    y2[idx] = target
    return x2, y2
