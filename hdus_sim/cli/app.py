"""The ``hdus-sim`` parser and dispatch: every command registered here, errors mapped here.

The commands live in one module per group (:mod:`~hdus_sim.cli.run_cmd`,
:mod:`~hdus_sim.cli.verify_cmd`, :mod:`~hdus_sim.cli.report_cmd`,
:mod:`~hdus_sim.cli.bench_cmd`, :mod:`~hdus_sim.cli.info_cmd`,
:mod:`~hdus_sim.cli.peer_cmd`); this module registers them, in the order ``--help`` lists
them, and turns exceptions into the exit codes of :mod:`hdus_sim.cli`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from clients.errors import ClientsError
from hdus_sim.cli.bench_cmd import bench, sweep
from hdus_sim.cli.info_cmd import models, validate
from hdus_sim.cli.peer_cmd import certs, peer_serve
from hdus_sim.cli.report_cmd import report
from hdus_sim.cli.run_cmd import run
from hdus_sim.cli.verify_cmd import audit, verify
from hdus_sim.errors import HdusError, ScenarioError
from topologies.errors import TopologyError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Simulate, deploy and test decentralized machine unlearning (HDUS) at the IoT edge.",
)

USER_ERRORS = (HdusError, ClientsError, TopologyError)
#: set by ``--debug``: let exceptions through with their traceback
_DEBUG = {"on": False}


def _print_version(value: bool) -> None:
    """``--version``: print the installed version and exit."""
    if value:
        from hdus_sim import __version__

        typer.echo(f"hdus-sim {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error (for bug reports).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Simulate, deploy and test decentralized machine unlearning (HDUS) at the IoT edge."""
    _DEBUG["on"] = debug


for _command in (run, sweep, bench, verify, report, audit, validate, models, certs):
    app.command()(_command)

peer_app = typer.Typer(help="Run one peer as its own process (real deployment).")
app.add_typer(peer_app, name="peer")
peer_app.command("serve")(peer_serve)


def _print_error(exc: BaseException) -> None:
    """Every line of the message as its own ``error:`` line (plain text: no wrapping)."""
    lines = [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    for line in lines:
        print(f"error: {line}", file=sys.stderr)


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: the process arguments) and return its exit code.

    Errors become ``error:`` lines on stderr and an exit code (see :mod:`hdus_sim.cli`);
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
