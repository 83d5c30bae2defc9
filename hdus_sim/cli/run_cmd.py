"""``hdus-sim run``: run a scenario (or resume a killed run) and print its results.

The command owns its run folder (a :class:`~hdus_sim.rundir.RunLock`) for the whole run,
refuses a folder holding an earlier run unless ``--overwrite``, and turns a full disk into
one error naming the way to continue. Heavy modules (torch, the simulation) are imported
only after the scenario has been checked, so a bad file fails in about a second.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hdus_sim.cli.common import console, err_console, parse_sets, print_notes, print_ray_note
from hdus_sim.cli.tables import accuracy_table, departures_table, forgetting_line
from hdus_sim.errors import ActorLostError, DiskFullError, RunError

if TYPE_CHECKING:
    from hdus_sim.scenario import Scenario
    from hdus_sim.simulation import Simulation


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
    """Build (or resume) the simulation in ``out``, run it, write and print the results."""
    from hdus_sim.outputs import write_run

    if not resume:  # the scenario is checked before torch and the simulation load
        if scenario is None:
            raise typer.BadParameter("give a SCENARIO file, or --resume DIR")
        sc = _fresh_scenario(scenario, out, set_, overwrite)
    from hdus_sim.simulation import Simulation

    if resume:
        sim = Simulation.resume(out)
        sc = sim.scenario
    else:
        sim = _start(sc, out, checkpoint_every)
    _simulate(sim, sc, out, quiet)
    path = write_run(sim, out)
    if sim.journal is not None:
        sim.journal.finish(sim.engine.now)
    _print_results(sim, sc.name, path)


def _fresh_scenario(scenario: Path, out: Path, set_: list[str], overwrite: bool) -> Scenario:
    """Load and check SCENARIO, refuse (or clear) an earlier run in ``out``, print notes."""
    from hdus_sim.journal import is_finished
    from hdus_sim.rundir import clear_run, used_files
    from hdus_sim.scenario import load_scenario, with_overrides

    sc = load_scenario(scenario)
    if set_:
        sc = with_overrides(sc, parse_sets(set_))
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

    print_notes(scenario_notes(sc))
    return sc


def _start(sc: Scenario, out: Path, checkpoint_every: int) -> Simulation:
    """A new simulation of ``sc``; in-process runs also save the scenario and a journal."""
    from hdus_sim.rundir import atomic_write
    from hdus_sim.scenario import scenario_to_dict
    from hdus_sim.simulation import Simulation

    sim = Simulation(sc)
    if sc.runtime.kind == "inprocess":
        atomic_write(out / "scenario.yaml", yaml.safe_dump(scenario_to_dict(sc), sort_keys=False))
        sim.enable_journal(out, checkpoint_every)
    return sim


def _simulate(sim: Simulation, sc: Scenario, out: Path, quiet: bool) -> None:
    """Build and run ``sim`` under a progress bar; a lost Ray actor keeps what was computed."""
    from hdus_sim.outputs import write_run

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
            print_ray_note()
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


def _print_results(sim: Simulation, name: str, path: Path) -> None:
    """The accuracy table, the departures and time-to-forget, and where the files are."""
    summary = sim.summary()
    console.print(accuracy_table(name, summary))
    if summary["departures"]:
        console.print(departures_table(summary))
        console.print(forgetting_line(summary))
    console.print(
        f"wall time {summary['wall_s']:.1f} s; results in [bold]{path}[/] "
        f"(summary.json, metrics.jsonl, events.jsonl, predictions.npz, accuracy.png); "
        f"check them with: hdus-sim verify {path}"
    )
