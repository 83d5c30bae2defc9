"""The platform's exception tree: every user-causable error names the problem and the fix.

The command line prints the message on one line and exits with the error's ``exit_code``:
2 for what the user can fix in the command or the files (the default), 1 for a state of
the machine (a folder owned by another run, a full disk, a Ray actor lost for good).
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ActorLostError",
    "DiskFullError",
    "EventSelectionError",
    "HdusError",
    "RunDirBusyError",
    "RunError",
    "ScenarioError",
    "VerificationError",
]


class HdusError(Exception):
    """Root of every error raised by ``hdus_sim``."""

    exit_code: int = 2


class ScenarioError(HdusError, ValueError):
    """A scenario file or dict is invalid; the message names the field and the fix."""


class RunError(HdusError):
    """A run cannot proceed (bad output directory, event that no longer applies, ...)."""


class RunDirBusyError(RunError):
    """The run folder is owned by another live hdus-sim process."""

    exit_code = 1


class DiskFullError(RunError):
    """A write ran out of space; the message names the file and the space left."""

    exit_code = 1
    path: Path | None = None


class ActorLostError(RunError):
    """A Ray actor died and could not be brought back (restarts used up, or too slow).

    ``cause`` says what was lost and why: the actor's index and name, its last process id,
    its peers, and the Ray error class and message that told the driver.
    """

    exit_code = 1

    def __init__(self, message: str, cause: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.cause = dict(cause or {})


class VerificationError(HdusError):
    """A run directory cannot be verified (missing or inconsistent files)."""


class EventSelectionError(VerificationError, ValueError):
    """A ``verify --events`` value names no valid event; the message gives the syntax.

    Exit code 1, like every other invalid input value (a scenario field).
    """

    exit_code = 1
