"""Pydantic validation errors as one line per field: where, what is wrong, the value, the fix.

``SOURCE: `peers.rho`: Input should be less than or equal to 1 (got 1.5)``; errors of one
field (the members of a union such as ``'all'`` or a list) share a line; a cross-field
check's message already names its field; at most :data:`MAX_LINES` lines. Also the field
lookups the document checks use: a numeric field's default to suggest instead of ``inf``,
and the closest field name to a misspelt one.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from hdus_sim.scenario_sections import EVENT_KINDS
from hdus_sim.scenario_yaml import field_path

__all__ = ["MAX_LINES", "example_value", "format_errors"]

#: what to do, by pydantic error type
_HINTS = {
    "literal_error": "use one of the allowed values",
    "int_parsing": "give a whole number",
    "int_type": "give a whole number",
    "int_from_float": "give a whole number",
    "float_parsing": "give a number",
    "float_type": "give a number",
    "finite_number": "give a finite number",
    "bool_parsing": "give true or false",
    "bool_type": "give true or false",
    "string_type": "give a text value (quote it)",
    "dict_type": "give a mapping, e.g. {name: value}",
    "list_type": "give a list, e.g. [1, 2]",
    "tuple_type": "give a list, e.g. [0, 10]",
    "model_type": "give a mapping of its fields",
    "model_attributes_type": "give a mapping of its fields",
    "union_tag_invalid": "set `kind` to one of join, leave, crash, delete, kill_actor",
    "union_tag_not_found": "give it a `kind`: join, leave, crash, delete or kill_actor",
}
#: most error lines printed for one scenario (the rest are counted)
MAX_LINES = 20
#: a message that starts with a field path, e.g. ``churn.outages[0].peers: ...``
_LEADING_FIELD = re.compile(r"^([a-z_]+(?:\.[a-z_]+|\[\d+\])+)(?=[: ])")
#: location parts pydantic adds for union members and validators, not field names
_TYPE_PART = re.compile(r".*\[.*\]$|function-(after|before|wrap|plain)$")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _child(ann: Any, part: Any) -> tuple[Any, Any]:
    """The annotation (and pydantic field info, for model fields) of ``part`` inside ``ann``."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        info = ann.model_fields.get(part) if isinstance(part, str) else None
        return (info.annotation, info) if info is not None else (None, None)
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (list, tuple, set) and args:
        return args[0], None
    if origin is dict and len(args) == 2:
        return args[1], None
    for arg in args:  # Optional[...] and other unions: the first member that can hold it
        found = _child(arg, part)
        if found[0] is not None:
            return found
    return None, None


def example_value(root: type[BaseModel], parts: tuple[Any, ...]) -> Any:
    """The default of the numeric field at ``parts`` of model ``root`` (``None`` if none).

    Examples
    --------
    >>> from hdus_sim.scenario import Scenario
    >>> example_value(Scenario, ("training", "lr")), example_value(Scenario, ("seed",))
    (0.01, None)
    """
    ann: Any = root
    info = None
    for part in parts:
        ann, info = _child(ann, part)
        if ann is None:
            return None
    if info is None or info.is_required():
        return None
    default = info.get_default(call_default_factory=True)
    return default if isinstance(default, int | float) and not isinstance(default, bool) else None


def _close_field(root: type[BaseModel], parts: tuple[Any, ...]) -> str:
    """`` (did you mean `x`?)`` for a misspelt field name, else ``""``."""
    ann: Any = root
    for part in parts[:-1]:
        ann, _ = _child(ann, part)
    if not (isinstance(ann, type) and issubclass(ann, BaseModel)) or not isinstance(parts[-1], str):
        return ""
    close = difflib.get_close_matches(parts[-1], list(ann.model_fields), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _field_parts(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error location without the parts that name no field.

    Dropped: union members and validators (``function-after[...]``), and the tag of a
    discriminated union (``events[2].delete.fraction`` is ``events[2].fraction``).
    """
    out: list[Any] = []
    for i, p in enumerate(loc):
        if isinstance(p, str) and _TYPE_PART.match(p):
            continue
        if isinstance(p, str) and i and isinstance(loc[i - 1], int) and p in EVENT_KINDS:
            continue
        out.append(p)
    return tuple(out)


def format_errors(err: ValidationError, source: str, root: type[BaseModel]) -> str:
    """One line per invalid field: ``SOURCE: `field`: what is wrong (got VALUE); fix``."""
    fields: dict[Any, list[tuple[str, str, Any]]] = {}
    for e in err.errors():
        parts = _field_parts(tuple(e["loc"]))
        msg = " ".join(e["msg"].removeprefix("Value error, ").split())
        fields.setdefault(parts if parts else msg, []).append((e["type"], msg, e.get("input")))
    lines = []
    for key, errs in fields.items():
        kind, msg, got = errs[0]
        if not isinstance(key, tuple):  # a cross-field check: its message names the field
            lines.append(_LEADING_FIELD.sub(r"`\1`", msg, count=1))
            continue
        field = field_path(key)
        if kind == "missing":
            lines.append(f"missing field `{field}`: add it")
        elif kind == "extra_forbidden":
            lines.append(
                f"unknown field `{field}`: remove it or check its spelling"
                + _close_field(root, key)
            )
        else:
            shown = "" if isinstance(got, dict | list | tuple) else f" (got {_short(got)})"
            if len(errs) == 1:
                hint = _HINTS.get(kind, "")
                lines.append(f"`{field}`: {msg}{shown}" + (f"; {hint}" if hint else ""))
            else:
                said = " or ".join(
                    dict.fromkeys(m.removeprefix("Input should be ") for _, m, _ in errs)
                )
                lines.append(f"`{field}`: Input should be {said}{shown}")
    out = [f"{source}: {line}" for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        out.append(f"{source}: ... and {len(lines) - MAX_LINES} more problems")
    return "\n".join(out)
