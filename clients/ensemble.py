"""The erasable ensemble: a peer's main model mixed with the seeds it holds.

``out = (1 - rho) * main(x) + rho * mean_j seed_j(x)``, combined either on raw logits (as
the HDUS authors' code does) or on probabilities. Seeds are averaged in sorted
``(owner, epoch)`` order so the result is bit-identical whatever order they arrived in:
the retrain oracle compares predictions for exact equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import torch
import torch.nn.functional as F

from clients.errors import ModelError
from clients.messages import DataOwner

__all__ = [
    "CombineMode",
    "combine",
    "combine_mean",
    "mean_scores",
    "mean_seed_scores",
    "scores_of",
]


class CombineMode(StrEnum):
    """How main and seed outputs are mixed."""

    LOGITS = "logits"
    PROBS = "probs"


def scores_of(logits: torch.Tensor, mode: CombineMode | str) -> torch.Tensor:
    """What a model contributes to the ensemble: its logits, or its softmax probabilities."""
    return logits if CombineMode(mode) is CombineMode.LOGITS else F.softmax(logits, dim=1)


_scores = scores_of


def mean_scores(seed_scores: Mapping[DataOwner, torch.Tensor]) -> torch.Tensor | None:
    """Average already-computed seed scores (:func:`scores_of`) in sorted key order."""
    if not seed_scores:
        return None
    return torch.stack([seed_scores[k] for k in sorted(seed_scores)]).mean(dim=0)


def mean_seed_scores(
    seed_logits: Mapping[DataOwner, torch.Tensor], mode: CombineMode
) -> torch.Tensor | None:
    """Average the seeds' scores (logits or probabilities) in sorted key order, or ``None``."""
    return mean_scores({k: _scores(v, mode) for k, v in seed_logits.items()})


def combine(
    main_logits: torch.Tensor,
    seed_logits: Mapping[DataOwner, torch.Tensor],
    *,
    rho: float,
    mode: CombineMode | str = CombineMode.PROBS,
) -> torch.Tensor:
    """Return the ensemble's scores; the predicted class is their argmax.

    Parameters
    ----------
    main_logits
        The main model's logits, shape ``(n, classes)``.
    seed_logits
        Logits of every held seed, keyed by data owner, each ``(n, classes)``.
    rho
        Weight of the seeds, in ``[0, 1]``; with no seeds held it is taken as 0.
    mode
        ``"logits"`` mixes raw logits; ``"probs"`` mixes softmax probabilities and returns
        their logarithm (so the output is a log-probability, usable as logits).

    Examples
    --------
    >>> main = torch.tensor([[2.0, 0.0]])
    >>> seeds = {(1, 0): torch.tensor([[0.0, 2.0]])}
    >>> combine(main, seeds, rho=0.5, mode="logits")
    tensor([[1., 1.]])
    >>> combine(main, {}, rho=0.9, mode="logits")
    tensor([[2., 0.]])
    """
    mode = CombineMode(mode)
    if not 0.0 <= rho <= 1.0:
        raise ModelError(f"rho must be in [0, 1], got {rho}")
    for key, logits in seed_logits.items():
        if logits.shape != main_logits.shape:
            raise ModelError(
                f"seed {key} gives logits of shape {tuple(logits.shape)} but the main model "
                f"gives {tuple(main_logits.shape)}; all peers must share the class count"
            )
    return combine_mean(main_logits, mean_seed_scores(seed_logits, mode), rho=rho, mode=mode)


def combine_mean(
    main_logits: torch.Tensor,
    seeds: torch.Tensor | None,
    *,
    rho: float,
    mode: CombineMode | str = CombineMode.PROBS,
) -> torch.Tensor:
    """:func:`combine` given the seeds' mean scores already (:func:`mean_seed_scores`).

    For callers that also report the seeds-only accuracy: the mean is computed once.
    """
    mode = CombineMode(mode)
    if not 0.0 <= rho <= 1.0:
        raise ModelError(f"rho must be in [0, 1], got {rho}")
    if seeds is None:
        return main_logits.clone()
    mixed = (1.0 - rho) * _scores(main_logits, mode) + rho * seeds
    if mode is CombineMode.LOGITS:
        return mixed
    return torch.log(mixed.clamp_min(1e-12))
