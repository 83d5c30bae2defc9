"""What ``hdus-sim bench`` runs: the methods it knows and the baselines' training budget.

:class:`BenchConfig` checks its fields when built, so a bad ``--methods`` or
``--baseline-arch`` fails before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass

from clients.models import MAIN_ARCHITECTURES

#: every method the bench knows, in table order
METHODS = (
    "hdus",
    "hdus_retrain",
    "local_only",
    "sisa",
    "dsgd",
    "fedavg",
    "fedavg_kd",
    "centralized",
)


@dataclass(frozen=True)
class BenchConfig:
    """What the bench runs.

    Attributes
    ----------
    methods
        A subset of :data:`METHODS` (``hdus`` always runs: it makes the timeline).
    baseline_arch
        Architecture of the parameter-averaging and pooled baselines.
    baseline_epochs
        Local epochs of FedAvg and DSGD clients per scenario round (``None``: the matched
        budget), spent as that many communication rounds of ``baseline_local_epochs``.
    baseline_local_epochs
        Local epochs per FedAvg or gossip round.
    kd_steps
        Distillation steps of the FedAvg + KD repair.
    max_events
        Bench the first ``max_events`` departures (and any others in the same round as
        the last of them): the timeline is cut after that round. Every retrain-based
        method re-runs the history at each departure and HDUS's own oracle re-runs the
        whole scenario, so the bench's cost grows with the number of departures.
    """

    methods: tuple[str, ...] = METHODS
    baseline_arch: str = "sensor"
    baseline_epochs: int | None = None
    baseline_local_epochs: int = 1
    kd_steps: int = 300
    max_events: int = 6

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(
                f"unknown bench method(s) {unknown}; choose from {list(METHODS)} "
                "(e.g. --methods hdus,dsgd,fedavg)"
            )
        if self.baseline_arch not in MAIN_ARCHITECTURES:
            raise ValueError(
                f"unknown baseline architecture {self.baseline_arch!r}; "
                f"choose one of {sorted(MAIN_ARCHITECTURES)}"
            )
        if self.baseline_epochs is not None and self.baseline_epochs < 1:
            raise ValueError("baseline_epochs must be >= 1 (or left out for the matched budget)")
        if self.max_events < 1:
            raise ValueError("max_events must be >= 1 (departures to bench)")
        if self.baseline_local_epochs < 1:
            raise ValueError("baseline_local_epochs must be >= 1")
