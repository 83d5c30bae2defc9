"""Name -> builder registry and :func:`build`, the one entry point used by scenarios."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import networkx as nx

from topologies.builders import (
    ARGUMENT_CHECKS,
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
from topologies.errors import TopologyError
from topologies.inline import check_edges_args, from_edges
from topologies.io import from_file

__all__ = ["BUILDERS", "build", "builder_params", "check_params"]

#: Topology name -> builder function. ``"file"`` loads :func:`~topologies.io.from_file`.
BUILDERS: dict[str, Callable[..., nx.Graph]] = {
    "ring": ring,
    "k_regular": k_regular,
    "erdos_renyi": erdos_renyi,
    "small_world": small_world,
    "scale_free": scale_free,
    "grid": grid,
    "random_geometric": random_geometric,
    "clustered_gateways": clustered_gateways,
    "complete": complete,
    "file": from_file,
    "edges": from_edges,
}

_COMMON = ("n", "seed")


def builder_params(kind: str) -> dict[str, bool]:
    """Return the extra parameters of builder ``kind`` mapped to whether each is required.

    ``n`` and ``seed`` (common to all builders) are left out.

    Parameters
    ----------
    kind : str
        A key of :data:`BUILDERS`.

    Returns
    -------
    dict of str to bool
        Parameter name -> ``True`` if it has no default.

    Raises
    ------
    TopologyError
        If ``kind`` is unknown.

    Examples
    --------
    >>> builder_params("grid"), builder_params("small_world")
    ({'rows': False}, {'k': True, 'p': True})
    """
    func = _lookup(kind)
    return {
        name: param.default is inspect.Parameter.empty
        for name, param in inspect.signature(func).parameters.items()
        if name not in _COMMON
    }


def _lookup(kind: str) -> Callable[..., nx.Graph]:
    if not isinstance(kind, str) or kind not in BUILDERS:
        valid = ", ".join(sorted(BUILDERS))
        raise TopologyError(f"unknown topology kind {kind!r}; valid kinds are: {valid}")
    return BUILDERS[kind]


def build(kind: str, n: int, *, seed: int, **params: Any) -> nx.Graph:
    """Build the topology named ``kind`` with ``n`` nodes.

    Parameters
    ----------
    kind : str
        A key of :data:`BUILDERS`.
    n : int
        Number of nodes. For ``kind="file"`` it must equal the node count of the file
        (a check that the scenario and the file agree).
    seed : int
        Non-negative seed passed to the builder.
    **params
        The builder's own parameters, e.g. ``k`` for ``"k_regular"``; ``path`` for
        ``"file"``.

    Returns
    -------
    networkx.Graph
        The built graph, nodes ``0 .. n-1``.

    Raises
    ------
    TopologyError
        If ``kind`` is unknown, a parameter is missing or unexpected (the message lists
        the accepted ones), or the builder rejects a value.

    Examples
    --------
    >>> build("k_regular", 8, seed=0, k=3).number_of_edges()
    12
    >>> build("ring", 4, seed=0, k=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    topologies.errors.TopologyError: topology 'ring' got unexpected parameter 'k'; ...
    """
    func = _lookup(kind)
    _check_names(kind, params)
    if kind == "file":
        graph = func(seed=seed, **params)
        if graph.number_of_nodes() != n:
            raise TopologyError(
                f"topology 'file': n={n} but {str(params['path'])!r} holds "
                f"{graph.number_of_nodes()} nodes; set n={graph.number_of_nodes()}"
            )
        return graph
    return func(n, seed=seed, **params)


def check_params(kind: str, n: int, *, seed: int, **params: Any) -> None:
    """Check what :func:`build` would be given, without building (``"file"``: it is read).

    Raises exactly the :class:`~topologies.errors.TopologyError` that :func:`build` raises
    for an unknown kind, a missing or unexpected parameter or an out-of-range value, in
    constant time for the builders. Only a random builder's connectivity retry (a graph
    too sparse to be connected in 100 draws) is left to :func:`build`.

    Examples
    --------
    >>> check_params("complete", 100_000, seed=0)  # 5 billion edges: checked, not built
    >>> check_params("small_world", 10, seed=0, k=3, p=0.1)
    Traceback (most recent call last):
    ...
    topologies.errors.TopologyError: small_world: k must be even (k/2 neighbours on each side), got k=3; pass k=2 or k=4
    """  # noqa: E501
    _lookup(kind)
    _check_names(kind, params)
    if kind == "file":
        build(kind, n, seed=seed, **params)
        return
    checks = {**ARGUMENT_CHECKS, "edges": check_edges_args}
    checks[kind](n, seed=seed, **params)


def _check_names(kind: str, params: dict[str, Any]) -> None:
    """Refuse a missing or unexpected parameter of builder ``kind``, listing the accepted."""
    accepted = builder_params(kind)
    if accepted:
        listing = "n, seed and " + ", ".join(
            name if required else f"{name} (optional)" for name, required in accepted.items()
        )
    else:
        listing = "n and seed only"
    for name in params:
        if name not in accepted:
            raise TopologyError(
                f"topology {kind!r} got unexpected parameter {name!r}; {kind} accepts {listing}"
            )
    for name, required in accepted.items():
        if required and name not in params:
            raise TopologyError(
                f"topology {kind!r} needs parameter {name!r}; {kind} accepts {listing}"
            )
