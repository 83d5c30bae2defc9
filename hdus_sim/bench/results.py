"""What ``hdus-sim bench`` found: every method's results, and HDUS against the retrains.

:class:`BenchReport` holds one :class:`~hdus_sim.baselines.common.MethodResult` per method;
:func:`comparisons` sets HDUS beside each retrain-based method per departure (wall-time
speed-up, accuracy gap in percentage points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdus_sim.baselines.common import MethodResult, Timeline


@dataclass
class BenchReport:
    """Every method's results on one scenario."""

    scenario: str
    seed: int
    timeline: Timeline
    results: list[MethodResult] = field(default_factory=list)
    wall_s: float = 0.0

    def by_method(self, name: str) -> MethodResult | None:
        """The result of the method called ``name`` (as in its table row), if it ran."""
        return next((r for r in self.results if r.method == name), None)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``bench.json``."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "wall_s": round(self.wall_s, 2),
            "departures": [d.label for d in self.timeline.departures],
            "comparison": comparisons(self),
            "methods": [r.as_dict() for r in self.results],
        }


#: methods whose unlearning retrains from scratch (the must-show's "retrain-based baselines")
RETRAIN_METHODS = (
    "HDUS, retrain from scratch",
    "DSGD (gossip averaging)",
    "FedAvg (Flower), retrain",
    "centralized (data pooled)",
)


def comparisons(report: BenchReport) -> list[dict[str, Any]]:
    """Per departure: HDUS against each retrain-based method, in wall time and accuracy.

    ``speedup`` is the retrain's unlearning wall time over HDUS's; ``local_gap_points`` is
    HDUS's mean local accuracy after the departure minus the retrain's, in points.
    """
    hdus = report.by_method("HDUS")
    if hdus is None:
        return []
    out = []
    for i, ev in enumerate(hdus.events):
        for name in RETRAIN_METHODS:
            other = report.by_method(name)
            if other is None or i >= len(other.events):
                continue
            o = other.events[i]
            speedup = (
                o.unlearn_wall_s / ev.unlearn_wall_s if ev.unlearn_wall_s > 0 else float("inf")
            )
            out.append(
                {
                    "event": ev.event.label,
                    "versus": name,
                    "hdus_unlearn_s": ev.unlearn_wall_s,
                    "retrain_unlearn_s": round(o.unlearn_wall_s, 4),
                    "speedup": round(speedup, 1),
                    "local_gap_points": round(100 * (ev.local_after.mean - o.local_after.mean), 2),
                    "global_gap_points": round(100 * (ev.global_after - o.global_after), 2),
                }
            )
    return out
