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

__all__ = ["EDGELIST_SUFFIXES", "GRAPHML_SUFFIXES", "MAX_FILE_BYTES", "from_file"]

#: File name endings read as an edge list ("u v" or "u,v" per line, ``#`` comments).
EDGELIST_SUFFIXES = (".txt", ".edgelist", ".csv")
#: File name endings read as GraphML.
GRAPHML_SUFFIXES = (".graphml",)
#: Largest topology file read, in bytes (64 MiB: a few million edges).
MAX_FILE_BYTES = 64 * 1024 * 1024

_SEPARATOR = re.compile(r"[,\s]+")


def _parse_label(token: str) -> int | str:
    try:
        return int(token)
    except ValueError:
        return token


def _numeric_labels(graph: nx.Graph, name: str) -> nx.Graph:
    """Relabel all-integer labels as ints; refuse two labels naming one number ("1", "01")."""
    labels = {v: _parse_label(v) for v in graph.nodes}
    numbers = {v: label for v, label in labels.items() if isinstance(label, int)}
    if len(numbers) != len(labels):
        return graph
    seen: dict[int, str] = {}
    for raw, number in numbers.items():
        if number in seen:
            raise TopologyError(
                f"topology file {name}: node labels {seen[number]!r} and {raw!r} both read as "
                f"{number}; write each node's id one way"
            )
        seen[number] = raw
    return nx.relabel_nodes(graph, numbers)


def _read_edgelist(path: Path) -> nx.Graph:
    graph = nx.Graph()
    name = repr(str(path))
    first: dict[frozenset[str], int] = {}
    text = path.read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = [t for t in _SEPARATOR.split(line) if t]
        if len(tokens) != 2:
            raise TopologyError(
                f"topology file {name}, line {number}: expected two node labels "
                f"'u v' or 'u,v', got {raw.strip()!r}; fix the line or comment it out with '#'"
            )
        pair = frozenset(tokens)
        if pair in first and len(pair) == 2:
            raise TopologyError(
                f"topology file {name}, line {number}: edge {tokens[0]}-{tokens[1]} repeats "
                f"line {first[pair]}; list every link once"
            )
        first.setdefault(pair, number)
        graph.add_edge(tokens[0], tokens[1])
    return _numeric_labels(graph, name)


def _read_graphml(path: Path) -> nx.Graph:
    name = repr(str(path))
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if b"<!ENTITY" in head or b"<!DOCTYPE" in head:
        raise TopologyError(
            f"topology file {name} declares a DOCTYPE or XML entities; GraphML needs neither: "
            "remove the declaration"
        )
    loaded = nx.read_graphml(path, node_type=str)
    if loaded.is_multigraph():  # the file lists some pair more than once
        for u, v in sorted(set(loaded.edges())):
            if loaded.number_of_edges(u, v) > 1:
                raise TopologyError(
                    f"topology file {name}: edge {u}-{v} is listed "
                    f"{loaded.number_of_edges(u, v)} times; list every link once (a directed "
                    "file may hold both u->v and v->u)"
                )
    graph = nx.Graph()
    graph.add_nodes_from(loaded.nodes(data=True))
    graph.add_edges_from((u, v, d) for u, v, d in loaded.edges(data=True))
    return _numeric_labels(graph, name)


def _checked_suffix(file: Path, name: str) -> str:
    """The lower-case suffix of a topology file that exists, is known and is not too large."""
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
    size = file.stat().st_size
    if size > MAX_FILE_BYTES:
        raise TopologyError(
            f"topology file {name} is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte cap; "
            "give a smaller graph"
        )
    return suffix


def from_file(path: str | os.PathLike[str], *, seed: int = 0) -> nx.Graph:
    r"""Load an undirected topology from an edge list or a GraphML file.

    Edge lists (``.txt``, ``.edgelist``, ``.csv``) hold one edge per line as ``u v`` or
    ``u,v``; text after ``#`` is a comment and blank lines are skipped. GraphML
    (``.graphml``) may be directed: ``u->v`` and ``v->u`` fold into one undirected edge.
    A link listed twice (a repeated line, ``u v`` and ``v u``, parallel GraphML edges) is
    refused, as are self-loops, two labels naming one number (``1`` and ``01``), files over
    :data:`MAX_FILE_BYTES` and GraphML with a DOCTYPE or entity declarations. Nodes are
    relabelled ``0 .. n-1`` in sorted order of their original labels (numeric order when
    every label is an integer, else string order) and keep the original label in node
    attribute ``label``.

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
        If the file is missing, too large, unreadable, of an unknown type, malformed,
        empty, or has a self-loop, a repeated edge or ambiguous node labels.

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
    suffix = _checked_suffix(file, name)
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
