from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from topologies import TopologyError, build, from_file


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["net.txt", "net.edgelist", "net.csv"])
def test_edge_list_relabels_in_sorted_order(tmp_path: Path, name: str) -> None:
    text = "# peers by id\n\n10 2\n2,30  # trailing comment\n30\t10\n"
    graph = from_file(write(tmp_path / name, text))
    assert sorted(graph.nodes) == [0, 1, 2]
    assert [graph.nodes[v]["label"] for v in range(3)] == [2, 10, 30]  # numeric order
    assert sorted(graph.edges()) == [(0, 1), (0, 2), (1, 2)]


def test_edge_list_with_string_labels(tmp_path: Path) -> None:
    graph = from_file(write(tmp_path / "net.txt", "gw-b dev-1\ngw-a gw-b\n"))
    assert [graph.nodes[v]["label"] for v in range(3)] == ["dev-1", "gw-a", "gw-b"]
    assert sorted(graph.edges()) == [(0, 2), (1, 2)]


def test_graphml_round_trip(tmp_path: Path) -> None:
    original = nx.Graph([(5, 7), (7, 9), (9, 5)])
    original.add_node(11)
    path = tmp_path / "net.graphml"
    nx.write_graphml(original, path)
    graph = from_file(path)
    assert sorted(graph.nodes) == [0, 1, 2, 3]
    assert [graph.nodes[v]["label"] for v in range(4)] == [5, 7, 9, 11]
    assert sorted(graph.edges()) == [(0, 1), (0, 2), (1, 2)]


def test_graphml_directed_is_folded(tmp_path: Path) -> None:
    path = tmp_path / "net.graphml"
    nx.write_graphml(nx.DiGraph([(0, 1), (1, 0), (1, 2)]), path)
    graph = from_file(path)
    assert type(graph) is nx.Graph
    assert graph.number_of_edges() == 2


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match=r"nope\.txt.*does not exist"):
        from_file(tmp_path / "nope.txt")


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("empty.txt", "# nothing here\n\n", "no nodes"),
        ("loop.txt", "1 2\n2 2\n", "self-loop"),
        ("bad.txt", "1 2 3\n", "line 1"),
        ("net.json", "{}", "unknown type"),
        ("bad.graphml", "<graphml><oops", "could not be read"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, name: str, text: str, match: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(TopologyError, match=match) as info:
        from_file(path)
    assert name in str(info.value)


def test_undecodable_file(tmp_path: Path) -> None:
    path = tmp_path / "net.txt"
    path.write_bytes(b"\xff\xfe\x00 1 2\n")
    with pytest.raises(TopologyError, match="could not be read"):
        from_file(path)


def test_directory_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(TopologyError, match="not a regular file"):
        from_file(tmp_path / "dir.txt")


def test_build_file_checks_n(tmp_path: Path) -> None:
    path = write(tmp_path / "net.txt", "0 1\n1 2\n")
    assert build("file", 3, seed=0, path=path).number_of_edges() == 2
    with pytest.raises(TopologyError, match="n=4"):
        build("file", 4, seed=0, path=path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0 1\n1 2\n0 1\n", r"line 3: edge 0-1 repeats line 1"),
        ("0 1\n1 2\n2,1\n", r"line 3: edge 2-1 repeats line 2"),
        ("0 1\n01 2\n", r"'1' and '01' both read as 1"),
    ],
)
def test_repeated_edges_and_ambiguous_labels_are_refused(
    tmp_path: Path, text: str, match: str
) -> None:
    with pytest.raises(TopologyError, match=match):
        from_file(write(tmp_path / "net.txt", text))


def test_graphml_parallel_edges_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "net.graphml"
    nx.write_graphml(nx.MultiGraph([(0, 1), (0, 1), (1, 2)]), path)
    with pytest.raises(TopologyError, match=r"edge 0-1 is listed 2 times"):
        from_file(path)
    nx.write_graphml(nx.MultiDiGraph([(0, 1), (0, 1)]), path)
    with pytest.raises(TopologyError, match="listed 2 times"):
        from_file(path)


def test_graphml_entities_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "net.graphml",
        '<?xml version="1.0"?>\n<!DOCTYPE g [<!ENTITY a "aaaa">]>\n<graphml>&a;</graphml>\n',
    )
    with pytest.raises(TopologyError, match="DOCTYPE or XML entities"):
        from_file(path)


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import topologies.io

    monkeypatch.setattr(topologies.io, "MAX_FILE_BYTES", 10)
    with pytest.raises(TopologyError, match="over the 10-byte cap"):
        from_file(write(tmp_path / "net.txt", "0 1\n1 2\n2 3\n"))
