"""The visual vocabulary of a report: colours, markers and labels of the figures.

Kept apart from the drawing code so that tables (which name the predictors the same way
as the figures' legends) do not need matplotlib.
"""

from __future__ import annotations

__all__ = [
    "DEPARTED_COLOR",
    "DEVICE_COLORS",
    "EVENT_STYLE",
    "MEMBERSHIP_LINES",
    "PARTS",
    "SETTLE_COLOR",
]

#: Predictor -> (colour, label): the main model alone, the held seeds alone, the ensemble.
PARTS: dict[str, tuple[str, str]] = {
    "main": ("tab:blue", "main only"),
    "seeds": ("tab:orange", "seeds only"),
    "ensemble": ("tab:green", "ensemble"),
}
#: Event kind -> (colour, marker, label) for the event timeline.
EVENT_STYLE: dict[str, tuple[str, str, str]] = {
    "join": ("tab:green", "^", "join"),
    "leave": ("tab:red", "v", "leave"),
    "crash": ("black", "X", "crash"),
    "crash_detected": ("tab:gray", "o", "crash detected"),
    "false_suspicion": ("tab:orange", "s", "false suspicion"),
    "refuted": ("tab:olive", "P", "suspicion refuted"),
    "removal_complete": ("tab:blue", "D", "removal complete"),
    "resurrected": ("red", "*", "RESURRECTED seed"),
    "delete": ("tab:purple", "d", "point deletion"),
    "delete_refused": ("tab:pink", "d", "deletion refused"),
    "delete_absent": ("tab:pink", "o", "deletion: points absent"),
    "kill_actor": ("tab:brown", "H", "actor killed"),
    "actor_lost": ("tab:brown", "h", "actor lost"),
    "rejoin": ("tab:cyan", ">", "rejoin (new epoch)"),
}
#: Membership changes drawn as vertical lines: kind -> (colour, line style).
MEMBERSHIP_LINES: dict[str, tuple[str, str]] = {
    "join": ("tab:green", ":"),
    "leave": ("tab:red", "--"),
    "crash": ("black", "--"),
}
#: Device class -> node colour in the graph panels.
DEVICE_COLORS: dict[str, str] = {
    "sensor": "#8dd3c7",
    "phone": "#fdb462",
    "gateway": "#80b1d3",
    "linear": "#bebada",
}
#: Node colour of a departed peer.
DEPARTED_COLOR = "#d9d9d9"
#: Background of settle rounds (no training), a matplotlib grey level.
SETTLE_COLOR = "0.93"
