"""The verdicts of ``verify``: one :class:`EventVerdict` per event, gathered in a report.

An event is a departure (a leave or a crash, by ``(peer, epoch)``) or a point-deletion
request. Its verdict is ``EXACT`` (lineage clean and the retrain oracle identical bit for
bit), ``CERTIFIED(eps, delta)`` (lineage clean and the removal certificate within its
budget), ``LINEAGE-ONLY`` (no oracle run) or ``FAIL``. Empirical evidence (membership
inference, backdoor success) is carried by the :class:`VerifyReport` beside the verdicts,
never in them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EventVerdict", "VerifyReport"]


@dataclass
class EventVerdict:
    """The checks of one event: a departure (leave, crash) or a point-deletion request."""

    peer: int
    epoch: int
    kind: str
    round: int
    lineage_ok: bool
    still_held_by: list[int]
    oracle_ok: bool | None
    oracle_differs_for: list[int] = field(default_factory=list)
    oracle_max_abs_diff: float | None = None
    removal_latency_rounds: int | None = None
    request_id: str | None = None
    certificate: str | None = None
    certificate_ok: bool | None = None
    seed_lost_by: list[int] = field(default_factory=list)
    #: rounds within which every holder had to drop the seed (its lease), and whether some
    #: holder kept it longer (or still holds it, past the bound, at the end of the run)
    forget_bound_rounds: int | None = None
    held_past_bound: bool = False
    #: the event's 1-based number in the run (departures first, then deletions): the #
    #: column of ``hdus-sim verify`` and what ``--events`` selects
    number: int | None = None

    @property
    def verdict(self) -> str:
        """The verdict: ``EXACT``, ``CERTIFIED(eps, delta)`` or ``FAIL``.

        ``EXACT``: lineage clean and oracle identical; ``CERTIFIED``: lineage clean and the
        removal certificate within its budget (attack evidence is never called deleted).
        """
        if (
            not self.lineage_ok
            or self.oracle_ok is False
            or self.certificate_ok is False
            or self.held_past_bound
        ):
            return "FAIL"
        if self.certificate and self.certificate.startswith("certified"):
            return self.certificate.upper()
        return "EXACT" if self.oracle_ok else "LINEAGE-ONLY"

    def explain(self) -> str:
        """One sentence on why it failed (empty when it passed)."""
        parts = []
        if self.still_held_by:
            parts.append(
                f"peer(s) {self.still_held_by} still hold the seed of ({self.peer}, {self.epoch})"
            )
        if self.certificate_ok is False:
            parts.append(f"certificate {self.certificate} exceeded its budget")
        if self.held_past_bound:
            took = self.removal_latency_rounds
            parts.append(
                f"the seed of ({self.peer}, {self.epoch}) was "
                + ("still held" if took is None else f"held for {took} rounds")
                + f", past its lease bound of {self.forget_bound_rounds} rounds"
            )
        if self.oracle_ok is False:
            parts.append(
                f"predictions of peer(s) {self.oracle_differs_for} differ from the "
                f"oracle run (max |diff| {self.oracle_max_abs_diff:.3g})"
            )
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``verify.json``."""
        return {**asdict(self), "verdict": self.verdict, "explanation": self.explain()}


@dataclass
class VerifyReport:
    """Verdicts of every departure in a run (or of the events chosen with ``events``)."""

    run_dir: str
    events: list[EventVerdict]
    survivors: list[int]
    mia: list[dict[str, Any]] = field(default_factory=list)
    backdoor: list[dict[str, Any]] = field(default_factory=list)
    point_mia: dict[str, Any] | None = None
    receipts: list[dict[str, Any]] = field(default_factory=list)
    #: oracle simulations actually run for the verdicts, and oracles read from the cache
    oracle_reruns: int = 0
    oracle_cached: int = 0
    #: every group oracle (size, passed), in the order they ran
    oracle_groups: list[dict[str, Any]] = field(default_factory=list)
    oracle_seconds: float = 0.0
    #: the 1-based event numbers checked (``None``: every event)
    selected: list[int] | None = None
    total_events: int = 0

    @property
    def passed(self) -> bool:
        """Whether every event passed."""
        return all(e.verdict != "FAIL" for e in self.events)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``verify.json``."""
        return {
            "run_dir": self.run_dir,
            "passed": self.passed,
            "survivors": self.survivors,
            "events": [e.as_dict() for e in self.events],
            "selected": self.selected,
            "total_events": self.total_events,
            "oracle": {
                "reruns": self.oracle_reruns,
                "cached": self.oracle_cached,
                "groups": self.oracle_groups,
                "seconds": round(self.oracle_seconds, 3),
            },
            "membership_inference": self.mia,
            "point_deletion_inference": self.point_mia,
            "backdoor": self.backdoor,
        }
