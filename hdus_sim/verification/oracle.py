"""Retrain-oracle re-runs for ``verify``: run (or load) them, count them, report progress.

An *oracle* is the scenario re-run with some data owners' own seeds never sent and some
points absent from the start (:class:`~hdus_sim.simulation.Simulation` ``withheld`` /
``withheld_points``). Every random stream is derived from (scenario seed, peer id, epoch,
purpose) and the churn plan, graph evolution and fault decisions are fixed by the scenario
alone, so withholding a seed changes nothing but who holds that seed: the oracle is the
run in which those owners' data never left them.

An oracle run ends with an :class:`OracleResult`: the survivors' final predictions (what
:func:`compare` holds the run's against, bit for bit) and the seeds each survivor held.
Results are cached in the run folder. :class:`OracleRunner` makes the oracles of one
``verify``, counts the re-runs actually made (and those read from the cache) and reports
round-by-round progress; which oracles to make is :mod:`hdus_sim.verification.groups`'s
job.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdus_sim.rundir import atomic_open, atomic_write
from hdus_sim.scenario import load_scenario
from hdus_sim.simulation import Simulation

__all__ = ["OracleResult", "OracleRunner", "compare", "oracle_predictions", "oracle_tag"]


@dataclass(frozen=True)
class OracleResult:
    """What one oracle run ends with.

    Attributes
    ----------
    predictions : dict of int to numpy.ndarray
        Every survivor's final ensemble scores on the probe set, by peer id.
    held : dict of int to set of str
        The seeds (``"peer:epoch"`` keys) every survivor held at the end, by peer id.
    """

    predictions: dict[int, np.ndarray]
    held: dict[int, set[str]]


def _scenario_digest(scenario: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(scenario, sort_keys=True).encode()).hexdigest()[:16]


def _points_digest(withheld_points: dict[int, list[int]] | None, size: int) -> str:
    items = sorted((k, sorted(v)) for k, v in (withheld_points or {}).items())
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:size]


def oracle_tag(
    withheld: tuple[int, int] | None,
    withheld_points: dict[int, list[int]] | None,
    withheld_many: Sequence[tuple[int, int]],
) -> str:
    """The name of an oracle run (its cache file and its key in ``sims``)."""
    if withheld is not None:
        return f"p{withheld[0]}_e{withheld[1]}"
    many = sorted(withheld_many)
    if many:
        digest = hashlib.sha256(json.dumps(many).encode()).hexdigest()[:8]
        return f"all_{digest}_{_points_digest(withheld_points, 8)}"
    return f"pts_{_points_digest(withheld_points, 12)}"


def _cache_path(cache_dir: Path, scenario: dict[str, Any], what: str) -> Path:
    """Where the oracle ``what`` of ``scenario`` is cached (``.npz``; held sets beside it)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir / f"oracle_{_scenario_digest(scenario)}_{what}.npz"


def _load_cached(cache: Path) -> OracleResult | None:
    """The cached oracle result at ``cache``, or ``None`` when it is not (wholly) there."""
    held_cache = cache.with_suffix(".held.json")
    if not (cache.is_file() and held_cache.is_file()):
        return None
    with np.load(cache) as npz:
        preds = {int(k): npz[k] for k in npz.files}
    held = {int(k): set(v) for k, v in json.loads(held_cache.read_text()).items()}
    return OracleResult(preds, held)


def _save_cached(cache: Path, result: OracleResult) -> None:
    """Write ``result`` to ``cache`` (predictions) and its ``.held.json`` (held sets)."""
    with atomic_open(cache) as fh:
        np.savez_compressed(fh, **{str(k): v for k, v in result.predictions.items()})  # type: ignore[arg-type]
    atomic_write(
        cache.with_suffix(".held.json"),
        json.dumps({str(k): sorted(v) for k, v in result.held.items()}),
    )


def oracle_predictions(
    scenario: dict[str, Any],
    withheld: tuple[int, int] | None,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    runtime: str | None = None,
    withheld_points: dict[int, list[int]] | None = None,
    withheld_many: Sequence[tuple[int, int]] = (),
    sims: dict[str, Simulation] | None = None,
    counts: dict[str, int] | None = None,
) -> OracleResult:
    """Re-run ``scenario`` with ``withheld``'s own seed never sent; return how it ends.

    ``withheld_many`` withholds several owners' seeds at once and ``withheld_points``
    removes points from their owners' data from the start. ``runtime`` re-runs the oracle
    on another runtime (e.g. ``inprocess`` for a Ray run: the protocol is deterministic, so
    the runtimes must agree bit for bit, which checks the runtime too). Cached under
    ``cache_dir`` by scenario digest and what is withheld, so every check (and a second
    ``verify``) reuses one oracle run. A ``sims`` dict receives every oracle simulation
    actually run, keyed by :func:`oracle_tag`, so the attacks can examine its models
    without running it again. ``counts`` gets ``reruns`` or ``cached`` raised by one.
    ``progress(round_done, total_rounds)`` is called after every round.
    """
    if runtime is not None and runtime != scenario.get("runtime", {}).get("kind"):
        scenario = json.loads(json.dumps(scenario))
        scenario["runtime"] = {**scenario.get("runtime", {}), "kind": runtime, "address": None}

    what = oracle_tag(withheld, withheld_points, withheld_many)
    cache = None if cache_dir is None else _cache_path(cache_dir, scenario, what)
    cached = None if cache is None else _load_cached(cache)
    if cached is not None:
        if counts is not None:
            counts["cached"] = counts.get("cached", 0) + 1
        return cached
    sim = Simulation(
        load_scenario(scenario),
        withheld=frozenset({withheld}) if withheld is not None else frozenset(withheld_many),
        withheld_points=withheld_points,
        progress=progress,
    )
    preds = sim.run().predictions()
    if counts is not None:
        counts["reruns"] = counts.get("reruns", 0) + 1
    if sims is not None:
        sims[what] = sim
    result = OracleResult(preds, {pid: set(h["held"]) for pid, h in sim.runtime.holdings().items()})
    if cache is not None:
        _save_cached(cache, result)
    return result


def compare(
    predictions: dict[int, np.ndarray], ref: dict[int, np.ndarray], survivors: list[int]
) -> tuple[bool, list[int], float]:
    """Compare final predictions with an oracle's, bit for bit, per surviving peer.

    Returns ``(identical, peers that differ, max |difference|)``; a survivor missing on
    either side (or with another shape) differs with an infinite difference.
    """
    differs: list[int] = []
    max_diff = 0.0
    for pid in survivors:
        a, b = predictions.get(pid), ref.get(pid)
        if a is None or b is None or a.shape != b.shape:
            differs.append(pid)
            max_diff = float("inf")
        elif not np.array_equal(a, b):
            differs.append(pid)
            max_diff = max(max_diff, float(np.max(np.abs(a - b))))
    differs += sorted(set(ref) ^ set(survivors))
    return not differs, sorted(set(differs)), max_diff


@dataclass
class OracleRunner:
    """Makes the oracle re-runs of one ``verify``, numbered, counted and reported.

    ``progress`` gets one line as each oracle starts (``oracle 2/3: without 82 events``)
    and ``tick`` a short status after each of its rounds (``oracle 2/3: rounds 12/40``),
    meant for a status line that overwrites itself. ``planned`` is raised by whoever
    queues more oracles (a group that differed is split), so the ``/N`` can grow.
    """

    scenario: dict[str, Any]
    cache_dir: Path
    runtime: str | None = None
    sims: dict[str, Simulation] | None = None
    progress: Callable[[str], None] | None = None
    tick: Callable[[str], None] | None = None
    planned: int = 0
    started: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def reruns(self) -> int:
        """Oracle simulations actually run (cache hits not counted)."""
        return self.counts.get("reruns", 0)

    @property
    def cached(self) -> int:
        """Oracles read from the run folder's cache instead of re-run."""
        return self.counts.get("cached", 0)

    def run(
        self,
        what: str,
        *,
        withheld: tuple[int, int] | None = None,
        points: dict[int, list[int]] | None = None,
        many: Sequence[tuple[int, int]] = (),
    ) -> OracleResult:
        """One oracle run (see :func:`oracle_predictions`), announced as ``what``."""
        self.started += 1
        self.planned = max(self.planned, self.started)
        label = f"oracle {self.started}/{self.planned}"
        if self.progress is not None:
            self.progress(f"{label}: {what}")
        tick = self.tick

        def rounds(done: int, total: int) -> None:
            if tick is not None:
                tick(f"{label}: rounds {done}/{total}")

        t0 = time.perf_counter()
        result = oracle_predictions(
            self.scenario,
            withheld,
            cache_dir=self.cache_dir,
            progress=rounds,
            runtime=self.runtime,
            withheld_points=points,
            withheld_many=many,
            sims=self.sims,
            counts=self.counts,
        )
        self.seconds += time.perf_counter() - t0
        return result
