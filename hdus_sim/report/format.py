"""How a report writes values: numbers from JSON, table cells and byte counts.

Every table and paragraph of a report goes through these, so a missing value looks the
same everywhere (a dash) and numbers are rounded the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["DASH", "byte_unit", "fmt", "fmt_bytes", "num"]

#: What a missing value (``None``, NaN, an empty list) is shown as.
DASH = "–"


def num(value: Any) -> float:
    """A JSON number as float; ``None`` and non-numbers as NaN."""
    if value is None or isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: numbers rounded, ``None``/NaN as a dash, lists comma-joined."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return DASH if math.isnan(value) else f"{value:.{digits}f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else DASH
    return str(value)


def byte_unit(values: Sequence[float]) -> tuple[float, str]:
    """The unit to show byte counts in: ``(bytes per unit, unit name)``, by the largest."""
    top = max((v for v in values if not math.isnan(v)), default=0.0)
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if top >= scale:
            return scale, unit
    return 1.0, "bytes"


def fmt_bytes(value: float) -> str:
    """A byte count in its unit (``"12.3 kB"``, ``"512 bytes"``); NaN as a dash."""
    if math.isnan(value):
        return DASH
    scale, unit = byte_unit([value])
    return f"{value / scale:.1f} {unit}" if unit != "bytes" else f"{int(value)} bytes"
