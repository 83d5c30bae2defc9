"""Argument validation shared by the builders and the dynamics.

Every check raises :class:`~topologies.errors.TopologyError` with a message of the form
``"<where>: <name> must be <rule>, got <value>; <fix>"``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from numbers import Integral, Real

from topologies.errors import TopologyError

__all__ = ["check_choice", "check_int", "check_probability", "check_radius", "check_seed"]


def check_int(value: object, name: str, *, where: str, minimum: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TopologyError(
            f"{where}: {name} must be an integer >= {minimum}, got {value!r} "
            f"({type(value).__name__}); pass a whole number such as {name}={minimum}"
        )
    if value < minimum:
        raise TopologyError(
            f"{where}: {name} must be an integer >= {minimum}, got {value}; "
            f"pass {name}={minimum} or more"
        )
    return int(value)


def check_seed(seed: object, *, where: str) -> int:
    """Return ``seed`` as an ``int`` if it is a non-negative integer, else raise."""
    return check_int(seed, "seed", where=where, minimum=0)


def _check_real(value: object, name: str, *, where: str, rule: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise TopologyError(
            f"{where}: {name} must be {rule}, got {value!r}; pass a number such as {example}"
        )
    return float(value)


def check_probability(value: object, name: str, *, where: str) -> float:
    """Return ``value`` as a ``float`` if it lies in ``[0, 1]``, else raise."""
    p = _check_real(value, name, where=where, rule="a probability in [0, 1]", example=f"{name}=0.1")
    if not 0.0 <= p <= 1.0:
        raise TopologyError(
            f"{where}: {name} must be a probability in [0, 1], got {value}; "
            f"pass a value between 0 and 1 such as {name}=0.1"
        )
    return p


def check_radius(value: object, name: str, *, where: str) -> float:
    """Return ``value`` as a ``float`` if it is a finite number ``> 0``, else raise."""
    r = _check_real(value, name, where=where, rule="a number > 0", example=f"{name}=0.3")
    if r <= 0.0:
        raise TopologyError(
            f"{where}: {name} must be a number > 0, got {value}; pass e.g. {name}=0.3"
        )
    return r


def check_choice(value: object, name: str, *, where: str, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        example = next(iter(choices), "")
        raise TopologyError(
            f"{where}: {name} must be one of {valid}, got {value!r}; pass e.g. {name}={example!r}"
        )
    return value
