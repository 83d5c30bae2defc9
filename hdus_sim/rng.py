"""Every random stream of a run, derived from one scenario seed.

A stream is named by ``(scenario seed, peer id, epoch, purpose)``: one peer's behaviour never
shifts another's, which is what lets the retrain oracle re-run a scenario without one peer's
seed and get bit-identical results for everybody else.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["derive_seed", "purpose_key"]


def purpose_key(purpose: str) -> int:
    """Stable integer for a purpose name (CRC-32, the same on every machine and run)."""
    return zlib.crc32(purpose.encode())


def derive_seed(root: int, purpose: str, *keys: int) -> int:
    """Derive a 63-bit seed for ``purpose`` and integer ``keys`` from the scenario seed ``root``.

    Examples
    --------
    >>> derive_seed(7, "main_init", 3, 0) == derive_seed(7, "main_init", 3, 0)
    True
    >>> derive_seed(7, "main_init", 3, 0) == derive_seed(7, "main_init", 4, 0)
    False
    """
    spawn = (purpose_key(purpose), *(int(k) for k in keys))
    seq = np.random.SeedSequence(entropy=int(root), spawn_key=spawn)
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
