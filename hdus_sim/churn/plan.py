"""The churn plan: every process's masks intersected, one peer kept online, events out.

:func:`plan_churn` runs the steps in a fixed order: check the inputs, resolve the trace,
draw the arrivals and their device classes, build each process's per-round mask
(:mod:`hdus_sim.churn.processes`), intersect them, drain batteries, keep one peer online,
and turn each peer's online/offline transitions into :class:`ChurnEvent` records.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdus_sim.churn.events import _KIND_ORDER, CAUSES, ChurnEvent, ChurnKind, ChurnPlan
from hdus_sim.churn.processes import (
    Masks,
    Population,
    _arrival_times,
    _stream,
    add_diurnal,
    add_outages,
    add_sessions,
    apply_battery,
    base_masks,
    intersect,
)
from hdus_sim.churn.spec import ArrivalsSpec, ChurnSpec, TraceSpec, load_churn
from hdus_sim.churn.trace import _normalise_intervals, load_trace
from hdus_sim.devices import draw_device
from hdus_sim.errors import ScenarioError
from hdus_sim.wording import id_ranges

__all__ = ["generate_churn", "plan_churn"]

#: A scripted event: ``(round, kind, peer)``.
Scripted = tuple[int, str, int]


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


def _check_inputs(
    rounds: int, initial: Sequence[int], scripted: Sequence[Scripted]
) -> tuple[set[int], list[Scripted]]:
    """The initial ids as a set, and the scripted join / leave / crash events (others go)."""
    if rounds < 1:
        raise ScenarioError(f"rounds must be >= 1, got {rounds}")
    initial_set = {int(p) for p in initial}
    if len(initial_set) != len(initial) or any(p < 0 for p in initial_set):
        raise ScenarioError(f"initial peer ids must be distinct and >= 0, got {list(initial)}")
    return initial_set, [(int(a), str(k), int(p)) for a, k, p in scripted if k in _KIND_ORDER]


def _resolve_trace(
    spec: TraceSpec | None, script_peers: set[int], base_dir: str | Path | None
) -> dict[int, list[tuple[int, int]]]:
    """The trace's merged intervals per peer (empty without a trace)."""
    trace: dict[int, list[tuple[int, int]]] = {}
    if spec is None:
        return trace
    if spec.intervals is not None:
        rows = {
            p: [(s, e, i) for i, (s, e) in enumerate(spans)] for p, spans in spec.intervals.items()
        }
        trace = _normalise_intervals(rows, lambda p, i: f"churn.trace.intervals[{p}][{i}]")
    else:
        assert spec.file is not None
        path = Path(spec.file)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        trace = load_trace(path)
    clash = sorted(set(trace) & script_peers)
    if clash:
        raise ScenarioError(
            f"churn.trace: peer(s) {clash} also have scripted join/leave/crash events; "
            "remove them from the trace or from `events`"
        )
    return trace


def _arrivals(
    spec: ArrivalsSpec | None,
    taken: set[int],
    devices: Mapping[int, str],
    clusters: Mapping[int, int] | None,
    rounds: int,
    seed: int,
) -> dict[int, float]:
    """New peer id -> its arrival instant; ids start past every id the scenario knows.

    ``taken`` holds the initial, trace and scripted ids, which an arrival may not reuse.
    """
    arrival_at: dict[int, float] = {}
    if spec is None:
        return arrival_at
    known = taken | set(devices) | set((clusters or {}).keys()) | set((clusters or {}).values())
    first = spec.first_id
    if first is None:
        first = max(known, default=-1) + 1
    elif taken and first <= max(taken):
        raise ScenarioError(
            f"churn.arrivals.first_id ({first}) would reuse existing peer ids (up to "
            f"{max(taken)}); set it to {max(taken) + 1} or more"
        )
    times = _arrival_times(spec, rounds=rounds, seed=seed)
    return {first + i: float(t) for i, t in enumerate(times)}


def _new_devices(
    spec: ArrivalsSpec | None,
    arrival_at: Mapping[int, float],
    newcomers: set[int],
    devices: Mapping[int, str],
    device_mix: Mapping[str, float] | None,
    seed: int,
) -> dict[int, str]:
    """Device classes of arrivals and non-initial trace peers, drawn by id as the engine does.

    ``newcomers`` are the trace peers that are not initial peers; a class given in
    ``devices`` wins for them.
    """
    new_devices: dict[int, str] = {}
    for pid in sorted(arrival_at):
        mix: Mapping[str, float] | None = spec.device_mix if spec is not None else None
        mix = mix or device_mix
        if mix:
            new_devices[pid] = draw_device(seed, pid, mix)
    for pid in sorted(newcomers):
        if pid in devices:
            new_devices[pid] = devices[pid]
        elif device_mix:
            new_devices[pid] = draw_device(seed, pid, device_mix)
    return new_devices


def _process_masks(
    spec: ChurnSpec,
    pop: Population,
    clusters: Mapping[int, int] | None,
    rounds: int,
    seed: int,
) -> tuple[Masks, set[int]]:
    """Each process's verdict per round for every churning peer, and the diurnal peers.

    The battery is not among them: it drains only in rounds the others allow
    (:func:`~hdus_sim.churn.processes.apply_battery`).
    """
    masks = base_masks(pop, rounds)
    add_sessions(masks, spec.sessions, pop, rounds=rounds, seed=seed)
    diurnal = add_diurnal(masks, spec.diurnal, pop, rounds=rounds, seed=seed)
    add_outages(masks, spec.outages, pop, clusters, rounds=rounds)
    return masks, diurnal


def _keep_one_online(
    allowed: dict[int, np.ndarray], pop: Population, scripted: Sequence[Scripted], rounds: int
) -> tuple[int | None, list[str]]:
    """Keep the anchor online where nobody else would be; return it and the warning."""
    if not pop.universe:
        return None, []
    anchor = min(pop.initial - pop.scripted, default=None)
    if anchor is None:
        anchor = min(pop.universe)
    count = _replay_mask(scripted, pop.initial, rounds)
    for pid in pop.universe:
        count = count + allowed[pid]
    empty = np.flatnonzero(count == 0)
    if not empty.size:
        return anchor, []
    allowed[anchor] = allowed[anchor].copy()
    allowed[anchor][empty] = True
    return anchor, [
        f"no peer would be online in round(s) {id_ranges((int(r) for r in empty), limit=None)}; "
        f"peer {anchor} is kept online then, so the network never empties"
    ]


def _join_cause(proc: Mapping[str, np.ndarray], r: int) -> str:
    """The first process (in :data:`CAUSES` order) whose own state turned on at round ``r``."""
    for name in CAUSES:
        if name not in proc or not proc[name][r]:
            continue
        # before round 0 only the arrival and the trace were "offline"
        prev = proc[name][r - 1] if r > 0 else name not in ("arrival", "trace")
        if not prev:
            return name
    return "anchor"


def _transitions(
    allowed: Mapping[int, np.ndarray],
    masks: Masks,
    pop: Population,
    new_devices: Mapping[int, str],
    *,
    crash_ratio: float,
    seed: int,
) -> list[ChurnEvent]:
    """Each peer's online/offline changes as events, sorted (join before leave before crash)."""
    events: list[ChurnEvent] = []
    for pid in sorted(pop.universe):
        online = allowed[pid]
        before = pid in pop.initial
        state = np.concatenate(([before], online)).astype(np.int8)
        proc = masks[pid]
        for r in (int(x) for x in np.flatnonzero(np.diff(state))):
            if online[r]:
                device = new_devices.get(pid) if pid not in pop.initial else None
                events.append(ChurnEvent(r, "join", pid, device, _join_cause(proc, r)))
                continue
            cause = next((n for n in CAUSES if n in proc and not proc[n][r]), "anchor")
            kind: ChurnKind = "leave"
            if crash_ratio > 0 and (
                crash_ratio >= 1 or _stream(seed, "churn_crash", pid, r).random() < crash_ratio
            ):
                kind = "crash"
            events.append(ChurnEvent(r, kind, pid, None, cause))
    events.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind], e.peer))
    return events


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
    initial_set, script = _check_inputs(rounds, initial, scripted)
    script_peers = {p for _, _, p in script}
    known_devices = dict(devices or {})
    trace = _resolve_trace(spec.trace, script_peers, base_dir)
    taken = initial_set | set(trace) | script_peers
    arrival_at = _arrivals(spec.arrivals, taken, known_devices, clusters, rounds, seed)
    new_devices = _new_devices(
        spec.arrivals, arrival_at, set(trace) - initial_set, known_devices, device_mix, seed
    )
    known_devices.update(new_devices)
    pop = Population(initial_set, script_peers, trace, arrival_at)
    masks, diurnal = _process_masks(spec, pop, clusters, rounds, seed)
    allowed = intersect(masks, rounds)
    warnings = apply_battery(masks, allowed, spec.battery, pop.universe, known_devices)
    anchor, note = _keep_one_online(allowed, pop, script, rounds)
    events = _transitions(allowed, masks, pop, new_devices, crash_ratio=spec.crash_ratio, seed=seed)
    return ChurnPlan(
        events=tuple(events),
        warnings=tuple(warnings + note),
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
