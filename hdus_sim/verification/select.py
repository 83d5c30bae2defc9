"""Which events ``verify`` checks (``--events 3,7-9``) and how a partial check is kept.

Events are numbered from 1 in the order ``verify`` lists them (and writes them to
``verify.json``): first every departure (leave, crash, suspected epoch, actor crash) in
the order of ``summary.json``, then every point-deletion request. The numbers are the
``#`` column of ``hdus-sim verify``'s table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hdus_sim.errors import EventSelectionError
from hdus_sim.verification.verdicts import VerifyReport

__all__ = ["EVENTS_HELP", "merged_verify", "parse_events", "select_events"]

EVENTS_HELP = (
    "Check only these events: numbers and ranges of the # column, comma-separated, "
    "e.g. 3,7-9 (events 3, 7, 8 and 9). Verdicts of the others are kept from the last verify."
)


def _refuse(spec: str, problem: str, total: int) -> EventSelectionError:
    numbering = (
        f"this run's events are numbered 1 to {total} (the # column of hdus-sim verify)"
        if total
        else "this run has no departure or deletion to check: drop --events"
    )
    return EventSelectionError(
        f"--events {spec!r}: {problem}; write numbers and ranges such as 3,7-9; {numbering}"
    )


def _number(spec: str, text: str, total: int) -> int:
    text = text.strip()
    if not text.isdigit():
        raise _refuse(spec, f"{text!r} is not an event number", total)
    n = int(text)
    if not 1 <= n <= total:
        raise _refuse(spec, f"there is no event {n}", total)
    return n


def parse_events(spec: str, total: int) -> list[int]:
    """The sorted event numbers ``spec`` names (``"3,7-9"`` → ``[3, 7, 8, 9]``).

    ``total`` is how many events the run has. Anything else than comma-separated numbers
    and increasing ranges within ``1..total`` is refused with one line naming ``--events``,
    the value and the fix.

    >>> parse_events("3, 7-9,3", 10)
    [3, 7, 8, 9]
    """
    chosen: set[int] = set()
    parts = spec.split(",")
    if not spec.strip():
        raise _refuse(spec, "no event named", total)
    for part in parts:
        if not part.strip():
            raise _refuse(spec, "an empty item between commas", total)
        if "-" in part.strip()[1:]:
            low_text, high_text = part.strip().split("-", 1)
            low, high = _number(spec, low_text, total), _number(spec, high_text, total)
            if low > high:
                raise _refuse(spec, f"the range {part.strip()!r} goes down", total)
            chosen.update(range(low, high + 1))
        else:
            chosen.add(_number(spec, part, total))
    return sorted(chosen)


def select_events(events: str | Sequence[int] | None, total: int) -> list[int] | None:
    """``events`` as sorted 1-based numbers, checked against ``total`` (``None``: all)."""
    if events is None:
        return None
    if isinstance(events, str):
        return parse_events(events, total)
    return parse_events(",".join(str(int(n)) for n in events), total)


def merged_verify(run_dir: Path, report: VerifyReport) -> dict[str, Any]:
    """``verify.json`` for ``report``: after a partial check, merged with the last one.

    Events not checked now keep the verdict an earlier ``verify`` wrote (matched by their
    number, kind, peer, epoch and request); ``checked_now`` says which were re-checked.
    """
    data = report.as_dict()
    if report.selected is None:
        return data
    data["checked_now"] = report.selected
    path = run_dir / "verify.json"
    try:
        earlier = json.loads(path.read_text()).get("events") or []
    except (OSError, ValueError, AttributeError):
        earlier = []

    def ident(ev: dict[str, Any]) -> tuple[Any, ...]:
        return (
            ev.get("number"),
            ev.get("kind"),
            ev.get("peer"),
            ev.get("epoch"),
            ev.get("request_id"),
        )

    now = {ident(ev) for ev in data["events"]}
    kept = [
        ev
        for ev in earlier
        if isinstance(ev, dict) and ident(ev) not in now and ev.get("number") not in report.selected
    ]
    events = sorted(kept + data["events"], key=lambda ev: ev.get("number") or 0)
    data["events"] = events
    data["passed"] = all(ev.get("verdict") != "FAIL" for ev in events)
    return data
