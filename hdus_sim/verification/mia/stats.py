"""Membership-inference statistics: ROC area, TPR at a low FPR, confidences, the null spread.

Scores are numpy arrays, one value per sample; higher means "more likely a member".
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["auc", "confidence", "logit_confidence", "null_auc_sd", "tpr_at_fpr"]


def auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """Area under the ROC curve of scores (Mann-Whitney U; ties count half).

    Examples
    --------
    >>> auc(np.array([2.0, 3.0]), np.array([0.0, 1.0]))
    1.0
    >>> auc(np.array([1.0]), np.array([1.0]))
    0.5
    """
    m, n = np.asarray(members, float), np.asarray(nonmembers, float)
    if m.size == 0 or n.size == 0:
        return float("nan")
    allv = np.concatenate([m, n])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(allv.size)
    sorted_v = allv[order]
    i = 0
    while i < allv.size:  # average ranks over ties
        j = i
        while j + 1 < allv.size and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[: m.size].sum() - m.size * (m.size + 1) / 2
    return float(u / (m.size * n.size))


def tpr_at_fpr(members: np.ndarray, nonmembers: np.ndarray, fpr: float = 0.01) -> float:
    """True-positive rate at the threshold that lets through ``fpr`` of non-members.

    With ``n`` non-members the smallest FPR that can be told apart is ``1 / n``: below
    it, the threshold is the highest non-member score.
    """
    if len(members) == 0 or len(nonmembers) == 0:
        return float("nan")
    threshold = np.quantile(np.asarray(nonmembers, float), 1 - fpr)
    return float((np.asarray(members, float) > threshold).mean())


def logit_confidence(scores: torch.Tensor, y: np.ndarray) -> np.ndarray:
    """``phi = log(p_y / (1 - p_y))`` of softmax(``scores``), computed stably (float64).

    ``scores`` are logits or log-probabilities ``(n, classes)``; ``y`` the true labels.

    Examples
    --------
    >>> phi = logit_confidence(torch.tensor([[0.0, 0.0], [2.0, 0.0]]), np.array([0, 0]))
    >>> [round(float(v), 6) for v in phi]
    [0.0, 2.0]
    """
    z = scores.double()
    rows = torch.arange(len(y))
    labels = torch.from_numpy(np.asarray(y)).long()
    true = z[rows, labels]
    others = z.clone()
    others[rows, labels] = -torch.inf
    return (true - torch.logsumexp(others, dim=1)).numpy()


def confidence(scores: torch.Tensor, y: np.ndarray) -> np.ndarray:
    """Softmax probability of the true label (the loss-threshold score)."""
    probs = torch.softmax(scores.double(), dim=1)
    return probs[torch.arange(len(y)), torch.from_numpy(np.asarray(y)).long()].numpy()


def null_auc_sd(members: int, nonmembers: int) -> float:
    """Standard deviation of the AUC of scores that carry no signal (Mann-Whitney null).

    An AUC within about two of these of 0.5 cannot be told from chance at these sizes.

    Examples
    --------
    >>> round(null_auc_sd(71, 71), 4)
    0.0486
    """
    if members < 1 or nonmembers < 1:
        return float("nan")
    return float(np.sqrt((members + nonmembers + 1) / (12 * members * nonmembers)))
