"""Graph dynamics: a node joins, a node leaves, and how connected the result is.

Every function takes a graph and returns a new one (the input is never changed), and is
deterministic under ``seed``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterable
from dataclasses import asdict, dataclass
from numbers import Integral
from typing import Any

import networkx as nx
import numpy as np

from topologies._checks import check_choice, check_int, check_radius, check_seed
from topologies._graphs import join_groups, sorted_nodes
from topologies.errors import TopologyError

__all__ = [
    "ATTACH_RULES",
    "REPAIR_RULES",
    "ConnectivityReport",
    "attach",
    "connectivity_report",
    "ensure_connected",
    "repair",
]

#: Rules accepted by :func:`attach`.
ATTACH_RULES = ("random", "preferential", "nearest")
#: Rules accepted by :func:`repair`.
REPAIR_RULES = ("none", "reconnect_neighbors", "ring_bridge")


def _check_graph(graph: object, *, where: str) -> nx.Graph:
    if not isinstance(graph, nx.Graph):
        raise TopologyError(
            f"{where}: graph must be a networkx.Graph, got {type(graph).__name__}; "
            "build one with topologies.build"
        )
    return graph


def _check_pos(pos: Iterable[float], *, where: str) -> tuple[float, float]:
    """``pos`` as a finite ``(x, y)`` pair; anything else (user input) is refused."""
    try:
        x, y = (float(c) for c in pos)
    except (TypeError, ValueError):
        raise TopologyError(
            f"{where}: pos must be a pair of numbers (x, y), got {pos!r}; pass e.g. pos=(0.5, 0.5)"
        ) from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise TopologyError(f"{where}: pos must be finite, got {pos!r}; pass e.g. pos=(0.5, 0.5)")
    return (x, y)


def _nearest(
    graph: nx.Graph,
    candidates: list[Hashable],
    pos: tuple[float, float],
    k: int,
    radius: float | None,
) -> list[Hashable]:
    missing = [v for v in candidates if graph.nodes[v].get("pos") is None]
    if missing:
        raise TopologyError(
            f"attach: rule='nearest' needs a 'pos' attribute on every node, but nodes "
            f"{missing[:10]} have none; build the graph with random_geometric or "
            "clustered_gateways, set graph.nodes[v]['pos'] = (x, y), or use rule='random'"
        )
    coords = np.array([[float(c) for c in graph.nodes[v]["pos"]][:2] for v in candidates])
    distances = np.hypot(coords[:, 0] - pos[0], coords[:, 1] - pos[1])
    order = np.argsort(distances, kind="stable")
    chosen = set(order[:k].tolist())
    if radius is not None:
        chosen.update(np.flatnonzero(distances <= radius).tolist())
    return [candidates[i] for i in sorted(chosen)]


def attach(
    graph: nx.Graph,
    node: int,
    *,
    rule: str,
    k: int,
    seed: int,
    pos: tuple[float, float] | None = None,
    radius: float | None = None,
) -> nx.Graph:
    """Return a copy of ``graph`` with a joining ``node`` linked to existing nodes.

    Parameters
    ----------
    graph : networkx.Graph
        The current topology (not modified).
    node : int
        Id of the joining node; must not be in ``graph`` yet.
    rule : {"random", "preferential", "nearest"}
        ``"random"``: ``k`` distinct nodes drawn uniformly. ``"preferential"``: ``k``
        distinct nodes drawn with probability proportional to ``degree + 1``.
        ``"nearest"``: the ``k`` nodes nearest to the new node's ``pos`` (Euclidean;
        ties go to the smaller node); every node needs a ``pos`` attribute.
    k : int
        Number of links, at least 1. If fewer than ``k`` nodes exist, links to all.
    seed : int
        Non-negative seed for the draws.
    pos : tuple of float, optional
        Position ``(x, y)`` of the new node, stored as its ``pos`` attribute. With
        ``rule="nearest"`` and no ``pos``, one is drawn uniformly in the unit square.
    radius : float, optional
        Only with ``rule="nearest"``: radio range; the new node also links to every node
        within ``radius`` (so its degree is at least ``k``).

    Returns
    -------
    networkx.Graph
        A new graph with ``node`` added.

    Raises
    ------
    TopologyError
        If ``node`` already exists, an argument is invalid, or ``rule="nearest"`` meets a
        node without ``pos``.

    Examples
    --------
    >>> from topologies import ring
    >>> g = attach(ring(6, seed=0), 6, rule="random", k=2, seed=1)
    >>> g.degree(6), g.number_of_nodes()
    (2, 7)
    """
    where = "attach"
    graph = _check_graph(graph, where=where)
    _check_new_node(graph, node, where=where)
    rule = check_choice(rule, "rule", where=where, choices=ATTACH_RULES)
    k = check_int(k, "k", where=where, minimum=1)
    seed = check_seed(seed, where=where)
    if radius is not None:
        if rule != "nearest":
            raise TopologyError(
                f"{where}: radius only applies to rule='nearest', got rule={rule!r} with "
                f"radius={radius}; drop radius or use rule='nearest'"
            )
        radius = check_radius(radius, "radius", where=where)
    rng = np.random.default_rng(seed)
    if pos is not None:
        pos = _check_pos(pos, where=where)
    elif rule == "nearest":
        x, y = rng.random(2)
        pos = (float(x), float(y))

    out = graph.copy()
    out.add_node(int(node))
    if pos is not None:
        out.nodes[int(node)]["pos"] = pos
    candidates = sorted_nodes(graph.nodes)
    if not candidates:
        return out
    targets = _attach_targets(graph, candidates, rule, min(k, len(candidates)), pos, radius, rng)
    out.add_edges_from((int(node), v) for v in targets)
    return out


def _check_new_node(graph: nx.Graph, node: object, *, where: str) -> None:
    """Refuse a node id that is not an integer or is already in ``graph``."""
    if isinstance(node, bool) or not isinstance(node, Integral):
        raise TopologyError(
            f"{where}: node must be an integer id, got {node!r}; pass e.g. node={len(graph)}"
        )
    if node in graph:
        free = max((v for v in graph if isinstance(v, int)), default=-1) + 1
        raise TopologyError(
            f"{where}: node {node} is already in the graph; pass a new id such as node={free}"
        )


def _attach_targets(
    graph: nx.Graph,
    candidates: list[Hashable],
    rule: str,
    count: int,
    pos: tuple[float, float] | None,
    radius: float | None,
    rng: np.random.Generator,
) -> list[Hashable]:
    """The ``count`` existing nodes a joining node links to under ``rule`` (see :func:`attach`)."""
    if rule == "nearest":
        assert pos is not None
        return _nearest(graph, candidates, pos, count, radius)
    if rule == "preferential":
        weights = np.array([graph.degree(v) + 1 for v in candidates], dtype=float)
        picks = rng.choice(len(candidates), size=count, replace=False, p=weights / weights.sum())
        return [candidates[i] for i in sorted(picks.tolist())]
    picks = rng.choice(len(candidates), size=count, replace=False)
    return [candidates[i] for i in sorted(picks.tolist())]


def repair(
    graph: nx.Graph, node: Hashable, *, rule: str = "reconnect_neighbors", seed: int
) -> nx.Graph:
    """Return a copy of ``graph`` without ``node``, repaired by ``rule``.

    Parameters
    ----------
    graph : networkx.Graph
        The current topology (not modified).
    node : hashable
        The leaving node; must be in ``graph``.
    rule : {"none", "reconnect_neighbors", "ring_bridge"}, optional
        ``"none"``: only remove the node. ``"reconnect_neighbors"`` (default): if the
        removal split the node's component, re-join the pieces holding its former
        neighbours with the fewest new edges: one former neighbour (drawn from ``seed``
        within the largest piece) takes over as hub and links to one former neighbour
        (drawn from ``seed``) of every other piece. ``"ring_bridge"``: link the former
        neighbours in a chain in sorted order (a ring stays a ring).
    seed : int
        Non-negative seed for the draws of ``"reconnect_neighbors"``.

    Returns
    -------
    networkx.Graph
        A new graph without ``node``.

    Raises
    ------
    TopologyError
        If ``node`` is not in ``graph`` or ``rule`` is unknown.

    Examples
    --------
    >>> star = nx.star_graph(3)  # hub 0, leaves 1, 2, 3
    >>> g = repair(star, 0, seed=0)
    >>> g.number_of_edges(), nx.is_connected(g)
    (2, True)
    >>> from topologies import ring
    >>> sorted(repair(ring(4, seed=0), 3, rule="ring_bridge", seed=0).edges())
    [(0, 1), (0, 2), (1, 2)]
    """
    where = "repair"
    graph = _check_graph(graph, where=where)
    if node not in graph:
        raise TopologyError(
            f"{where}: node {node!r} is not in the graph; pass one of its {len(graph)} nodes"
        )
    rule = check_choice(rule, "rule", where=where, choices=REPAIR_RULES)
    seed = check_seed(seed, where=where)
    neighbours = sorted_nodes(graph.neighbors(node))
    out = graph.copy()
    out.remove_node(node)
    if rule == "ring_bridge":
        out.add_edges_from(itertools.pairwise(neighbours))
    elif rule == "reconnect_neighbors" and len(neighbours) > 1:
        groups: dict[int, list[Hashable]] = {}
        component_of: dict[Hashable, int] = {}
        for index, component in enumerate(nx.connected_components(out)):
            for v in component:
                component_of[v] = index
        for v in neighbours:  # sorted, so each group is sorted and groups keep first-seen order
            groups.setdefault(component_of[v], []).append(v)
        join_groups(out, list(groups.values()), np.random.default_rng(seed))
    return out


def ensure_connected(graph: nx.Graph, *, seed: int) -> nx.Graph:
    """Return a copy of ``graph`` whose components are joined with the fewest edges.

    ``c`` components get ``c - 1`` new edges: a node of the largest component (drawn
    from ``seed``) links to one node (drawn from ``seed``) of every other component.

    Parameters
    ----------
    graph : networkx.Graph
        The topology (not modified).
    seed : int
        Non-negative seed for the endpoint draws.

    Returns
    -------
    networkx.Graph
        A connected copy (an empty graph stays empty).

    Raises
    ------
    TopologyError
        If ``graph`` is not a graph or ``seed`` is invalid.

    Examples
    --------
    >>> g = nx.Graph([(0, 1), (2, 3)])
    >>> g.add_node(4)
    >>> h = ensure_connected(g, seed=0)
    >>> h.number_of_edges(), nx.is_connected(h)
    (4, True)
    """
    graph = _check_graph(graph, where="ensure_connected")
    seed = check_seed(seed, where="ensure_connected")
    out = graph.copy()
    components = [sorted_nodes(c) for c in nx.connected_components(out)]
    order = {v: i for i, v in enumerate(sorted_nodes(out.nodes))}
    components.sort(key=lambda c: order[c[0]])
    join_groups(out, components, np.random.default_rng(seed))
    return out


@dataclass(frozen=True, slots=True)
class ConnectivityReport:
    """How connected a topology is.

    Attributes
    ----------
    n_nodes, n_edges : int
        Graph size.
    n_components : int
        Number of connected components (0 for an empty graph).
    largest_component : int
        Number of nodes in the largest component (0 for an empty graph).
    is_connected : bool
        True when there is exactly one component (False for an empty graph).
    isolated : tuple
        Nodes of degree 0, sorted.
    diameter : int or None
        Longest shortest path (in hops) inside the largest component (ties: the one
        holding the smallest node); ``None`` for an empty graph.
    """

    n_nodes: int
    n_edges: int
    n_components: int
    largest_component: int
    is_connected: bool
    isolated: tuple[Hashable, ...]
    diameter: int | None

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a plain dict (``isolated`` as a list), e.g. for JSON.

        Examples
        --------
        >>> connectivity_report(nx.path_graph(3)).as_dict()["diameter"]
        2
        """
        data = asdict(self)
        data["isolated"] = list(self.isolated)
        return data


def connectivity_report(graph: nx.Graph, *, diameter_up_to: int = 2000) -> ConnectivityReport:
    """Summarize the connectivity of ``graph``.

    Parameters
    ----------
    graph : networkx.Graph
        The topology to inspect.
    diameter_up_to : int
        The diameter costs a breadth-first search per node (seconds at 1,000 nodes, an
        hour at 10,000): it is computed when the largest component has at most this many
        nodes, and reported as ``None`` above.

    Returns
    -------
    ConnectivityReport
        Sizes, components, isolated nodes and the diameter of the largest component.

    Raises
    ------
    TopologyError
        If ``graph`` is not a networkx graph.

    Examples
    --------
    >>> g = nx.Graph([(0, 1), (1, 2), (3, 4)])
    >>> g.add_node(5)
    >>> r = connectivity_report(g)
    >>> r.n_components, r.largest_component, r.is_connected, r.isolated, r.diameter
    (3, 3, False, (5,), 2)
    """
    graph = _check_graph(graph, where="connectivity_report")
    components = [sorted_nodes(c) for c in nx.connected_components(graph)]
    diameter: int | None = None
    largest = 0
    if components:
        order = {v: i for i, v in enumerate(sorted_nodes(graph.nodes))}
        biggest = min(components, key=lambda c: (-len(c), order[c[0]]))
        largest = len(biggest)
        if largest <= 1:
            diameter = 0
        elif largest <= diameter_up_to:
            diameter = int(nx.diameter(graph.subgraph(biggest), usebounds=True))
    return ConnectivityReport(
        n_nodes=graph.number_of_nodes(),
        n_edges=graph.number_of_edges(),
        n_components=len(components),
        largest_component=largest,
        is_connected=len(components) == 1,
        isolated=tuple(sorted_nodes(v for v, d in graph.degree() if d == 0)),
        diameter=diameter,
    )
