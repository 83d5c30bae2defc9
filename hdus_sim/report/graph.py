"""Graph replay: the peer graph of any round, rebuilt from the scenario and the event log.

The run directory does not store the graph of every round, so a report reconstructs it:
the scenario's topology builder is re-run with the run's topology seed and
``events.jsonl`` is replayed on it (a join adds its ``links``; a leave or crash removes
the node's edges and adds its ``repair_links``). :func:`layout` gives every peer ever
seen one drawing position, shared by every graph panel of a report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from hdus_sim.report.data import RunData, load_run_data
from hdus_sim.rng import derive_seed
from topologies import build
from topologies.errors import TopologyError

__all__ = ["graph_at", "initial_graph", "layout", "reconstruct_graph", "replay_notes"]


def initial_graph(scenario: Mapping[str, Any]) -> tuple[nx.Graph, list[str]]:
    """The scenario's topology at round 0, rebuilt with the run's topology seed.

    Returns the graph and a list of warnings: when the builder fails (e.g. a graph file
    that moved), the graph has the initial peers and no edges, and the warning says so.
    """
    topo = scenario.get("topology") or {}
    kind = str(topo.get("kind", "ring"))
    n = int((scenario.get("peers") or {}).get("initial", 0))
    params = dict(topo.get("params") or {})
    try:
        graph = build(kind, n, seed=derive_seed(int(scenario.get("seed", 0)), "topology"), **params)
    except (TopologyError, OSError, ValueError, TypeError) as exc:
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        return graph, [
            f"the initial {kind} topology could not be rebuilt ({exc}); only the links "
            "added by joins and repairs are drawn"
        ]
    return nx.Graph(graph), []


def _remove_peer(
    live: nx.Graph, ev: Mapping[str, Any], kind: str, pid: int, notes: list[str]
) -> None:
    """Remove a leaving or crashed peer from ``live``, noting where the log disagrees."""
    if pid not in live:
        notes.append(f"round {ev['round']}: {kind} of peer {pid}, not in the graph")
        return
    former = sorted(int(v) for v in live.neighbors(pid))
    logged = sorted(int(v) for v in ev.get("former_neighbors", former))
    if former != logged:
        notes.append(
            f"round {ev['round']}: peer {pid} had neighbours {former} in the "
            f"replay but {logged} in the log"
        )
    live.remove_node(pid)


def _replay(
    live: nx.Graph,
    status: dict[int, dict[str, Any]],
    events: Sequence[Mapping[str, Any]],
    round_: int,
    notes: list[str],
) -> None:
    """Apply every membership event logged at a round ``<= round_`` to ``live``/``status``."""
    for ev in events:
        if int(ev.get("round", 0)) > round_:
            break
        kind = ev.get("kind")
        peer = ev.get("peer")
        if kind == "join" and peer is not None:
            pid = int(peer)
            live.add_node(pid)
            live.add_edges_from((int(a), int(b)) for a, b in ev.get("links", []))
            status[pid] = {"active": True, "departed": None, "departed_round": None}
        elif kind in ("leave", "crash") and peer is not None:
            pid = int(peer)
            _remove_peer(live, ev, kind, pid, notes)
            live.add_edges_from((int(a), int(b)) for a, b in ev.get("repair_links", []))
            status[pid] = {"active": False, "departed": kind, "departed_round": int(ev["round"])}


def reconstruct_graph(
    scenario: Mapping[str, Any], events: Sequence[Mapping[str, Any]], round_: int
) -> nx.Graph:
    """The peer graph at round ``round_``, rebuilt from the scenario and the event log.

    The initial topology is rebuilt with the scenario's builder and topology seed
    (``derive_seed(seed, "topology")``), then every event of ``events`` logged at a round
    ``<= round_`` is replayed in log order: a ``join`` adds the peer and its ``links``; a
    ``leave`` or ``crash`` removes the peer's edges and adds its ``repair_links``. Events
    are applied at the start of their round, so this is the graph the round ran on.

    Parameters
    ----------
    scenario : mapping
        The resolved scenario (``scenario.yaml`` of the run directory).
    events : sequence of mapping
        The rows of ``events.jsonl``, in log order.
    round_ : int
        The round to reconstruct.

    Returns
    -------
    networkx.Graph
        Every peer seen up to ``round_``. Node attributes: ``active`` (online at
        ``round_``), ``departed`` (``None``, ``"leave"`` or ``"crash"``),
        ``departed_round`` and ``pos`` when the builder set one. Edges join active peers
        only. ``graph.graph["warnings"]`` lists where the replay disagreed with the log
        (e.g. a removed peer's neighbours differ from its logged ``former_neighbors``).
    """
    live, notes = initial_graph(scenario)
    status: dict[int, dict[str, Any]] = {
        int(v): {"active": True, "departed": None, "departed_round": None} for v in live.nodes
    }
    positions = {int(v): p for v, p in live.nodes(data="pos") if p is not None}
    _replay(live, status, events, round_, notes)
    out = nx.Graph(warnings=notes, round=round_)
    for pid in sorted(status):
        attrs = dict(status[pid])
        if pid in positions:
            attrs["pos"] = positions[pid]
        out.add_node(pid, **attrs)
    out.add_edges_from(
        (a, b) for a, b in live.edges if status[int(a)]["active"] and status[int(b)]["active"]
    )
    return out


def graph_at(run_dir: str | Path | RunData, round_: int) -> nx.Graph:
    """:func:`reconstruct_graph` of a run directory at round ``round_``.

    Parameters
    ----------
    run_dir : str, Path or RunData
        A run directory or its parsed files.
    round_ : int
        The round to reconstruct.

    Returns
    -------
    networkx.Graph
        See :func:`reconstruct_graph`.
    """
    data = run_dir if isinstance(run_dir, RunData) else load_run_data(run_dir)
    return reconstruct_graph(data.scenario, data.events, round_)


def _union_graph(data: RunData) -> nx.Graph:
    """Every peer and link the run ever had: initial graph, joins' links, repairs."""
    union, _ = initial_graph(data.scenario)
    union = nx.Graph(union)
    for ev in data.events:
        if ev.get("kind") == "join" and ev.get("peer") is not None:
            union.add_node(int(ev["peer"]))
            union.add_edges_from((int(a), int(b)) for a, b in ev.get("links", []))
        for a, b in ev.get("repair_links", []) or []:
            union.add_edge(int(a), int(b))
    for v in graph_at(data, data.round_numbers[-1]).nodes:
        union.add_node(int(v))
    return union


def layout(data: RunData) -> dict[int, tuple[float, float]]:
    """One deterministic position per peer ever seen, shared by every graph panel.

    Node ``pos`` attributes (random geometric, clustered gateways, files) are used when
    every initial node has one; a joined node without a position is put next to the
    peers it linked to. Otherwise a seeded spring layout of the union of every graph the
    run went through. Coordinates are in the builder's units (unitless for springs).
    """
    union = _union_graph(data)
    given = {int(v): p for v, p in union.nodes(data="pos") if p is not None}
    initial = int((data.scenario.get("peers") or {}).get("initial", 0))
    if initial and all(v in given for v in range(initial)):
        pos = {v: (float(p[0]), float(p[1])) for v, p in given.items()}
        for v in sorted(union.nodes):
            if v in pos:
                continue
            anchors = [pos[u] for u in union.neighbors(v) if u in pos]
            rng = np.random.default_rng(derive_seed(0, "report_layout", v))
            jitter = rng.normal(scale=0.03, size=2)
            cx, cy = np.mean(anchors, axis=0) if anchors else rng.random(2)
            pos[v] = (float(cx + jitter[0]), float(cy + jitter[1]))
        return pos
    # start from a circle in id order (a ring stays recognisable), then relax with springs
    start = nx.circular_layout(sorted(union.nodes))
    k = 1.6 / math.sqrt(max(union.number_of_nodes(), 1))
    raw = nx.spring_layout(union, pos=start, seed=0, k=k, iterations=60)
    return {int(v): (float(p[0]), float(p[1])) for v, p in raw.items()}


def replay_notes(data: RunData) -> list[str]:
    """Checks of the reconstruction against what the run recorded at its end.

    The replay's own warnings, then any disagreement of the last round's graph with
    ``summary.json`` (peers online, number of links). Empty when everything agrees.
    """
    notes: list[str] = []
    last = data.round_numbers[-1]
    g = graph_at(data, last)
    notes += list(g.graph.get("warnings", []))
    active = sorted(v for v in g.nodes if g.nodes[v]["active"])
    online = sorted(int(v) for v in data.summary.get("online_at_end") or [])
    if data.summary.get("online_at_end") is not None and active != online:
        notes.append(
            f"the reconstruction has peers {active} online at round {last}, "
            f"summary.json says {online}"
        )
    edges = (data.summary.get("graph") or {}).get("n_edges")
    if edges is not None and edges != g.number_of_edges():
        notes.append(
            f"the reconstruction has {g.number_of_edges()} links at round {last}, "
            f"summary.json says {edges}"
        )
    return notes
