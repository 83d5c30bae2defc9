"""A user's own ``networkx.Graph`` runs end to end and verifies; misuse gets one clear line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml

from hdus_sim import Simulation, verify_run
from hdus_sim.errors import ScenarioError
from hdus_sim.scenario import load_scenario


def _with_graph(tiny: dict[str, Any], graph: Any) -> dict[str, Any]:
    sc = copy.deepcopy({k: v for k, v in tiny.items() if k != "topology"})
    sc["peers"] = {k: v for k, v in sc["peers"].items() if k != "initial"}  # from the graph
    sc["topology"] = graph
    return sc


def test_an_own_graph_runs_and_verifies(tiny: dict[str, Any], tmp_path: Path) -> None:
    graph = nx.cycle_graph(6)
    graph.add_edge(0, 3)  # a chord: not one of our builders' graphs
    sim = Simulation.from_dict(_with_graph(tiny, graph)).run()
    assert sim.scenario.peers.initial == 6 and sim.scenario.topology.kind == "edges"
    run = sim.write(tmp_path / "run")
    written = yaml.safe_load((run / "scenario.yaml").read_text())
    assert [0, 3] in written["topology"]["params"]["edges"]  # the run stands alone
    report = verify_run(run)
    assert report.passed and {e.kind for e in report.events} >= {"leave", "crash"}


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (nx.relabel_nodes(nx.cycle_graph(6), {i: f"n{i}" for i in range(6)}), "relabel them"),
        (nx.DiGraph(nx.cycle_graph(6)), "undirected networkx.Graph"),
        (nx.path_graph(range(1, 7)), "peer ids 0..5"),
    ],
)
def test_a_graph_that_cannot_be_peers_is_one_clear_error(
    tiny: dict[str, Any], graph: Any, message: str
) -> None:
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(_with_graph(tiny, graph))
    assert "\n" not in str(err.value)


def test_peers_initial_must_match_the_graph(tiny: dict[str, Any]) -> None:
    sc = _with_graph(tiny, nx.cycle_graph(6))
    sc["peers"]["initial"] = 8  # two peers with no link
    sc["events"] = []
    with pytest.raises(ScenarioError, match="disconnected"):
        load_scenario(sc)
