"""Parameter sweeps: run a scenario over a grid of overrides and write one table.

``hdus-sim sweep SCENARIO --set topology.k=2,4,8 --set peers.rho=0.2,0.5`` runs the 6
combinations. A topology parameter may be named directly (``topology.k`` means
``topology.params.k``). With ``--parallel ray`` the runs are Ray tasks (embedded Ray, or
the cluster at ``--address``); otherwise they run one after the other in this process.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hdus_sim.errors import ScenarioError
from hdus_sim.scenario import Scenario, TopologySpec, with_overrides

__all__ = ["expand_grid", "run_sweep"]


def _normalise(path: str) -> str:
    parts = path.split(".")
    if len(parts) == 2 and parts[0] == "topology" and parts[1] not in TopologySpec.model_fields:
        return f"topology.params.{parts[1]}"
    return path


def expand_grid(
    scenario: Scenario, axes: Mapping[str, Sequence[Any]]
) -> list[tuple[dict[str, Any], Scenario]]:
    """Every combination of ``axes`` (path -> values) as ``(overrides, scenario)``, validated.

    Examples
    --------
    >>> from hdus_sim.scenario import load_scenario
    >>> base = load_scenario({"seed": 1, "rounds": 2, "peers": {"initial": 6},
    ...                       "topology": {"kind": "k_regular", "params": {"k": 2}}})
    >>> [o for o, _ in expand_grid(base, {"topology.k": [2, 4], "peers.rho": [0.5]})]
    [{'topology.k': 2, 'peers.rho': 0.5}, {'topology.k': 4, 'peers.rho': 0.5}]
    """
    if not axes:
        raise ScenarioError("a sweep needs at least one --set PATH=V1,V2,...")
    names = list(axes)
    grid = []
    for values in itertools.product(*(axes[n] for n in names)):
        overrides = dict(zip(names, values, strict=True))
        try:
            sc = with_overrides(scenario, {_normalise(k): v for k, v in overrides.items()})
        except ScenarioError as exc:
            raise ScenarioError(f"sweep point {overrides} is invalid: {exc}") from None
        grid.append((overrides, sc))
    return grid


def _run_one(scenario: Scenario) -> dict[str, Any]:
    from hdus_sim.simulation import Simulation

    start = time.perf_counter()
    sim = Simulation(scenario).run()
    summary = sim.summary()
    return {
        **{f"acc_{k}": v for k, v in summary["final_accuracy"].items()},
        "online_at_end": len(summary["online_at_end"]),
        "departures": len(summary["departures"]),
        "messages": summary["messages"],
        "bytes": summary["bytes"],
        "wall_s": round(time.perf_counter() - start, 2),
    }


def run_sweep(
    scenario: Scenario,
    axes: Mapping[str, Sequence[Any]],
    out: str | Path,
    *,
    parallel: str = "none",
    address: str | None = None,
) -> list[dict[str, Any]]:
    """Run the grid; write ``sweep.csv`` and ``sweep.md`` to ``out``; return the rows."""
    grid = expand_grid(scenario, axes)
    if parallel == "ray":
        from hdus_sim.runtime.ray_cluster import ensure_ray

        ray = ensure_ray(address)
        remote = ray.remote(num_cpus=1)(_run_one)
        results = ray.get([remote.remote(sc) for _, sc in grid])
    elif parallel == "none":
        results = [_run_one(sc) for _, sc in grid]
    else:
        raise ScenarioError(f"--parallel {parallel!r}: choose none or ray")
    rows = [{**overrides, **res} for (overrides, _), res in zip(grid, results, strict=True)]
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    with (path / "sweep.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    (path / "sweep.md").write_text(f"# sweep of {scenario.name}\n\n" + "\n".join(lines) + "\n")
    return rows
