"""``hdus-sim verify`` and ``hdus-sim audit``: check a finished run's deletions.

``verify`` re-checks lineage and re-runs the retrain oracle (and, on request, membership
inference and backdoor attacks) for every departure; ``audit`` checks the hash-chained
audit logs and the deletion receipts. Both exit 1 on a failure, naming it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hdus_sim.cli.common import console, err_console, fmt, owning
from hdus_sim.cli.tables import (
    backdoor_line,
    forgetting_line,
    mia_table,
    oracle_line,
    point_mia_table,
    verdicts_table,
)
from hdus_sim.verification.select import EVENTS_HELP


def verify(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `hdus-sim run`.")],
    oracle: Annotated[
        bool, typer.Option(help="Re-run the retrain oracle for every departure.")
    ] = True,
    oracle_runtime: Annotated[
        str | None,
        typer.Option(help="Run oracles on another runtime (inprocess, grpc, ray)."),
    ] = None,
    oracle_mode: Annotated[
        str,
        typer.Option(
            help="each | combined | auto (combined above 3 events). combined: one oracle "
            "re-run without every event, split into halves only where it differs."
        ),
    ] = "auto",
    events: Annotated[str | None, typer.Option("--events", help=EVENTS_HELP)] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress lines on stderr.")
    ] = False,
    mia: Annotated[
        bool, typer.Option("--mia", help="Membership inference on departed peers' data.")
    ] = False,
    backdoor: Annotated[
        bool, typer.Option("--backdoor", help="Attack success of a departed peer's backdoor.")
    ] = False,
    shadows: Annotated[
        int,
        typer.Option(
            help="LiRA shadow models per attacked peer with --mia (0: loss attack only; "
            "each costs one training of the peer's model)."
        ),
    ] = 16,
    variance: Annotated[
        str, typer.Option(help="LiRA variance: global (pooled; few shadows) or per_example.")
    ] = "global",
) -> None:
    """Re-check lineage and the retrain oracle for every leave and crash; exit 1 on failure.

    Verdicts are also written into the deletion receipts (receipts.json) and appended to
    the owners' audit logs; see them with `hdus-sim audit DIR`.
    """
    from hdus_sim.verification.mia.config import AttackConfig
    from hdus_sim.verification.run import verify_run

    try:
        attack = AttackConfig(shadows=shadows, variance=variance)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    status = _StatusLine(enabled=not quiet)
    with owning(run_dir):
        try:
            report = verify_run(
                run_dir,
                oracle=oracle,
                oracle_runtime=oracle_runtime,
                oracle_mode=oracle_mode,
                events=events,
                mia=mia,
                backdoor=backdoor,
                attack=attack,
                progress=status.line,
                tick=status.tick,
            )
        finally:
            status.clear()
    _print_verification(run_dir, report, oracle)


def _print_verification(run_dir: Path, report: Any, oracle: bool) -> None:
    """Print the attack evidence, the verdicts and PASS; on a failure, name it and exit 1."""
    for b in report.backdoor:
        console.print(backdoor_line(b))
    if report.mia:
        console.print(mia_table(report.mia))
    if report.point_mia:
        console.print(point_mia_table(report.point_mia))
    console.print(verdicts_table(run_dir, report))
    if oracle and report.events:
        console.print(oracle_line(report))
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    if summary.get("forgetting"):
        console.print(forgetting_line(summary))
    if not report.events:
        console.print("no departure in this run: nothing to verify")
    if report.passed:
        of = "" if report.selected is None else f" (of {report.total_events}, chosen by --events)"
        console.print(
            f"[green]PASS[/]: {len(report.events)} event(s){of} verified; "
            f"wrote {run_dir}/verify.json"
        )
    else:
        failed = [e for e in report.events if e.verdict == "FAIL"]
        for e in failed:
            err_console.print(
                f"[red]FAIL[/] {e.kind} of peer {e.peer} (epoch {e.epoch}): {e.explain()}"
            )
        raise typer.Exit(1)


class _StatusLine:
    """Verify's progress on stderr: a line per oracle, and a self-overwriting round status.

    The round status (``oracle 2/3: rounds 12/40``) is drawn only on a terminal, so logs
    and tests get just one line per oracle re-run; ``enabled=False`` (``--quiet``) prints
    nothing.
    """

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.live = enabled and sys.stderr.isatty()
        self.shown = False

    def clear(self) -> None:
        """Erase the round status, if one is drawn."""
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False

    def line(self, message: str) -> None:
        """One lasting progress line."""
        if self.enabled:
            self.clear()
            print(message, file=sys.stderr, flush=True)

    def tick(self, message: str) -> None:
        """The round status, overwritten by the next one (terminals only)."""
        if self.live:
            sys.stderr.write(f"\r{message}\x1b[K")
            sys.stderr.flush()
            self.shown = True


def audit(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `hdus-sim run`.")],
    peer: Annotated[
        int | None, typer.Option(help="Who ever held anything derived from this peer?")
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            help="A folder with the devices' public keys (keyring.json, as `hdus-sim certs` "
            "writes) to check signed heads; a simulated run's are rebuilt from its scenario."
        ),
    ] = None,
) -> None:
    """Check every peer's hash-chained audit log; exit 1 naming any altered or missing record.

    Signed heads (runs and devices with ``sign``) are checked against the devices' public
    keys, so recomputing the hashes after editing a record does not pass. Lists every
    deletion receipt and departure with the verdict `hdus-sim verify` gave it (kept in the
    owner's chain, so an edited verdict breaks the chain).
    """
    from hdus_sim.verification.audit import check_audit, holders_ever
    from hdus_sim.verification.receipts import receipts

    ring = None
    if keys is not None:
        from hdus_sim.wire.security import KeyRing

        ring = KeyRing.load(keys)
    problems = check_audit(run_dir, ring)
    for problem in problems:
        err_console.print(f"[red]TAMPERED[/] {problem}")
    rows, issues = receipts(run_dir)
    if rows:
        console.print(_receipts_table(rows))
        if any(r.get("verdict") in (None, "NOT VERIFIED") for r in rows):
            console.print(f"[dim]not verified yet: run hdus-sim verify {run_dir}")
    for issue in issues:
        err_console.print(f"[red]MISMATCH[/] {issue}")
    if peer is not None:
        table = Table(title=f"peers that ever held a seed of peer {peer}")
        for col in ("peer", "first round", "versions", "dropped at round", "still holds"):
            table.add_column(col)
        for pid, e in holders_ever(run_dir, peer).items():
            table.add_row(
                str(pid),
                str(e["first_round"]),
                str(e["versions"]),
                fmt(e["dropped_round"]),
                ", ".join(e["still_holds"]) or "no",
            )
        console.print(table)
    if problems or issues:
        raise typer.Exit(1)
    console.print(f"[green]intact[/]: every audit chain in {run_dir}/audit checks out")


def _receipts_table(rows: list[dict[str, Any]]) -> Table:
    """One row per deletion receipt or departure, with the verdict ``verify`` gave it."""
    table = Table(title="deletion receipts and departures, with their verdicts")
    for col in (
        "request",
        "peer",
        "round",
        "points",
        "new main v",
        "new seed v",
        "verdict",
        "why",
    ):
        table.add_column(col)
    for r in rows:
        verdict = str(r.get("verdict") or "NOT VERIFIED")
        style = "red" if verdict == "FAIL" else ("yellow" if " " in verdict else "green")
        table.add_row(
            str(r.get("request")),
            fmt(r.get("peer")),
            fmt(r.get("round")),
            fmt(r.get("points")),
            fmt(r.get("model_version")),
            fmt(r.get("seed_version")),
            f"[{style}]{verdict}[/]",
            str(r.get("why") or ""),
        )
    return table
