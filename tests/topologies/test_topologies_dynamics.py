from __future__ import annotations

import networkx as nx
import pytest

from topologies import (
    ConnectivityReport,
    TopologyError,
    attach,
    clustered_gateways,
    connectivity_report,
    ensure_connected,
    random_geometric,
    repair,
    ring,
    small_world,
)


def edge_set(graph: nx.Graph) -> set[tuple[int, int]]:
    return {(min(u, v), max(u, v)) for u, v in graph.edges()}


@pytest.mark.parametrize("rule", ["random", "preferential", "nearest"])
def test_attach_links_k_nodes_deterministically(rule: str) -> None:
    graph = random_geometric(20, 0.4, seed=1)
    before = edge_set(graph)
    joined = attach(graph, 20, rule=rule, k=3, seed=4)
    assert joined.degree(20) == 3
    assert joined.number_of_nodes() == 21
    assert edge_set(graph) == before and 20 not in graph  # input untouched
    again = attach(graph, 20, rule=rule, k=3, seed=4)
    assert edge_set(again) == edge_set(joined)
    others = [edge_set(attach(graph, 20, rule=rule, k=3, seed=s)) for s in (5, 6, 7, 8)]
    assert any(e != edge_set(joined) for e in others)


@pytest.mark.parametrize("rule", ["random", "preferential"])
def test_attach_to_fewer_than_k_nodes_links_all(rule: str) -> None:
    joined = attach(nx.path_graph(2), 5, rule=rule, k=4, seed=0)
    assert sorted(joined[5]) == [0, 1]


def test_attach_to_empty_graph() -> None:
    joined = attach(nx.Graph(), 0, rule="random", k=2, seed=0)
    assert list(joined.nodes) == [0] and joined.number_of_edges() == 0


def test_attach_nearest_uses_positions() -> None:
    graph = nx.Graph()
    for v, pos in enumerate([(0.0, 0.0), (1.0, 1.0), (0.1, 0.0), (0.9, 1.0)]):
        graph.add_node(v, pos=pos)
    joined = attach(graph, 4, rule="nearest", k=2, seed=0, pos=(0.0, 0.1))
    assert sorted(joined[4]) == [0, 2]
    assert joined.nodes[4]["pos"] == (0.0, 0.1)
    wide = attach(graph, 4, rule="nearest", k=1, seed=0, pos=(0.0, 0.1), radius=0.2)
    assert sorted(wide[4]) == [0, 2]
    drawn = attach(graph, 4, rule="nearest", k=1, seed=0)
    x, y = drawn.nodes[4]["pos"]
    assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0


def test_attach_nearest_without_pos_names_the_fix() -> None:
    with pytest.raises(TopologyError, match="pos"):
        attach(ring(5, seed=0), 5, rule="nearest", k=2, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"node": 3}, "node"),
        ({"node": "new"}, "node"),
        ({"rule": "closest"}, "rule"),
        ({"k": 0}, "k"),
        ({"seed": -1}, "seed"),
        ({"radius": 0.5}, "radius"),
        ({"rule": "nearest", "radius": -1.0, "pos": (0.5, 0.5)}, "radius"),
        ({"pos": (0.5,)}, "pos"),
    ],
)
def test_attach_bad_arguments(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"node": 9, "rule": "random", "k": 2, "seed": 0}
    args.update(kwargs)
    graph = random_geometric(6, 0.8, seed=0)
    with pytest.raises(TopologyError, match=name):
        attach(graph, args.pop("node"), **args)  # type: ignore[arg-type]


REPAIR_GRAPHS = {
    "ring": ring(12, seed=0),
    "small_world": small_world(20, 4, 0.3, seed=2),
    "clustered": clustered_gateways(24, 4, seed=3),
    "star": nx.star_graph(6),
}


@pytest.mark.parametrize("name", sorted(REPAIR_GRAPHS))
@pytest.mark.parametrize("rule", ["reconnect_neighbors", "ring_bridge"])
def test_repair_keeps_graph_connected(name: str, rule: str) -> None:
    graph = REPAIR_GRAPHS[name]
    for node in list(graph.nodes):
        repaired = repair(graph, node, rule=rule, seed=node)
        assert node not in repaired
        assert nx.is_connected(repaired), (name, node)
    assert nx.is_connected(graph) and graph.number_of_nodes() == len(REPAIR_GRAPHS[name])


def test_repair_gateway_rehomes_devices_with_fewest_edges() -> None:
    graph = clustered_gateways(24, 4, seed=3)
    repaired = repair(graph, 0, seed=1)
    orphans = [v for v in graph[0] if graph.nodes[v]["role"] == "device"]
    assert orphans
    assert repaired.number_of_edges() == graph.number_of_edges() - graph.degree(0) + len(orphans)
    heirs = {next(iter(repaired[v])) for v in orphans}
    assert len(heirs) == 1 and repaired.nodes[heirs.pop()]["role"] == "gateway"
    assert edge_set(repair(graph, 0, seed=1)) == edge_set(repaired)


def test_repair_rules_on_a_ring() -> None:
    graph = ring(6, seed=0)
    assert edge_set(repair(graph, 0, rule="none", seed=0)) == edge_set(nx.path_graph(range(1, 6)))
    path = repair(graph, 0, seed=0)  # still connected: nothing to add
    assert path.number_of_edges() == 4
    bridged = repair(graph, 0, rule="ring_bridge", seed=0)
    assert (1, 5) in edge_set(bridged) and all(d == 2 for _, d in bridged.degree())


def test_repair_rule_none_may_disconnect() -> None:
    assert not nx.is_connected(repair(nx.star_graph(3), 0, rule="none", seed=0))


def test_repair_bad_arguments() -> None:
    with pytest.raises(TopologyError, match="node 99"):
        repair(ring(5, seed=0), 99, seed=0)
    with pytest.raises(TopologyError, match="rule"):
        repair(ring(5, seed=0), 1, rule="magic", seed=0)


def test_connectivity_report_on_hand_built_graph() -> None:
    graph = nx.Graph([(0, 1), (1, 2), (2, 3), (4, 5)])
    graph.add_nodes_from([6, 7])
    report = connectivity_report(graph)
    assert report == ConnectivityReport(
        n_nodes=8,
        n_edges=4,
        n_components=4,
        largest_component=4,
        is_connected=False,
        isolated=(6, 7),
        diameter=3,
    )
    assert report.as_dict() == {
        "n_nodes": 8,
        "n_edges": 4,
        "n_components": 4,
        "largest_component": 4,
        "is_connected": False,
        "isolated": [6, 7],
        "diameter": 3,
    }
    with pytest.raises(AttributeError):
        report.n_nodes = 3  # type: ignore[misc]


def test_connectivity_report_edge_cases() -> None:
    empty = connectivity_report(nx.Graph())
    assert (empty.n_components, empty.is_connected, empty.diameter) == (0, False, None)
    single = connectivity_report(nx.empty_graph(1))
    assert (single.is_connected, single.diameter, single.isolated) == (True, 0, (0,))
    assert connectivity_report(ring(10, seed=0)).diameter == 5


def test_ensure_connected_adds_minimum_edges() -> None:
    graph = nx.disjoint_union_all([nx.path_graph(4), nx.path_graph(2), nx.empty_graph(3)])
    joined = ensure_connected(graph, seed=7)
    assert nx.is_connected(joined)
    assert joined.number_of_edges() == graph.number_of_edges() + 4  # 5 components
    assert edge_set(ensure_connected(graph, seed=7)) == edge_set(joined)
    assert not nx.is_connected(graph)  # input untouched
    assert ensure_connected(nx.Graph(), seed=0).number_of_nodes() == 0
