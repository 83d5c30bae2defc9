"""The resolved plan of a run: every fact a scenario fixes, computed once and passed as data.

A :class:`~hdus_sim.scenario.Scenario` says what to run; a :class:`RunPlan` is that run
worked out: the initial graph (built once, with the run's topology seed), the device class
of every peer that is ever online, every event in schedule order with its explicit sample
ids and request id, and, for a retrain oracle, the owners and points withheld from the
start. The driver, every Ray actor or host process, the oracle runs and the report take
the same plan, so no process re-derives a fact another one already fixed — and none can
drift from it.

Each peer's part of the plan is its :class:`~hdus_sim.runtime.base.PeerSpec`
(:meth:`RunPlan.peer_spec`), which is all a runtime needs to create it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from clients.messages import DataOwner
from hdus_sim.devices import draw_device
from hdus_sim.rng import derive_seed
from hdus_sim.scenario import DeleteEvent, Event, Scenario

__all__ = ["PeerSpec", "PlannedEvent", "RunPlan", "plan_devices", "resolve_plan"]

#: a ``kill_actor`` runs before the other events of its round (its actor dies first)
_FIRST = -(10**6)
#: priority offset of events applied by hand: first of all in their round
_BY_HAND = -(10**7)


@dataclass(frozen=True)
class PeerSpec:
    """Everything a runtime needs to create one peer (data comes from the shared split).

    A peer's part of the run plan (:meth:`hdus_sim.plan.RunPlan.peer_spec`): its device,
    the epochs whose seed it never sends and the training samples it never had (both set
    for a retrain oracle), and debug hooks.
    """

    peer_id: int
    epoch: int
    device: str
    withhold_epochs: frozenset[int] = frozenset()
    keep_dropped_seeds: bool = False
    #: sample ids removed from the peer's data from the start (the point-deletion oracle)
    withheld_points: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PlannedEvent:
    """One event of the run with everything explicit.

    ``priority`` orders events of one round (lower first); ``request_id`` names a deletion
    request (``del-<n>``), as receipts, verdicts and the oracle name it.
    """

    event: Event
    priority: int
    request_id: str | None = None

    @property
    def at(self) -> int:
        """The round the event happens at (before that round's training)."""
        return self.event.at


@dataclass(frozen=True)
class RunPlan:
    """A scenario, resolved (see the module docstring); build it with :func:`resolve_plan`."""

    scenario: Scenario
    graph: nx.Graph
    devices: Mapping[int, str]
    events: tuple[PlannedEvent, ...]
    withheld: frozenset[DataOwner] = frozenset()
    withheld_points: Mapping[int, frozenset[int]] = field(default_factory=dict)

    @property
    def peer_ids(self) -> list[int]:
        """Every peer id that is ever online, sorted."""
        return self.scenario.all_peer_ids

    @property
    def requests(self) -> dict[str, Event]:
        """Deletion request id -> its event (ids explicit)."""
        return {p.request_id: p.event for p in self.events if p.request_id is not None}

    def peer_spec(self, peer_id: int, epoch: int, device: str | None = None) -> PeerSpec:
        """What a runtime needs to create ``peer_id`` at ``epoch``.

        ``device`` overrides the planned class (a join applied by hand names its own).
        """
        s = self.scenario
        return PeerSpec(
            peer_id=peer_id,
            epoch=epoch,
            device=device or self.devices[peer_id],
            withhold_epochs=frozenset(e for p, e in self.withheld if p == peer_id),
            keep_dropped_seeds=peer_id in s.debug.keep_dropped_seeds,
            withheld_points=self.withheld_points.get(peer_id, frozenset()),
        )


def plan_devices(scenario: Scenario) -> dict[int, str]:
    """Device class of every peer id: initial peers, churn arrivals, then scripted joins.

    A scripted join's ``device`` wins; a joiner without one gets a class drawn from the mix
    by its own id.
    """
    devices = dict(scenario.initial_devices)
    churn = scenario.churn_plan
    if churn is not None:
        devices.update({p: d for p, d in churn.devices.items() if d})
    for ev in scenario.all_events:
        if ev.kind != "join" or ev.peer is None:
            continue
        if ev.device is not None:
            devices[ev.peer] = ev.device
        elif ev.peer not in devices:
            devices[ev.peer] = draw_device(scenario.seed, ev.peer, scenario.peers.devices)
    return devices


def _deletion_stream(scenario: Scenario) -> list[DeleteEvent]:
    """The Poisson stream of ``deletion_requests``: ``count`` samples per request."""
    stream = scenario.deletion_requests
    if stream is None:
        return []
    end = scenario.rounds if stream.end is None else min(stream.end, scenario.rounds)
    out: list[DeleteEvent] = []
    for r in range(stream.start, end):
        for pid in scenario.all_peer_ids:
            rng = np.random.default_rng(derive_seed(scenario.seed, "gdpr", pid, r))
            out += [
                DeleteEvent(at=r, kind="delete", peer=pid, count=stream.count)
                for _ in range(int(rng.poisson(stream.rate)))
            ]
    return out


def _resolve_ids(
    scenario: Scenario, index: int, ev: DeleteEvent, pool: Sequence[int], taken: set[int]
) -> list[int]:
    """The sample ids a delete names: its own, or drawn without replacement from ``pool``."""
    if ev.ids is not None:
        return sorted(ev.ids)
    free = [x for x in pool if x not in taken]
    if not free:
        return []
    n = ev.count if ev.count is not None else round((ev.fraction or 0) * len(free))
    rng = np.random.default_rng(derive_seed(scenario.seed, "delete_ids", index))
    return sorted(int(x) for x in rng.choice(free, size=min(max(n, 1), len(free)), replace=False))


def resolve_events(
    scenario: Scenario, train_ids: Mapping[int, Sequence[int]]
) -> tuple[PlannedEvent, ...]:
    """Scripted and churn events plus the deletion stream, every request's ids explicit.

    Ids are drawn from each peer's original training set (``train_ids``), without
    replacement across its requests and with a stream per request, so the same requests
    name the same points in every run of the scenario, including the oracles. A delete of
    a peer without data here keeps no ids (it is refused and logged when due).
    """
    # Hand-applied events come last, so recording one never renumbers the others (their
    # priorities and request ids stay those of the run that applied it), and run first in
    # their round, before even a kill_actor, as they did when applied.
    events: list[Event] = [
        *scenario.scheduled_events,
        *_deletion_stream(scenario),
        *scenario.applied,
    ]
    by_hand = len(events) - len(scenario.applied)
    taken: dict[int, set[int]] = {}
    planned: list[PlannedEvent] = []
    for i, ev in enumerate(events):
        first = _FIRST if ev.kind == "kill_actor" else 0
        first = _BY_HAND if i >= by_hand else first
        if ev.kind != "delete":
            planned.append(PlannedEvent(ev, first + i))
            continue
        assert ev.peer is not None  # validated: a delete names its peer
        if ev.peer not in train_ids:
            ids = list(ev.ids or [])
        else:
            pool = [int(x) for x in train_ids[ev.peer]]
            ids = _resolve_ids(scenario, i, ev, pool, taken.setdefault(ev.peer, set()))
            taken[ev.peer] |= set(ids)
        resolved = ev.model_copy(update={"ids": ids, "count": None, "fraction": None})
        planned.append(PlannedEvent(resolved, first + i, request_id=f"del-{i}"))
    return tuple(planned)


def resolve_plan(
    scenario: Scenario,
    train_ids: Mapping[int, Sequence[int]],
    *,
    withheld: frozenset[DataOwner] = frozenset(),
    withheld_points: Mapping[int, Iterable[int]] | None = None,
) -> RunPlan:
    """Work out the run of ``scenario`` (see :class:`RunPlan`).

    ``train_ids`` are each peer's training sample ids from the run's data split (the
    deletion requests draw from them); ``withheld`` and ``withheld_points`` make the plan of
    a retrain oracle: those owners never send their seed, those points are never trained on.
    """
    return RunPlan(
        scenario=scenario,
        graph=scenario.initial_graph,
        devices=plan_devices(scenario),
        events=resolve_events(scenario, train_ids),
        withheld=frozenset(withheld),
        withheld_points={int(k): frozenset(v) for k, v in (withheld_points or {}).items()},
    )
