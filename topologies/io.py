"""Load a topology from a file: an edge list or GraphML."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Hashable
from pathlib import Path

import networkx as nx

from topologies._checks import check_seed
from topologies._graphs import canonical, sorted_nodes
from topologies.errors import TopologyError

__all__ = ["EDGELIST_SUFFIXES", "GRAPHML_SUFFIXES", "from_file"]

#: File name endings read as an edge list ("u v" or "u,v" per line, ``#`` comments).
EDGELIST_SUFFIXES = (".txt", ".edgelist", ".csv")
#: File name endings read as GraphML.
GRAPHML_SUFFIXES = (".graphml",)

_SEPARATOR = re.compile(r"[,\s]+")


def _parse_label(token: str) -> int | str:
    try:
        return int(token)
    except ValueError:
        return token


def _read_edgelist(path: Path) -> nx.Graph:
    graph = nx.Graph()
    text = path.read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = [t for t in _SEPARATOR.split(line) if t]
        if len(tokens) != 2:
            raise TopologyError(
                f"topology file {str(path)!r}, line {number}: expected two node labels "
                f"'u v' or 'u,v', got {raw.strip()!r}; fix the line or comment it out with '#'"
            )
        graph.add_edge(tokens[0], tokens[1])
    labels = {v: _parse_label(v) for v in graph.nodes}
    if not all(isinstance(label, int) for label in labels.values()):
        return graph
    if len(set(labels.values())) != len(labels):  # e.g. "1" and "01" name two nodes
        return graph
    return nx.relabel_nodes(graph, labels)


def _read_graphml(path: Path) -> nx.Graph:
    loaded = nx.read_graphml(path, node_type=str)
    graph = nx.Graph()
    graph.add_nodes_from(loaded.nodes(data=True))
    graph.add_edges_from(loaded.edges(data=True))
    labels = {v: _parse_label(v) for v in graph.nodes}
    if all(isinstance(label, int) for label in labels.values()) and len(
        set(labels.values())
    ) == len(labels):
        graph = nx.relabel_nodes(graph, labels)
    return graph


def from_file(path: str | os.PathLike[str], *, seed: int = 0) -> nx.Graph:
    r"""Load an undirected topology from an edge list or a GraphML file.

    Edge lists (``.txt``, ``.edgelist``, ``.csv``) hold one edge per line as ``u v`` or
    ``u,v``; text after ``#`` is a comment and blank lines are skipped. GraphML
    (``.graphml``) may be directed or hold parallel edges: both are folded into one
    undirected edge. Nodes are relabelled ``0 .. n-1`` in sorted order of their original
    labels (numeric order when every label is an integer, else string order) and keep the
    original label in node attribute ``label``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.
    seed : int, optional
        Ignored (loading is deterministic); accepted so every builder is called alike.

    Returns
    -------
    networkx.Graph
        The loaded graph on nodes ``0 .. n-1``; it is not forced to be connected
        (see :func:`topologies.dynamics.ensure_connected`).

    Raises
    ------
    TopologyError
        If the file is missing, unreadable, of an unknown type, malformed, empty, or has
        a self-loop.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     file = pathlib.Path(folder) / "net.txt"
    ...     _ = file.write_text("# three peers\n10 20\n20,30\n")
    ...     g = from_file(file)
    >>> sorted(g.edges()), g.nodes[2]["label"]
    ([(0, 1), (1, 2)], 30)
    """
    check_seed(seed, where="from_file")
    file = Path(path)
    name = repr(str(file))
    if not file.exists():
        raise TopologyError(f"topology file {name} does not exist; check the path")
    if not file.is_file():
        raise TopologyError(f"topology file {name} is not a regular file; pass a file path")
    suffix = file.suffix.lower()
    if suffix not in EDGELIST_SUFFIXES + GRAPHML_SUFFIXES:
        valid = ", ".join(EDGELIST_SUFFIXES + GRAPHML_SUFFIXES)
        raise TopologyError(
            f"topology file {name} has unknown type {suffix or '(no suffix)'!r}; "
            f"rename it to one of {valid}"
        )
    try:
        graph = _read_graphml(file) if suffix in GRAPHML_SUFFIXES else _read_edgelist(file)
    except TopologyError:
        raise
    except (OSError, UnicodeDecodeError, ET.ParseError, nx.NetworkXError) as err:
        raise TopologyError(
            f"topology file {name} could not be read ({type(err).__name__}: {err}); "
            "check that it is a readable, well-formed file"
        ) from err
    if graph.number_of_nodes() == 0:
        raise TopologyError(f"topology file {name} holds no nodes; add at least one edge")
    loops = sorted_nodes(v for v, _ in nx.selfloop_edges(graph))
    if loops:
        raise TopologyError(
            f"topology file {name} has self-loops at nodes {loops[:10]}; "
            "remove the lines linking a node to itself"
        )
    mapping: dict[Hashable, int] = {}
    for index, label in enumerate(sorted_nodes(graph.nodes)):
        mapping[label] = index
        graph.nodes[label]["label"] = label
    return canonical(nx.relabel_nodes(graph, mapping))
