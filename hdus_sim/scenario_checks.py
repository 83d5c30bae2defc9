"""Checks across a scenario's fields, run before anything is built (the budget first).

:class:`~hdus_sim.scenario.Scenario` calls these from its model validator, once every field
has its type: first :func:`check_budget` (pure arithmetic: a complete graph on 100,000 peers
is refused with its edge count before a single edge exists), then the cross-field checks,
then, with the initial graph built, :func:`check_initial_graph` and the event timeline
:func:`check_events`. Every problem is raised as a :class:`ValueError` whose one-line
message starts with the field in backticks, says the value and the fix;
:func:`hdus_sim.scenario.load_scenario` prefixes the file name.

:func:`scenario_notes` lists what is valid but worth saying (a deletion request that will
be refused at run time, a file topology joined at round 0); ``hdus-sim validate`` and
``hdus-sim run`` print them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import networkx as nx

from clients.catalog import (
    DATASET_CLASSES,
    DATASETS_WITH_TEST_SPLIT,
    FAMILY_NAMES,
    MAIN_ARCHITECTURE_NAMES,
    UNLEARNING_OPTION_NAMES,
    VECTOR_DATASETS,
)
from hdus_sim.scenario_budget import (
    BUILD_IN_VALIDATION_EDGES,
    DATASET_SIZES,
    LimitsSpec,
    check_budget,
    estimate_edges,
    fail,
)
from hdus_sim.wording import id_ranges

if TYPE_CHECKING:
    from hdus_sim.scenario import Event, Scenario

__all__ = [
    "LimitsSpec",  # re-exported from scenario_budget, with check_budget and estimate_edges
    "check_budget",
    "check_events",
    "check_fields",
    "check_initial_graph",
    "check_peer_refs",
    "check_topology",
    "estimate_edges",
    "scenario_notes",
]


# ---------------------------------------------------------------------------- fields
def _devices(field: str, names: Iterable[str]) -> None:
    for name in names:
        if name not in MAIN_ARCHITECTURE_NAMES:
            raise fail(
                f"{field}.{name}" if field.endswith(("by_device", "profiles")) else field,
                f"unknown device class {name!r}; choose from {sorted(MAIN_ARCHITECTURE_NAMES)}",
            )


def _check_image_models(sc: Scenario) -> None:
    """The convolutional families need images: refuse them on a feature-vector dataset."""
    if sc.dataset.name not in VECTOR_DATASETS:
        return
    p = sc.peers
    used = [
        ("peers.devices", set(p.devices)),
        ("peers.devices_by_role", set(p.devices_by_role.values())),
        ("peers.devices_by_peer", set(p.devices_by_peer.values())),
        ("seed_model.arch", {sc.seed_model.arch}),
    ]
    for field, names in used:
        conv = sorted(names & set(FAMILY_NAMES))
        if conv:
            raise fail(
                field,
                f"{conv} are convolutional and need image inputs, but dataset "
                f"{sc.dataset.name!r} gives feature vectors; use the MLP classes (sensor, phone, "
                "gateway, linear; seed_mlp, seed_tiny) or an image dataset",
            )


def check_fields(sc: Scenario) -> None:
    """Cross-field checks that need no graph: device classes, classes dropped, options."""
    p = sc.peers
    _devices("peers.unlearning_by_device", p.unlearning_by_device)
    _devices("peers.profiles", p.profiles)
    for role, device in p.devices_by_role.items():
        if device not in MAIN_ARCHITECTURE_NAMES:
            raise fail(
                f"peers.devices_by_role.{role}",
                f"unknown device class {device!r}; choose from {sorted(MAIN_ARCHITECTURE_NAMES)}",
            )
    for peer, device in p.devices_by_peer.items():
        if device not in MAIN_ARCHITECTURE_NAMES:
            raise fail(
                f"peers.devices_by_peer.{peer}",
                f"unknown device class {device!r}; choose from {sorted(MAIN_ARCHITECTURE_NAMES)}",
            )
        if not 0 <= peer < p.initial:
            raise fail(
                f"peers.devices_by_peer.{peer}",
                f"peer {peer} is not an initial peer (0..{p.initial - 1}); a joiner's device "
                "goes in its join event (device: ...)",
            )
    _check_image_models(sc)
    for kind, options in p.unlearning_options.items():
        if kind not in UNLEARNING_OPTION_NAMES:
            raise fail(
                f"peers.unlearning_options.{kind}",
                f"unknown unlearning kind {kind!r}; choose from {sorted(UNLEARNING_OPTION_NAMES)}",
            )
        allowed = [o for o in UNLEARNING_OPTION_NAMES[kind] if o != "public_x"]
        for name in options:
            if name not in allowed:
                raise fail(
                    f"peers.unlearning_options.{kind}.{name}",
                    f"unknown option {name!r} for {kind}; valid options: {allowed}",
                )
    classes = DATASET_CLASSES.get(sc.dataset.name)
    part = sc.partition
    if classes is not None and part.classes_dropped >= classes:
        raise fail(
            "partition.classes_dropped",
            f"{part.classes_dropped} classes dropped, but dataset {sc.dataset.name!r} has only "
            f"{classes}: every peer must keep at least one; use {classes - 1} or fewer "
            f"(<= {classes // 2} lets any 2 peers cover every class)",
        )
    size = DATASET_SIZES.get(sc.dataset.name)
    if sc.dataset.name == "synthetic":
        size = sc.dataset.synthetic_samples
    if size is not None:
        counts = {
            "partition.reference.size": part.reference.size,
            "partition.global_test_size": part.global_test_size,
        }
        taken = 0.0
        for field, value in counts.items():
            if value >= 1 and value > size:
                raise fail(
                    field,
                    f"{value:g} samples, but dataset {sc.dataset.name!r} has {size:,}; give a "
                    "count below that or a fraction in (0, 1)",
                )
            taken += value if value >= 1 else value * size
        if taken >= size:
            raise fail(
                "partition",
                f"the reference set and the global test set take {taken:,.0f} of the "
                f"{size:,} samples of {sc.dataset.name!r}, leaving none for the peers; lower "
                "reference.size or global_test_size",
            )
    bd = sc.backdoor
    if bd is not None and classes is not None and bd.target >= classes:
        raise fail(
            "backdoor.target",
            f"class {bd.target} does not exist: dataset {sc.dataset.name!r} has classes "
            f"0..{classes - 1}",
        )
    stream = sc.deletion_requests
    if stream is not None and stream.end is not None and stream.end <= stream.start:
        raise fail(
            "deletion_requests.end",
            f"end ({stream.end}) must be after start ({stream.start}); leave end out to run "
            "to the last round",
        )


def check_hdus_split(sc: Scenario) -> None:
    """The ``hdus`` scheme needs a published test split and chooses its own reference set."""
    p = sc.partition
    if p.scheme != "hdus":
        return
    if sc.dataset.name not in DATASETS_WITH_TEST_SPLIT:
        raise fail(
            "partition.scheme",
            f"'hdus' slices a published train split and distils on the test split, but "
            f"dataset {sc.dataset.name!r} has none; use dataset "
            f"{' / '.join(DATASETS_WITH_TEST_SPLIT)}, or scheme class_drop",
        )
    if p.reference != type(p.reference)():
        raise fail(
            "partition.reference",
            f"{p.reference.model_dump()} given, but scheme 'hdus' always distils on the "
            "dataset's whole test split (as the HDUS authors did); remove partition.reference",
        )


def check_class_drop(sc: Scenario, peers: int) -> None:
    """Refuse a class-drop split in which some class is dropped by every one of ``peers``."""
    classes = DATASET_CLASSES.get(sc.dataset.name)
    d = sc.partition.classes_dropped
    if sc.partition.scheme != "class_drop" or classes is None or d == 0:
        return
    dropped = set(range(classes))
    for i in range(min(peers, classes)):
        dropped &= {(i * d + j) % classes for j in range(d)}
        if not dropped:
            return
    raise fail(
        "partition.classes_dropped",
        f"with {peers} peer(s) and classes_dropped={d}, class(es) {sorted(dropped)} are dropped "
        f"by every peer and their samples would belong to nobody; use more peers or "
        f"classes_dropped <= {classes // 2}",
    )


def check_peer_refs(sc: Scenario, ever: set[int]) -> None:
    """Peers named outside the events (faults, backdoor, debug hooks, actors) must exist.

    ``ever`` holds every peer id that is online at some round.
    """
    refs: list[tuple[str, list[int]]] = [
        (f"faults.partitions[{i}].peers", part.peers) for i, part in enumerate(sc.faults.partitions)
    ]
    if sc.backdoor is not None:
        refs.append(("backdoor.peer", [sc.backdoor.peer]))
    for hook in ("keep_dropped_seeds", "mute_relays", "noop_deletions"):
        refs.append((f"debug.{hook}", getattr(sc.debug, hook)))
    for field, peers in refs:
        unknown = sorted(set(peers) - ever)
        if unknown:
            raise fail(
                field,
                f"unknown peer(s) {unknown[:10]}; name peers that are online at some round "
                f"({id_ranges(ever)})",
            )
    index = {id(e): i for i, e in enumerate(sc.events)}
    ppa = sc.runtime.peers_per_actor
    actors = -(-len(ever) // ppa) if ppa else len(ever)  # automatic packing: at most 1 a peer
    for ev in sc.events:
        if ev.kind == "kill_actor" and ev.actor is not None and ev.actor >= actors:
            packing = f"peers_per_actor {ppa}" if ppa else "one peer or more per actor"
            raise fail(
                f"events[{index[id(ev)]}].actor",
                f"actor {ev.actor} hosts no peer: {len(ever)} peers with {packing} make at most "
                f"{actors} actors (0..{actors - 1})",
            )


# ---------------------------------------------------------------------------- graph
def check_topology(sc: Scenario) -> None:
    """Check the initial graph's parameters, and build it if small enough to check it whole.

    Graphs up to :data:`BUILD_IN_VALIDATION_EDGES` edges, and file topologies, are built
    exactly as the run builds them (so a random graph too sparse to be connected in 100
    draws is refused here); larger ones are checked by
    :func:`topologies.check_params`, in constant time, and the draw happens at build time.
    """
    from hdus_sim.rng import derive_seed
    from topologies import check_params
    from topologies.errors import TopologyError

    kind, n, params = sc.topology.kind, sc.peers.initial, sc.topology.params
    seed = derive_seed(sc.seed, "topology")
    edges = estimate_edges(kind, n, params)
    try:
        if kind in ("file", "edges") or (edges is not None and edges <= BUILD_IN_VALIDATION_EDGES):
            graph = sc.initial_graph  # the very graph the run starts from
        else:
            check_params(kind, n, seed=seed, **params)
            return
    except TopologyError as exc:
        held = re.search(r"holds (\d+) nodes", str(exc))
        if kind == "file" and held and "n=" in str(exc):
            raise fail(
                "peers.initial",
                f"{n} peers, but the topology file {str(params.get('path'))!r} holds "
                f"{held.group(1)} nodes; set peers.initial: {held.group(1)}",
            ) from None
        raise fail("topology.params", str(exc)) from None
    check_initial_graph(sc, graph)


def check_initial_graph(sc: Scenario, graph: nx.Graph) -> None:
    """A file topology must be connected, unless ``dynamics.guard: repair`` joins it.

    Builders always return connected graphs; a file may not. With the default guard
    (``report``) a disconnected file is refused (the run would start partitioned); with
    ``repair`` the simulation joins the pieces at round 0 and logs it (see
    :func:`scenario_notes`).
    """
    if graph.number_of_nodes() < 2 or nx.is_connected(graph):
        return
    if sc.dynamics.guard == "repair":
        return
    pieces = sorted((sorted(c) for c in nx.connected_components(graph)), key=len, reverse=True)
    shown = "; ".join(id_ranges(c, 3) for c in pieces[:3]) + ("; ..." if len(pieces) > 3 else "")
    field = "topology.params.edges" if sc.topology.kind == "edges" else "topology.params.path"
    raise fail(
        field,
        f"{_graph_source(sc)} is disconnected: "
        f"{len(pieces)} components (peers {shown}), so the run would start partitioned; link "
        "the pieces (or match peers.initial to the graph), or set dynamics.guard: repair to "
        "join them at round 0",
    )


def _graph_source(sc: Scenario) -> str:
    """Where a user-given graph comes from, for messages: the file, or the edge list."""
    if sc.topology.kind == "edges":
        return f"the edge list of {sc.peers.initial} peers"
    return f"the graph in {str(sc.topology.params.get('path'))!r}"


# ---------------------------------------------------------------------------- events
def _label(ev: Event, index: dict[int, int]) -> str:
    """```events[3]` (delete of peer 9 at round 2, by count)``; churn events name ``churn``."""
    i = index.get(id(ev))
    what = f"{ev.kind} of peer {ev.peer} at round {ev.at}"
    if ev.kind == "kill_actor":
        what = f"kill_actor of actor {ev.actor} at round {ev.at}"
    if ev.kind == "delete":
        what += ", by " + (
            "ids" if ev.ids is not None else ("count" if ev.count is not None else "fraction")
        )
    return f"`events[{i}]` ({what})" if i is not None else f"`churn` ({what})"


def check_events(sc: Scenario) -> list[str]:
    """Walk the events in run order: joins, departures and deletions against who is online.

    A ``delete`` (by ``count``, ``fraction`` or ``ids`` alike) must name a peer that is
    online at its round or was before (a late request to a departed peer is a valid GDPR
    test: it is refused and logged at run time, and listed in the returned notes); a peer
    that is never online, or not yet, is refused here.

    Returns
    -------
    list of str
        Notes about valid but noteworthy events.
    """
    index = {id(e): i for i, e in enumerate(sc.events)}
    events = sc.all_events
    online = set(range(sc.peers.initial))
    ever = set(online)
    first_join: dict[int, int] = {}
    for ev in events:
        if ev.kind == "join" and ev.peer is not None:
            first_join.setdefault(ev.peer, ev.at)
    left_at: dict[int, int] = {}
    notes: list[str] = []
    last = sc.rounds - 1
    for ev in events:
        where = _label(ev, index)
        if ev.at > last:
            raise ValueError(
                f"{where}: round {ev.at} is past the last round {last}; raise `rounds` or "
                "move the event"
            )
        if ev.kind == "kill_actor":
            continue
        peer = ev.peer
        if ev.kind == "delete":
            if ev.ids is not None and len(set(ev.ids)) != len(ev.ids):
                dup = sorted({x for x in ev.ids if ev.ids.count(x) > 1})[:5]
                raise ValueError(
                    f"{where}: ids {dup} are listed more than once; list each sample once"
                )
            if peer in online:
                continue
            if peer in ever:
                notes.append(
                    f"{where}: peer {peer} left at round {left_at.get(peer)}, so "
                    "the request will be refused and logged at run time"
                )
                continue
            if peer in first_join:
                raise ValueError(
                    f"{where}: peer {peer} has not joined yet (it joins at round "
                    f"{first_join[peer]}), so nobody holds its data; move the request to "
                    f"round {first_join[peer]} or later"
                )
            raise ValueError(
                f"{where}: peer {peer} is unknown (never online); address a peer "
                f"online then: {id_ranges(online)}"
            )
        if ev.kind == "join":
            if peer in online:
                raise ValueError(
                    f"{where}: peer {peer} is already online then; use a new peer id or make it "
                    "leave first"
                )
            online.add(peer)  # type: ignore[arg-type]
            ever.add(peer)  # type: ignore[arg-type]
            continue
        if peer not in online:
            known = "has already left" if peer in ever else "is unknown"
            raise ValueError(
                f"{where}: peer {peer} {known} at that round; online peers then are "
                f"{id_ranges(online)}"
            )
        online.discard(peer)  # type: ignore[arg-type]
        left_at[peer] = ev.at  # type: ignore[index]
    if len(online) < 1:
        raise ValueError("`events`: they leave no peer online at the end; keep at least one")
    return notes


def scenario_notes(sc: Scenario) -> list[str]:
    """What is valid but worth saying before a run (one line each)."""
    notes = check_events(sc)
    if sc.topology.kind in ("file", "edges") and sc.dynamics.guard == "repair":
        graph = sc.initial_graph
        if graph.number_of_nodes() > 1 and not nx.is_connected(graph):
            parts = nx.number_connected_components(graph)
            notes.append(
                f"topology: {_graph_source(sc)} has {parts} "
                "components; dynamics.guard: repair joins them at round 0"
            )
    plan = sc.churn_plan
    notes += [f"churn: {w}" for w in (plan.warnings if plan is not None else ())]
    return notes
