"""Graph builders: one pure function per topology family.

Every builder takes the number of nodes ``n`` first, a required keyword-only ``seed``
(ignored by the deterministic ones, so all builders share one calling convention),
validates its arguments before doing any work, and returns a fresh :class:`networkx.Graph`
whose nodes are the integers ``0 .. n-1``. Random builders always return a connected
graph: they retry with seeds derived from ``(seed, attempt)`` and raise
:class:`~topologies.errors.TopologyError` if the parameters are too sparse.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import networkx as nx

from topologies._checks import (
    check_int,
    check_probability,
    check_seed,
)
from topologies._graphs import canonical, retry_until_connected
from topologies.errors import TopologyError
from topologies.spatial import (
    BACKBONES,
    clustered_gateways,
    clustered_gateways_args,
    random_geometric,
    random_geometric_args,
)

__all__ = [
    "ARGUMENT_CHECKS",
    "BACKBONES",
    "clustered_gateways",
    "complete",
    "erdos_renyi",
    "grid",
    "k_regular",
    "random_geometric",
    "ring",
    "scale_free",
    "small_world",
]


def ring(n: int, *, seed: int) -> nx.Graph:
    """Return a cycle: node ``i`` is linked to ``i - 1`` and ``i + 1`` (mod ``n``).

    Parameters
    ----------
    n : int
        Number of nodes, at least 3.
    seed : int
        Ignored (the ring is deterministic); accepted so every builder is called alike.

    Returns
    -------
    networkx.Graph
        The ``n``-cycle on nodes ``0 .. n-1``.

    Raises
    ------
    TopologyError
        If ``n < 3`` or ``seed`` is not a non-negative integer.

    Examples
    --------
    >>> sorted(ring(4, seed=0).edges())
    [(0, 1), (0, 3), (1, 2), (2, 3)]
    """
    n, _ = _ring_args(n, seed=seed)
    return canonical(nx.cycle_graph(n))


def _ring_args(n: int, *, seed: int) -> tuple[int, int]:
    return check_int(n, "n", where="ring", minimum=3), check_seed(seed, where="ring")


def complete(n: int, *, seed: int) -> nx.Graph:
    """Return the complete graph: every pair of nodes is linked.

    Parameters
    ----------
    n : int
        Number of nodes, at least 1.
    seed : int
        Ignored (deterministic); accepted so every builder is called alike.

    Returns
    -------
    networkx.Graph
        ``K_n`` on nodes ``0 .. n-1`` with ``n (n - 1) / 2`` edges.

    Raises
    ------
    TopologyError
        If ``n < 1`` or ``seed`` is not a non-negative integer.

    Examples
    --------
    >>> complete(5, seed=0).number_of_edges()
    10
    """
    n, _ = _complete_args(n, seed=seed)
    return canonical(nx.complete_graph(n))


def _complete_args(n: int, *, seed: int) -> tuple[int, int]:
    return check_int(n, "n", where="complete", minimum=1), check_seed(seed, where="complete")


def k_regular(n: int, k: int, *, seed: int) -> nx.Graph:
    """Return a connected random ``k``-regular graph (every node has degree ``k``).

    Parameters
    ----------
    n : int
        Number of nodes, at least 2.
    k : int
        Degree of every node: ``1 <= k < n`` and ``n * k`` even. ``k = 1`` is only
        connected for ``n = 2``.
    seed : int
        Non-negative seed; the same seed gives the same graph.

    Returns
    -------
    networkx.Graph
        A connected ``k``-regular graph on nodes ``0 .. n-1``.

    Raises
    ------
    TopologyError
        If an argument is out of range, or no connected graph was drawn (raise ``k``).

    Examples
    --------
    >>> g = k_regular(10, 3, seed=1)
    >>> sorted({d for _, d in g.degree()}), nx.is_connected(g)
    ([3], True)
    """
    n, k, seed = _k_regular_args(n, k, seed=seed)
    return canonical(
        retry_until_connected(
            lambda s: nx.random_regular_graph(k, n, seed=s),
            seed=seed,
            what=f"k_regular(n={n}, k={k})",
            fix="raise k (k >= 3 is connected almost always)",
        )
    )


def _k_regular_args(n: int, k: int, *, seed: int) -> tuple[int, int, int]:
    where = "k_regular"
    n = check_int(n, "n", where=where, minimum=2)
    k = check_int(k, "k", where=where, minimum=1)
    seed = check_seed(seed, where=where)
    if k >= n:
        raise TopologyError(f"{where}: k must be < n={n}, got k={k}; pass k={n - 1} or less")
    if (n * k) % 2:
        raise TopologyError(
            f"{where}: n*k must be even, got n={n}, k={k}; change k to {k + 1} or {k - 1}"
            if k > 1
            else f"{where}: n*k must be even, got n={n}, k={k}; pass k=2"
        )
    if k == 1 and n > 2:
        raise TopologyError(
            f"{where}: k=1 splits n={n} nodes into disjoint pairs, never connected; "
            "pass k=2 or more"
        )
    return n, k, seed


def erdos_renyi(n: int, p: float, *, seed: int) -> nx.Graph:
    """Return a connected Erdős–Rényi ``G(n, p)`` graph: each pair linked with probability ``p``.

    Parameters
    ----------
    n : int
        Number of nodes, at least 1.
    p : float
        Edge probability in ``[0, 1]``. Connectivity needs ``p`` above about ``ln(n) / n``.
    seed : int
        Non-negative seed; the same seed gives the same graph.

    Returns
    -------
    networkx.Graph
        A connected ``G(n, p)`` sample on nodes ``0 .. n-1``.

    Raises
    ------
    TopologyError
        If an argument is out of range, or no connected graph was drawn (raise ``p``).

    Examples
    --------
    >>> g = erdos_renyi(20, 0.3, seed=7)
    >>> g.number_of_nodes(), nx.is_connected(g)
    (20, True)
    """
    n, p, seed = _erdos_renyi_args(n, p, seed=seed)
    return canonical(
        retry_until_connected(
            lambda s: nx.fast_gnp_random_graph(n, p, seed=s),
            seed=seed,
            what=f"erdos_renyi(n={n}, p={p})",
            fix=f"raise p above about ln(n)/n = {math.log(n) / n:.3g}",
        )
    )


def _erdos_renyi_args(n: int, p: float, *, seed: int) -> tuple[int, float, int]:
    where = "erdos_renyi"
    n = check_int(n, "n", where=where, minimum=1)
    p = check_probability(p, "p", where=where)
    seed = check_seed(seed, where=where)
    fix = f"raise p above about ln(n)/n = {math.log(n) / n:.3g}"
    if p == 0.0 and n > 1:
        raise TopologyError(f"{where}: p=0 gives no edges, never connected for n={n}; {fix}")
    return n, p, seed


def small_world(n: int, k: int, p: float, *, seed: int) -> nx.Graph:
    """Return a connected Watts–Strogatz small-world graph.

    Start from a ring lattice where each node is linked to its ``k`` nearest neighbours
    (``k / 2`` on each side), then rewire each edge with probability ``p``.

    Parameters
    ----------
    n : int
        Number of nodes, at least 3.
    k : int
        Lattice degree: even, ``2 <= k < n``.
    p : float
        Rewiring probability in ``[0, 1]`` (0: ring lattice, 1: nearly random).
    seed : int
        Non-negative seed; the same seed gives the same graph.

    Returns
    -------
    networkx.Graph
        A connected small-world graph on nodes ``0 .. n-1`` with ``n * k / 2`` edges.

    Raises
    ------
    TopologyError
        If an argument is out of range, or no connected graph was drawn (raise ``k``).

    Examples
    --------
    >>> g = small_world(12, 4, 0.2, seed=3)
    >>> g.number_of_edges(), nx.is_connected(g)
    (24, True)
    """
    n, k, p, seed = _small_world_args(n, k, p, seed=seed)
    return canonical(
        retry_until_connected(
            lambda s: nx.watts_strogatz_graph(n, k, p, seed=s),
            seed=seed,
            what=f"small_world(n={n}, k={k}, p={p})",
            fix="raise k or lower p",
        )
    )


def _small_world_args(n: int, k: int, p: float, *, seed: int) -> tuple[int, int, float, int]:
    where = "small_world"
    n = check_int(n, "n", where=where, minimum=3)
    k = check_int(k, "k", where=where, minimum=2)
    p = check_probability(p, "p", where=where)
    seed = check_seed(seed, where=where)
    if k >= n:
        limit = n - 1 if (n - 1) % 2 == 0 else n - 2
        raise TopologyError(f"{where}: k must be < n={n}, got k={k}; pass k={limit} or less")
    if k % 2:
        raise TopologyError(
            f"{where}: k must be even (k/2 neighbours on each side), got k={k}; "
            f"pass k={k - 1} or k={k + 1}"
        )
    return n, k, p, seed


def scale_free(n: int, m: int, *, seed: int) -> nx.Graph:
    """Return a Barabási–Albert scale-free graph (preferential attachment).

    Each new node links to ``m`` existing nodes chosen with probability proportional to
    their degree, which yields a few high-degree hubs.

    Parameters
    ----------
    n : int
        Number of nodes, at least 2.
    m : int
        Edges added per new node: ``1 <= m < n``.
    seed : int
        Non-negative seed; the same seed gives the same graph.

    Returns
    -------
    networkx.Graph
        A connected graph on nodes ``0 .. n-1`` with ``(n - m) * m`` edges.

    Raises
    ------
    TopologyError
        If an argument is out of range.

    Examples
    --------
    >>> g = scale_free(30, 2, seed=0)
    >>> g.number_of_edges(), nx.is_connected(g)
    (56, True)
    """
    n, m, seed = _scale_free_args(n, m, seed=seed)
    return canonical(
        retry_until_connected(
            lambda s: nx.barabasi_albert_graph(n, m, seed=s),
            seed=seed,
            what=f"scale_free(n={n}, m={m})",
            fix="raise m",
        )
    )


def _scale_free_args(n: int, m: int, *, seed: int) -> tuple[int, int, int]:
    where = "scale_free"
    n = check_int(n, "n", where=where, minimum=2)
    m = check_int(m, "m", where=where, minimum=1)
    seed = check_seed(seed, where=where)
    if m >= n:
        raise TopologyError(f"{where}: m must be < n={n}, got m={m}; pass m={n - 1} or less")
    return n, m, seed


def _most_square_rows(n: int) -> int:
    """Return the largest divisor of ``n`` that is at most ``sqrt(n)``."""
    for rows in range(math.isqrt(n), 0, -1):
        if n % rows == 0:
            return rows
    return 1  # pragma: no cover - the loop always reaches rows = 1


def grid(n: int, *, seed: int, rows: int | None = None) -> nx.Graph:
    """Return a 2-D grid (lattice) of ``rows x cols = n`` nodes.

    Node ``r * cols + c`` sits at row ``r``, column ``c`` and is linked to its up to four
    horizontal and vertical neighbours.

    Parameters
    ----------
    n : int
        Number of nodes, at least 1.
    seed : int
        Ignored (deterministic); accepted so every builder is called alike.
    rows : int or None, optional
        Number of rows; must divide ``n``. ``None`` picks the most square shape
        (a prime ``n`` gives a ``1 x n`` line).

    Returns
    -------
    networkx.Graph
        The grid on nodes ``0 .. n-1``.

    Raises
    ------
    TopologyError
        If ``n < 1`` or ``rows`` does not divide ``n``.

    Examples
    --------
    >>> g = grid(6, seed=0)
    >>> sorted(g.edges())
    [(0, 1), (0, 3), (1, 2), (1, 4), (2, 5), (3, 4), (4, 5)]
    >>> grid(6, seed=0, rows=1).number_of_edges()
    5
    """
    n, rows = _grid_args(n, seed=seed, rows=rows)
    cols = n // rows
    lattice = nx.grid_2d_graph(rows, cols)
    graph = nx.relabel_nodes(lattice, {(r, c): r * cols + c for r, c in lattice.nodes})
    return canonical(graph)


def _grid_args(n: int, *, seed: int, rows: int | None = None) -> tuple[int, int]:
    where = "grid"
    n = check_int(n, "n", where=where, minimum=1)
    check_seed(seed, where=where)
    if rows is None:
        return n, _most_square_rows(n)
    rows = check_int(rows, "rows", where=where, minimum=1)
    if n % rows:
        divisors = [d for d in range(1, min(n, 10**6) + 1) if n % d == 0][:20]
        raise TopologyError(
            f"{where}: rows must divide n={n}, got rows={rows}; "
            f"pass one of {divisors} or leave rows unset"
        )
    return n, rows


ARGUMENT_CHECKS: dict[str, Callable[..., object]] = {
    "ring": _ring_args,
    "complete": _complete_args,
    "k_regular": _k_regular_args,
    "erdos_renyi": _erdos_renyi_args,
    "small_world": _small_world_args,
    "scale_free": _scale_free_args,
    "grid": _grid_args,
    "random_geometric": random_geometric_args,
    "clustered_gateways": clustered_gateways_args,
}
