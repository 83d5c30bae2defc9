"""Read a scenario document safely: bounded size, depth and alias expansion; no duplicate keys.

A scenario file is untrusted input: a few bytes of YAML can expand to billions of values
through aliases (``&a [*a, *a]``, "billion laughs"), nest deep enough to overflow the parser,
repeat a key so the later value silently wins, or not be text at all. Everything here runs
before the schema sees the document, in time and memory bounded by the caps below, and
every refusal is a :class:`~hdus_sim.errors.ScenarioError` of one line per problem naming the
file, the line or the field, and the fix.

Two entry points:

:func:`read_yaml_file`
    Bytes -> document: size cap, UTF-8, YAML syntax, depth, duplicate keys, aliases.
:func:`check_document`
    Any document (from a file or a Python dict): depth, values after alias expansion (shared
    sub-objects in a dict count as aliases), finite numbers, integer range.

Examples
--------
>>> check_document({"training": {"lr": float("inf")}}, "(dict)")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
hdus_sim.errors.ScenarioError: (dict): `training.lr`: must be a finite number, got inf; ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hdus_sim.errors import ScenarioError

__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_INT",
    "MAX_VALUES",
    "check_document",
    "field_path",
    "read_yaml_file",
    "read_yaml_text",
]

#: Largest scenario file read, in bytes (256 KiB; the bundled ones are under 4 KiB). Long
#: traces belong in a CSV file (``churn.trace.file``), graphs in a topology file.
MAX_FILE_BYTES = 256 * 1024
#: Deepest nesting of mappings and lists (a scenario needs 6: ``churn.trace.intervals``).
MAX_DEPTH = 16
#: Most values (mappings, lists and scalars) a document may hold once aliases are expanded.
MAX_VALUES = 1_000_000
#: Most values that aliases (``*name``, or shared sub-objects of a dict) may add.
MAX_ALIAS_VALUES = 10_000
#: Integers must lie in ``[-MAX_INT, MAX_INT]`` (signed 64 bits, as the wire carries them).
MAX_INT = 2**63 - 1
#: A YAML integer literal longer than this is refused before Python parses it.
_MAX_INT_DIGITS = 40

#: The loader: libyaml's C parser when available (about 10x faster than pure Python).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # type: ignore[assignment]
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def field_path(parts: tuple[Any, ...]) -> str:
    """A location as scenario fields are written: ``("events", 2, "at")`` -> ``events[2].at``.

    Examples
    --------
    >>> field_path(("peers", "profiles", "phone", "cpu")), field_path(("events", 0)), field_path(())
    ('peers.profiles.phone.cpu', 'events[0]', '(top level)')
    """
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters (error lines stay one short line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------- files
def read_yaml_file(path: Path) -> Any:
    """Read the YAML scenario file at ``path`` into plain data, refusing unsafe input.

    Raises
    ------
    ScenarioError
        If the file is missing, over :data:`MAX_FILE_BYTES`, not UTF-8, binary, not valid
        YAML, nested deeper than :data:`MAX_DEPTH`, repeats a key, or uses aliases that
        expand past :data:`MAX_ALIAS_VALUES`.
    """
    label = str(path)
    if path.is_dir():
        raise ScenarioError(f"scenario {label} is a folder; give the path of a YAML file in it")
    if not path.is_file():
        raise ScenarioError(
            f"scenario file {label} does not exist; give the path of a YAML file "
            "(see scenarios/ for examples)"
        )
    try:
        return _read_capped(path, label)
    except OSError as exc:
        raise ScenarioError(
            f"scenario file {label} could not be read ({exc.strerror or exc}); check its "
            "permissions"
        ) from None


def _read_capped(path: Path, label: str) -> Any:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ScenarioError(
            f"scenario file {label} is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte cap "
            "for scenario files; keep long traces in a CSV file (churn.trace.file) and large "
            "graphs in a topology file (topology.kind: file)"
        )
    with path.open("rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:  # grew while we looked
        raise ScenarioError(f"scenario file {label} is over the {MAX_FILE_BYTES:,}-byte cap")
    return read_yaml_text(data, label)


def _decode(data: bytes, label: str) -> str:
    if b"\x00" in data:
        at = data.index(b"\x00")
        raise ScenarioError(
            f"scenario file {label} holds a NUL byte at offset {at}: it is binary, not YAML "
            "text; give a YAML scenario (see scenarios/)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            f"scenario file {label} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
            f"offset {exc.start}, line {line}); save it as UTF-8"
        ) from None


def _mark(node_or_event: Any) -> str:
    mark = getattr(node_or_event, "start_mark", None)
    return f"line {mark.line + 1}" if mark is not None else "somewhere"


def read_yaml_text(data: bytes | str, label: str = "(text)") -> Any:
    r"""Parse one YAML document from ``data`` into plain data, refusing unsafe input.

    The text is parsed twice by libyaml: once as an event stream (no recursion, so any
    nesting is measured safely), then into nodes that are checked for duplicate keys,
    recursive aliases and long integer literals before any Python value is built.

    Examples
    --------
    >>> read_yaml_text("a: 1\nb: [2, 3]\n")
    {'a': 1, 'b': [2, 3]}
    >>> read_yaml_text("a: 1\na: 2\n")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hdus_sim.errors.ScenarioError: scenario (text), line 2: duplicate key `a` (first at line 1): ...
    """
    text = data if isinstance(data, str) else _decode(data, label)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ScenarioError(f"scenario {label} is over the {MAX_FILE_BYTES:,}-byte cap")
    try:
        _check_events(text, label)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_nodes(loader, node, label)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except ScenarioError:
        raise
    except yaml.YAMLError as exc:
        raise ScenarioError(_yaml_message(exc, label)) from None
    except Exception as exc:
        # a scalar PyYAML's constructors cannot turn into a value: e.g. `!!timestamp 21`
        # (AttributeError inside PyYAML) or `!!binary` that is not base64
        raise ScenarioError(
            f"scenario {label} holds a value that cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:80]}); fix or quote it"
        ) from None


def _yaml_message(exc: yaml.YAMLError, label: str) -> str:
    """One line from PyYAML's several-line message: where, what, and the fix."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{problem} ({context})" if context else str(problem)
    detail = " ".join(detail.split())
    if "maximum nesting depth" in detail:  # libyaml's own limit, hit before ours
        return (
            f"scenario {label}{where}: nested deeper than {MAX_DEPTH} levels (a scenario needs "
            "at most 6); flatten the document"
        )
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in detail:
        return (
            f"scenario file {label} is not plain YAML{where}: {detail}; remove the tag "
            "(a scenario holds plain mappings, lists, numbers and text)"
        )
    return f"scenario file {label} is not valid YAML{where}: {detail}; fix the syntax there"


def _check_events(text: str, label: str) -> None:
    """Depth of the event stream (libyaml's parser is not recursive, the composer is)."""
    loader = _Loader(text)
    try:
        depth = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ScenarioError(
                        f"scenario {label}, {_mark(event)}: nested deeper than {MAX_DEPTH} "
                        "levels (a scenario needs at most 6); flatten the document"
                    )
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _check_nodes(loader: Any, root: yaml.Node, label: str) -> None:
    """Duplicate keys, recursive or deep aliases, over-long integers; each node visited once."""
    seen: set[int] = set()
    stack: set[int] = set()

    def visit(node: yaml.Node, parts: tuple[Any, ...], level: int) -> None:
        where = field_path(parts)
        if id(node) in stack:
            raise ScenarioError(
                f"scenario {label}, {_mark(node)}: `{where}` contains itself through an alias "
                "(`*name`); a scenario cannot be recursive, write the values out"
            )
        if level > MAX_DEPTH and not isinstance(node, yaml.ScalarNode):
            raise ScenarioError(
                f"scenario {label}, {_mark(node)}: `{where}` is nested deeper than {MAX_DEPTH} "
                "levels once aliases (`*name`) are expanded; flatten the document"
            )
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and len(node.value) > _MAX_INT_DIGITS:
                raise ScenarioError(
                    f"scenario {label}, {_mark(node)}: `{where}` is an integer of "
                    f"{len(node.value)} digits; integers must lie within +-2**63"
                )
            return
        stack.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                visit(child, (*parts, i), level + 1)
        elif isinstance(node, yaml.MappingNode):
            first: dict[Any, yaml.Node] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    visit(value, parts, level + 1)  # a merge counts as a level
                    continue
                name: Any = _key_of(loader, key)
                if name in first:
                    shown = field_path((*parts, name))
                    raise ScenarioError(
                        f"scenario {label}, {_mark(key)}: duplicate key `{shown}` (first at "
                        f"{_mark(first[name])}): the later value would silently win; keep one "
                        "of them"
                    )
                first[name] = key
                visit(value, (*parts, name), level + 1)
        stack.discard(id(node))

    visit(root, (), 1)


def _key_of(loader: Any, key: yaml.Node) -> Any:
    """A mapping key as the constructor will build it (``yes`` and ``true`` are one key)."""
    if isinstance(key, yaml.ScalarNode):
        if key.tag == _INT_TAG and len(key.value) > _MAX_INT_DIGITS:
            return ("int", key.value)
        try:
            value = loader.construct_object(key)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            return ("raw", key.tag, key.value)
        try:
            hash(value)
        except TypeError:
            return ("raw", key.tag, key.value)
        return value
    return ("node", id(key))  # a complex key; the constructor refuses it if unhashable


# ---------------------------------------------------------------------------- documents
def check_document(
    data: Any,
    source: str,
    *,
    example: Callable[[tuple[Any, ...]], Any] | None = None,
) -> None:
    """Check a whole document before the schema sees it; refuse on the first problem.

    Walks every value once (shared sub-objects once, their expanded size by memo), so the
    cost is bounded by the number of distinct objects even for an alias bomb.

    Parameters
    ----------
    data
        The document (what :func:`read_yaml_file` returned, or a dict given in Python).
    source
        The file name (or ``"(dict)"``) that starts every error line.
    example
        ``example(path)`` -> a value to suggest for a non-finite number (the field's default).

    Raises
    ------
    ScenarioError
        Naming the field: nested deeper than :data:`MAX_DEPTH`, recursive, expanded past
        :data:`MAX_VALUES` (or aliases adding more than :data:`MAX_ALIAS_VALUES`), a number
        that is ``inf`` or ``nan``, an integer beyond :data:`MAX_INT`.
    """
    sizes: dict[int, int] = {}
    stack: set[int] = set()
    unique = 0

    def visit(value: Any, parts: tuple[Any, ...]) -> int:
        nonlocal unique
        if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
            unique += 1
            return 1
        if isinstance(value, float):
            unique += 1
            if not math.isfinite(value):
                hint = example(parts) if example is not None else None
                fix = f"a finite number such as {hint}" if hint is not None else "a finite number"
                raise ScenarioError(
                    f"{source}: `{field_path(parts)}`: must be a finite number, got {value}; "
                    f"give {fix}"
                )
            return 1
        if isinstance(value, int):
            unique += 1
            if abs(value) > MAX_INT:
                raise ScenarioError(
                    f"{source}: `{field_path(parts)}`: {_short(value)} is out of range; "
                    "integers must lie within +-2**63"
                )
            return 1
        if not isinstance(value, dict | list | tuple | set):
            unique += 1
            return 1
        key = id(value)
        if key in stack:
            raise ScenarioError(
                f"{source}: `{field_path(parts)}` contains itself; a scenario cannot be recursive"
            )
        if key in sizes:
            return sizes[key]
        if len(parts) >= MAX_DEPTH:
            raise ScenarioError(
                f"{source}: `{field_path(parts)}` is nested deeper than {MAX_DEPTH} levels; "
                "flatten the document"
            )
        stack.add(key)
        unique += 1
        total = 1
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            total += visit(v, (*parts, k))
            if total > MAX_VALUES:
                break
        stack.discard(key)
        sizes[key] = total
        if total > MAX_VALUES:
            raise ScenarioError(
                f"{source}: `{field_path(parts)}` holds more than {MAX_VALUES:,} values "
                "(aliases `*name` expanded); a scenario is far smaller: shrink it"
            )
        if total - unique > MAX_ALIAS_VALUES:
            raise ScenarioError(
                f"{source}: `{field_path(parts)}`: aliases (`*name`) expand it to {total:,} "
                f"values, more than {MAX_ALIAS_VALUES:,} beyond what is written; write the "
                "values out or use fewer aliases"
            )
        return total

    visit(data, ())
