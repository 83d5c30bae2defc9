from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from topologies import (
    BUILDERS,
    TopologyError,
    clustered_gateways,
    complete,
    erdos_renyi,
    grid,
    k_regular,
    random_geometric,
    ring,
    scale_free,
    small_world,
)

# kind -> (n, params) small enough to keep the suite fast.
CASES: dict[str, tuple[int, dict[str, Any]]] = {
    "ring": (12, {}),
    "k_regular": (12, {"k": 3}),
    "erdos_renyi": (30, {"p": 0.2}),
    "small_world": (20, {"k": 4, "p": 0.2}),
    "scale_free": (25, {"m": 2}),
    "grid": (12, {}),
    "random_geometric": (30, {"radius": 0.35}),
    "clustered_gateways": (20, {"gateways": 4}),
    "complete": (6, {}),
    "edges": (6, {"edges": [[i, (i + 1) % 6] for i in range(6)] + [[0, 3]]}),
}
RANDOM = {"k_regular", "erdos_renyi", "small_world", "scale_free", "random_geometric"}
RANDOM |= {"clustered_gateways"}
DETERMINISTIC = set(CASES) - RANDOM


def make(kind: str, seed: int = 0) -> nx.Graph:
    n, params = CASES[kind]
    return BUILDERS[kind](n, seed=seed, **params)


def edge_set(graph: nx.Graph) -> set[tuple[int, int]]:
    return {(min(u, v), max(u, v)) for u, v in graph.edges()}


def test_cases_cover_every_builder_but_file() -> None:
    assert set(CASES) == set(BUILDERS) - {"file"}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_size_labels_and_connectivity(kind: str) -> None:
    graph = make(kind)
    n, _ = CASES[kind]
    assert type(graph) is nx.Graph
    assert graph.number_of_nodes() == n
    assert sorted(graph.nodes) == list(range(n))
    assert list(graph.nodes) == list(range(n))  # canonical insertion order
    assert nx.is_connected(graph)
    assert nx.number_of_selfloops(graph) == 0


@pytest.mark.parametrize("kind", sorted(CASES))
def test_returns_a_fresh_graph(kind: str) -> None:
    first, second = make(kind), make(kind)
    assert first is not second
    first.add_edge(0, 999)
    assert 999 not in second


@pytest.mark.parametrize("kind", sorted(CASES))
def test_same_seed_same_graph(kind: str) -> None:
    assert edge_set(make(kind, seed=5)) == edge_set(make(kind, seed=5))
    assert dict(make(kind, seed=5).nodes(data=True)) == dict(make(kind, seed=5).nodes(data=True))


@pytest.mark.parametrize("kind", sorted(RANDOM))
def test_random_builders_depend_on_seed(kind: str) -> None:
    base = edge_set(make(kind, seed=0))
    assert any(edge_set(make(kind, seed=s)) != base for s in (1, 2, 3, 4))


@pytest.mark.parametrize("kind", sorted(DETERMINISTIC))
def test_deterministic_builders_ignore_seed(kind: str) -> None:
    assert edge_set(make(kind, seed=0)) == edge_set(make(kind, seed=123))


@pytest.mark.parametrize("kind", sorted(CASES))
def test_pos_and_role_attributes(kind: str) -> None:
    graph = make(kind)
    has_pos = kind in {"random_geometric", "clustered_gateways"}
    for _, data in graph.nodes(data=True):
        assert ("pos" in data) is has_pos
        assert ("role" in data) is (kind == "clustered_gateways")
        if has_pos:
            x, y = data["pos"]
            assert isinstance(data["pos"], tuple)
            assert isinstance(x, float) and isinstance(y, float)
            assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("seed", [-1, 1.5, "7", None, True])
def test_bad_seed_is_named(kind: str, seed: object) -> None:
    n, params = CASES[kind]
    with pytest.raises(TopologyError, match="seed"):
        BUILDERS[kind](n, seed=seed, **params)


BAD_ARGUMENTS = [
    (ring, (2,), {}, "n"),
    (ring, (3.0,), {}, "n"),
    (complete, (0,), {}, "n"),
    (k_regular, (10, 10), {}, "k"),
    (k_regular, (5, 3), {}, "n\\*k"),
    (k_regular, (6, 1), {}, "k"),
    (k_regular, (6, 0), {}, "k"),
    (erdos_renyi, (10, 1.5), {}, "p"),
    (erdos_renyi, (10, -0.1), {}, "p"),
    (erdos_renyi, (10, 0.0), {}, "p"),
    (erdos_renyi, (0, 0.5), {}, "n"),
    (small_world, (10, 3, 0.1), {}, "k"),
    (small_world, (10, 10, 0.1), {}, "k"),
    (small_world, (10, 4, 2.0), {}, "p"),
    (small_world, (2, 2, 0.1), {}, "n"),
    (scale_free, (5, 5), {}, "m"),
    (scale_free, (5, 0), {}, "m"),
    (grid, (12,), {"rows": 5}, "rows"),
    (grid, (12,), {"rows": 0}, "rows"),
    (grid, (0,), {}, "n"),
    (random_geometric, (10, 0.0), {}, "radius"),
    (random_geometric, (10, float("nan")), {}, "radius"),
    (random_geometric, (10, "far"), {}, "radius"),
    (clustered_gateways, (5, 6), {}, "gateways"),
    (clustered_gateways, (5, 0), {}, "gateways"),
    (clustered_gateways, (5, 2), {"backbone": "star"}, "backbone"),
]


@pytest.mark.parametrize(("func", "args", "kwargs", "name"), BAD_ARGUMENTS)
def test_bad_arguments_name_the_parameter(
    func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(TopologyError, match=name) as info:
        func(*args, seed=0, **kwargs)
    assert isinstance(info.value, ValueError)
    assert func.__name__ in str(info.value)


@pytest.mark.parametrize(
    ("func", "args", "name"),
    [
        (erdos_renyi, (60, 0.005), "p"),
        (random_geometric, (60, 0.02), "radius"),
    ],
)
def test_too_sparse_raises_and_says_to_raise_density(
    func: Any, args: tuple[Any, ...], name: str
) -> None:
    with pytest.raises(TopologyError, match=f"raise {name}"):
        func(*args, seed=0)


def test_ring_and_complete_shapes() -> None:
    assert all(d == 2 for _, d in ring(7, seed=0).degree())
    assert complete(6, seed=0).number_of_edges() == 15
    assert complete(1, seed=0).number_of_nodes() == 1


def test_k_regular_degrees() -> None:
    graph = k_regular(20, 4, seed=3)
    assert {d for _, d in graph.degree()} == {4}
    assert nx.is_connected(k_regular(2, 1, seed=0))


def test_small_world_edge_count() -> None:
    assert small_world(30, 6, 0.3, seed=1).number_of_edges() == 90


def test_grid_most_square_and_rows() -> None:
    square = grid(12, seed=0)  # 3 x 4
    assert square.number_of_edges() == 3 * 3 + 2 * 4
    assert sorted(d for _, d in square.degree()).count(2) == 4  # corners
    line = grid(7, seed=0)  # prime -> 1 x 7 line
    assert nx.is_isomorphic(line, nx.path_graph(7))
    tall = grid(12, seed=0, rows=6)  # 6 x 2
    assert tall.number_of_edges() == 6 * 1 + 5 * 2
    assert grid(1, seed=0).number_of_nodes() == 1


def test_clustered_gateways_structure() -> None:
    graph = clustered_gateways(30, 5, seed=2)
    gateways = [v for v, role in graph.nodes(data="role") if role == "gateway"]
    assert gateways == [0, 1, 2, 3, 4]
    assert nx.is_isomorphic(graph.subgraph(gateways), nx.cycle_graph(5))
    for device in range(5, 30):
        (gateway,) = graph[device]
        assert gateway in gateways
        # each device hangs off its nearest gateway
        px, py = graph.nodes[device]["pos"]
        dist = {
            g: (graph.nodes[g]["pos"][0] - px) ** 2 + (graph.nodes[g]["pos"][1] - py) ** 2
            for g in gateways
        }
        assert dist[gateway] == min(dist.values())
    full = clustered_gateways(30, 5, seed=2, backbone="complete")
    assert full.subgraph(range(5)).number_of_edges() == 10
    assert clustered_gateways(4, 1, seed=0).number_of_edges() == 3
    assert clustered_gateways(4, 2, seed=0).number_of_edges() == 3
