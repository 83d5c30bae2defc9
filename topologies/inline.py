"""A topology given as data: an edge list in the scenario, or a user's ``networkx.Graph``.

``kind: edges`` keeps the graph inside the scenario (``params.edges: [[u, v], ...]`` over
nodes ``0 .. n-1``), so a run's ``scenario.yaml`` stands alone, wherever it is read.
:func:`networkx_topology` turns a graph built in Python into that form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx

from topologies._checks import check_seed
from topologies._graphs import canonical
from topologies.errors import TopologyError

__all__ = ["from_edges", "networkx_topology"]


def _checked_edges(n: int, edges: Any) -> list[tuple[int, int]]:
    """The edge list as ``(u, v)`` pairs of node ids in ``0..n-1``, or a clear error."""
    if isinstance(edges, str | bytes) or not isinstance(edges, Sequence):
        raise TopologyError(
            f"topology 'edges': params.edges must be a list of [u, v] pairs, got "
            f"{type(edges).__name__}"
        )
    out = []
    for i, edge in enumerate(edges):
        ok = isinstance(edge, Sequence) and not isinstance(edge, str | bytes) and len(edge) == 2
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in edge):
            raise TopologyError(
                f"topology 'edges': edges[{i}] = {edge!r} is not a pair of integer node ids; "
                "write it as [u, v]"
            )
        u, v = int(edge[0]), int(edge[1])
        if not (0 <= u < n and 0 <= v < n):
            raise TopologyError(
                f"topology 'edges': edges[{i}] = [{u}, {v}] names a node outside 0..{n - 1}; "
                f"set n (peers.initial) to at least {max(u, v) + 1} or fix the edge"
            )
        if u == v:
            raise TopologyError(
                f"topology 'edges': edges[{i}] = [{u}, {v}] is a self-loop; remove it"
            )
        out.append((u, v))
    return out


def check_edges_args(n: int, *, seed: int = 0, edges: Any) -> None:
    """Check what :func:`from_edges` would be given (O(edges), nothing built)."""
    check_seed(seed, where="edges")
    _checked_edges(n, edges)


def from_edges(n: int, *, seed: int = 0, edges: Sequence[Sequence[int]]) -> nx.Graph:
    """The graph on nodes ``0 .. n-1`` with ``edges`` (``seed`` is unused: nothing is random).

    Examples
    --------
    >>> g = from_edges(4, edges=[[0, 1], [1, 2], [2, 3]])
    >>> g.number_of_nodes(), sorted(g.edges)
    (4, [(0, 1), (1, 2), (2, 3)])
    """
    check_seed(seed, where="edges")
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(_checked_edges(n, edges))
    return canonical(graph)


def networkx_topology(graph: Any) -> dict[str, Any]:
    """A scenario ``topology`` section (``kind: edges``) holding ``graph``'s edges.

    Nodes must be the integers ``0 .. n-1`` (they become peer ids); relabel others with
    ``networkx.convert_node_labels_to_integers(graph)``. Node and edge attributes are not
    kept (the edge list is the topology).

    Examples
    --------
    >>> networkx_topology(nx.path_graph(3))
    {'kind': 'edges', 'params': {'edges': [[0, 1], [1, 2]]}}
    """
    if not isinstance(graph, nx.Graph) or graph.is_directed() or graph.is_multigraph():
        raise TopologyError(
            f"topology: expected an undirected networkx.Graph, got {type(graph).__name__}; "
            "convert it with networkx.Graph(g)"
        )
    nodes = list(graph.nodes)
    n = len(nodes)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in nodes) or set(nodes) != set(
        range(n)
    ):
        shown = sorted(map(repr, nodes))[:5]
        raise TopologyError(
            f"topology: the graph's nodes must be the peer ids 0..{n - 1}, got {shown}...; "
            "relabel them with networkx.convert_node_labels_to_integers(graph)"
        )
    edges = sorted([min(u, v), max(u, v)] for u, v in graph.edges if u != v)
    return {"kind": "edges", "params": {"edges": edges}}
