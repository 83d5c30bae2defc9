"""Reading a run directory for a report: the files ``hdus-sim run`` and ``verify`` wrote.

A report only reads; it never re-runs anything. :func:`load_run_data` checks that every
file of :data:`REQUIRED_FILES` is there and parses it, naming the file and the command
that rewrites it when one is missing or unreadable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hdus_sim.errors import RunError

__all__ = ["REQUIRED_FILES", "RunData", "load_run_data", "read_jsonl"]

#: Files a report needs; ``verify.json`` is optional.
REQUIRED_FILES: tuple[str, ...] = (
    "scenario.yaml",
    "summary.json",
    "metrics.jsonl",
    "rounds.jsonl",
    "events.jsonl",
)


@dataclass(frozen=True)
class RunData:
    """The files of a run directory, parsed.

    Attributes
    ----------
    run_dir : Path
        The run directory.
    scenario : dict
        The resolved scenario (``scenario.yaml``).
    summary : dict
        ``summary.json``.
    metrics : list of dict
        ``metrics.jsonl``: one row per round and online peer.
    rounds : list of dict
        ``rounds.jsonl``: one row per round.
    events : list of dict
        ``events.jsonl``: applied and protocol events, in the order they happened.
    verify : dict or None
        ``verify.json`` if ``hdus-sim verify`` ran, else ``None``.
    """

    run_dir: Path
    scenario: dict[str, Any]
    summary: dict[str, Any]
    metrics: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    events: list[dict[str, Any]]
    verify: dict[str, Any] | None

    @property
    def round_numbers(self) -> list[int]:
        """Every round recorded in ``rounds.jsonl``, ascending."""
        return sorted(int(r["round"]) for r in self.rounds)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file, blank lines skipped.

    Raises
    ------
    RunError
        If a line is not valid JSON; the message names the file and the line.
    """
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise RunError(
                f"{path} line {lineno} is not valid JSON ({exc.msg}); "
                "re-run the scenario to rewrite the run directory"
            ) from None
    return rows


def load_run_data(run_dir: str | Path) -> RunData:
    """Read a run directory for a report.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by ``hdus-sim run SCENARIO --out DIR``.

    Returns
    -------
    RunData
        The parsed files; ``verify`` is ``None`` when ``verify.json`` is absent.

    Raises
    ------
    RunError
        If the directory or one of :data:`REQUIRED_FILES` is missing or unreadable; the
        message names the file and the command that writes it.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(
            f"run directory {path} does not exist; pass the --out of `hdus-sim run SCENARIO`"
        )
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise RunError(
            f"run directory {path} lacks {', '.join(missing)}; "
            f"re-run `hdus-sim run SCENARIO --out {path}`"
        )
    try:
        scenario = yaml.safe_load((path / "scenario.yaml").read_text()) or {}
        summary = json.loads((path / "summary.json").read_text())
        verify_path = path / "verify.json"
        verify = json.loads(verify_path.read_text()) if verify_path.is_file() else None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RunError(
            f"run directory {path} holds an unreadable file ({exc}); "
            f"re-run `hdus-sim run SCENARIO --out {path}` (and `hdus-sim verify {path}`)"
        ) from None
    rounds = read_jsonl(path / "rounds.jsonl")
    if not rounds:
        raise RunError(f"{path / 'rounds.jsonl'} is empty: the run recorded no round; re-run it")
    return RunData(
        run_dir=path,
        scenario=scenario,
        summary=summary,
        metrics=read_jsonl(path / "metrics.jsonl"),
        rounds=sorted(rounds, key=lambda r: int(r["round"])),
        events=read_jsonl(path / "events.jsonl"),
        verify=verify,
    )
