"""The ``churn:`` section's schema: pydantic specs for every process, and its loader.

Validation only: nothing here draws a random number. :func:`load_churn` turns pydantic's
errors into one :class:`~hdus_sim.errors.ScenarioError` that names every bad field and the
fix (``churn.sessions.params`` ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hdus_sim.churn.trace import _normalise_intervals
from hdus_sim.errors import ScenarioError

__all__ = [
    "DISTRIBUTIONS",
    "ArrivalsSpec",
    "BatterySpec",
    "ChurnSpec",
    "DistributionSpec",
    "DiurnalSpec",
    "OutageSpec",
    "SessionsSpec",
    "TraceSpec",
    "load_churn",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)
NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PosInt = Annotated[int, Field(ge=1)]

#: Parameters each session-length distribution takes (all in rounds except the shapes).
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "exponential": ("scale",),
    "weibull": ("shape", "scale"),
    "lognormal": ("mu", "sigma"),
    "pareto": ("shape", "scale"),
}
_EXAMPLE_PARAMS = {
    "exponential": "{scale: 3.0}",
    "weibull": "{shape: 0.6, scale: 6.0}",
    "lognormal": "{mu: 1.5, sigma: 0.8}",
    "pareto": "{shape: 1.5, scale: 2.0}",
}


class DistributionSpec(BaseModel):
    """A length distribution, in rounds: ``distribution`` and its named ``params``.

    ``exponential``: ``scale`` (the mean). ``weibull``: ``shape`` k and ``scale`` lambda.
    ``lognormal``: ``mu`` and ``sigma`` of the underlying normal (the median is ``exp(mu)``).
    ``pareto``: ``shape`` alpha and ``scale`` x_m (the minimum length; the mean is finite
    only for alpha > 1). Everything but ``mu`` must be > 0.

    Examples
    --------
    >>> DistributionSpec(distribution="weibull", params={"shape": 0.6, "scale": 6.0}).params
    {'shape': 0.6, 'scale': 6.0}
    """

    model_config = _STRICT
    distribution: str
    params: dict[str, float] = Field(default_factory=dict)

    @field_validator("distribution")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DISTRIBUTIONS:
            raise ValueError(f"unknown distribution {v!r}; choose one of {list(DISTRIBUTIONS)}")
        return v

    @model_validator(mode="after")
    def _params(self) -> DistributionSpec:
        name = self.distribution
        need = DISTRIBUTIONS[name]
        example = _EXAMPLE_PARAMS[name]
        missing = [p for p in need if p not in self.params]
        if missing:
            raise ValueError(
                f"params: distribution {name!r} needs {', '.join(need)}; "
                f"missing {', '.join(missing)} (e.g. params: {example})"
            )
        extra = sorted(set(self.params) - set(need))
        if extra:
            raise ValueError(
                f"params: distribution {name!r} takes only {', '.join(need)}, not "
                f"{', '.join(extra)} (e.g. params: {example})"
            )
        for key in need:
            value = self.params[key]
            if not math.isfinite(value):
                raise ValueError(f"params.{key} must be a finite number, got {value}")
            if key != "mu" and value <= 0:
                raise ValueError(f"params.{key} must be > 0, got {value}")
        return self


class SessionsSpec(DistributionSpec):
    """Online sessions (``distribution``/``params``) alternating with ``offline`` gaps.

    A churning device starts online: an initial peer at round 0, an arrival at its arrival
    instant. ``peers`` names the devices that churn: ``all`` (every initial peer not replayed
    from a trace) or a list of ids; arrivals always follow the sessions.
    """

    offline: DistributionSpec
    peers: Literal["all"] | list[NonNegInt] = "all"


class ArrivalsSpec(BaseModel):
    """New devices arriving as a Poisson process, ``rate`` devices per round on average.

    They take ids ``first_id, first_id + 1, ...`` in order of arrival (default: one past the
    highest id the scenario knows; set it to keep arrival ids fixed when other peers are
    added). ``device_mix`` weighs the device classes they are drawn from (default: the
    scenario's own mix).
    """

    model_config = _STRICT
    rate: PosFloat
    first_id: NonNegInt | None = None
    device_mix: dict[str, PosFloat] | None = None

    @field_validator("device_mix")
    @classmethod
    def _mix(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and not v:
            raise ValueError("give at least one device class, e.g. {sensor: 1}, or leave it out")
        return v


class DiurnalSpec(BaseModel):
    """A daily offline window for a ``fraction`` of the devices.

    The chosen devices are offline in every round ``r`` with
    ``(r - offline_start) mod period < offline_hours``. Exactly
    ``round(fraction * n)`` of the ``n`` eligible devices are chosen: those with the
    smallest key drawn from their own stream (so adding a device moves at most one choice).
    """

    model_config = _STRICT
    period: PosInt = 24
    offline_start: NonNegInt = 18
    offline_hours: PosInt = 6
    fraction: Annotated[float, Field(ge=0, le=1)] = 0.5
    peers: Literal["all"] | list[NonNegInt] = "all"

    @model_validator(mode="after")
    def _window(self) -> DiurnalSpec:
        if self.offline_start >= self.period:
            raise ValueError(
                f"offline_start ({self.offline_start}) must be < period ({self.period}); "
                "give the window's start within one period"
            )
        if self.offline_hours >= self.period:
            raise ValueError(
                f"offline_hours ({self.offline_hours}) must be < period ({self.period}); "
                "a device offline all day never comes back"
            )
        return self


class OutageSpec(BaseModel):
    """A correlated failure: a whole group is offline in rounds ``at <= r < at + duration``.

    Name the group by ``gateway`` (the gateway and every device the cluster map attaches to
    it) or list its ``peers``.
    """

    model_config = _STRICT
    gateway: NonNegInt | None = None
    peers: list[NonNegInt] | None = None
    at: NonNegInt
    duration: PosInt

    @model_validator(mode="after")
    def _group(self) -> OutageSpec:
        if (self.gateway is None) == (self.peers is None):
            raise ValueError("an outage takes exactly one of `gateway: ID` or `peers: [IDS]`")
        if self.peers is not None and not self.peers:
            raise ValueError("peers: list at least one peer that goes down")
        return self


class BatterySpec(BaseModel):
    """Battery-limited devices: ``capacity`` units, ``drain[class]`` units per online round.

    A device is offline for ``recharge`` rounds after ``ceil(capacity / drain)`` online
    rounds, then comes back full. Classes without a drain (or drain 0) never run out; rounds
    offline for other reasons neither drain nor recharge the battery.
    """

    model_config = _STRICT
    capacity: PosFloat
    drain: dict[str, NonNegFloat]
    recharge: PosInt


class TraceSpec(BaseModel):
    """Availability replayed from a trace: a CSV ``file`` or inline ``intervals``.

    The CSV has the header ``peer,start,end`` and one online interval per line, in rounds
    (``start`` inclusive, ``end`` exclusive); a relative path is read from the scenario
    file's folder. Inline: ``intervals: {peer: [[start, end], ...]}``.
    """

    model_config = _STRICT
    file: str | None = None
    intervals: dict[NonNegInt, list[tuple[NonNegInt, NonNegInt]]] | None = None

    @model_validator(mode="after")
    def _source(self) -> TraceSpec:
        if (self.file is None) == (self.intervals is None):
            raise ValueError("a trace takes exactly one of `file: PATH` or `intervals: {...}`")
        if self.intervals is not None:
            rows = {
                peer: [(s, e, i) for i, (s, e) in enumerate(spans)]
                for peer, spans in self.intervals.items()
            }
            _normalise_intervals(rows, lambda peer, i: f"intervals[{peer}][{i}]")
        return self


class ChurnSpec(BaseModel):
    """The ``churn:`` section of a scenario: which processes make devices come and go.

    ``crash_ratio`` is the probability that a departure is a crash rather than a graceful
    leave (drawn per departure). ``on_return`` tells the engine what a returning device does:
    ``retrain`` (re-join under a new epoch and train from scratch) or ``restore`` (re-join
    under a new epoch with its checkpointed model).
    """

    model_config = _STRICT
    sessions: SessionsSpec | None = None
    arrivals: ArrivalsSpec | None = None
    diurnal: DiurnalSpec | None = None
    outages: list[OutageSpec] = Field(default_factory=list)
    battery: BatterySpec | None = None
    trace: TraceSpec | None = None
    crash_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0
    on_return: Literal["retrain", "restore"] = "retrain"


def _where(loc: Iterable[int | str]) -> str:
    out = "churn"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def load_churn(data: Mapping[str, Any] | ChurnSpec) -> ChurnSpec:
    """Validate a ``churn:`` section given as a dict, raising errors that name the field.

    Raises
    ------
    ScenarioError
        Naming every invalid field (as ``churn.sessions.params`` ...) and the fix.

    Examples
    --------
    >>> load_churn({"crash_ratio": 0.3}).crash_ratio
    0.3
    >>> load_churn({"sessions": {"distribution": "gamma", "params": {},
    ...                          "offline": {"distribution": "exponential",
    ...                                      "params": {"scale": 2}}}})
    Traceback (most recent call last):
    ...
    hdus_sim.errors.ScenarioError: invalid churn section:
      - `churn.sessions.distribution`: unknown distribution 'gamma'; choose one of ['exponential', 'weibull', 'lognormal', 'pareto']
    """  # noqa: E501
    if isinstance(data, ChurnSpec):
        return data
    try:
        return ChurnSpec.model_validate(dict(data))
    except ValidationError as exc:
        lines = ["invalid churn section:"]
        for err in exc.errors():
            field_name = _where(p for p in err["loc"] if p != "function-after")
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                lines.append(f"  - missing field `{field_name}`: add it")
            elif err["type"] == "extra_forbidden":
                lines.append(f"  - unknown field `{field_name}`: remove it or check its spelling")
            else:
                lines.append(f"  - `{field_name}`: {msg}")
        raise ScenarioError("\n".join(lines)) from None
