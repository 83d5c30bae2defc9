"""Churn processes: IoT devices that come and go, turned into join / leave / crash events.

A scenario's ``churn:`` section describes *how* devices come and go; :func:`plan_churn`
(and its list-returning twin :func:`generate_churn`) turns that into the same ``join``,
``leave`` and ``crash`` events a scenario can script by hand, so the engine needs nothing new
to run them. The processes:

``sessions``
    Every churning device alternates online sessions and offline gaps whose lengths (in
    rounds, continuous) follow an exponential, Weibull, log-normal or Pareto law.
``arrivals``
    New devices arrive as a Poisson process of ``rate`` devices per round, with fresh ids
    from ``first_id``; each then follows ``sessions`` (when given).
``diurnal``
    A fraction of the devices (chosen by the seed) is offline every day in the window
    ``[offline_start, offline_start + offline_hours)`` modulo ``period`` rounds.
``outages``
    Correlated failures: a whole cluster (a gateway and every device attached to it, from a
    cluster map) or a listed group goes down at round ``at`` and comes back ``duration``
    rounds later.
``battery``
    A device drains ``drain[device class]`` units of its ``capacity`` per online round;
    once empty it is offline for ``recharge`` rounds and comes back full.
``trace``
    Availability replayed from a CSV file ``peer,start,end`` (or inline intervals).

Time and rounding
-----------------
Processes work in continuous time measured in rounds; round ``r`` starts at instant ``r``.
A device is online in round ``r`` iff it is online at the instant ``r``, so a continuous
online interval ``[start, end)`` becomes the rounds ``ceil(start) <= r < ceil(end)``: it
joins at ``ceil(start)`` and leaves at ``ceil(end)``. A session shorter than the distance to
the next round start vanishes, and a gap that contains no round start merges the two
sessions around it (no leave and join in the same round). A Poisson arrival at instant ``t``
joins at ``ceil(t)``: the arrivals counted at round ``r`` are those in ``(r - 1, r]``.

Precedence: intersection
------------------------
Every process that applies to a device says, round by round, whether it may be online; the
device is online iff **all** of them say so (its own arrival included). ``battery`` comes
last because it only drains in rounds the others allow. Which processes apply:

- ``sessions`` and ``diurnal`` with ``peers: all`` take every initial peer and every
  arrival, except peers replayed from the trace (a trace already says everything about a
  device); listing ids explicitly may include trace peers.
- ``outages`` apply to the cluster or peers they name, ``battery`` to every device whose
  class has a drain, the trace to its peers.
- Peers with scripted ``join`` / ``leave`` / ``crash`` events (``scripted=``) are left to
  the script: no process touches them.

One peer always stays online: in a round where no peer would be online, the *anchor* (the
lowest initial id that churns) is kept online, and :attr:`ChurnPlan.warnings` says in which
rounds. Events the anchor rule causes carry ``cause="anchor"``.

Determinism
-----------
Everything comes from the scenario seed through :func:`~hdus_sim.rng.derive_seed`, with one
stream per (process, peer): one peer's session draws never shift another's, and sessions are
drawn in fixed batches, so a longer run extends a shorter one with the same events.

Examples
--------
>>> spec = load_churn({"outages": [{"peers": [1, 2], "at": 2, "duration": 3}]})
>>> for ev in generate_churn(spec, seed=1, rounds=8, initial=[0, 1, 2, 3]):
...     print(ev.at, ev.kind, ev.peer, ev.cause)
2 leave 1 outage
2 leave 2 outage
5 join 1 outage
5 join 2 outage
"""

from __future__ import annotations

import csv
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hdus_sim.errors import ScenarioError
from hdus_sim.rng import derive_seed

__all__ = [
    "CAUSES",
    "DISTRIBUTIONS",
    "ArrivalsSpec",
    "BatterySpec",
    "ChurnEvent",
    "ChurnPlan",
    "ChurnSpec",
    "DistributionSpec",
    "DiurnalSpec",
    "OutageSpec",
    "SessionsSpec",
    "TraceSpec",
    "generate_churn",
    "load_churn",
    "load_trace",
    "online_intervals",
    "plan_churn",
    "scipy_distribution",
    "session_lengths",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)
NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PosInt = Annotated[int, Field(ge=1)]

ChurnKind = Literal["join", "leave", "crash"]
Cause = Literal["session", "arrival", "diurnal", "outage", "battery", "trace", "anchor"]

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

#: Which process caused an event; a join or leave is blamed on the first of these (in this
#: order) whose own state changed, ``"anchor"`` when the keep-one-online rule did it.
CAUSES: tuple[str, ...] = ("arrival", "trace", "outage", "diurnal", "session", "battery")
_KIND_ORDER = {"join": 0, "leave": 1, "crash": 2}

#: Lengths drawn per batch: fixed, so a longer run extends a shorter one draw for draw.
_BATCH = 256
#: At most this many sessions per peer (a guard against lengths far below one round).
_MAX_SESSIONS = 1_000_000
#: At most this many arriving devices in one run.
_MAX_ARRIVALS = 100_000


# ---------------------------------------------------------------------------- schema
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


# ---------------------------------------------------------------------------- sampling
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


def _stream(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, purpose, *keys))


def _rounds_mask(starts: np.ndarray, ends: np.ndarray, rounds: int) -> np.ndarray:
    """Rounds covered by continuous intervals ``[start, end)``: ``ceil(start) <= r < ceil(end)``."""
    lo = np.clip(np.ceil(starts), 0, rounds).astype(np.int64)
    hi = np.clip(np.ceil(ends), 0, rounds).astype(np.int64)
    diff = np.zeros(rounds + 1, dtype=np.int64)
    np.add.at(diff, lo, 1)
    np.add.at(diff, hi, -1)
    return np.cumsum(diff)[:rounds] > 0


def _session_mask(
    spec: SessionsSpec, *, t0: float, rounds: int, seed: int, peer: int
) -> np.ndarray:
    """Online rounds of one peer alternating sessions and gaps from instant ``t0``."""
    on_rng = _stream(seed, "churn_session_on", peer)
    off_rng = _stream(seed, "churn_session_off", peer)
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    t = float(t0)
    drawn = 0
    while t < rounds:
        steps = np.empty(2 * _BATCH)
        steps[0::2] = session_lengths(spec, _BATCH, on_rng)
        steps[1::2] = session_lengths(spec.offline, _BATCH, off_rng)
        bounds = t + np.cumsum(steps)
        starts.append(np.concatenate(([t], bounds[1:-1:2])))
        ends.append(bounds[0::2])
        t = float(bounds[-1])
        drawn += _BATCH
        if drawn > _MAX_SESSIONS:
            raise ScenarioError(
                f"churn.sessions: {drawn} sessions and gaps of peer {peer} do not cover "
                f"{rounds} rounds; lengths are in rounds: raise the `scale` (or `mu`) of "
                "`sessions.params` and `sessions.offline.params`"
            )
    if not starts:
        return np.zeros(rounds, dtype=bool)
    return _rounds_mask(np.concatenate(starts), np.concatenate(ends), rounds)


def _arrival_times(spec: ArrivalsSpec, *, rounds: int, seed: int) -> np.ndarray:
    """Poisson arrival instants in ``(0, rounds - 1]`` (later ones would join past the end)."""
    if rounds * spec.rate > _MAX_ARRIVALS:
        raise ScenarioError(
            f"churn.arrivals.rate: {spec.rate} devices per round over {rounds} rounds is "
            f"about {rounds * spec.rate:.0f} new devices, more than {_MAX_ARRIVALS}; "
            "lower the rate or the rounds"
        )
    rng = _stream(seed, "churn_arrivals")
    out: list[np.ndarray] = []
    t = 0.0
    horizon = rounds - 1
    while t <= horizon:
        times = t + np.cumsum(rng.exponential(1.0 / spec.rate, _BATCH))
        out.append(times[times <= horizon])
        t = float(times[-1])
    return np.concatenate(out) if out else np.zeros(0)


def _draw_device(seed: int, peer: int, mix: Mapping[str, float]) -> str:
    """The device class of a new peer, drawn by its id exactly as the engine draws it."""
    names = sorted(mix)
    weights = np.array([mix[n] for n in names], dtype=float)
    weights /= weights.sum()
    rng = _stream(seed, "device", peer)
    return names[int(rng.choice(len(names), p=weights))]


def _battery_mask(allowed: np.ndarray, budget: int, recharge: int) -> np.ndarray:
    """Rounds the battery allows: after ``budget`` online rounds, ``recharge`` rounds off."""
    out = np.ones(allowed.shape[0], dtype=bool)
    used = 0
    r = 0
    rounds = allowed.shape[0]
    while r < rounds:
        if allowed[r]:
            used += 1
            if used >= budget:
                out[r + 1 : r + 1 + recharge] = False
                r += 1 + recharge
                used = 0
                continue
        r += 1
    return out


# ---------------------------------------------------------------------------- traces
def _normalise_intervals(
    rows: Mapping[int, Sequence[tuple[int, int, Any]]], where: Any
) -> dict[int, list[tuple[int, int]]]:
    """Check and merge per-peer intervals ``(start, end, tag)``; ``where(peer, tag)`` names one.

    Touching intervals (``end == next start``) are merged: no event separates them.
    """
    out: dict[int, list[tuple[int, int]]] = {}
    for peer in sorted(rows):
        spans = sorted(rows[peer], key=lambda row: (row[0], row[1]))
        for start, end, tag in spans:
            if end <= start:
                raise ScenarioError(
                    f"{where(peer, tag)}: end ({end}) must be after start ({start}); "
                    "end is exclusive, so a one-round interval is `start, start + 1`"
                )
        merged: list[tuple[int, int]] = []
        prev_tag: Any = None
        for start, end, tag in spans:
            if merged and start < merged[-1][1]:
                raise ScenarioError(
                    f"{where(peer, tag)}: peer {peer}'s interval [{start}, {end}) overlaps its "
                    f"interval ending at {merged[-1][1]} ({where(peer, prev_tag)}); "
                    "merge them into one or fix the rounds"
                )
            if merged and start == merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
            prev_tag = tag
        out[peer] = merged
    return out


def _int_cell(path: Path, line: int, column: str, cell: str) -> int:
    try:
        value = int(cell)
    except ValueError:
        raise ScenarioError(
            f"{path}:{line}: {column} {cell!r} is not an integer; "
            f"write whole rounds and peer ids, e.g. `3,0,12`"
        ) from None
    if value < 0:
        raise ScenarioError(f"{path}:{line}: {column} must be >= 0, got {value}")
    return value


def load_trace(path: str | Path) -> dict[int, list[tuple[int, int]]]:
    r"""Read an availability trace: CSV ``peer,start,end`` -> sorted online intervals per peer.

    Rounds are integers, ``start`` inclusive and ``end`` exclusive. Blank lines and lines
    starting with ``#`` are skipped; touching intervals of one peer are merged.

    Raises
    ------
    ScenarioError
        Naming the file, the line and the fix: missing file, bad header, wrong number of
        columns, non-integer or negative value, ``end <= start``, overlapping intervals.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = Path(tmp) / "t.csv"
    ...     _ = p.write_text("peer,start,end\n0,0,5\n0,8,10\n1,2,4\n")
    ...     load_trace(p)
    {0: [(0, 5), (8, 10)], 1: [(2, 4)]}
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(
            f"trace file {path} does not exist; give `churn.trace.file` as a path relative "
            "to the scenario file's folder, or an absolute path"
        )
    rows: dict[int, list[tuple[int, int, int]]] = {}
    header = False
    try:
        _read_trace_rows(path, rows)
        header = True
    except _EmptyTrace:
        header = False
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"trace file {path} is not UTF-8 text (byte offset {exc.start}); save it as UTF-8 CSV"
        ) from None
    except csv.Error as exc:
        raise ScenarioError(f"trace file {path} is not a readable CSV file: {exc}") from None
    if not header:
        raise ScenarioError(f"trace file {path} is empty; it needs the header `peer,start,end`")
    return _normalise_intervals(rows, lambda _peer, line: f"{path}:{line}")


class _EmptyTrace(Exception):
    """The trace file holds no header line."""


def _read_trace_rows(path: Path, rows: dict[int, list[tuple[int, int, int]]]) -> None:
    """Fill ``rows`` (peer -> ``(start, end, line)``) from the CSV at ``path``."""
    header = False
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        for row in reader:
            line = reader.line_num
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not header:
                if [c.lower() for c in cells] != ["peer", "start", "end"]:
                    raise ScenarioError(
                        f"{path}:{line}: the header must be `peer,start,end`, got "
                        f"`{','.join(cells)}`; put that header on the first line"
                    )
                header = True
                continue
            if len(cells) != 3:
                raise ScenarioError(
                    f"{path}:{line}: expected 3 columns `peer,start,end`, got {len(cells)} "
                    f"(`{','.join(cells)}`)"
                )
            peer, start, end = (
                _int_cell(path, line, col, cell)
                for col, cell in zip(("peer", "start", "end"), cells, strict=True)
            )
            rows.setdefault(peer, []).append((start, end, line))
    if not header:
        raise _EmptyTrace


# ---------------------------------------------------------------------------- events
@dataclass(frozen=True)
class ChurnEvent:
    """One generated event at the start of round ``at``, and the process that ``cause``-d it.

    ``device`` is set on joins of peers that are not initial peers (arrivals, trace peers),
    so the engine knows which class joins; it is ``None`` otherwise.
    """

    at: int
    kind: ChurnKind
    peer: int
    device: str | None
    cause: str

    def as_event(self) -> dict[str, Any]:
        """The scenario ``Event`` fields: ``Event(**ev.as_event())``.

        Examples
        --------
        >>> ChurnEvent(3, "join", 7, "sensor", "arrival").as_event()
        {'at': 3, 'kind': 'join', 'peer': 7, 'device': 'sensor'}
        >>> ChurnEvent(5, "crash", 7, None, "session").as_event()
        {'at': 5, 'kind': 'crash', 'peer': 7}
        """
        out: dict[str, Any] = {"at": self.at, "kind": self.kind, "peer": self.peer}
        if self.kind == "join" and self.device is not None:
            out["device"] = self.device
        return out


@dataclass(frozen=True)
class ChurnPlan:
    """What :func:`plan_churn` generated: events plus what a report may want to show.

    Attributes
    ----------
    events
        Sorted by ``(round, join before leave before crash, peer)``: joins come first so a
        round never passes through an empty network.
    warnings
        Human-readable notes (the keep-one-online rule fired, battery classes unknown, ...).
    arrivals
        New peer id -> the round its Poisson arrival falls in (``ceil`` of the instant).
    devices
        Device class of every non-initial peer that churn brings in (when known).
    diurnal
        The peers the diurnal window applies to.
    anchor
        The peer kept online when nobody else would be (``None`` without churning peers).
    """

    events: tuple[ChurnEvent, ...]
    warnings: tuple[str, ...] = ()
    arrivals: Mapping[int, int] = field(default_factory=dict)
    devices: Mapping[int, str] = field(default_factory=dict)
    diurnal: frozenset[int] = frozenset()
    anchor: int | None = None

    @property
    def peers(self) -> list[int]:
        """Every peer id the events name, sorted (new ids need data and a device)."""
        return sorted({ev.peer for ev in self.events})


def _ranges(rounds: Iterable[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    out: list[str] = []
    items = sorted(rounds)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ", ".join(out)


def _replay_mask(
    scripted: Sequence[tuple[int, str, int]], initial: Collection[int], rounds: int
) -> np.ndarray:
    """How many scripted peers are online in each round."""
    count = np.zeros(rounds, dtype=np.int64)
    online = {p for p in initial if p in {peer for _, _, peer in scripted}}
    count += len(online)
    for at, kind, peer in sorted(scripted, key=lambda e: (e[0], _KIND_ORDER.get(e[1], 3))):
        if at >= rounds:
            continue
        if kind == "join" and peer not in online:
            online.add(peer)
            count[at:] += 1
        elif kind in ("leave", "crash") and peer in online:
            online.discard(peer)
            count[at:] -= 1
    return count


def _check_listed(ids: Iterable[int], allowed: set[int], scripted: set[int], where: str) -> None:
    for pid in ids:
        if pid in scripted:
            raise ScenarioError(
                f"{where}: peer {pid} also has scripted join/leave/crash events; "
                "let churn or the script move it, not both"
            )
        if pid not in allowed:
            raise ScenarioError(
                f"{where}: peer {pid} is unknown; list initial, trace or arrival ids "
                f"(known: {_ranges(allowed) or 'none'})"
            )


def plan_churn(
    churn: ChurnSpec | Mapping[str, Any],
    *,
    seed: int,
    rounds: int,
    initial: Sequence[int],
    clusters: Mapping[int, int] | None = None,
    devices: Mapping[int, str] | None = None,
    device_mix: Mapping[str, float] | None = None,
    scripted: Sequence[tuple[int, str, int]] = (),
    base_dir: str | Path | None = None,
) -> ChurnPlan:
    """Generate the churn events of a run, with the notes and choices behind them.

    Parameters
    ----------
    churn
        The scenario's ``churn:`` section (validated, or a dict validated here).
    seed
        The scenario seed; every draw comes from a stream derived from it.
    rounds
        Scripted rounds of the run; every event falls in ``[0, rounds)``.
    initial
        Ids of the peers online before round 0.
    clusters
        Cluster map, peer -> its gateway (needed by outages that name a ``gateway``).
    devices
        Device class of known peers (needed by ``battery``; initial peers at least).
    device_mix
        Device-class weights new peers are drawn from when ``arrivals.device_mix`` is not
        given (the scenario's ``peers.devices``); drawn by peer id as the engine does.
    scripted
        The scenario's own ``(round, kind, peer)`` join/leave/crash events: their peers are
        left to the script and count as online where the script says so.
    base_dir
        Folder a relative ``trace.file`` is read from (the scenario file's folder).

    Returns
    -------
    ChurnPlan
        Sorted events; per peer they alternate departure (leave or crash) and join, starting
        with a departure for an initial peer and with a join otherwise.

    Raises
    ------
    ScenarioError
        On anything the scenario got wrong, naming the field and the fix.

    Examples
    --------
    >>> spec = {"diurnal": {"period": 6, "offline_start": 2, "offline_hours": 2,
    ...                     "fraction": 0.5}}
    >>> plan = plan_churn(spec, seed=0, rounds=8, initial=[0, 1])
    >>> [(e.at, e.kind, e.peer) for e in plan.events] == [
    ...     (2, "leave", p) for p in plan.diurnal] + [(4, "join", p) for p in plan.diurnal]
    True
    >>> len(plan.diurnal)
    1
    """
    spec = load_churn(churn)
    if rounds < 1:
        raise ScenarioError(f"rounds must be >= 1, got {rounds}")
    initial_set = {int(p) for p in initial}
    if len(initial_set) != len(initial) or any(p < 0 for p in initial_set):
        raise ScenarioError(f"initial peer ids must be distinct and >= 0, got {list(initial)}")
    scripted = [(int(a), str(k), int(p)) for a, k, p in scripted if k in _KIND_ORDER]
    script_peers = {p for _, _, p in scripted}
    devices = dict(devices or {})
    warnings: list[str] = []

    # --- the trace ------------------------------------------------------------------
    trace: dict[int, list[tuple[int, int]]] = {}
    if spec.trace is not None:
        if spec.trace.intervals is not None:
            rows = {
                p: [(s, e, i) for i, (s, e) in enumerate(spans)]
                for p, spans in spec.trace.intervals.items()
            }
            trace = _normalise_intervals(rows, lambda p, i: f"churn.trace.intervals[{p}][{i}]")
        else:
            assert spec.trace.file is not None
            path = Path(spec.trace.file)
            if not path.is_absolute() and base_dir is not None:
                path = Path(base_dir) / path
            trace = load_trace(path)
        clash = sorted(set(trace) & script_peers)
        if clash:
            raise ScenarioError(
                f"churn.trace: peer(s) {clash} also have scripted join/leave/crash events; "
                "remove them from the trace or from `events`"
            )
    trace_peers = set(trace)

    # --- arrivals -------------------------------------------------------------------
    taken = initial_set | trace_peers | script_peers
    arrival_at: dict[int, float] = {}
    if spec.arrivals is not None:
        known = taken | set(devices) | set((clusters or {}).keys()) | set((clusters or {}).values())
        first = spec.arrivals.first_id
        if first is None:
            first = max(known, default=-1) + 1
        elif taken and first <= max(taken):
            raise ScenarioError(
                f"churn.arrivals.first_id ({first}) would reuse existing peer ids (up to "
                f"{max(taken)}); set it to {max(taken) + 1} or more"
            )
        times = _arrival_times(spec.arrivals, rounds=rounds, seed=seed)
        arrival_at = {first + i: float(t) for i, t in enumerate(times)}

    # new peers' device classes, drawn by id as the engine does when a join has none
    new_devices: dict[int, str] = {}
    for pid in sorted(arrival_at):
        mix = spec.arrivals.device_mix if spec.arrivals is not None else None
        mix = mix or device_mix
        if mix:
            new_devices[pid] = _draw_device(seed, pid, mix)
    for pid in sorted(trace_peers - initial_set):
        if pid in devices:
            new_devices[pid] = devices[pid]
        elif device_mix:
            new_devices[pid] = _draw_device(seed, pid, device_mix)
    devices.update(new_devices)

    # --- who churns, and each process's verdict per round ----------------------------
    universe = ((initial_set | trace_peers) - script_peers) | set(arrival_at)
    default_set = ((initial_set - trace_peers) - script_peers) | set(arrival_at)
    masks: dict[int, dict[str, np.ndarray]] = {pid: {} for pid in universe}
    for pid, t in arrival_at.items():
        base = np.zeros(rounds, dtype=bool)
        base[math.ceil(t) :] = True
        masks[pid]["arrival"] = base

    for pid, spans in trace.items():
        mask = np.zeros(rounds, dtype=bool)
        for start, end in spans:
            mask[min(start, rounds) : min(end, rounds)] = True
        masks[pid]["trace"] = mask

    if spec.sessions is not None:
        if spec.sessions.peers == "all":
            churners = set(default_set)
        else:
            _check_listed(
                spec.sessions.peers,
                (initial_set | trace_peers) - script_peers,
                script_peers,
                "churn.sessions.peers",
            )
            churners = set(spec.sessions.peers) | set(arrival_at)
        for pid in sorted(churners):
            t0 = arrival_at.get(pid, 0.0)
            masks[pid]["session"] = _session_mask(
                spec.sessions, t0=t0, rounds=rounds, seed=seed, peer=pid
            )

    diurnal: set[int] = set()
    if spec.diurnal is not None:
        d = spec.diurnal
        if d.peers == "all":
            eligible = sorted(default_set)
        else:
            _check_listed(d.peers, universe, script_peers, "churn.diurnal.peers")
            eligible = sorted(set(d.peers))
        keys = {pid: float(_stream(seed, "churn_diurnal", pid).random()) for pid in eligible}
        k = math.floor(d.fraction * len(eligible) + 0.5)
        diurnal = set(sorted(eligible, key=lambda p: (keys[p], p))[:k])
        r = np.arange(rounds)
        window = ((r - d.offline_start) % d.period) >= d.offline_hours
        for pid in diurnal:
            masks[pid]["diurnal"] = window.copy()

    for i, outage in enumerate(spec.outages):
        where = f"churn.outages[{i}]"
        if outage.at >= rounds:
            raise ScenarioError(
                f"{where}.at ({outage.at}) is past the last round ({rounds - 1}); "
                "move the outage earlier or raise `rounds`"
            )
        if outage.peers is not None:
            _check_listed(outage.peers, universe, script_peers, f"{where}.peers")
            members = set(outage.peers)
        else:
            gateway = outage.gateway
            if clusters is None:
                raise ScenarioError(
                    f"{where}.gateway needs a cluster map (device -> gateway), which a "
                    "clustered_gateways topology provides; or list the group as `peers: [...]`"
                )
            attached = {p for p, g in clusters.items() if g == gateway}
            if not attached and gateway not in universe:
                raise ScenarioError(
                    f"{where}.gateway: {gateway} is no gateway of the cluster map "
                    f"(gateways: {sorted(set(clusters.values()))}); name one of those"
                )
            # scripted or unknown members are left alone: the script decides for them
            members = ({gateway} | attached) & universe
        end = min(outage.at + outage.duration, rounds)
        for pid in members:
            mask = masks[pid].setdefault("outage", np.ones(rounds, dtype=bool))
            mask[outage.at : end] = False

    # --- intersection, then the battery on what the others allow ----------------------
    allowed = {
        pid: np.logical_and.reduce(list(m.values())) if m else np.ones(rounds, dtype=bool)
        for pid, m in masks.items()
    }
    if spec.battery is not None:
        b = spec.battery
        unknown: list[int] = []
        for pid in sorted(universe):
            cls = devices.get(pid)
            if cls is None:
                unknown.append(pid)
                continue
            drain = b.drain.get(cls, 0.0)
            if drain <= 0:
                continue
            budget = max(1, math.ceil(b.capacity / drain - 1e-9))
            masks[pid]["battery"] = _battery_mask(allowed[pid], budget, b.recharge)
            allowed[pid] = allowed[pid] & masks[pid]["battery"]
        if unknown:
            warnings.append(
                f"battery: the device class of peer(s) {_ranges(unknown)} is unknown, so "
                "their battery is not simulated (pass `devices`)"
            )

    # --- keep one peer online ---------------------------------------------------------
    anchor: int | None = None
    if universe:
        anchor = min(initial_set - script_peers, default=None)
        if anchor is None:
            anchor = min(universe)
        count = _replay_mask(scripted, initial_set, rounds)
        for pid in universe:
            count = count + allowed[pid]
        empty = np.flatnonzero(count == 0)
        if empty.size:
            allowed[anchor] = allowed[anchor].copy()
            allowed[anchor][empty] = True
            warnings.append(
                f"no peer would be online in round(s) {_ranges(int(r) for r in empty)}; "
                f"peer {anchor} is kept online then, so the network never empties"
            )

    # --- transitions -> events --------------------------------------------------------
    events: list[ChurnEvent] = []
    for pid in sorted(universe):
        online = allowed[pid]
        before = pid in initial_set
        state = np.concatenate(([before], online)).astype(np.int8)
        proc = masks[pid]
        for r in (int(x) for x in np.flatnonzero(np.diff(state))):
            if online[r]:
                cause = "anchor"
                for name in CAUSES:
                    if name not in proc or not proc[name][r]:
                        continue
                    # before round 0 only the arrival and the trace were "offline"
                    prev = proc[name][r - 1] if r > 0 else name not in ("arrival", "trace")
                    if not prev:
                        cause = name
                        break
                device = new_devices.get(pid) if pid not in initial_set else None
                events.append(ChurnEvent(r, "join", pid, device, cause))
            else:
                cause = next((n for n in CAUSES if n in proc and not proc[n][r]), "anchor")
                kind: ChurnKind = "leave"
                if spec.crash_ratio > 0 and (
                    spec.crash_ratio >= 1
                    or _stream(seed, "churn_crash", pid, r).random() < spec.crash_ratio
                ):
                    kind = "crash"
                events.append(ChurnEvent(r, kind, pid, None, cause))
    events.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind], e.peer))
    return ChurnPlan(
        events=tuple(events),
        warnings=tuple(warnings),
        arrivals={pid: math.ceil(t) for pid, t in arrival_at.items()},
        devices=new_devices,
        diurnal=frozenset(diurnal),
        anchor=anchor,
    )


def generate_churn(
    churn: ChurnSpec | Mapping[str, Any],
    *,
    seed: int,
    rounds: int,
    initial: Sequence[int],
    clusters: Mapping[int, int] | None = None,
    devices: Mapping[int, str] | None = None,
    device_mix: Mapping[str, float] | None = None,
    scripted: Sequence[tuple[int, str, int]] = (),
    base_dir: str | Path | None = None,
) -> list[ChurnEvent]:
    """The events of :func:`plan_churn` as a list (see there for parameters and rules).

    Examples
    --------
    >>> spec = {"battery": {"capacity": 3, "drain": {"sensor": 1.0}, "recharge": 2}}
    >>> [(e.at, e.kind, e.peer) for e in generate_churn(
    ...     spec, seed=0, rounds=9, initial=[0, 1], devices={0: "phone", 1: "sensor"})]
    [(3, 'leave', 1), (5, 'join', 1), (8, 'leave', 1)]
    """
    return list(
        plan_churn(
            churn,
            seed=seed,
            rounds=rounds,
            initial=initial,
            clusters=clusters,
            devices=devices,
            device_mix=device_mix,
            scripted=scripted,
            base_dir=base_dir,
        ).events
    )


def online_intervals(
    events: Iterable[ChurnEvent | Any], initial: Iterable[int], rounds: int
) -> dict[int, list[tuple[int, int]]]:
    """Replay join / leave / crash events into each peer's online rounds ``[start, end)``.

    Initial peers are online from round 0; intervals are clipped to ``[0, rounds)`` and empty
    ones dropped. Events need ``at``, ``kind`` and ``peer`` (churn or scenario events); other
    kinds are ignored.

    Raises
    ------
    ScenarioError
        If the events are inconsistent (a join of an online peer, a leave of an offline one).

    Examples
    --------
    >>> evs = [ChurnEvent(2, "leave", 1, None, "session"),
    ...        ChurnEvent(4, "join", 1, None, "session"), ChurnEvent(3, "join", 5, None, "trace")]
    >>> online_intervals(evs, [0, 1], 6)
    {0: [(0, 6)], 1: [(0, 2), (4, 6)], 5: [(3, 6)]}
    """
    since: dict[int, int] = {int(p): 0 for p in initial}
    out: dict[int, list[tuple[int, int]]] = {p: [] for p in since}
    ordered = sorted(
        (e for e in events if e.kind in _KIND_ORDER),
        key=lambda e: (e.at, _KIND_ORDER[e.kind], e.peer),
    )
    for ev in ordered:
        pid = int(ev.peer)
        out.setdefault(pid, [])
        if ev.kind == "join":
            if pid in since:
                raise ScenarioError(f"join of peer {pid} at round {ev.at}: it is already online")
            since[pid] = ev.at
        else:
            if pid not in since:
                raise ScenarioError(f"{ev.kind} of peer {pid} at round {ev.at}: it is not online")
            start = since.pop(pid)
            if min(ev.at, rounds) > start:
                out[pid].append((start, min(ev.at, rounds)))
    for pid, start in since.items():
        if rounds > start:
            out[pid].append((start, rounds))
    return {pid: out[pid] for pid in sorted(out)}
