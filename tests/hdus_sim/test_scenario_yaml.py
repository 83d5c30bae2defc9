"""The safe scenario reader: caps, duplicate keys and document checks, file or dict alike."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from hdus_sim.errors import ScenarioError
from hdus_sim.scenario import load_scenario
from hdus_sim.scenario_yaml import MAX_DEPTH, check_document, read_yaml_text


def test_plain_yaml_reads_as_before() -> None:
    text = "a: 1\nb: [x, 2.5, null, true]\nc: {d: e}\n"
    assert read_yaml_text(text) == {"a": 1, "b": ["x", 2.5, None, True], "c": {"d": "e"}}


def test_merge_keys_and_small_aliases_are_fine() -> None:
    text = "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\ne: *b\n"
    assert read_yaml_text(text)["d"] == {"x": 3, "y": 2}


def test_a_byte_order_mark_is_accepted() -> None:
    assert read_yaml_text(b"\xef\xbb\xbfa: 1\n") == {"a": 1}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a:\n  b: 1\n  b: 2\n", r"line 3: duplicate key `a.b` \(first at line 2\)"),
        ("a:\n  yes: 1\n  true: 2\n", r"duplicate key `a.True`"),
        ("a: &x [*x]\n", r"`a\[0\]` contains itself"),
        ("a: " + "[" * 40 + "]" * 40 + "\n", r"nested deeper than 16"),
        ("a: " + "7" * 100 + "\n", r"integer of 100 digits"),
        ("a: !!timestamp 21\n", r"cannot be read"),
        ("a: [1,\n", r"not valid YAML at line 2"),
    ],
)
def test_unsafe_text_is_refused_in_one_line(text: str, match: str) -> None:
    with pytest.raises(ScenarioError, match=match) as info:
        read_yaml_text(text, "x.yaml")
    assert len(str(info.value).splitlines()) == 1


def test_an_alias_bomb_is_refused_fast() -> None:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    t0 = time.perf_counter()
    data = read_yaml_text("\n".join(lines) + "\n")  # shares objects: cheap to build
    with pytest.raises(ScenarioError, match=r"aliases .* expand"):
        check_document(data, "bomb.yaml")
    assert time.perf_counter() - t0 < 1.0


def test_dicts_get_the_same_document_checks(tiny: dict) -> None:
    shared = list(range(200))
    tiny["topology"]["params"] = {f"x{i}": [shared] * 100 for i in range(10)}
    with pytest.raises(ScenarioError, match=r"`topology.params.*aliases"):
        load_scenario(tiny)
    cyclic = copy.deepcopy(tiny)
    loop: list = []
    loop.append(loop)
    cyclic["topology"]["params"] = {"x": loop}
    with pytest.raises(ScenarioError, match="contains itself"):
        load_scenario(cyclic)
    deep: dict = {}
    node = deep
    for _ in range(MAX_DEPTH + 2):
        node["a"] = {}
        node = node["a"]
    cyclic["topology"]["params"] = deep
    with pytest.raises(ScenarioError, match="nested deeper"):
        load_scenario(cyclic)


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("seed",), 2**70, r"`seed`: 1180591620717411303424 is out of range"),
        (("peers", "rho"), float("nan"), r"`peers.rho`: must be a finite number, got nan.*0.5"),
        (("events", 0, "at"), float("inf"), r"`events\[0\].at`: must be a finite number"),
    ],
)
def test_numbers_are_finite_and_in_range(
    tiny: dict, path: tuple, value: object, match: str
) -> None:
    node = tiny
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ScenarioError, match=match):
        load_scenario(tiny)


def test_cli_set_values_are_read_safely(tiny: dict, tmp_path: Path) -> None:
    import yaml

    from hdus_sim.cli import run_cli

    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(tiny))
    code = run_cli(
        ["run", str(scenario), "--out", str(tmp_path / "o"), "--set", "training.lr=.inf"]
    )
    assert code == 1
