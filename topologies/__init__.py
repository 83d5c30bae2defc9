"""Topologies for decentralized learning at the IoT edge, built on NetworkX.

Pure functions only: builders return a fresh :class:`networkx.Graph` on nodes
``0 .. n-1``; dynamics take a graph and return a changed copy. Everything is
deterministic under an integer ``seed``.

Examples
--------
>>> import topologies
>>> g = topologies.build("small_world", 10, seed=0, k=4, p=0.1)
>>> g.number_of_nodes(), topologies.connectivity_report(g).is_connected
(10, True)
"""

from __future__ import annotations

from topologies.builders import (
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
from topologies.dynamics import (
    ConnectivityReport,
    attach,
    connectivity_report,
    ensure_connected,
    repair,
)
from topologies.errors import TopologyError
from topologies.inline import from_edges, networkx_topology
from topologies.io import from_file
from topologies.registry import BUILDERS, build, builder_params, check_params

__all__ = [
    "BUILDERS",
    "ConnectivityReport",
    "TopologyError",
    "attach",
    "build",
    "builder_params",
    "check_params",
    "clustered_gateways",
    "complete",
    "connectivity_report",
    "ensure_connected",
    "erdos_renyi",
    "from_edges",
    "from_file",
    "grid",
    "k_regular",
    "networkx_topology",
    "random_geometric",
    "repair",
    "ring",
    "scale_free",
    "small_world",
]
