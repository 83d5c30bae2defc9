"""Writing and reading a run directory.

A run directory holds everything ``hdus-sim verify`` needs to re-check the run:

=================== ==========================================================
``scenario.yaml``   the resolved scenario (every default filled in)
``metrics.jsonl``   one row per round and online peer (accuracies, messages)
``rounds.jsonl``    one summary row per round (means, messages, bytes)
``events.jsonl``    applied events, crash detections, removal completions
``summary.json``    headline figures, departures with removal latency
``holdings.json``   each surviving peer's held seeds, lineage and tombstones
``predictions.npz`` each surviving peer's final ensemble scores on the probe set
``accuracy.png``    mean accuracy over rounds, events marked
=================== ==========================================================

Every file is written atomically (:func:`hdus_sim.rundir.atomic_open`): a reader, or a
run killed or out of space half-way, sees a file's old version or its whole new one.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hdus_sim.errors import RunError, VerificationError
from hdus_sim.rundir import atomic_open, atomic_write

__all__ = ["RUN_FILES", "read_run", "write_json", "write_jsonl", "write_run"]

RUN_FILES = ("scenario.yaml", "summary.json", "holdings.json", "predictions.npz")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON (NaN written as ``null``), atomically."""
    atomic_write(path, json.dumps(_clean(data), indent=2, sort_keys=False) + "\n")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write one JSON object per line, atomically."""
    with atomic_open(path, text=True) as fh:
        for row in rows:
            fh.write(json.dumps(_clean(row)) + "\n")


def prepare_dir(out: str | Path, *, overwrite: bool = True) -> Path:
    """Create the output directory; refuse a path that is a file."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise RunError(f"output path {path} exists and is not a directory; choose another --out")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise RunError(f"output directory {path} is not empty; choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    # results of an earlier run in the same directory must not verify this one
    shutil.rmtree(path / "oracles", ignore_errors=True)
    (path / "verify.json").unlink(missing_ok=True)
    return path


def _with_copied_files(scenario: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Copy a ``kind: file`` topology into ``run_dir/inputs/`` and point the scenario at it.

    The run folder then keeps the graph it ran on, even if the original file changes or
    goes; the path written is the copy's absolute path, which ``verify`` and ``report``
    read from any working directory.
    """
    params = scenario.get("topology", {}).get("params") or {}
    source = params.get("path")
    if scenario.get("topology", {}).get("kind") != "file" or not isinstance(source, str):
        return scenario
    src = Path(source)
    copy = (run_dir / "inputs" / src.name).resolve()
    if src.is_file() and src.resolve() != copy:
        copy.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(copy, src.read_bytes())
    params["path"] = str(copy)
    return scenario


def write_run(sim: Any, out: str | Path) -> Path:
    """Write a finished (or partial) :class:`~hdus_sim.simulation.Simulation` to ``out``.

    A run stopped by a lost Ray actor (``sim.stopped``) gets everything computed so far:
    scenario, metrics, rounds, events and summary (with ``stopped``), and the plot.
    """
    from hdus_sim.plots import plot_accuracy
    from hdus_sim.scenario import scenario_to_dict

    path = prepare_dir(out)
    atomic_write(
        path / "scenario.yaml",
        yaml.safe_dump(_with_copied_files(scenario_to_dict(sim.scenario), path), sort_keys=False),
    )
    write_jsonl(path / "metrics.jsonl", sim.metrics)
    write_jsonl(path / "rounds.jsonl", sim.rounds)
    write_jsonl(path / "events.jsonl", sim.events)
    write_json(path / "summary.json", sim.summary())
    if getattr(sim, "stopped", None) is not None:
        # a run stopped by a lost actor has no final state: no holdings or predictions
        # for `verify` to mistake for a finished run's (its summary says why it stopped)
        for name in ("holdings.json", "predictions.npz"):
            (path / name).unlink(missing_ok=True)
    else:
        write_json(path / "holdings.json", sim.runtime.snapshot().holdings)
        preds = sim.predictions()
        with atomic_open(path / "predictions.npz") as fh:
            np.savez_compressed(fh, **{str(pid): v for pid, v in preds.items()})
    with atomic_open(path / "accuracy.png") as fh:
        plot_accuracy(sim.rounds, sim.events, fh, title=sim.scenario.name)
    audit = sim.runtime.audit_trail()  # every runtime records one
    if audit is not None:
        audit.write(path, signer=run_head_signer(sim.scenario, audit.chains))
    return path


def run_head_signer(scenario: Any, peer_ids: Any) -> Any:
    """How a signing run (``runtime.signs``) signs its audit heads: ``KeyRing.sign``, or ``None``.

    Simulated devices' keys come from the scenario's seed (as every runtime makes them),
    so ``audit`` can rebuild their public keys from ``scenario.yaml``: in a simulation the
    signatures show the chains are the ones the run wrote; a deployment's devices keep
    their own keys (``hdus-sim certs``), and ``audit --keys`` checks against those.
    """
    if not scenario.runtime.signs:
        return None
    from hdus_sim.wire.security import KeyRing

    return KeyRing.for_simulation(sorted(peer_ids), scenario.seed).sign


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """Read what ``verify`` needs from a run directory, with a clear error for a missing file."""
    path = Path(run_dir)
    if not path.is_dir():
        raise VerificationError(f"run directory {path} does not exist; pass the --out of a run")
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    if missing:
        raise VerificationError(
            f"run directory {path} lacks {', '.join(missing)}; "
            f"re-run `hdus-sim run SCENARIO --out {path}`"
        )
    with np.load(path / "predictions.npz") as npz:
        predictions = {int(k): npz[k] for k in npz.files}
    return {
        "scenario": yaml.safe_load((path / "scenario.yaml").read_text()),
        "summary": json.loads((path / "summary.json").read_text()),
        "holdings": {
            int(k): v for k, v in json.loads((path / "holdings.json").read_text()).items()
        },
        "predictions": predictions,
    }
