"""Which device class each peer is: drawn from the scenario's mix with its seed.

Pure functions of the scenario's numbers (no scenario object), so the schema's checks, the
churn planner and the run plan all call the very same code and agree on every device.
Initial peers get the mix in proportion (largest remainder), shuffled by the seed; a
topology role can override that (gateways of a ``clustered_gateways`` graph run the gateway
model); a joiner without a device of its own gets one drawn by its id.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
import numpy as np

from hdus_sim.rng import derive_seed

__all__ = ["draw_device", "initial_devices"]


def _weights(mix: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    names = sorted(mix)
    weights = np.array([mix[n] for n in names], dtype=float)
    return names, weights / weights.sum()


def draw_device(seed: int, peer: int, mix: Mapping[str, float]) -> str:
    """The device class of a joining peer, drawn from ``mix`` by its own id.

    Examples
    --------
    >>> draw_device(0, 12, {"sensor": 1.0}) == "sensor"
    True
    >>> draw_device(3, 5, {"a": 1, "b": 1}) == draw_device(3, 5, {"b": 1, "a": 1})
    True
    """
    names, weights = _weights(mix)
    rng = np.random.default_rng(derive_seed(seed, "device", peer))
    return names[int(rng.choice(len(names), p=weights))]


def initial_devices(
    seed: int,
    n: int,
    mix: Mapping[str, float],
    *,
    graph: nx.Graph | None = None,
    by_role: Mapping[str, str] | None = None,
) -> dict[int, str]:
    """Device class of the initial peers ``0..n-1``.

    ``mix`` is shared out in proportion (largest remainder) and shuffled with the seed;
    then every node of ``graph`` whose ``role`` attribute is in ``by_role`` gets that class.

    Examples
    --------
    >>> sorted(initial_devices(0, 4, {"sensor": 1, "phone": 1}).values())
    ['phone', 'phone', 'sensor', 'sensor']
    >>> g = nx.path_graph(3)
    >>> nx.set_node_attributes(g, {1: "gateway"}, "role")
    >>> initial_devices(0, 3, {"sensor": 1}, graph=g, by_role={"gateway": "gateway"})[1]
    'gateway'
    """
    names, weights = _weights(mix)
    quotas = weights * n
    counts = np.floor(quotas).astype(int)
    for i in np.argsort(-(quotas - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    pool = [name for name, c in zip(names, counts, strict=True) for _ in range(c)]
    rng = np.random.default_rng(derive_seed(seed, "devices"))
    rng.shuffle(pool)
    devices = dict(enumerate(pool))
    if graph is not None and by_role:
        for node, data in graph.nodes(data=True):
            if data.get("role") in by_role:
                devices[node] = by_role[data["role"]]
    return devices
