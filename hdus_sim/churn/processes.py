"""Per-process availability masks: one boolean per round, ``True`` where a process allows it.

Each churn process (sessions, arrivals, diurnal window, outages, battery) says, round by
round, whether a device may be online; :mod:`hdus_sim.churn.plan` intersects them. Every
draw comes from its own stream, one per (process, peer), derived from the scenario seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from hdus_sim.churn.distributions import session_lengths
from hdus_sim.churn.spec import ArrivalsSpec, BatterySpec, DiurnalSpec, OutageSpec, SessionsSpec
from hdus_sim.errors import ScenarioError
from hdus_sim.rng import derive_seed
from hdus_sim.wording import id_ranges

#: Lengths drawn per batch: fixed, so a longer run extends a shorter one draw for draw.
_BATCH = 256
#: At most this many sessions per peer (a guard against lengths far below one round).
_MAX_SESSIONS = 1_000_000
#: At most this many arriving devices in one run.
_MAX_ARRIVALS = 100_000


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


# ---------------------------------------------------------------------------- who churns
@dataclass(frozen=True)
class Population:
    """The ids churn may move, by where they come from; fixed before any process runs.

    Attributes
    ----------
    initial
        Peers online before round 0.
    scripted
        Peers with scripted join / leave / crash events: no process touches them.
    trace
        Peer -> its replayed online intervals ``[start, end)`` in rounds.
    arrival_at
        New peer id -> its Poisson arrival instant (continuous, in rounds).
    """

    initial: set[int]
    scripted: set[int]
    trace: Mapping[int, list[tuple[int, int]]]
    arrival_at: Mapping[int, float]
    universe: set[int] = field(init=False)
    default_set: set[int] = field(init=False)

    def __post_init__(self) -> None:
        trace_peers = set(self.trace)
        arrivals = set(self.arrival_at)
        # every peer some process may move, and those ``peers: all`` means
        universe = ((self.initial | trace_peers) - self.scripted) | arrivals
        default_set = ((self.initial - trace_peers) - self.scripted) | arrivals
        object.__setattr__(self, "universe", universe)
        object.__setattr__(self, "default_set", default_set)

    @property
    def trace_peers(self) -> set[int]:
        """Peers the trace replays."""
        return set(self.trace)


#: Per peer, each process's verdict per round (``True``: it may be online).
Masks = dict[int, dict[str, np.ndarray]]


def _check_listed(ids: Iterable[int], allowed: set[int], scripted: set[int], where: str) -> None:
    """Refuse listed ids that the script moves, or that no process knows."""
    for pid in ids:
        if pid in scripted:
            raise ScenarioError(
                f"{where}: peer {pid} also has scripted join/leave/crash events; "
                "let churn or the script move it, not both"
            )
        if pid not in allowed:
            raise ScenarioError(
                f"{where}: peer {pid} is unknown; list initial, trace or arrival ids "
                f"(known: {id_ranges(allowed, limit=None)})"
            )


def base_masks(pop: Population, rounds: int) -> Masks:
    """Every churning peer's masks, starting with its arrival and its trace."""
    masks: Masks = {pid: {} for pid in pop.universe}
    for pid, t in pop.arrival_at.items():
        base = np.zeros(rounds, dtype=bool)
        base[math.ceil(t) :] = True
        masks[pid]["arrival"] = base

    for pid, spans in pop.trace.items():
        mask = np.zeros(rounds, dtype=bool)
        for start, end in spans:
            mask[min(start, rounds) : min(end, rounds)] = True
        masks[pid]["trace"] = mask
    return masks


def add_sessions(
    masks: Masks, spec: SessionsSpec | None, pop: Population, *, rounds: int, seed: int
) -> None:
    """Add the ``session`` mask of every peer that alternates sessions and gaps."""
    if spec is None:
        return
    if spec.peers == "all":
        churners = set(pop.default_set)
    else:
        _check_listed(
            spec.peers,
            (pop.initial | pop.trace_peers) - pop.scripted,
            pop.scripted,
            "churn.sessions.peers",
        )
        churners = set(spec.peers) | set(pop.arrival_at)
    for pid in sorted(churners):
        t0 = pop.arrival_at.get(pid, 0.0)
        masks[pid]["session"] = _session_mask(spec, t0=t0, rounds=rounds, seed=seed, peer=pid)


def add_diurnal(
    masks: Masks, spec: DiurnalSpec | None, pop: Population, *, rounds: int, seed: int
) -> set[int]:
    """Add the ``diurnal`` mask of the chosen fraction of peers; return those peers."""
    diurnal: set[int] = set()
    if spec is None:
        return diurnal
    if spec.peers == "all":
        eligible = sorted(pop.default_set)
    else:
        _check_listed(spec.peers, pop.universe, pop.scripted, "churn.diurnal.peers")
        eligible = sorted(set(spec.peers))
    keys = {pid: float(_stream(seed, "churn_diurnal", pid).random()) for pid in eligible}
    k = math.floor(spec.fraction * len(eligible) + 0.5)
    diurnal = set(sorted(eligible, key=lambda p: (keys[p], p))[:k])
    r = np.arange(rounds)
    window = ((r - spec.offline_start) % spec.period) >= spec.offline_hours
    for pid in diurnal:
        masks[pid]["diurnal"] = window.copy()
    return diurnal


def _outage_members(
    outage: OutageSpec, where: str, pop: Population, clusters: Mapping[int, int] | None
) -> set[int]:
    """The churning peers ``outage`` takes down (its listed peers, or a gateway's cluster)."""
    if outage.peers is not None:
        _check_listed(outage.peers, pop.universe, pop.scripted, f"{where}.peers")
        return set(outage.peers)
    gateway = outage.gateway
    assert gateway is not None  # validated: an outage names its peers or its gateway
    if clusters is None:
        raise ScenarioError(
            f"{where}.gateway needs a cluster map (device -> gateway), which a "
            "clustered_gateways topology provides; or list the group as `peers: [...]`"
        )
    attached = {p for p, g in clusters.items() if g == gateway}
    if not attached and gateway not in pop.universe:
        raise ScenarioError(
            f"{where}.gateway: {gateway} is no gateway of the cluster map "
            f"(gateways: {sorted(set(clusters.values()))}); name one of those"
        )
    # scripted or unknown members are left alone: the script decides for them
    named: set[int] = {gateway} | attached
    return named & pop.universe


def add_outages(
    masks: Masks,
    outages: Iterable[OutageSpec],
    pop: Population,
    clusters: Mapping[int, int] | None,
    *,
    rounds: int,
) -> None:
    """Switch off the ``outage`` mask of every member for the rounds each outage lasts."""
    for i, outage in enumerate(outages):
        where = f"churn.outages[{i}]"
        if outage.at >= rounds:
            raise ScenarioError(
                f"{where}.at ({outage.at}) is past the last round ({rounds - 1}); "
                "move the outage earlier or raise `rounds`"
            )
        members = _outage_members(outage, where, pop, clusters)
        end = min(outage.at + outage.duration, rounds)
        for pid in members:
            mask = masks[pid].setdefault("outage", np.ones(rounds, dtype=bool))
            mask[outage.at : end] = False


def intersect(masks: Masks, rounds: int) -> dict[int, np.ndarray]:
    """Per peer, the rounds every process allows (all rounds without a process)."""
    return {
        pid: np.logical_and.reduce(list(m.values())) if m else np.ones(rounds, dtype=bool)
        for pid, m in masks.items()
    }


def apply_battery(
    masks: Masks,
    allowed: dict[int, np.ndarray],
    spec: BatterySpec | None,
    universe: set[int],
    devices: Mapping[int, str],
) -> list[str]:
    """Drain batteries in the rounds the other processes allow; return the warnings.

    Adds each drained peer's ``battery`` mask and narrows its ``allowed`` rounds in place.
    """
    warnings: list[str] = []
    if spec is None:
        return warnings
    unknown: list[int] = []
    for pid in sorted(universe):
        cls = devices.get(pid)
        if cls is None:
            unknown.append(pid)
            continue
        drain = spec.drain.get(cls, 0.0)
        if drain <= 0:
            continue
        budget = max(1, math.ceil(spec.capacity / drain - 1e-9))
        masks[pid]["battery"] = _battery_mask(allowed[pid], budget, spec.recharge)
        allowed[pid] = allowed[pid] & masks[pid]["battery"]
    if unknown:
        warnings.append(
            f"battery: the device class of peer(s) {id_ranges(unknown, limit=None)} is unknown, so "
            "their battery is not simulated (pass `devices`)"
        )
    return warnings
