"""The ``hdus-sim`` command line: run a scenario, verify a run, validate a file, list models.

Exit codes: 0 success; 1 an invalid scenario or ``verify --events`` value (one ``error:``
line per problem, naming the field or flag, the value and the fix), a failed verification
or a tampered audit log; 2 any other
user error (bad option, missing run directory, ...); 3 an internal error (a bug: one line,
``hdus-sim --debug ...`` shows the traceback). No traceback is printed without ``--debug``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clients.errors import ClientsError
from hdus_sim.errors import ActorLostError, DiskFullError, HdusError, RunError, ScenarioError
from hdus_sim.verification.select import EVENTS_HELP
from topologies.errors import TopologyError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Simulate, deploy and test decentralized machine unlearning (HDUS) at the IoT edge.",
)
console = Console()
err_console = Console(stderr=True)

USER_ERRORS = (HdusError, ClientsError, TopologyError)
#: set by ``--debug``: let exceptions through with their traceback
_DEBUG = {"on": False}


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error (for bug reports).")
    ] = False,
) -> None:
    """Simulate, deploy and test decentralized machine unlearning (HDUS) at the IoT edge."""
    _DEBUG["on"] = debug


def _parse_sets(sets: list[str]) -> dict[str, Any]:
    from hdus_sim.scenario_yaml import read_yaml_text

    out: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise typer.BadParameter(
                f"--set {item!r}: write it as field.path=value, e.g. peers.rho=0.7"
            )
        key, value = item.split("=", 1)
        out[key.strip()] = read_yaml_text(value, f"--set {key.strip()}")
    return out


@contextlib.contextmanager
def _owning(run_dir: Path) -> Iterator[None]:
    """Hold an existing run folder's lock while a command writes into it."""
    if not run_dir.is_dir():  # the command itself says what is missing
        yield
        return
    from hdus_sim.rundir import RunLock

    with RunLock(run_dir):
        yield


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if x != x else f"{x:.3f}"
    return str(x)


@app.command()
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario YAML file (omit with --resume).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")] = Path(
        "runs/latest"
    ),
    set_: Annotated[list[str], typer.Option("--set", help="Override a field: path=value.")] = [],  # noqa: B006
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the killed run in this directory.")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Delete an earlier run's files in --out first (else refused)."
        ),
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option(help="Rounds between checkpoints (in-process runs).")
    ] = 1,
) -> None:
    """Run SCENARIO and write metrics, events, predictions and a plot to --out.

    In-process runs keep a journal and checkpoints in --out; ``--resume DIR`` continues a
    run that was killed (or stopped by a full disk), with the same result as an
    uninterrupted run. A folder is owned by one command at a time, and one that holds an
    earlier run's results is refused unless ``--overwrite`` is given.
    """
    from hdus_sim.rundir import RunLock

    if resume is not None and overwrite:
        raise typer.BadParameter("--resume continues a run, --overwrite replaces it: give one")
    folder = resume if resume is not None else out
    if resume is not None and not resume.is_dir():
        raise RunError(f"no run folder {resume} to resume; pass the --out of a killed run")
    lock = RunLock(folder).acquire()
    try:
        if lock.took_over is not None:
            err_console.print(f"[dim]{lock.describe_takeover()}[/]", soft_wrap=True)
        _run(scenario, folder, set_, quiet, resume is not None, overwrite, checkpoint_every)
    except DiskFullError as exc:
        hint = (
            f"free some space, then continue with: hdus-sim run --resume {folder}"
            if (folder / "checkpoint.pkl").is_file()
            else f"free some space, then run it again with --out {folder} --overwrite"
        )
        raise DiskFullError(f"{exc}; {hint}") from exc
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        from hdus_sim.rundir import disk_full

        raise disk_full(exc.filename or folder, exc) from exc
    finally:
        lock.release()


def _run(
    scenario: Path | None,
    out: Path,
    set_: list[str],
    quiet: bool,
    resume: bool,
    overwrite: bool,
    checkpoint_every: int,
) -> None:
    from hdus_sim.journal import is_finished
    from hdus_sim.outputs import write_run
    from hdus_sim.rundir import atomic_write, clear_run, used_files
    from hdus_sim.scenario import load_scenario, scenario_to_dict, with_overrides

    if not resume:  # the scenario is checked before torch and the simulation load
        if scenario is None:
            raise typer.BadParameter("give a SCENARIO file, or --resume DIR")
        sc = load_scenario(scenario)
        if set_:
            sc = with_overrides(sc, _parse_sets(set_))
        earlier = used_files(out)
        if earlier and not overwrite:
            files = ", ".join(earlier[:4]) + (", ..." if len(earlier) > 4 else "")
            if is_finished(out) or "verify.json" in earlier:
                what, fix = "a finished run", ""
            elif "checkpoint.pkl" in earlier:
                what, fix = "an unfinished run", f"--resume {out} to continue it, "
            else:
                what, fix = "an earlier run's files", ""
            raise RunError(
                f"{out} holds {what} ({files}); pass --overwrite to replace it, {fix}"
                "or choose another --out"
            )
        clear_run(out)
        from hdus_sim.scenario_checks import scenario_notes

        _print_notes(scenario_notes(sc))
    from hdus_sim.simulation import Simulation

    if resume:
        sim = Simulation.resume(out)
        sc = sim.scenario
    else:
        sim = Simulation(sc)
        if sc.runtime.kind == "inprocess":
            atomic_write(
                out / "scenario.yaml", yaml.safe_dump(scenario_to_dict(sc), sort_keys=False)
            )
            sim.enable_journal(out, checkpoint_every)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    ) as bar:
        task = bar.add_task(f"{sc.name}: building", total=sc.rounds + sc.effective_settle_rounds)
        sim.build()
        if sc.runtime.kind == "ray":
            from hdus_sim.runtime.ray_runtime import RAY_CLUSTER

            err_console.print(f"[dim]ray: {RAY_CLUSTER.get('note')}[/]", soft_wrap=True)
        bar.update(task, description=f"{sc.name}: rounds", completed=sim.engine.now)
        sim.progress = lambda done, total: bar.update(task, completed=done)
        try:
            sim.run()
        except ActorLostError as exc:
            write_run(sim, out)  # everything computed so far, the reason in summary.json
            raise ActorLostError(
                f"{exc}; the run stopped at round {sim.engine.now}: what it computed is in "
                f"{out} (metrics.jsonl, rounds.jsonl, events.jsonl, summary.json)",
                exc.cause,
            ) from None
    path = write_run(sim, out)
    if sim.journal is not None:
        sim.journal.finish(sim.engine.now)
    summary = sim.summary()
    table = Table(
        title=f"{sc.name}: mean accuracy over {len(summary['online_at_end'])} surviving peers"
    )
    table.add_column("test set")
    for col in ("main only", "seeds only", "ensemble"):
        table.add_column(col, justify="right")
    acc = summary["final_accuracy"]
    for split in ("local", "global"):
        table.add_row(split, *(_fmt(acc[f"{split}_{p}"]) for p in ("main", "seeds", "ensemble")))
    console.print(table)
    if summary["departures"]:
        dep = Table(title="departures and seed removal")
        for col in (
            "peer",
            "epoch",
            "kind",
            "round",
            "holders",
            "removed after (rounds)",
            "lease bound",
            "by lease",
            "wall (ms)",
        ):
            dep.add_column(col, justify="right")
        for d in summary["departures"]:
            ms = None if d["latency_s"] is None else d["latency_s"] * 1000
            dep.add_row(
                *(
                    _fmt(v)
                    for v in (
                        d["peer"],
                        d["epoch"],
                        d["kind"],
                        d["round"],
                        len(d["holders_at_start"]),
                        d["latency_rounds"],
                        d.get("bound_rounds"),
                        len(d.get("lease_drops") or []),
                        ms,
                    )
                )
            )
        console.print(dep)
        console.print(_forgetting_line(summary))
    console.print(
        f"wall time {summary['wall_s']:.1f} s; results in [bold]{path}[/] "
        f"(summary.json, metrics.jsonl, events.jsonl, predictions.npz, accuracy.png); "
        f"check them with: hdus-sim verify {path}"
    )


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: Annotated[
        list[str], typer.Option("--set", help="PATH=V1,V2,... (repeat; the grid is their product).")
    ] = [],  # noqa: B006
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write sweep.csv/.md.")] = Path(
        "runs/sweep"
    ),
    parallel: Annotated[str, typer.Option(help="none, or ray (runs as Ray tasks).")] = "none",
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
) -> None:
    """Run SCENARIO over a grid of overrides and write one table."""
    from hdus_sim.scenario import load_scenario
    from hdus_sim.sweep import run_sweep

    axes: dict[str, list[Any]] = {}
    for item in set_:
        if "=" not in item:
            raise typer.BadParameter(f"--set {item!r}: write it as PATH=V1,V2,...")
        key, values = item.split("=", 1)
        axes[key.strip()] = [yaml.safe_load(v) for v in values.split(",")]
    rows = run_sweep(load_scenario(scenario), axes, out, parallel=parallel, address=address)
    if parallel == "ray":
        from hdus_sim.runtime.ray_runtime import RAY_CLUSTER

        err_console.print(f"[dim]ray: {RAY_CLUSTER.get('note')}[/]", soft_wrap=True)
    table = Table(title=f"sweep of {scenario} ({len(rows)} runs)")
    for col in rows[0]:
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*(_fmt(v) for v in row.values()))
    console.print(table)
    console.print(f"wrote {out}/sweep.csv and {out}/sweep.md")


@app.command()
def bench(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write bench.md/.json.")] = Path(
        "runs/bench"
    ),
    methods: Annotated[
        str, typer.Option(help="Comma-separated subset of the methods (default: all).")
    ] = "all",
    baseline_arch: Annotated[
        str, typer.Option(help="Model of FedAvg, DSGD and the pooled baseline.")
    ] = "sensor",
    baseline_epochs: Annotated[
        int | None,
        typer.Option(help="FedAvg/DSGD local epochs per scenario round (default: HDUS's budget)."),
    ] = None,
    max_events: Annotated[
        int, typer.Option(help="Bench at most this many departures (the first ones).")
    ] = 6,
    set_: Annotated[list[str], typer.Option("--set", help="Override a field: path=value.")] = [],  # noqa: B006
) -> None:
    """Run HDUS and the baselines on SCENARIO and write one table (see hdus_sim.bench)."""
    from hdus_sim.bench import METHODS, BenchConfig, render, run_bench, write
    from hdus_sim.scenario import load_scenario, with_overrides

    chosen = METHODS if methods == "all" else tuple(m.strip() for m in methods.split(","))
    try:
        config = BenchConfig(
            methods=tuple(dict.fromkeys(("hdus", *chosen))),
            baseline_arch=baseline_arch,
            baseline_epochs=baseline_epochs,
            max_events=max_events,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    sc = load_scenario(scenario)
    if set_:
        sc = with_overrides(sc, _parse_sets(set_))
    report = run_bench(sc, config, log=lambda msg: err_console.print(f"[dim]{msg}[/]"))
    write(report, out)
    typer.echo(render(report))
    console.print(f"wrote {out}/bench.md and {out}/bench.json")


_MIA_COLUMNS = (
    ("departed_main_before", "its main"),
    ("departed_ensemble_before", "its ens."),
    ("before_holders", "holders"),
    ("before", "all"),
    ("after", "after"),
    ("oracle", "oracle"),
    ("never_seen", "never seen"),
)


def _mia_table(rows: list[dict[str, Any]]) -> Table:
    """One row per departure and attack: mean AUC over peers at every stage."""
    table = Table(
        title="membership inference on each departed peer's data: attack AUC (mean over "
        "peers); before the leave: the peer's own main model and ensemble, the holders of "
        "its seed, all others (back: the peer re-joined with the same data, so survivors hold "
        "its new seed, in the oracle too). EMPIRICAL evidence, not a proof; TPR and spread "
        "in verify.json",
        title_justify="left",
    )
    for col in ("peer", "attack", *(c for _, c in _MIA_COLUMNS), "after-oracle"):
        table.add_column(col, justify="right")
    for m in rows:
        for attack in ("loss", "lira"):
            res = m.get(attack)
            if not res:
                continue
            table.add_row(
                f"{m['peer']} ({m['kind']}{', back' if m.get('owner_rejoined') else ''})",
                "LiRA" if attack == "lira" else "loss",
                *(_fmt((res.get(stage) or {}).get("auc_mean")) for stage, _ in _MIA_COLUMNS),
                _fmt((m.get("after_minus_oracle_auc") or {}).get(attack)),
            )
    return table


def _point_mia_table(res: dict[str, Any]) -> Table:
    """Point deletions: pooled AUC / TPR over owners at every stage, per attack."""
    stages = (
        ("owner_main_before", "main before"),
        ("owner_ensemble_before", "ens. before"),
        ("owner_main_after", "main after"),
        ("owner_ensemble_after", "ens. after"),
        ("oracle_main", "oracle main"),
        ("oracle_ensemble", "oracle ens."),
        ("never_seen", "never seen"),
    )
    table = Table(
        title=f"membership inference on {res['points']} points deleted inside "
        f"{len(res['owners'])} owners, against the owner's models: AUC pooled over owners; "
        "EMPIRICAL evidence",
        title_justify="left",
    )
    table.add_column("attack")
    for _, col in stages:
        table.add_column(col, justify="right")
    for attack in ("loss", "lira"):
        if res.get(attack):
            table.add_row(
                "LiRA" if attack == "lira" else "loss",
                *(_fmt((res[attack].get(s) or {}).get("auc_pooled")) for s, _ in stages),
            )
    return table


@app.command()
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
    with _owning(run_dir):
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
    for b in report.backdoor:
        console.print(
            f"backdoor of peer {b['peer']} (target {b['target']}): attack success on the "
            f"survivors before the leave {_fmt(b['before_mean'])} (holders of its seed "
            f"{_fmt(b['before_holders_mean'])}), after {_fmt(b['after_mean'])}, "
            f"oracle {_fmt(b['oracle_mean'])}; the planter's own main model before: "
            f"{_fmt(b['planter_main_before'])}, its ensemble: "
            f"{_fmt(b['planter_own_ensemble_before'])}; EMPIRICAL evidence"
        )
    if report.mia:
        console.print(_mia_table(report.mia))
    if report.point_mia:
        console.print(_point_mia_table(report.point_mia))
    table = Table(title=f"verification of {run_dir}")
    for col in ("#", "peer", "epoch", "kind", "round", "lineage", "oracle", "verdict", "why"):
        table.add_column(col)
    for e in report.events:
        oracle_cell = (
            "skipped" if e.oracle_ok is None else ("identical" if e.oracle_ok else "DIFFERS")
        )
        style = "red" if e.verdict == "FAIL" else "green"
        table.add_row(
            str(e.number),
            str(e.peer),
            str(e.epoch),
            e.kind,
            str(e.round),
            "clean" if e.lineage_ok else "HELD",
            oracle_cell,
            f"[{style}]{e.verdict}[/]",
            e.explain(),
        )
    console.print(table)
    if oracle and report.events:
        console.print(_oracle_line(report))
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    if summary.get("forgetting"):
        console.print(_forgetting_line(summary))
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


def _oracle_line(report: Any) -> str:
    """How many oracle re-runs the verdicts took, and how the groups went."""
    groups = report.oracle_groups
    split = sum(not g["passed"] for g in groups)
    how = f"; {len(groups)} group oracle(s), {split} differed and were split" if groups else ""
    return (
        f"oracle: {report.oracle_reruns} re-run(s), {report.oracle_cached} from the cache, "
        f"{report.oracle_seconds:.1f} s for {len(report.events)} event(s){how}"
    )


def _forgetting_line(summary: dict[str, Any]) -> str:
    """Time-to-forget over the run next to the lease bound, in one line."""
    f = summary.get("forgetting") or {}
    past = f.get("past_bound") or []
    verdict = "[green]every departure within it[/]" if not past else f"[red]{len(past)} past it[/]"
    return (
        f"time-to-forget: median {_fmt(f.get('median_rounds'))}, worst "
        f"{_fmt(f.get('worst_rounds'))} rounds; lease bound {_fmt(f.get('lease_rounds'))} "
        f"rounds, {verdict}; {f.get('by_lease', 0)} departure(s) forgotten by lease expiry "
        f"somewhere; signatures: {str(summary.get('signatures', '?')).split(':')[0]}"
    )


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `hdus-sim run`.")],
    rounds: Annotated[
        list[int], typer.Option("--graph-round", help="Rounds to draw the graph at (repeat).")
    ] = [],  # noqa: B006
) -> None:
    """Write DIR/report.md and a self-contained DIR/report.html with plots."""
    from hdus_sim.report import write_report

    with _owning(run_dir):
        paths = write_report(run_dir, graph_rounds=rounds or None)
    console.print(f"wrote {paths.html} and {paths.markdown} ({len(paths.plots)} plots)")


@app.command()
def audit(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `hdus-sim run`.")],
    peer: Annotated[
        int | None, typer.Option(help="Who ever held anything derived from this peer?")
    ] = None,
) -> None:
    """Check every peer's hash-chained audit log; exit 1 naming any altered or missing record.

    Lists every deletion receipt and departure with the verdict `hdus-sim verify` gave it
    (kept in the owner's chain, so an edited verdict breaks the chain).
    """
    from hdus_sim.verification.audit import check_audit, holders_ever
    from hdus_sim.verification.receipts import receipts

    problems = check_audit(run_dir)
    for problem in problems:
        err_console.print(f"[red]TAMPERED[/] {problem}")
    rows, issues = receipts(run_dir)
    if rows:
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
                _fmt(r.get("peer")),
                _fmt(r.get("round")),
                _fmt(r.get("points")),
                _fmt(r.get("model_version")),
                _fmt(r.get("seed_version")),
                f"[{style}]{verdict}[/]",
                str(r.get("why") or ""),
            )
        console.print(table)
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
                _fmt(e["dropped_round"]),
                ", ".join(e["still_holds"]) or "no",
            )
        console.print(table)
    if problems or issues:
        raise typer.Exit(1)
    console.print(f"[green]intact[/]: every audit chain in {run_dir}/audit checks out")


@app.command()
def validate(scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")]) -> None:
    """Validate SCENARIO and print its resolved form; exit 1 naming every invalid field.

    Nothing is built beyond the initial graph (within the scenario's ``limits``), so a
    scenario is checked in about a second, whatever its size.
    """
    from hdus_sim.scenario import load_scenario, scenario_to_dict
    from hdus_sim.scenario_checks import scenario_notes

    sc = load_scenario(scenario)
    console.print(yaml.safe_dump(scenario_to_dict(sc), sort_keys=False), markup=False)
    _print_notes(scenario_notes(sc))
    console.print(
        f"[green]valid[/]: {len(sc.all_peer_ids)} peers, {sc.rounds} rounds, "
        f"{len(sc.events)} events"
    )


@app.command()
def models(
    dataset: Annotated[str, typer.Option(help="Dataset whose input shape to use.")] = "digits",
) -> None:
    """List the model zoo with parameter counts for a dataset's input shape."""
    from clients.models import describe_architectures

    shapes = {
        "digits": ((1, 8, 8), 10),
        "mnist": ((1, 28, 28), 10),
        "fashion_mnist": ((1, 28, 28), 10),
        "cifar10": ((3, 32, 32), 10),
        "uci_har": ((561,), 6),
        "synthetic": ((32,), 10),
    }
    if dataset not in shapes:
        raise typer.BadParameter(f"unknown dataset {dataset!r}; choose one of {sorted(shapes)}")
    shape, classes = shapes[dataset]
    table = Table(title=f"model zoo for {dataset} inputs {shape}")
    for col in ("architecture", "role", "parameters"):
        table.add_column(col)
    for info in describe_architectures(shape, classes):
        table.add_row(info.name, info.role, f"{info.parameters:,}")
    console.print(table)


@app.command()
def certs(
    out: Annotated[Path, typer.Argument(help="Directory to write the CA, host certs and keys.")],
    host: Annotated[
        list[str], typer.Option("--host", help="NAME=PEER,PEER,... (repeat per host).")
    ] = [],  # noqa: B006
    peers: Annotated[int, typer.Option(help="Or: this many peers, one host each.")] = 0,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible signing keys.")] = None,
) -> None:
    """Make a test CA and one folder per device: its certificate, TLS and signing keys.

    OUT/<host>/ holds what that device needs and no other device's secret (copy it there
    and set pki_dir to it); OUT/ keeps the CA key and the public key ring.
    """
    from hdus_sim.wire.security import KeyRing, make_test_pki, write_device_folders

    hosts: dict[str, list[int]] = {}
    for item in host:
        name, _, ids = item.partition("=")
        if not name or not ids:
            raise typer.BadParameter(f"--host {item!r}: write it as NAME=0,1,2")
        try:
            hosts[name] = [int(i) for i in ids.split(",") if i.strip()]
        except ValueError:
            raise typer.BadParameter(f"--host {item!r}: peer ids must be integers") from None
    hosts.update({f"peer{i}": [i] for i in range(peers)})
    if not hosts:
        raise typer.BadParameter("give --host NAME=IDS (repeatable) or --peers N")
    pki = make_test_pki(hosts)
    ids = sorted({i for v in hosts.values() for i in v})
    devices = write_device_folders(out, pki, KeyRing.generate(ids, seed=seed))
    console.print(
        f"wrote a test CA and {len(devices)} device folder(s) for peers {ids} to "
        f"[bold]{out}[/]: copy {out}/<host>/ to each device and set its pki_dir to it "
        f"(its certificate, TLS key and own signing keys, every peer's public key); "
        f"{out}/ca.key stays with you",
        soft_wrap=True,
    )


peer_app = typer.Typer(help="Run one peer as its own process (real deployment).")
app.add_typer(peer_app, name="peer")


@peer_app.command("serve")
def peer_serve(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="peer.yaml (see hdus_sim.standalone).")
    ],
) -> None:
    """Serve one peer: train, gossip its seed, heartbeat, drop departed peers' seeds."""
    from hdus_sim.standalone import load_peer_config, serve

    cfg = load_peer_config(config)
    serve(
        cfg,
        base_dir=config.parent,
        on_serving=lambda address: console.print(
            f"peer {cfg.peer_id} serving on {address}; neighbours {cfg.neighbors}", soft_wrap=True
        ),
    )


def _print_error(exc: BaseException) -> None:
    """Every line of the message as its own ``error:`` line (plain text: no wrapping)."""
    lines = [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    for line in lines:
        print(f"error: {line}", file=sys.stderr)


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: the process arguments) and return its exit code.

    Errors become ``error:`` lines on stderr and an exit code (see the module docstring);
    with ``--debug`` they are raised with their traceback instead.
    """
    _DEBUG["on"] = False
    try:
        app(args=argv, prog_name="hdus-sim")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ScenarioError as exc:
        if _DEBUG["on"]:
            raise
        _print_error(exc)
        return 1
    except USER_ERRORS as exc:
        if _DEBUG["on"]:
            raise
        _print_error(exc)
        return int(getattr(exc, "exit_code", 2))
    except Exception as exc:  # a bug: say so in one line; --debug shows where
        if _DEBUG["on"]:
            raise
        detail = " ".join(str(exc).split())[:200]
        print(
            f"error: internal error ({type(exc).__name__}: {detail}); rerun with "
            "`hdus-sim --debug ...` for the traceback and report it",
            file=sys.stderr,
        )
        return 3
    return 0


def main() -> None:
    """Entry point: run the CLI and exit with its code (errors are one line each)."""
    sys.exit(run_cli())


if __name__ == "__main__":
    main()
