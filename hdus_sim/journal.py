"""Resumable runs: an append-only, fsynced journal and periodic whole-run checkpoints.

While a run writes to ``DIR``, every applied event and every finished round is appended to
``DIR/journal.jsonl`` (one JSON object per line, flushed and fsynced), and every
``checkpoint_every`` rounds the whole simulation state is pickled atomically to
``DIR/checkpoint.pkl``. ``hdus-sim run --resume DIR`` loads the checkpoint and runs the
remaining rounds: every random stream is derived from (scenario seed, peer, epoch,
purpose), so the result equals an uninterrupted run with the same seed. Supported for the
``inprocess`` runtime (sockets and Ray actors cannot be pickled).

A write that fails (a full disk) leaves the journal whole: a record is one ``write`` of a
whole line, and a failed one is cut off again, so the file never holds a torn line for
later records to follow (a torn tail from a kill is cut off when the journal is opened).
The checkpoint is replaced atomically, so the last complete one survives. Once the run's
results are written, ``finished`` is recorded, and ``--resume`` refuses such a run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
from pathlib import Path
from typing import Any

from hdus_sim.errors import RunError
from hdus_sim.rundir import atomic_open, disk_full

__all__ = ["Journal", "is_finished", "load_checkpoint"]

CHECKPOINT = "checkpoint.pkl"
JOURNAL = "journal.jsonl"


class Journal:
    """Appends records durably and writes checkpoints for one run directory."""

    def __init__(self, run_dir: str | Path, checkpoint_every: int = 1) -> None:
        if checkpoint_every < 1:
            raise RunError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_every = checkpoint_every
        self.path = self.dir / JOURNAL
        self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        """Drop a last line without its newline (a process killed mid-write)."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)
                os.fsync(fh.fileno())

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and force it to disk; on failure the file is as it was."""
        line = memoryview((json.dumps(record, default=str) + "\n").encode())
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise self._error(exc) from exc
        try:
            size = os.fstat(fd).st_size
            try:
                while line:
                    line = line[os.write(fd, line) :]
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # no partial record left behind
                    os.fsync(fd)
                raise self._error(exc) from exc
        finally:
            os.close(fd)

    def _error(self, exc: OSError) -> Exception:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return disk_full(self.path, exc)
        return exc

    def records(self) -> list[dict[str, Any]]:
        """Every record written so far (a torn last line from a kill is ignored)."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return out

    def checkpoint(self, state: Any, now: int) -> None:
        """Pickle ``state`` to ``checkpoint.pkl`` atomically (write, fsync, rename)."""
        with atomic_open(self.dir / CHECKPOINT) as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.append({"type": "checkpoint", "round": now})

    def finish(self, now: int) -> None:
        """Record that the run finished and its results are written."""
        self.append({"type": "finished", "round": now})


def is_finished(run_dir: str | Path) -> bool:
    """Whether the journal in ``run_dir`` records a finished run."""
    path = Path(run_dir) / JOURNAL
    if not path.is_file():
        return False
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            if json.loads(line).get("type") == "finished":
                return True
    return False


def load_checkpoint(run_dir: str | Path) -> Any:
    """Load the last checkpoint of a run directory, with a clear error if there is none."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise RunError(
            f"no checkpoint in {run_dir}: only runs started with `hdus-sim run ... --out DIR` "
            "(in-process runtime) can be resumed, once their first round has finished"
        )
    with path.open("rb") as fh:
        return pickle.load(fh)
