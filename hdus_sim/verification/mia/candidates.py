"""The samples under attack: a data owner's members and class-matched never-seen samples.

Non-members are samples nobody trained on: the owner's own local test samples first, then
other peers' local test samples and the global test set (no model trains on either; the
reference set is never used: seeds are distilled on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clients.partition import FederatedSplit

__all__ = ["Candidates", "candidates_for", "never_seen_splits"]


@dataclass(frozen=True)
class Candidates:
    """Samples under attack: members first, then never-seen non-members.

    Attributes
    ----------
    x, y, ids : numpy.ndarray
        Inputs, labels (as the owner trained on them) and dataset sample ids.
    member : numpy.ndarray
        ``True`` for the owner's (training or deleted) samples.
    sources : dict of str to int
        Where the non-members come from: ``own_test``, ``other_tests``, ``global_test``.
    """

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    member: np.ndarray
    sources: dict[str, int]

    @property
    def members(self) -> int:
        """Number of members."""
        return int(self.member.sum())

    @property
    def nonmembers(self) -> int:
        """Number of non-members."""
        return int((~self.member).sum())


def _never_seen_pool(
    split: FederatedSplit, owner: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Samples no model trains on: local test sets (the owner's first) and the global test."""
    parts = [(split.peers[owner].test_x, split.peers[owner].test_y, split.peers[owner].test_ids, 0)]
    for pid in sorted(split.peers):
        if pid != owner:
            d = split.peers[pid]
            parts.append((d.test_x, d.test_y, d.test_ids, 1))
    parts.append((split.global_test_x, split.global_test_y, split.global_test_ids, 2))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    ids = np.concatenate([p[2] for p in parts])
    src = np.concatenate([np.full(len(p[1]), p[3]) for p in parts])
    return x, y, ids, src


def candidates_for(
    split: FederatedSplit,
    owner: int,
    members: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    seed: int,
    ratio: int = 1,
) -> Candidates:
    """Members plus ``ratio`` never-seen samples per member, matched class by class.

    Non-members of each class come from the owner's own local test samples first, then
    at random from the other peers' local test samples and the global test set. When a
    class has too few, all of them are taken (the counts are in ``sources``).
    """
    mx, my, mids = members
    px, py, pids, psrc = _never_seen_pool(split, owner)
    rng = np.random.default_rng(seed)
    take: list[np.ndarray] = []
    for c in np.unique(my):
        need = ratio * int((my == c).sum())
        own = rng.permutation(np.flatnonzero((py == c) & (psrc == 0)))[:need]
        rest = rng.permutation(np.flatnonzero((py == c) & (psrc != 0)))
        take += [own, rest[: max(0, need - own.size)]]
    idx = np.sort(np.concatenate(take)) if take else np.zeros(0, dtype=int)
    names = ("own_test", "other_tests", "global_test")
    return Candidates(
        x=np.concatenate([mx, px[idx]]).astype(np.float32),
        y=np.concatenate([my, py[idx]]).astype(np.int64),
        ids=np.concatenate([mids, pids[idx]]).astype(np.int64),
        member=np.concatenate([np.ones(len(my), bool), np.zeros(idx.size, bool)]),
        sources={name: int((psrc[idx] == i).sum()) for i, name in enumerate(names)},
    )


def never_seen_splits(
    cand: Candidates, seed: int, splits: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """``splits`` random halvings of the non-members; the first half plays members (the null).

    Returns two ``(splits, n)`` boolean masks. Averaging the AUC over halvings removes
    the luck of one draw; :func:`null_auc_sd` gives the spread of one draw.
    """
    rng = np.random.default_rng(seed)
    outsiders = np.flatnonzero(~cand.member)
    pos = np.zeros((splits, cand.member.size), bool)
    neg = np.zeros((splits, cand.member.size), bool)
    for i in range(splits):
        idx = rng.permutation(outsiders)
        pos[i, idx[: idx.size // 2]] = True
        neg[i, idx[idx.size // 2 :]] = True
    return pos, neg
