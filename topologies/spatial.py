"""Builders of graphs laid out in space or by role: random geometric and clustered gateways.

Like every builder (see :mod:`topologies.builders`), pure functions of ``n`` and ``seed``
returning a connected :class:`networkx.Graph` on ``0 .. n-1``; these also give nodes a
``pos`` or a ``role`` attribute (``gateway`` / ``device``).
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from topologies._checks import (
    check_choice,
    check_int,
    check_radius,
    check_seed,
)
from topologies._graphs import canonical, retry_until_connected
from topologies.errors import TopologyError

__all__ = [
    "BACKBONES",
    "clustered_gateways",
    "clustered_gateways_args",
    "random_geometric",
    "random_geometric_args",
]

#: Backbones accepted by :func:`clustered_gateways`.
BACKBONES = ("ring", "complete")


def random_geometric(n: int, radius: float, *, seed: int) -> nx.Graph:
    """Return a connected random geometric graph: IoT devices with a radio range.

    Nodes are dropped uniformly in the unit square; two nodes are linked when their
    Euclidean distance is at most ``radius``.

    Parameters
    ----------
    n : int
        Number of nodes, at least 1.
    radius : float
        Radio range in unit-square lengths, ``> 0``. Connectivity needs ``radius``
        above about ``sqrt(ln(n) / (pi n))``.
    seed : int
        Non-negative seed; the same seed gives the same graph.

    Returns
    -------
    networkx.Graph
        A connected graph on nodes ``0 .. n-1``; node attribute ``pos`` is an
        ``(x, y)`` tuple of floats in ``[0, 1]``.

    Raises
    ------
    TopologyError
        If an argument is out of range, or no connected graph was drawn (raise ``radius``).

    Examples
    --------
    >>> g = random_geometric(30, 0.4, seed=2)
    >>> nx.is_connected(g), len(g.nodes[0]["pos"])
    (True, 2)
    """
    n, radius, seed = random_geometric_args(n, radius, seed=seed)
    threshold = math.sqrt(math.log(max(n, 2)) / (math.pi * n))
    graph = retry_until_connected(
        lambda s: nx.random_geometric_graph(n, radius, seed=s),
        seed=seed,
        what=f"random_geometric(n={n}, radius={radius})",
        fix=f"raise radius above about sqrt(ln(n)/(pi n)) = {threshold:.3g}",
    )
    for v, pos in graph.nodes(data="pos"):
        graph.nodes[v]["pos"] = (float(pos[0]), float(pos[1]))
    return canonical(graph)


def random_geometric_args(n: int, radius: float, *, seed: int) -> tuple[int, float, int]:
    """Check :func:`random_geometric`'s arguments; return them normalised."""
    where = "random_geometric"
    n = check_int(n, "n", where=where, minimum=1)
    radius = check_radius(radius, "radius", where=where)
    return n, radius, check_seed(seed, where=where)


def clustered_gateways(n: int, gateways: int, *, seed: int, backbone: str = "ring") -> nx.Graph:
    """Return an IoT edge topology: star clusters of devices around linked gateways.

    Nodes ``0 .. gateways-1`` are gateways joined by a backbone; every other node is a
    device attached to the gateway nearest to it. All positions are drawn uniformly in
    the unit square from ``seed``, so the assignment is deterministic.

    Parameters
    ----------
    n : int
        Total number of nodes (gateways plus devices), at least 1.
    gateways : int
        Number of gateways, ``1 <= gateways <= n``.
    seed : int
        Non-negative seed for the positions.
    backbone : {"ring", "complete"}, optional
        How gateways are linked: a cycle (a single edge for 2 gateways) or all pairs.

    Returns
    -------
    networkx.Graph
        A connected graph on nodes ``0 .. n-1``. Node attributes: ``role``
        (``"gateway"`` or ``"device"``) and ``pos`` (``(x, y)`` floats in ``[0, 1]``).

    Raises
    ------
    TopologyError
        If an argument is out of range or ``backbone`` is unknown.

    Examples
    --------
    >>> g = clustered_gateways(10, 3, seed=0)
    >>> [g.nodes[v]["role"] for v in (0, 2, 3)]
    ['gateway', 'gateway', 'device']
    >>> all(g.degree(v) == 1 for v in range(3, 10)), nx.is_connected(g)
    (True, True)
    """
    n, gateways, seed, backbone = clustered_gateways_args(n, gateways, seed=seed, backbone=backbone)
    positions = np.random.default_rng(seed).random((n, 2))
    if backbone == "complete":
        graph = nx.complete_graph(gateways)
    else:  # a cycle; one or two gateways get a single node or a single edge
        graph = nx.cycle_graph(gateways) if gateways >= 3 else nx.path_graph(gateways)
    for v in range(n):
        graph.add_node(
            v,
            role="gateway" if v < gateways else "device",
            pos=(float(positions[v, 0]), float(positions[v, 1])),
        )
    if n > gateways:
        devices = positions[gateways:]
        distances = np.linalg.norm(devices[:, None, :] - positions[None, :gateways, :], axis=2)
        nearest = np.argmin(distances, axis=1)
        for offset, gateway in enumerate(nearest):
            graph.add_edge(gateways + offset, int(gateway))
    return canonical(graph)


def clustered_gateways_args(
    n: int, gateways: int, *, seed: int, backbone: str = "ring"
) -> tuple[int, int, int, str]:
    """Check :func:`clustered_gateways`'s arguments; return them normalised."""
    where = "clustered_gateways"
    n = check_int(n, "n", where=where, minimum=1)
    gateways = check_int(gateways, "gateways", where=where, minimum=1)
    seed = check_seed(seed, where=where)
    backbone = check_choice(backbone, "backbone", where=where, choices=BACKBONES)
    if gateways > n:
        raise TopologyError(
            f"{where}: gateways must be <= n={n}, got gateways={gateways}; "
            f"pass gateways={n} or less, or raise n"
        )
    return n, gateways, seed, backbone


#: Builder name -> a function taking the builder's arguments that checks them (raising
#: :class:`~topologies.errors.TopologyError` as the builder would) without building.
