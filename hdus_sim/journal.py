"""Resumable runs: an append-only, fsynced journal and periodic whole-run checkpoints.

While a run writes to ``DIR``, every applied event and every finished round is appended to
``DIR/journal.jsonl`` (one JSON object per line, flushed and fsynced), and every
``checkpoint_every`` rounds the whole simulation state is pickled atomically to
``DIR/checkpoint.pkl``. ``hdus-sim run --resume DIR`` loads the checkpoint and runs the
remaining rounds: every random stream is derived from (scenario seed, peer, epoch,
purpose), so the result equals an uninterrupted run with the same seed. Supported for the
``inprocess`` runtime (sockets and Ray actors cannot be pickled).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from hdus_sim.errors import RunError

__all__ = ["Journal", "load_checkpoint"]

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

    def append(self, record: dict[str, Any]) -> None:
        """Append one record and force it to disk."""
        with self.path.open("a") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

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
        tmp = self.dir / (CHECKPOINT + ".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / CHECKPOINT)
        self.append({"type": "checkpoint", "round": now})


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
