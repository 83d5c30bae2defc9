"""Session-length distributions: sampling them, and the matching :mod:`scipy.stats` law.

Lengths are in rounds, continuous (rounded to round starts later, see
:func:`hdus_sim.churn.processes._rounds_mask`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hdus_sim.churn.spec import DISTRIBUTIONS, DistributionSpec
from hdus_sim.errors import ScenarioError

__all__ = ["scipy_distribution", "session_lengths"]


def session_lengths(spec: DistributionSpec, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` lengths (in rounds, continuous, before rounding) from ``spec``.

    Used for both online sessions and offline gaps. Pareto is the classic Pareto (type I)
    with minimum ``scale``: ``scale * (1 + Lomax(shape))``.

    Examples
    --------
    >>> spec = DistributionSpec(distribution="pareto", params={"shape": 2.0, "scale": 3.0})
    >>> x = session_lengths(spec, 1000, np.random.default_rng(0))
    >>> x.shape, bool(x.min() >= 3.0)
    ((1000,), True)
    """
    p = spec.params
    name = spec.distribution
    if name == "exponential":
        return rng.exponential(p["scale"], size)
    if name == "weibull":
        return p["scale"] * rng.weibull(p["shape"], size)
    if name == "lognormal":
        return rng.lognormal(p["mu"], p["sigma"], size)
    if name == "pareto":
        return p["scale"] * (1.0 + rng.pareto(p["shape"], size))
    raise ScenarioError(f"unknown distribution {name!r}; choose one of {list(DISTRIBUTIONS)}")


def scipy_distribution(spec: DistributionSpec) -> Any:
    """The frozen :mod:`scipy.stats` distribution that :func:`session_lengths` samples.

    For goodness-of-fit checks and reports (mean, quantiles); scipy is imported on demand.

    Examples
    --------
    >>> d = scipy_distribution(DistributionSpec(distribution="exponential",
    ...                                         params={"scale": 3.0}))
    >>> float(d.mean())
    3.0
    """
    from scipy import stats

    p = spec.params
    name = spec.distribution
    if name == "exponential":
        return stats.expon(scale=p["scale"])
    if name == "weibull":
        return stats.weibull_min(p["shape"], scale=p["scale"])
    if name == "lognormal":
        return stats.lognorm(p["sigma"], scale=math.exp(p["mu"]))
    if name == "pareto":
        return stats.pareto(p["shape"], scale=p["scale"])
    raise ScenarioError(f"unknown distribution {name!r}; choose one of {list(DISTRIBUTIONS)}")
