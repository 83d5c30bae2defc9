"""Small graph helpers: canonical node/edge order, seeds, joining components."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

import networkx as nx
import numpy as np

from topologies.errors import TopologyError

__all__ = [
    "MAX_ATTEMPTS",
    "canonical",
    "derive_seed",
    "join_groups",
    "retry_until_connected",
    "sorted_nodes",
]

#: How many derived seeds a random builder tries before giving up on connectivity.
MAX_ATTEMPTS = 100


def sorted_nodes(nodes: Iterable[Hashable]) -> list[Hashable]:
    """Sort nodes by value, falling back to their ``repr`` for mixed types."""
    items = list(nodes)
    try:
        return sorted(items)  # type: ignore[type-var]
    except TypeError:
        return sorted(items, key=repr)


def canonical(graph: nx.Graph) -> nx.Graph:
    """Return a fresh ``nx.Graph`` with nodes and edges inserted in sorted order.

    Iteration order over nodes, edges and neighbours then depends only on the edge set,
    not on how a generator happened to build it.
    """
    out = nx.Graph()
    out.graph.update(graph.graph)
    for v in sorted_nodes(graph.nodes):
        out.add_node(v, **graph.nodes[v])
    edges = [(min(u, v), max(u, v), d) for u, v, d in graph.edges(data=True)]
    for u, v, d in sorted(edges, key=lambda e: (e[0], e[1])):
        out.add_edge(u, v, **d)
    return out


def derive_seed(seed: int, attempt: int) -> int:
    """Return a 64-bit seed derived from ``(seed, attempt)`` (independent streams)."""
    state = np.random.SeedSequence([seed, attempt]).generate_state(1, dtype=np.uint64)
    return int(state[0])


def retry_until_connected(
    make: Callable[[int], nx.Graph], *, seed: int, what: str, fix: str
) -> nx.Graph:
    """Call ``make(derived_seed)`` until it returns a connected graph.

    Raises
    ------
    TopologyError
        If none of :data:`MAX_ATTEMPTS` attempts is connected; ``fix`` says which
        parameter to raise.
    """
    for attempt in range(MAX_ATTEMPTS):
        graph = make(derive_seed(seed, attempt))
        if nx.is_connected(graph):
            return graph
    raise TopologyError(
        f"{what} was not connected in {MAX_ATTEMPTS} attempts (seed={seed}); "
        f"the graph is too sparse: {fix}"
    )


def join_groups(
    graph: nx.Graph, groups: list[list[Hashable]], rng: np.random.Generator
) -> list[tuple[Hashable, Hashable]]:
    """Link disjoint node groups into one with ``len(groups) - 1`` new edges (in place).

    The group lying in the largest connected component (ties: the group listed first)
    is the hub; one of its nodes, drawn from ``rng``, is linked to one node, drawn from
    ``rng``, of every other group. ``groups`` must each be sorted and ordered
    deterministically by the caller. Returns the added edges.
    """
    if len(groups) < 2:
        return []
    sizes = [len(nx.node_connected_component(graph, group[0])) for group in groups]
    hub_index = max(range(len(groups)), key=lambda i: (sizes[i], -i))
    hub = groups[hub_index][int(rng.integers(len(groups[hub_index])))]
    added = []
    for i, group in enumerate(groups):
        if i == hub_index:
            continue
        other = group[int(rng.integers(len(group)))]
        graph.add_edge(hub, other)
        added.append((hub, other))
    return added
