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
