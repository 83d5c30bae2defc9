"""The run plan: one graph, one device assignment and one churn plan for the whole run."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import networkx as nx

from hdus_sim.plan import resolve_plan
from hdus_sim.scenario import load_scenario
from hdus_sim.simulation import Simulation


def test_battery_depletion_takes_initial_peers_offline(tiny: dict[str, Any]) -> None:
    sc = copy.deepcopy(tiny)
    sc["events"] = []
    sc["rounds"] = 8
    sc["churn"] = {"battery": {"capacity": 3, "drain": {"sensor": 1.0}, "recharge": 2}}
    scenario = load_scenario(sc)
    plan = scenario.churn_plan
    assert plan is not None
    assert not any("battery" in w for w in plan.warnings), plan.warnings
    sensors = {p for p, d in scenario.initial_devices.items() if d == "sensor"}
    assert sensors and sensors != set(scenario.initial_devices)
    drained = {e.peer for e in plan.events if e.cause == "battery" and e.kind == "leave"}
    assert drained == sensors  # every initial sensor runs flat after 3 rounds, no phone does
    assert all(e.at == 3 for e in plan.events if e.cause == "battery" and e.kind == "leave")

    sim = Simulation(scenario)
    sim.run()
    departed = {d["peer"] for d in sim.summary()["departures"]}
    assert sensors <= departed
    assert not any(e["kind"] == "churn_note" for e in sim.events)


def test_validation_and_the_run_share_one_initial_graph(tiny: dict[str, Any]) -> None:
    sc = copy.deepcopy(tiny)
    sc["events"] = []
    sc["peers"]["initial"] = 12
    sc["topology"] = {"kind": "erdos_renyi", "params": {"p": 0.3}}
    scenario = load_scenario(sc)
    validated = scenario.__dict__.get("initial_graph")
    assert isinstance(validated, nx.Graph)  # validation built it (and checked it whole)
    sim = Simulation(scenario).build()
    try:
        assert sim.plan.graph is validated
        assert sorted(sim.graph.edges) == sorted(validated.edges)
        # a different seed draws a different graph: the identity above is not luck
        other = load_scenario({**sc, "seed": sc["seed"] + 1})
        assert sorted(other.initial_graph.edges) != sorted(validated.edges)
    finally:
        sim.close()


def test_the_plan_names_every_request_and_pickles_whole(tiny: dict[str, Any]) -> None:
    sc = copy.deepcopy(tiny)
    sc["events"].append({"at": 2, "kind": "delete", "peer": 0, "count": 4})
    sc["events"].append({"at": 3, "kind": "delete", "peer": 0, "fraction": 0.1})
    scenario = load_scenario(sc)
    train_ids = {0: list(range(100, 160)), 2: list(range(10))}
    plan = resolve_plan(scenario, train_ids, withheld_points={0: [100, 101]})
    requests = plan.requests
    # ids by position in schedule order: leave, join, delete at round 2; crash, delete at 3
    assert sorted(requests) == ["del-2", "del-4"]
    first, second = requests["del-2"].ids, requests["del-4"].ids
    assert first is not None and second is not None
    assert len(first) == 4 and not set(first) & set(second)  # drawn without replacement
    assert plan.peer_spec(0, 0).withheld_points == frozenset({100, 101})
    assert plan.peer_spec(2, 0).withheld_points == frozenset()
    again = pickle.loads(pickle.dumps(plan))  # what a host process receives
    assert again.requests == requests and again.devices == plan.devices
    assert sorted(again.graph.edges) == sorted(plan.graph.edges)
    # the same scenario resolves to the same plan
    assert resolve_plan(scenario, train_ids).requests == resolve_plan(scenario, train_ids).requests
