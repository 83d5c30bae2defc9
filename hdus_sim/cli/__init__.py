"""The ``hdus-sim`` command line: run a scenario, verify a run, validate a file, list models.

Exit codes: 0 success; 1 an invalid scenario or ``verify --events`` value (one ``error:``
line per problem, naming the field or flag, the value and the fix), a failed verification
or a tampered audit log; 2 any other
user error (bad option, missing run directory, ...); 3 an internal error (a bug: one line,
``hdus-sim --debug ...`` shows the traceback). No traceback is printed without ``--debug``.

The parser and the error-to-exit-code dispatch are in :mod:`hdus_sim.cli.app`; each
command group has its own module. This package re-exports the entry points.
"""

from hdus_sim.cli.app import USER_ERRORS, app, main, run_cli

__all__ = ["USER_ERRORS", "app", "main", "run_cli"]
