"""Ray CPU requests fit every actor on some node, not merely in the cluster's total."""

from __future__ import annotations

import pytest

from hdus_sim.runtime.ray_cluster import _packs, cpu_requests


@pytest.mark.parametrize(
    ("wanted", "nodes"),
    [
        ([0.65, 0.65, 0.65], [1.0, 1.0]),  # the README's two 1-CPU nodes: hung before
        ([2.5, 0.3, 0.3, 0.3], [1.0, 1.0, 4.0]),  # a gateway actor larger than small nodes
        ([0.1] * 200, [2.0]),  # a fleet's actors on a laptop
        ([1.6] * 12, [1.0, 1.0]),
    ],
)
def test_requests_pack_into_the_nodes_and_keep_proportions(
    wanted: list[float], nodes: list[float]
) -> None:
    got = cpu_requests(wanted, nodes)
    assert _packs(got, [0.9 * n for n in nodes])
    assert all(0 < g <= w for g, w in zip(got, wanted, strict=True))
    assert all(g == int(g) or g < 1 for g in got)  # Ray refuses fractions above 1
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    assert [got[i] for i in order] == sorted(got)  # a larger device still asks for more


def test_requests_that_fit_are_left_alone() -> None:
    assert cpu_requests([0.5, 0.25, 1.0], [2.0, 2.0]) == [0.5, 0.25, 1.0]


def test_scaling_to_the_total_alone_would_not_fit() -> None:
    wanted, nodes = [0.65, 0.65, 0.65], [1.0, 1.0]
    by_total = [w * min(1.0, 0.9 * sum(nodes) / sum(wanted)) for w in wanted]
    assert not _packs(by_total, [0.9 * n for n in nodes])  # the old rule: one stays pending
    assert _packs(cpu_requests(wanted, nodes), [0.9 * n for n in nodes])
