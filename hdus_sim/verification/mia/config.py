"""What a membership-inference run attacks and how: the stages and :class:`AttackConfig`.

Light on purpose (no torch): the report reads the stage names without loading the attacks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DELETION_STAGES", "DEPARTURE_STAGES", "AttackConfig"]

#: Stages of a departure attack, in report order.
DEPARTURE_STAGES: tuple[str, ...] = (
    "departed_main_before",
    "departed_ensemble_before",
    "before",
    "before_holders",
    "after",
    "oracle",
    "never_seen",
)

#: Stages of a point-deletion attack (the owner's own models), in report order.
DELETION_STAGES: tuple[str, ...] = (
    "owner_main_before",
    "owner_ensemble_before",
    "owner_main_after",
    "owner_ensemble_after",
    "oracle_main",
    "oracle_ensemble",
    "never_seen",
)


@dataclass(frozen=True)
class AttackConfig:
    """How membership inference is run, and what it costs.

    Attributes
    ----------
    shadows : int
        LiRA shadow models per attacked peer (rounded up to an even number; ``0`` runs
        the loss-threshold attack only). Each costs one training of the peer's main model
        and one seed distillation (about 0.2-0.5 s for the quickstart's models).
    variance : str
        ``"global"``: one standard deviation for "in" and one for "out", pooled over
        examples (Carlini et al. advise it below about 64 shadows); ``"per_example"``.
    fpr : float
        False-positive rate at which the true-positive rate is reported.
    point_nonmembers : int
        Never-seen samples per deleted point in point-deletion attacks (few points are
        deleted; more non-members steady the estimate).
    """

    shadows: int = 16
    variance: str = "global"
    fpr: float = 0.01
    point_nonmembers: int = 4

    def __post_init__(self) -> None:
        if self.shadows < 0:
            raise ValueError(f"shadows must be >= 0, got {self.shadows}")
        if self.variance not in ("global", "per_example"):
            raise ValueError(f"variance must be 'global' or 'per_example', got {self.variance!r}")
        if not 0 < self.fpr < 1:
            raise ValueError(f"fpr must be in (0, 1), got {self.fpr}")
        if self.point_nonmembers < 1:
            raise ValueError(f"point_nonmembers must be >= 1, got {self.point_nonmembers}")

    @property
    def shadow_count(self) -> int:
        """Shadows actually trained (even, so that every example is in exactly half)."""
        return self.shadows + self.shadows % 2
