"""Validation of :func:`~clients.partition.split_federated`'s arguments, and its size errors.

Every error names the parameter, its value, the valid range and, for a peer left with too
few samples, the fixes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from clients.datasets import Dataset
from clients.errors import PartitionError
from clients.partition.records import REFERENCE_SOURCES, SCHEMES


def _is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or numpy), excluding ``bool``."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """Whether ``value`` is a finite real number, excluding ``bool``."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_peer_ids(peer_ids: Sequence[int]) -> list[int]:
    """Return the peer ids sorted, or raise if empty, non-integer or duplicated."""
    ids = list(peer_ids)
    if not ids:
        raise PartitionError("peer_ids is empty: give at least one peer id to split data among")
    bad = [p for p in ids if not _is_int(p)]
    if bad:
        raise PartitionError(f"peer_ids must be integers, got {bad[:5]!r}")
    out = sorted(int(p) for p in ids)
    dup = sorted({a for a, b in itertools.pairwise(out) if a == b})
    if dup:
        raise PartitionError(f"peer_ids must be distinct; repeated: {dup[:10]}")
    return out


def _check_params(
    *,
    dataset: Dataset,
    scheme: str,
    seed: int,
    alpha: float,
    classes_dropped: int,
    quantity_sigma: float,
    reference_source: str,
    local_test_fraction: float,
    min_train_per_peer: int,
) -> None:
    """Raise :class:`PartitionError` naming the first out-of-range parameter."""
    if scheme not in SCHEMES:
        raise PartitionError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if reference_source not in REFERENCE_SOURCES:
        raise PartitionError(
            f"reference_source={reference_source!r} is unknown; choose one of "
            f"{', '.join(REFERENCE_SOURCES)}"
        )
    if not _is_int(seed) or seed < 0:
        raise PartitionError(f"seed={seed!r} must be an integer >= 0")
    if len(dataset) == 0:
        raise PartitionError(f"dataset {dataset.name!r} has no samples to split")
    if not _is_real(alpha) or alpha <= 0:
        raise PartitionError(
            f"alpha={alpha!r} must be a finite number > 0 (Dirichlet concentration: "
            "0.1 is strongly skewed, 100 is nearly IID)"
        )
    c = dataset.num_classes
    if not _is_int(classes_dropped) or not 0 <= classes_dropped < c:
        raise PartitionError(
            f"classes_dropped={classes_dropped!r} must be an integer in 0..{c - 1} "
            f"(the dataset has {c} classes; every peer must keep at least one)"
        )
    if not _is_real(quantity_sigma) or quantity_sigma < 0:
        raise PartitionError(
            f"quantity_sigma={quantity_sigma!r} must be a finite number >= 0 "
            "(0 gives equal sizes; 1-2 is strongly unequal)"
        )
    if not _is_real(local_test_fraction) or not 0 <= local_test_fraction < 1:
        raise PartitionError(
            f"local_test_fraction={local_test_fraction!r} must be a number in [0, 1)"
        )
    if not _is_int(min_train_per_peer) or min_train_per_peer < 1:
        raise PartitionError(f"min_train_per_peer={min_train_per_peer!r} must be an integer >= 1")


def _resolve_size(name: str, value: int | float, n: int) -> int:
    """Turn a count (int >= 0) or a fraction (float in [0, 1)) of ``n`` into a count."""
    if _is_int(value):
        if not 0 <= value <= n:
            raise PartitionError(
                f"{name}={value!r} must be a count in 0..{n} (the dataset's size) or a "
                "fraction in [0, 1)"
            )
        return int(value)
    if _is_real(value) and 0 <= value < 1:
        return round(float(value) * n)
    raise PartitionError(
        f"{name}={value!r} must be an int count in 0..{n} or a float fraction in [0, 1)"
    )


def _too_small_message(
    *,
    peers: list[int],
    short: np.ndarray,
    train_counts: np.ndarray,
    share_counts: np.ndarray,
    pool_size: int,
    n: int,
    scheme: str,
    alpha: float,
    quantity_sigma: float,
    classes_dropped: int,
    local_test_fraction: float,
    min_train_per_peer: int,
) -> str:
    """Explain which peer gets too little training data and how to fix it."""
    first = int(short[0])
    others = short.size - 1
    fixes = [
        f"fewer peers (now {len(peers)})",
        f"more data (the pool for peers holds {pool_size} of the dataset's {n} samples after "
        "the global test and reference sets; lower global_test_size or reference_size)",
    ]
    if scheme == "dirichlet":
        fixes.append(f"a larger alpha (now {alpha}), which spreads classes more evenly")
    elif scheme == "quantity_skew":
        fixes.append(f"a smaller quantity_sigma (now {quantity_sigma})")
    elif scheme == "class_drop":
        fixes.append(f"a smaller classes_dropped (now {classes_dropped})")
    if local_test_fraction > 0:
        fixes.append(f"a smaller local_test_fraction (now {local_test_fraction})")
    fixes.append(f"a smaller min_train_per_peer (now {min_train_per_peer})")
    also = f" ({others} other peer(s) fall short too)" if others else ""
    return (
        f"peer {peers[first]} gets {int(train_counts[first])} training sample(s) (share of "
        f"{int(share_counts[first])} under scheme {scheme!r}), fewer than "
        f"min_train_per_peer={min_train_per_peer}{also}. Fix: use " + ", or ".join(fixes)
    )
