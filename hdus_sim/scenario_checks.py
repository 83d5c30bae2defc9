"""Checks across a scenario's fields, and the size budget, run before anything is built.

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

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from clients.catalog import DATASET_CLASSES, MAIN_ARCHITECTURE_NAMES, UNLEARNING_OPTION_NAMES

if TYPE_CHECKING:
    from hdus_sim.scenario import Event, Scenario

__all__ = [
    "LimitsSpec",
    "check_budget",
    "check_events",
    "check_fields",
    "check_initial_graph",
    "check_peer_refs",
    "check_topology",
    "estimate_edges",
    "scenario_notes",
]

#: Samples of the datasets whose size is known without reading files.
_DATASET_SIZES = {"digits": 1797}
#: Largest topology file read (bytes); its edges also count against ``limits.max_edges``.
MAX_TOPOLOGY_FILE_BYTES = 64 * 1024 * 1024
#: ``clustered_gateways`` computes a devices x gateways distance table (24 bytes a pair).
_MAX_GATEWAY_PAIRS = 2_000_000
#: Validation builds the initial graph (checking its connectivity) up to this many edges
#: (about 0.3 s); a larger one has its parameters checked without building it.
BUILD_IN_VALIDATION_EDGES = 20_000
#: A random builder is refused up front when more than this many nodes would be isolated
#: on average: it would retry 100 times (each a full build) and then fail anyway.
_MAX_EXPECTED_ISOLATED = 10.0


class LimitsSpec(BaseModel):
    """The size budget a scenario is checked against before anything is built.

    The defaults fit one machine with a few GB of memory; raise a limit to run a larger
    scenario knowingly (networkx holds about 300 bytes per edge, the engine a few hundred
    bytes per peer and round of churn bookkeeping). The hard ceilings stop a typo from
    turning validation itself into a multi-hour job.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    #: peers ever online: initial peers, scripted joins and expected churn arrivals
    max_peers: Annotated[int, Field(ge=2, le=10_000_000)] = 100_000
    #: edges of the initial graph, counted (or expected, for random graphs) before building
    max_edges: Annotated[int, Field(ge=1, le=100_000_000)] = 1_000_000
    #: scripted rounds plus settle rounds
    max_rounds: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    #: peers x rounds (per-peer, per-round bookkeeping: churn masks, deletion draws)
    max_peer_rounds: Annotated[int, Field(ge=1, le=10_000_000_000)] = 5_000_000
    #: peers ever online when a ``churn`` section is given: churn is planned peer by peer
    #: during validation (about 1 ms a peer, per-peer random streams)
    max_churn_peers: Annotated[int, Field(ge=2, le=10_000_000)] = 10_000
    #: expected deletion requests (the Poisson stream plus scripted ones)
    max_deletion_requests: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    #: values of a synthetic dataset, samples x dimensions (4 bytes each)
    max_synthetic_values: Annotated[int, Field(ge=1, le=4_000_000_000)] = 100_000_000


def _fail(field: str, message: str) -> ValueError:
    return ValueError(f"`{field}`: {message}")


def _num(value: Any) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _ranges(ids: Iterable[int], limit: int = 8) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``, cut after ``limit`` runs."""
    items = sorted(ids)
    runs: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        runs.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    shown = ", ".join(runs[:limit])
    return (shown + ", ...") if len(runs) > limit else (shown or "none")


# ---------------------------------------------------------------------------- budget
def _file_edges(path: Path) -> int:
    """Edges a topology file holds, counted without building a graph (lines or tags)."""
    if path.suffix.lower() == ".graphml":
        count = 0
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                count += len(re.findall(rb"<edge[\s/>]", chunk))
        return count
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.split(b"#", 1)[0].strip())


def estimate_edges(kind: str, n: int, params: dict[str, Any]) -> int | None:
    """Edges the builder ``kind`` makes on ``n`` nodes (expected, for random graphs).

    ``None`` when a parameter is missing or not a number: the builder then refuses it with
    its own message, before it builds anything.

    Examples
    --------
    >>> estimate_edges("complete", 100_000, {})
    4999950000
    >>> estimate_edges("k_regular", 1000, {"k": 4}), estimate_edges("ring", 10, {})
    (2000, 10)
    """
    pairs = n * (n - 1) // 2
    if kind == "ring":
        return n
    if kind == "complete":
        return pairs
    if kind == "grid":
        return 2 * n
    if kind in ("k_regular", "small_world"):
        k = _num(params.get("k"))
        return None if k is None else int(n * max(k, 0) // 2)
    if kind == "scale_free":
        m = _num(params.get("m"))
        return None if m is None else int(max(n - m, 0) * max(m, 0))
    if kind == "erdos_renyi":
        p = _num(params.get("p"))
        return None if p is None else int(min(max(p, 0.0), 1.0) * pairs)
    if kind == "random_geometric":
        r = _num(params.get("radius"))
        return None if r is None else int(min(math.pi * max(r, 0.0) ** 2, 1.0) * pairs)
    if kind == "clustered_gateways":
        g = _num(params.get("gateways"))
        if g is None:
            return None
        g = int(min(max(g, 0), n))
        backbone = g * (g - 1) // 2 if params.get("backbone") == "complete" else g
        return backbone + (n - g)
    if kind == "file":
        path = params.get("path")
        if not isinstance(path, str | Path) or not Path(path).is_file():
            return None  # the loader names the missing file
        return _file_edges(Path(path))
    return None


def _expected_peers(sc: Scenario) -> int:
    """Peers ever online, estimated from the fields alone (before churn is planned)."""
    joins = {e.peer for e in sc.events if e.kind == "join" and e.peer is not None}
    total = sc.peers.initial + len(joins - set(range(sc.peers.initial)))
    churn = sc.churn
    if churn is not None and churn.arrivals is not None:
        total += math.ceil(churn.arrivals.rate * sc.rounds)
    if churn is not None and churn.trace is not None and churn.trace.intervals:
        total += len(churn.trace.intervals)
    return total


def check_budget(sc: Scenario) -> None:
    """Refuse a scenario whose size is over ``limits`` (arithmetic only, nothing is built)."""
    lim = sc.limits
    n = sc.peers.initial
    if n > lim.max_peers:
        raise _fail(
            "peers.initial",
            f"{n:,} peers is over the budget limits.max_peers = {lim.max_peers:,}; use fewer "
            "peers, or raise limits.max_peers if the machine can hold them",
        )
    peers = _expected_peers(sc)
    if peers > lim.max_peers:
        raise _fail(
            "peers",
            f"about {peers:,} peers are ever online (initial, joins and churn arrivals), over "
            f"the budget limits.max_peers = {lim.max_peers:,}; lower churn.arrivals.rate or "
            "the rounds, or raise limits.max_peers",
        )
    if sc.churn is not None and peers > lim.max_churn_peers:
        raise _fail(
            "churn",
            f"churn is planned peer by peer before the run (about 1 ms a peer): {peers:,} peers "
            f"is over the budget limits.max_churn_peers = {lim.max_churn_peers:,}; use fewer "
            "peers, or raise limits.max_churn_peers and expect validation to take longer",
        )
    total_rounds = sc.rounds + sc.effective_settle_rounds
    if total_rounds > lim.max_rounds:
        field = "rounds"
        if sc.rounds <= sc.effective_settle_rounds:  # name what made the settle rounds large
            ex = sc.exchange
            field = "settle_rounds" if sc.settle_rounds is not None else "exchange.relay_hops"
            if sc.settle_rounds is None and ex.heartbeat_timeout >= ex.relay_hops:
                field = "exchange.heartbeat_timeout"
        raise _fail(
            field,
            f"{sc.rounds:,} rounds plus {sc.effective_settle_rounds:,} settle rounds "
            f"(heartbeat_timeout + relay_hops + 1 unless set) is over the budget "
            f"limits.max_rounds = {lim.max_rounds:,}; lower them or raise limits.max_rounds",
        )
    if peers * total_rounds > lim.max_peer_rounds:
        raise _fail(
            "rounds",
            f"{peers:,} peers x {total_rounds:,} rounds = {peers * total_rounds:,} peer-rounds, "
            f"over the budget limits.max_peer_rounds = {lim.max_peer_rounds:,}; use fewer "
            "peers or rounds, or raise limits.max_peer_rounds",
        )
    kind, params = sc.topology.kind, sc.topology.params
    if kind == "file":
        path = params.get("path")
        if isinstance(path, str) and Path(path).is_file():
            size = Path(path).stat().st_size
            if size > MAX_TOPOLOGY_FILE_BYTES:
                raise _fail(
                    "topology.params.path",
                    f"{path!r} is {size:,} bytes, over the {MAX_TOPOLOGY_FILE_BYTES:,}-byte "
                    "cap for topology files; give a smaller graph",
                )
    edges = estimate_edges(kind, n, params)
    if edges is not None and edges > lim.max_edges:
        mean = 2 * edges / max(n, 1)
        raise _fail(
            "topology",
            f"the {kind} graph on {n:,} peers has {'about ' if kind in _RANDOM else ''}"
            f"{edges:,} edges (mean degree {mean:,.0f}), over the budget limits.max_edges = "
            f"{lim.max_edges:,}; use a sparser topology (e.g. kind: k_regular, params: "
            f"{{k: 4}} gives {2 * n:,} edges), fewer peers, or raise limits.max_edges",
        )
    if kind == "clustered_gateways":
        g = _num(params.get("gateways"))
        if g is not None and g >= 1 and (n - g) * g > _MAX_GATEWAY_PAIRS:
            raise _fail(
                "topology.params.gateways",
                f"{int(g):,} gateways for {n:,} peers needs a {(n - int(g)) * int(g):,}-entry "
                f"distance table, over {_MAX_GATEWAY_PAIRS:,}; use fewer gateways",
            )
    _check_density(kind, n, params)
    stream = sc.deletion_requests
    if stream is not None:
        end = sc.rounds if stream.end is None else min(stream.end, sc.rounds)
        expected = stream.rate * peers * max(end - stream.start, 0)
        if expected > lim.max_deletion_requests:
            raise _fail(
                "deletion_requests.rate",
                f"{stream.rate} requests per peer and round over {peers:,} peers and "
                f"{max(end - stream.start, 0):,} rounds is about {expected:,.0f} requests, over "
                f"the budget limits.max_deletion_requests = {lim.max_deletion_requests:,}; "
                "lower the rate or the window (start, end)",
            )
    ds = sc.dataset
    if ds.name == "synthetic" and ds.synthetic_samples is not None:
        values = ds.synthetic_samples * ds.synthetic_dim
        if values > lim.max_synthetic_values:
            raise _fail(
                "dataset.synthetic_samples",
                f"{ds.synthetic_samples:,} samples x {ds.synthetic_dim:,} dimensions = "
                f"{values:,} values ({4 * values / 2**30:,.1f} GiB), over the budget "
                f"limits.max_synthetic_values = {lim.max_synthetic_values:,}; use fewer "
                "samples or dimensions",
            )


_RANDOM = ("erdos_renyi", "random_geometric")


def _check_density(kind: str, n: int, params: dict[str, Any]) -> None:
    """Refuse random graphs so sparse that they are almost never connected (before retrying)."""
    if n < 2:
        return
    if kind == "erdos_renyi":
        p = _num(params.get("p"))
        if p is None or not 0 < p < 1:
            return
        isolated = n * math.exp((n - 1) * math.log1p(-p))
        fix = f"raise p above about ln(n)/n = {math.log(n) / n:.3g}"
        field = "topology.params.p"
    elif kind == "random_geometric":
        r = _num(params.get("radius"))
        if r is None or r <= 0 or math.pi * r * r >= 1:
            return
        isolated = n * math.exp((n - 1) * math.log1p(-math.pi * r * r))
        fix = f"raise radius above about sqrt(ln(n)/(pi n)) = {math.sqrt(math.log(n) / (math.pi * n)):.3g}"  # noqa: E501
        field = "topology.params.radius"
    else:
        return
    if isolated > _MAX_EXPECTED_ISOLATED:
        raise _fail(
            field,
            f"the {kind} graph on {n:,} peers with {field.rsplit('.', 1)[1]}="
            f"{params[field.rsplit('.', 1)[1]]} leaves about {isolated:,.0f} peers without "
            f"a link, so it is (almost) never connected; {fix}",
        )


# ---------------------------------------------------------------------------- fields
def _devices(field: str, names: Iterable[str]) -> None:
    for name in names:
        if name not in MAIN_ARCHITECTURE_NAMES:
            raise _fail(
                f"{field}.{name}" if field.endswith(("by_device", "profiles")) else field,
                f"unknown device class {name!r}; choose from {sorted(MAIN_ARCHITECTURE_NAMES)}",
            )


def check_fields(sc: Scenario) -> None:
    """Cross-field checks that need no graph: device classes, classes dropped, options."""
    p = sc.peers
    _devices("peers.unlearning_by_device", p.unlearning_by_device)
    _devices("peers.profiles", p.profiles)
    for role, device in p.devices_by_role.items():
        if device not in MAIN_ARCHITECTURE_NAMES:
            raise _fail(
                f"peers.devices_by_role.{role}",
                f"unknown device class {device!r}; choose from {sorted(MAIN_ARCHITECTURE_NAMES)}",
            )
    for kind, options in p.unlearning_options.items():
        if kind not in UNLEARNING_OPTION_NAMES:
            raise _fail(
                f"peers.unlearning_options.{kind}",
                f"unknown unlearning kind {kind!r}; choose from {sorted(UNLEARNING_OPTION_NAMES)}",
            )
        allowed = [o for o in UNLEARNING_OPTION_NAMES[kind] if o != "public_x"]
        for name in options:
            if name not in allowed:
                raise _fail(
                    f"peers.unlearning_options.{kind}.{name}",
                    f"unknown option {name!r} for {kind}; valid options: {allowed}",
                )
    classes = DATASET_CLASSES.get(sc.dataset.name)
    part = sc.partition
    if classes is not None and part.classes_dropped >= classes:
        raise _fail(
            "partition.classes_dropped",
            f"{part.classes_dropped} classes dropped, but dataset {sc.dataset.name!r} has only "
            f"{classes}: every peer must keep at least one; use {classes - 1} or fewer "
            f"(<= {classes // 2} lets any 2 peers cover every class)",
        )
    size = _DATASET_SIZES.get(sc.dataset.name)
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
                raise _fail(
                    field,
                    f"{value:g} samples, but dataset {sc.dataset.name!r} has {size:,}; give a "
                    "count below that or a fraction in (0, 1)",
                )
            taken += value if value >= 1 else value * size
        if taken >= size:
            raise _fail(
                "partition",
                f"the reference set and the global test set take {taken:,.0f} of the "
                f"{size:,} samples of {sc.dataset.name!r}, leaving none for the peers; lower "
                "reference.size or global_test_size",
            )
    bd = sc.backdoor
    if bd is not None and classes is not None and bd.target >= classes:
        raise _fail(
            "backdoor.target",
            f"class {bd.target} does not exist: dataset {sc.dataset.name!r} has classes "
            f"0..{classes - 1}",
        )
    stream = sc.deletion_requests
    if stream is not None and stream.end is not None and stream.end <= stream.start:
        raise _fail(
            "deletion_requests.end",
            f"end ({stream.end}) must be after start ({stream.start}); leave end out to run "
            "to the last round",
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
    raise _fail(
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
            raise _fail(
                field,
                f"unknown peer(s) {unknown[:10]}; name peers that are online at some round "
                f"({_ranges(ever)})",
            )
    index = {id(e): i for i, e in enumerate(sc.events)}
    ppa = sc.runtime.peers_per_actor
    actors = -(-len(ever) // ppa) if ppa else len(ever)  # automatic packing: at most 1 a peer
    for ev in sc.events:
        if ev.kind == "kill_actor" and ev.actor is not None and ev.actor >= actors:
            packing = f"peers_per_actor {ppa}" if ppa else "one peer or more per actor"
            raise _fail(
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
        if kind == "file" or (edges is not None and edges <= BUILD_IN_VALIDATION_EDGES):
            graph = sc.initial_graph  # the very graph the run starts from
        else:
            check_params(kind, n, seed=seed, **params)
            return
    except TopologyError as exc:
        held = re.search(r"holds (\d+) nodes", str(exc))
        if kind == "file" and held and "n=" in str(exc):
            raise _fail(
                "peers.initial",
                f"{n} peers, but the topology file {str(params.get('path'))!r} holds "
                f"{held.group(1)} nodes; set peers.initial: {held.group(1)}",
            ) from None
        raise _fail("topology.params", str(exc)) from None
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
    shown = "; ".join(_ranges(c, 3) for c in pieces[:3]) + ("; ..." if len(pieces) > 3 else "")
    raise _fail(
        "topology.params.path",
        f"the graph in {str(sc.topology.params.get('path'))!r} is disconnected: "
        f"{len(pieces)} components (peers {shown}), so the run would start partitioned; link "
        "the pieces in the file, or set dynamics.guard: repair to join them at round 0",
    )


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
                f"online then: {_ranges(online)}"
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
                f"{_ranges(online)}"
            )
        online.discard(peer)  # type: ignore[arg-type]
        left_at[peer] = ev.at  # type: ignore[index]
    if len(online) < 1:
        raise ValueError("`events`: they leave no peer online at the end; keep at least one")
    return notes


def scenario_notes(sc: Scenario) -> list[str]:
    """What is valid but worth saying before a run (one line each)."""
    notes = check_events(sc)
    if sc.topology.kind == "file" and sc.dynamics.guard == "repair":
        graph = sc.initial_graph
        if graph.number_of_nodes() > 1 and not nx.is_connected(graph):
            parts = nx.number_connected_components(graph)
            notes.append(
                f"topology: the graph in {str(sc.topology.params.get('path'))!r} has {parts} "
                "components; dynamics.guard: repair joins them at round 0"
            )
    plan = sc.churn_plan
    notes += [f"churn: {w}" for w in (plan.warnings if plan is not None else ())]
    return notes
