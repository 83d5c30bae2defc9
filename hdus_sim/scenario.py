"""The scenario schema (YAML or dict), validated once with errors that name the field and the fix.

A scenario fixes everything about a run: one ``seed`` derives every random stream (data
split, graph, model initialisation, batch order, churn), so the same file gives the same run.
See ``scenarios/quickstart.yaml`` for a commented example.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, Field, ValidationError, model_validator

from clients.catalog import MAIN_ARCHITECTURE_NAMES as MAIN_ARCHITECTURES
from hdus_sim.churn import ChurnPlan, ChurnSpec, load_trace, plan_churn
from hdus_sim.devices import initial_devices
from hdus_sim.errors import ScenarioError
from hdus_sim.rng import derive_seed
from hdus_sim.scenario_checks import (
    LimitsSpec,
    check_budget,
    check_class_drop,
    check_events,
    check_fields,
    check_hdus_split,
    check_peer_refs,
    check_topology,
)
from hdus_sim.scenario_errors import example_value, format_errors
from hdus_sim.scenario_sections import (  # noqa: F401 - re-exported: the sections
    DEFAULT_PROFILES,
    STRICT_MODEL,
    BackdoorSpec,
    CrashEvent,
    DatasetSpec,
    DebugSpec,
    DeleteEvent,
    DeletionStream,
    DeviceProfile,
    DynamicsSpec,
    Event,
    EventBase,
    ExchangeSpec,
    FaultsSpec,
    JoinEvent,
    KillActorEvent,
    LeaveEvent,
    NonNegInt,
    PartitionFault,
    PartitionSpec,
    PeersSpec,
    PosInt,
    ReferenceSpec,
    RuntimeSpec,
    SeedModelSpec,
    TopologySpec,
    TrainingSpec,
    WireSpec,
    make_event,
)
from hdus_sim.scenario_yaml import check_document, read_yaml_file
from topologies import build

__all__ = [
    "Event",
    "EventBase",
    "Scenario",
    "load_scenario",
    "make_event",
    "scenario_to_dict",
    "with_overrides",
]


class Scenario(BaseModel):
    """A whole run, validated. Build it with :func:`load_scenario`."""

    model_config = STRICT_MODEL
    name: str = "scenario"
    description: str = ""
    seed: NonNegInt
    rounds: PosInt
    settle_rounds: NonNegInt | None = None
    dataset: DatasetSpec = DatasetSpec()
    partition: PartitionSpec = PartitionSpec()
    topology: TopologySpec = TopologySpec()
    dynamics: DynamicsSpec = DynamicsSpec()
    peers: PeersSpec
    training: TrainingSpec = TrainingSpec()
    seed_model: SeedModelSpec = SeedModelSpec()
    exchange: ExchangeSpec = ExchangeSpec()
    runtime: RuntimeSpec = RuntimeSpec()
    faults: FaultsSpec = FaultsSpec()
    deletion_requests: DeletionStream | None = None
    churn: ChurnSpec | None = None
    backdoor: BackdoorSpec | None = None
    events: list[Event] = Field(default_factory=list)
    #: events applied by hand (``Simulation.apply``), in the order applied; the run writes
    #: them here so a replay (``verify``) applies them too, first in their round
    applied: list[Event] = Field(default_factory=list)
    debug: DebugSpec = DebugSpec()
    #: the size budget checked before anything is built (see :class:`LimitsSpec`)
    limits: LimitsSpec = LimitsSpec()

    @functools.cached_property
    def initial_graph(self) -> nx.Graph:
        """The graph at round 0, built once with the run's topology seed.

        Validation, the churn planner, device roles, the run and the report all take this
        one object, so a random builder cannot accept one draw and run another.
        """
        return build(
            self.topology.kind,
            self.peers.initial,
            seed=derive_seed(self.seed, "topology"),
            **self.topology.params,
        )

    @functools.cached_property
    def initial_devices(self) -> dict[int, str]:
        """Device class of every initial peer (the mix, then topology roles, then by id)."""
        by_role = self.peers.devices_by_role
        devices = initial_devices(
            self.seed,
            self.peers.initial,
            self.peers.devices,
            graph=self.initial_graph if by_role else None,
            by_role=by_role,
        )
        return {**devices, **self.peers.devices_by_peer}

    @functools.cached_property
    def churn_plan(self) -> ChurnPlan | None:
        """The events the ``churn`` processes generate (``None`` without churn).

        Planned with the initial peers' device classes, so ``battery`` drains them too.
        """
        if self.churn is None:
            return None
        clusters: dict[int, int] = {}
        if self.topology.kind == "clustered_gateways":
            graph = self.initial_graph
            for node, data in graph.nodes(data=True):
                if data.get("role") == "device":
                    gateways = [
                        n for n in graph.neighbors(node) if graph.nodes[n].get("role") == "gateway"
                    ]
                    if gateways:
                        clusters[node] = min(gateways)
        return plan_churn(
            self.churn,
            seed=self.seed,
            rounds=self.rounds,
            initial=list(range(self.peers.initial)),
            clusters=clusters or None,
            devices=self.initial_devices,
            device_mix=self.peers.devices,
            scripted=[
                (e.at, e.kind, e.peer)
                for e in self.events
                if e.kind in ("join", "leave", "crash") and e.peer is not None
            ],
        )

    @functools.cached_property
    def all_events(self) -> list[Event]:
        """Every event in time order; within a round, hand-applied events come first.

        Then, as :attr:`scheduled_events` orders them, scripted and churn events.
        """
        keyed = [((e.at, 0, j), e) for j, e in enumerate(self.applied)]
        keyed += [((e.at, 1, i), e) for i, e in enumerate(self.scheduled_events)]
        return [e for _, e in sorted(keyed, key=lambda p: p[0])]

    @functools.cached_property
    def scheduled_events(self) -> list[Event]:
        """Scripted events (in file order) then churn events (joins first) within each round."""
        keyed: list[tuple[tuple[int, int, int, int], Event]] = [
            ((e.at, 0, 0, i), e) for i, e in enumerate(self.events)
        ]
        plan = self.churn_plan
        if plan is not None:
            order = {"join": 0, "leave": 1, "crash": 2}
            keyed += [
                ((c.at, 1, order[c.kind], i), make_event(**c.as_event()))
                for i, c in enumerate(plan.events)
            ]
        return [e for _, e in sorted(keyed, key=lambda p: p[0])]

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        """Cross-field checks, in order of cost: the size budget before anything is built."""
        check_budget(self)
        check_fields(self)
        check_topology(self)
        if self.churn is not None:
            arrivals = self.churn.arrivals
            names = list((arrivals.device_mix or {}) if arrivals is not None else {})
            names += list(self.churn.battery.drain if self.churn.battery else {})
            for name in names:
                if name not in MAIN_ARCHITECTURES:
                    raise ValueError(
                        f"`churn`: unknown device class {name!r}; choose from "
                        f"{sorted(MAIN_ARCHITECTURES)}"
                    )
            if self.churn.on_return == "restore" and self.runtime.hosted:
                raise ValueError(
                    "`churn.on_return`: restore keeps a departed peer's model in "
                    "memory: use runtime inprocess or grpc, or on_return: retrain"
                )
        check_events(self)
        ever = set(self.all_peer_ids)
        check_class_drop(self, len(ever))
        check_hdus_split(self)
        f = self.faults
        faulty = bool(f.drop or f.duplicate or f.reorder or f.delay_ms[1] or f.partitions)
        if faulty and self.runtime.kind != "grpc":
            raise ValueError("`faults`: faults are injected on the wire: set runtime.kind to grpc")
        check_peer_refs(self, ever)
        return self

    @property
    def all_peer_ids(self) -> list[int]:
        """Every peer id that is ever online (initial peers and joiners), sorted."""
        ids = set(range(self.peers.initial)) | {
            e.peer for e in self.all_events if e.kind == "join" and e.peer is not None
        }
        return sorted(ids)

    @property
    def effective_settle_rounds(self) -> int:
        """Rounds without training after the last scripted round, so removals can complete."""
        if self.settle_rounds is not None:
            return self.settle_rounds
        return max(
            self.exchange.heartbeat_timeout + self.exchange.relay_hops + 1,
            self.exchange.lease_rounds,
        )


#: Largest churn trace file inlined into a scenario (bytes).
MAX_TRACE_BYTES = 4 * 1024 * 1024


def _inline_trace(raw: dict[str, Any], base: Path, label: str) -> None:
    """Replace ``churn.trace.file`` by its intervals, so the run's scenario.yaml stands alone."""
    churn = raw.get("churn")
    trace = churn.get("trace") if isinstance(churn, dict) else None
    if not (isinstance(trace, dict) and isinstance(trace.get("file"), str) and trace["file"]):
        return
    path = Path(trace["file"])
    path = path if path.is_absolute() else base / path
    if path.is_file() and path.stat().st_size > MAX_TRACE_BYTES:
        raise ScenarioError(
            f"{label}: `churn.trace.file`: {path} is {path.stat().st_size:,} bytes, over the "
            f"{MAX_TRACE_BYTES:,}-byte cap for traces; give a shorter trace"
        )
    assert isinstance(churn, dict)  # trace came from it
    churn["trace"] = {
        "intervals": {p: [list(iv) for iv in ivs] for p, ivs in load_trace(path).items()}
    }


def _graph_as_edges(source: Mapping[str, Any], label: str) -> Mapping[str, Any]:
    """A ``networkx.Graph`` given as ``topology`` becomes an inline edge list (``kind: edges``).

    So a scenario built in Python from the user's own graph is plain data again: written
    to ``scenario.yaml``, replayed by ``verify``. ``peers.initial`` defaults to its nodes.
    """
    graph = source.get("topology")
    if not isinstance(graph, nx.Graph):
        return source
    from topologies import TopologyError, networkx_topology

    try:
        topology = networkx_topology(graph)
    except TopologyError as exc:
        raise ScenarioError(f"{label}: `topology`: {exc}") from None
    out = dict(source)
    out["topology"] = topology
    peers = out.get("peers")
    if peers is None or isinstance(peers, Mapping):
        out["peers"] = {"initial": graph.number_of_nodes(), **(peers or {})}
    return out


def _absolute_topology_path(raw: dict[str, Any], base: Path) -> None:
    """Make a relative ``topology.params.path`` absolute, against the scenario's folder.

    So a run started from any directory reads the file the scenario names, and its
    ``scenario.yaml`` (which ``verify`` and ``report`` read from anywhere) still does.
    """
    topology = raw.get("topology")
    params = topology.get("params") if isinstance(topology, dict) else None
    if not (isinstance(params, dict) and isinstance(params.get("path"), str) and params["path"]):
        return
    path = Path(params["path"]).expanduser()
    params["path"] = str(path if path.is_absolute() else (base / path).resolve())


def load_scenario(source: str | Path | Mapping[str, Any], *, label: str = "(dict)") -> Scenario:
    """Load and validate a scenario from a YAML file path or a dict (named ``label`` in errors).

    The document is read safely (size, depth and alias caps, no duplicate keys, UTF-8 only:
    :mod:`hdus_sim.scenario_yaml`), checked for non-finite numbers, then validated field by
    field and across fields (:mod:`hdus_sim.scenario_checks`, the size budget first), all
    before anything is built.

    Raises
    ------
    ScenarioError
        One line per problem, naming the source, the field, the value and the fix.

    Examples
    --------
    >>> s = load_scenario({"seed": 1, "rounds": 4, "peers": {"initial": 4},
    ...                    "topology": {"kind": "ring"}})
    >>> s.peers.initial, s.topology.kind
    (4, 'ring')
    >>> load_scenario({"seed": 1, "rounds": 4})
    Traceback (most recent call last):
    ...
    hdus_sim.errors.ScenarioError: (dict): missing field `peers`: add it
    """
    if isinstance(source, Mapping):
        source = _graph_as_edges(source, label)
        check_document(source, label, example=lambda parts: example_value(Scenario, parts))
        raw: Any = copy.deepcopy(dict(source))
        base = Path.cwd()
    else:
        path = Path(source)
        label = str(path)
        raw = read_yaml_file(path)
        check_document(raw, label, example=lambda parts: example_value(Scenario, parts))
        base = path.parent
    if not isinstance(raw, dict):
        got = "nothing (the file is empty)" if raw is None else type(raw).__name__
        raise ScenarioError(
            f"scenario {label} must be a mapping of fields (e.g. `seed: 1`), got {got}; "
            "see scenarios/quickstart.yaml"
        )
    _inline_trace(raw, base, label)
    _absolute_topology_path(raw, base)
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(format_errors(exc, label, Scenario)) from None


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data (what ``scenario.yaml`` in a run directory holds)."""
    return scenario.model_dump(mode="json")


def with_overrides(scenario: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """Return a copy with dotted-path fields replaced, e.g. ``{"peers.rho": 0.9}``, re-validated."""
    data = scenario_to_dict(scenario)
    for dotted, value in overrides.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
    return load_scenario(data, label=f"{scenario.name} with {shown[:80]}")
