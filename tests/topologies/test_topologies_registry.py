from __future__ import annotations

import pytest

import topologies
from topologies import BUILDERS, TopologyError, build, builder_params


def test_registry_names() -> None:
    assert set(BUILDERS) == {
        "ring",
        "k_regular",
        "erdos_renyi",
        "small_world",
        "scale_free",
        "grid",
        "random_geometric",
        "clustered_gateways",
        "complete",
        "file",
        "edges",
    }
    assert BUILDERS["file"] is topologies.from_file
    assert all(hasattr(topologies, name) for name in topologies.__all__)


def test_build_dispatches() -> None:
    graph = build("grid", 12, seed=0, rows=2)
    assert graph.number_of_edges() == 2 * 5 + 6
    assert build("clustered_gateways", 9, seed=1, gateways=3, backbone="complete").degree(0) >= 2


def test_unknown_kind_lists_valid_names() -> None:
    with pytest.raises(TopologyError, match="unknown topology kind 'torus'") as info:
        build("torus", 5, seed=0)
    for name in BUILDERS:
        assert name in str(info.value)


def test_unexpected_parameter_is_named() -> None:
    with pytest.raises(TopologyError, match="unexpected parameter 'q'") as info:
        build("erdos_renyi", 10, seed=0, p=0.5, q=1)
    assert "p" in str(info.value)


def test_missing_parameter_is_named() -> None:
    with pytest.raises(TopologyError, match="needs parameter 'radius'"):
        build("random_geometric", 10, seed=0)
    with pytest.raises(TopologyError, match="needs parameter 'path'"):
        build("file", 10, seed=0)


def test_builder_rejections_pass_through() -> None:
    with pytest.raises(TopologyError, match="rows"):
        build("grid", 12, seed=0, rows=5)


def test_builder_params() -> None:
    assert builder_params("ring") == {}
    assert builder_params("clustered_gateways") == {"gateways": True, "backbone": False}
    assert builder_params("file") == {"path": True}


@pytest.mark.parametrize(
    ("kind", "n", "params"),
    [
        ("ring", 2, {}),
        ("complete", 0, {}),
        ("k_regular", 10, {"k": 10}),
        ("k_regular", 7, {"k": 3}),
        ("k_regular", 5, {"k": 1}),
        ("erdos_renyi", 10, {"p": 0.0}),
        ("erdos_renyi", 10, {"p": 1.5}),
        ("small_world", 10, {"k": 3, "p": 0.1}),
        ("small_world", 10, {"k": 4, "p": "x"}),
        ("scale_free", 5, {"m": 5}),
        ("grid", 10, {"rows": 3}),
        ("random_geometric", 10, {"radius": -1}),
        ("clustered_gateways", 3, {"gateways": 4}),
        ("clustered_gateways", 5, {"gateways": 2, "backbone": "star"}),
        ("ring", 5, {"k": 2}),
        ("small_world", 10, {"k": 4}),
    ],
)
def test_check_params_raises_what_build_raises(kind: str, n: int, params: dict) -> None:
    with pytest.raises(TopologyError) as built:
        build(kind, n, seed=0, **params)
    with pytest.raises(TopologyError) as checked:
        topologies.check_params(kind, n, seed=0, **params)
    assert str(checked.value) == str(built.value)


def test_check_params_builds_nothing() -> None:
    import time

    t0 = time.perf_counter()
    topologies.check_params("complete", 100_000, seed=0)  # 5e9 edges if built
    topologies.check_params("k_regular", 1_000_000, seed=0, k=4)
    assert time.perf_counter() - t0 < 0.5
