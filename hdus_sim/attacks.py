"""Membership inference on forgotten data: empirical evidence, never a proof.

Two attacks, scored on the same members and non-members:

* **loss threshold** (Yeom et al. 2018): a sample's score is the model's confidence in its
  true label; members of a model's training data tend to score higher.
* **LiRA** (Carlini et al., "Membership Inference Attacks From First Principles", 2022):
  for every example, Gaussians are fitted to the logit-scaled confidence
  ``phi = log(p / (1 - p))`` of shadow models that trained on it ("in") and of shadow
  models that did not ("out"); the score is the log likelihood ratio of the target's
  ``phi`` under the two fits.

**Shadows for HDUS.** The only path by which a departed peer p's data reaches a survivor q
is p's seed inside q's ensemble. A shadow of q's ensemble is therefore q's own ensemble
(its main model and every other held seed, unchanged) with p's seed replaced by a shadow
seed: p's main model (the same :class:`~clients.peer.Peer` code, architecture, training
budget and distillation) trained on a random half of a candidate pool, then distilled on
the public reference set. When q holds no seed of p (a survivor after the leave, or a
peer that never was p's neighbour) the shadow seed is *added*, as if q held one: the
attack then asks whether q's predictions behave like those of an ensemble holding a seed
trained on the example, and a q that depends on p in any other way would show it. The
candidate pool is p's training samples plus as many never-seen samples of the same
classes; every candidate is in exactly half of the shadows (complementary pairs of
class-stratified halves), so each shadow trains on as many samples per class as p did.
Shadow randomness (split, initialisation, batch order) is derived from the scenario seed
(:func:`~hdus_sim.rng.derive_seed`), so the attack is reproducible.

**Members and non-members.** Members: the departed peer's training samples at the leave.
Non-members: samples nobody trained on, matched class by class to the members: the peer's
own local test samples first, then other peers' local test samples and the global test set
(no model trains on either; the reference set is never used: seeds are distilled on it).

**Stages** of a departure (see :data:`DEPARTURE_STAGES`): the departed peer's own main
model and ensemble before the leave (they certainly trained on the data: what a leaking
model looks like), every other online peer's ensemble before the leave (and the holders
of p's seed alone), the survivors after the leave, the same survivors in the retrain
oracle, and ``never_seen``: the survivors after the leave, attacked with two halves of the
never-seen samples (averaged over 16 random halvings: where chance sits). Every peer is
attacked on the same members, so sampling luck moves all their AUCs together (about
:func:`null_auc_sd` at these sizes): the reference for the survivors after the leave is the
retrain oracle, not 0.5.

Point deletions (:func:`deletion_evidence`) are attacked the same way on the owner's own
main model and ensemble, before the deletion, after it and in the point-deletion oracle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clients.ensemble import CombineMode, combine
from clients.messages import DataOwner
from clients.partition import FederatedSplit
from clients.peer import Peer, PeerSeeds
from clients.training import logits_of
from hdus_sim.rng import derive_seed

__all__ = [
    "DELETION_STAGES",
    "DEPARTURE_STAGES",
    "AttackConfig",
    "Candidates",
    "LiraFit",
    "MiaResult",
    "ShadowSet",
    "auc",
    "candidates_for",
    "deletion_evidence",
    "departure_evidence",
    "fit_lira",
    "logit_confidence",
    "mia_for_departure",
    "null_auc_sd",
    "shadow_inclusion",
    "tpr_at_fpr",
    "train_shadows",
]

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


def _confidence(scores: torch.Tensor, y: np.ndarray) -> np.ndarray:
    """Softmax probability of the true label (the loss-threshold score)."""
    probs = torch.softmax(scores.double(), dim=1)
    return probs[torch.arange(len(y)), torch.from_numpy(np.asarray(y)).long()].numpy()


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


# ---------------------------------------------------------------------- LiRA


@dataclass(frozen=True)
class LiraFit:
    """Per-example Gaussians of ``phi`` for shadows with ("in") and without ("out") it."""

    mu_in: np.ndarray
    sd_in: np.ndarray
    mu_out: np.ndarray
    sd_out: np.ndarray

    def score(self, phi: np.ndarray) -> np.ndarray:
        """Log likelihood ratio ``log N(phi; in) - log N(phi; out)`` per example."""
        phi = np.asarray(phi, float)
        z_in = (phi - self.mu_in) / self.sd_in
        z_out = (phi - self.mu_out) / self.sd_out
        return -0.5 * z_in**2 - np.log(self.sd_in) + 0.5 * z_out**2 + np.log(self.sd_out)


def fit_lira(
    phi: np.ndarray, inclusion: np.ndarray, *, variance: str = "global", min_sd: float = 1e-4
) -> LiraFit:
    """Fit the in/out Gaussians of every example from shadow confidences.

    Parameters
    ----------
    phi : numpy.ndarray
        ``(shadows, n)`` logit-scaled confidences of every shadow on every example.
    inclusion : numpy.ndarray
        ``(shadows, n)`` booleans: whether the shadow trained on the example.
    variance : str
        ``"global"`` (one pooled standard deviation per side) or ``"per_example"``.
    min_sd : float
        Floor of every standard deviation (shadows that agree exactly would give 0).

    Examples
    --------
    >>> inc = np.array([[True, False], [False, True], [True, False], [False, True]])
    >>> phi = np.where(inc, 3.0, 0.0) + np.array([[0.1], [-0.1], [-0.1], [0.1]])
    >>> fit = fit_lira(phi, inc)
    >>> [round(float(v), 3) for v in fit.mu_in], [round(float(v), 3) for v in fit.mu_out]
    ([3.0, 3.0], [0.0, 0.0])
    """
    phi = np.asarray(phi, float)
    inc = np.asarray(inclusion, bool)
    if phi.shape != inc.shape or phi.ndim != 2:
        raise ValueError(f"phi {phi.shape} and inclusion {inc.shape} must be equal 2-d shapes")
    n_in, n_out = inc.sum(axis=0), (~inc).sum(axis=0)
    if (n_in == 0).any() or (n_out == 0).any():
        raise ValueError("every example needs at least one shadow in and one out")
    mu_in = np.where(inc, phi, 0.0).sum(axis=0) / n_in
    mu_out = np.where(~inc, phi, 0.0).sum(axis=0) / n_out
    dev_in = np.where(inc, phi - mu_in, 0.0) ** 2
    dev_out = np.where(~inc, phi - mu_out, 0.0) ** 2
    if variance == "per_example":
        sd_in = np.sqrt(dev_in.sum(axis=0) / np.maximum(n_in - 1, 1))
        sd_out = np.sqrt(dev_out.sum(axis=0) / np.maximum(n_out - 1, 1))
    else:
        dof_in = max(int(n_in.sum() - n_in.size), 1)
        dof_out = max(int(n_out.sum() - n_out.size), 1)
        sd_in = np.full(phi.shape[1], np.sqrt(dev_in.sum() / dof_in))
        sd_out = np.full(phi.shape[1], np.sqrt(dev_out.sum() / dof_out))
    return LiraFit(mu_in, np.maximum(sd_in, min_sd), mu_out, np.maximum(sd_out, min_sd))


def shadow_inclusion(y: np.ndarray, shadows: int, seed: int) -> np.ndarray:
    """Which candidates each shadow trains on: complementary pairs of stratified halves.

    Shadow ``2j`` takes a random half of every class, shadow ``2j + 1`` the rest, so each
    candidate is in exactly half of the shadows and each shadow has half of every class.

    Examples
    --------
    >>> inc = shadow_inclusion(np.array([0, 0, 1, 1, 1]), 4, seed=0)
    >>> inc.shape, inc.sum(axis=0).tolist()
    ((4, 5), [2, 2, 2, 2, 2])
    """
    y = np.asarray(y)
    k = shadows + shadows % 2
    inc = np.zeros((k, y.size), dtype=bool)
    rng = np.random.default_rng(seed)
    for j in range(k // 2):
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            half = (idx.size + (j % 2)) // 2  # odd classes: alternate which side gets more
            inc[2 * j, idx[:half]] = True
        inc[2 * j + 1] = ~inc[2 * j]
    return inc


# ---------------------------------------------------------------------- candidates


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


# ---------------------------------------------------------------------- shadows


@dataclass(frozen=True)
class ShadowSet:
    """Shadow models of one peer, evaluated on its candidates.

    Attributes
    ----------
    inclusion : numpy.ndarray
        ``(shadows, n)``: whether shadow ``k`` trained on candidate ``i``.
    main : torch.Tensor
        ``(shadows, n, classes)`` logits of every shadow main model.
    seed : torch.Tensor
        ``(shadows, n, classes)`` logits of every shadow seed.
    """

    inclusion: np.ndarray
    main: torch.Tensor
    seed: torch.Tensor

    @property
    def count(self) -> int:
        """Number of shadows."""
        return int(self.inclusion.shape[0])


def train_shadows(
    peer: Peer,
    cand: Candidates,
    *,
    shadows: int,
    root_seed: int,
    purpose: str = "lira",
    keep: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> ShadowSet:
    """Train ``shadows`` copies of ``peer``'s main model and seed on halves of ``cand``.

    Each shadow is a fresh :class:`~clients.peer.Peer` with ``peer``'s configuration
    (architecture, training rounds and epochs, unlearning method, distillation), trained
    on ``keep`` (data every shadow has; point deletions: the owner's remaining data) plus
    its half of the candidates, with its own random streams derived from ``root_seed``,
    ``purpose``, the peer's key and the shadow index.
    """
    key = (peer.peer_id, peer.epoch)
    inc = shadow_inclusion(cand.y, shadows, derive_seed(root_seed, f"{purpose}_split", *key))
    xt = torch.from_numpy(cand.x)
    mains, seeds = [], []
    empty = peer.data.test_x[:0]
    for k in range(inc.shape[0]):
        parts = [(cand.x[inc[k]], cand.y[inc[k]], cand.ids[inc[k]])]
        if keep is not None:
            parts.insert(0, keep)
        x = np.concatenate([p[0] for p in parts]).astype(np.float32)
        y = np.concatenate([p[1] for p in parts]).astype(np.int64)
        ids = np.concatenate([p[2] for p in parts]).astype(np.int64)
        order = np.random.default_rng(derive_seed(root_seed, f"{purpose}_order", *key, k))
        perm = order.permutation(len(y))
        data = dataclasses.replace(
            peer.data,
            train_x=x[perm],
            train_y=y[perm],
            train_ids=ids[perm],
            test_x=empty,
            test_y=peer.data.test_y[:0],
            test_ids=peer.data.test_ids[:0],
        )
        streams = PeerSeeds(
            *(derive_seed(root_seed, f"{purpose}_shadow", *key, k, s) for s in range(4))
        )
        shadow = Peer(
            peer.peer_id,
            peer.epoch,
            data,
            peer.reference_x,
            peer.num_classes,
            peer.input_shape,
            peer.config,
            streams,
        )
        # the peer's whole training budget, then one distillation: a seed is distilled from
        # its fixed initialisation with a stream keyed by (rounds trained, ids), so this
        # equals the last seed of train_round() called round by round, for a third of
        # the cost (Peer has no public "train without distilling")
        while not shadow.training_done:
            shadow._train_one_round()
        shadow.distil_seed()
        module = shadow.own_seed_module()
        assert module is not None  # distil_seed() just made it
        with torch.no_grad():
            mains.append(shadow.main_logits(xt).detach().float())
            seeds.append(logits_of(module, xt).detach().float())
    return ShadowSet(inc, torch.stack(mains), torch.stack(seeds))


# ---------------------------------------------------------------------- targets


@dataclass(frozen=True)
class _Target:
    """A model under attack on the candidates, split into its parts.

    ``slot``: what a shadow replaces. ``"main"``: the model is the owner's main model
    alone; ``"ensemble_main"``: the owner's ensemble, its main model replaced;
    ``"seed"``: another peer's ensemble, the owner's seed replaced (or added).
    """

    peer: int
    slot: str
    owner: int
    main: torch.Tensor
    seeds: dict[DataOwner, torch.Tensor]
    rho: float
    mode: CombineMode

    @classmethod
    def of(cls, peer: Peer, x: torch.Tensor, slot: str, owner: int) -> _Target:
        main, seeds = peer.logits_parts(x)
        return cls(
            peer.peer_id,
            slot,
            owner,
            main.detach().float(),
            {k: v.detach().float() for k, v in seeds.items()},
            float(peer.config.rho),
            CombineMode(peer.config.combine),
        )

    def output(self) -> torch.Tensor:
        """The target's own scores (what the peer predicts)."""
        if self.slot == "main":
            return self.main
        return combine(self.main, self.seeds, rho=self.rho, mode=self.mode)

    def shadow_output(self, shadows: ShadowSet, k: int) -> torch.Tensor:
        """Shadow ``k`` of the target: the owner's part replaced by the shadow's."""
        if self.slot == "main":
            return shadows.main[k]
        if self.slot == "ensemble_main":
            return combine(shadows.main[k], self.seeds, rho=self.rho, mode=self.mode)
        mine = sorted(key for key in self.seeds if key[0] == self.owner)
        slot_key = mine[0] if mine else (self.owner, -1)
        others = {key: v for key, v in self.seeds.items() if key[0] != self.owner}
        return combine(
            self.main, {**others, slot_key: shadows.seed[k]}, rho=self.rho, mode=self.mode
        )


@dataclass
class MiaResult:
    """Per-peer attack AUC and TPR at one stage, for one attack.

    ``pooled`` holds every peer's member and non-member scores concatenated (point
    deletions: each owner's few points are scored by its own model), one pair per way of
    choosing them (the never-seen stage averages over several halvings).
    """

    stage: str
    per_peer_auc: dict[int, float]
    per_peer_tpr: dict[int, float]
    attack: str = "loss"
    fpr: float = 0.01
    pooled: list[tuple[np.ndarray, np.ndarray]] | None = None

    def summary(self) -> dict[str, Any]:
        """Mean, spread (min, max, std over peers) and per-peer values."""
        vals = np.array(list(self.per_peer_auc.values()), float)
        tprs = np.array(list(self.per_peer_tpr.values()), float)

        def stat(a: np.ndarray, f: Callable[[np.ndarray], Any]) -> float | None:
            a = a[~np.isnan(a)]
            return float(f(a)) if a.size else None

        out: dict[str, Any] = {
            "stage": self.stage,
            "attack": self.attack,
            "peers": len(self.per_peer_auc),
            "auc_mean": stat(vals, np.mean),
            "auc_min": stat(vals, np.min),
            "auc_max": stat(vals, np.max),
            "auc_std": stat(vals, np.std),
            "tpr_mean": stat(tprs, np.mean),
            "tpr_min": stat(tprs, np.min),
            "tpr_max": stat(tprs, np.max),
            "tpr_std": stat(tprs, np.std),
            "fpr": self.fpr,
            "per_peer_auc": {str(k): round(v, 4) for k, v in sorted(self.per_peer_auc.items())},
            "per_peer_tpr": {str(k): round(v, 4) for k, v in sorted(self.per_peer_tpr.items())},
        }
        if self.pooled:
            out["auc_pooled"] = float(np.mean([auc(*pair) for pair in self.pooled]))
            out["tpr_pooled"] = float(
                np.mean([tpr_at_fpr(*pair, self.fpr) for pair in self.pooled])
            )
        return out


@dataclass(frozen=True)
class _Case:
    """One target attacked on its candidates; ``pos``/``neg`` default to members/the rest."""

    target: _Target
    cand: Candidates
    shadows: ShadowSet | None
    pos: np.ndarray | None = None
    neg: np.ndarray | None = None


@dataclass
class _Stage:
    """The cases of one stage."""

    name: str
    cases: list[_Case]


def _rates(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray, fpr: float) -> tuple[float, float]:
    """AUC and TPR at ``fpr``, averaged over the rows of the ``(k, n)`` masks."""
    aucs = [auc(scores[p], scores[n]) for p, n in zip(pos, neg, strict=True)]
    tprs = [tpr_at_fpr(scores[p], scores[n], fpr) for p, n in zip(pos, neg, strict=True)]
    return float(np.mean(aucs)), float(np.mean(tprs))


def _score_stage(stage: _Stage, config: AttackConfig, pooled: bool) -> tuple[MiaResult, ...]:
    """Run both attacks on every case of a stage."""
    loss_auc, loss_tpr, lira_auc, lira_tpr = {}, {}, {}, {}
    pools: dict[str, dict[int, tuple[list[np.ndarray], list[np.ndarray]]]] = {
        "loss": {},
        "lira": {},
    }

    def add(name: str, scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> None:
        for i, (p, n) in enumerate(zip(pos, neg, strict=True)):
            into = pools[name].setdefault(i, ([], []))
            into[0].append(scores[p])
            into[1].append(scores[n])

    lira_ok = True
    for case in stage.cases:
        target, cand, shadows = case.target, case.cand, case.shadows
        pos = np.atleast_2d(cand.member if case.pos is None else case.pos)
        neg = np.atleast_2d(~cand.member if case.neg is None else case.neg)
        out = target.output()
        loss = _confidence(out, cand.y)
        loss_auc[target.peer], loss_tpr[target.peer] = _rates(loss, pos, neg, config.fpr)
        add("loss", loss, pos, neg)
        if shadows is None:
            lira_ok = False
            continue
        phi = np.stack(
            [
                logit_confidence(target.shadow_output(shadows, k), cand.y)
                for k in range(shadows.count)
            ]
        )
        fit = fit_lira(phi, shadows.inclusion, variance=config.variance)
        score = fit.score(logit_confidence(out, cand.y))
        lira_auc[target.peer], lira_tpr[target.peer] = _rates(score, pos, neg, config.fpr)
        add("lira", score, pos, neg)

    def pool(name: str) -> list[tuple[np.ndarray, np.ndarray]] | None:
        if not pooled or not pools[name]:
            return None
        return [(np.concatenate(a), np.concatenate(b)) for _, (a, b) in sorted(pools[name].items())]

    loss_res = MiaResult(stage.name, loss_auc, loss_tpr, "loss", config.fpr, pool("loss"))
    if not lira_ok:
        return (loss_res,)
    return loss_res, MiaResult(stage.name, lira_auc, lira_tpr, "lira", config.fpr, pool("lira"))


def _never_seen_splits(
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


def _collect(
    stages: Sequence[_Stage], config: AttackConfig, *, pooled: bool = False
) -> dict[str, Any]:
    loss: dict[str, Any] = {}
    lira: dict[str, Any] = {}
    for stage in stages:
        if not stage.cases:
            continue
        results = _score_stage(stage, config, pooled)
        loss[stage.name] = results[0].summary()
        if len(results) > 1:
            lira[stage.name] = results[1].summary()
    return {"loss": loss, "lira": lira or None}


def _difference(res: Mapping[str, Any] | None, a: str, b: str) -> float | None:
    if not res or a not in res or b not in res:
        return None
    x, y = res[a]["auc_mean"], res[b]["auc_mean"]
    return None if x is None or y is None else float(x - y)


# ---------------------------------------------------------------------- replays


def _replay(
    scenario: Any,
    rounds: Sequence[int],
    at_round: Callable[[int, Any], None],
) -> Any:
    """Re-run ``scenario`` (deterministic: the same run), pausing before each of ``rounds``.

    ``at_round(r, sim)`` is called with the state at the start of round ``r``, before its
    events are applied; the finished simulation is returned.
    """
    from hdus_sim.simulation import Simulation

    sim = Simulation(scenario).build()
    try:
        for r in sorted(set(rounds)):
            while sim.engine.now < r and not sim.finished:
                sim.step()
            at_round(r, sim)
        sim.run()
    finally:
        sim.close()
    return sim


def departure_evidence(
    scenario: Any,
    departures: Sequence[Mapping[str, Any]],
    *,
    mia: bool = True,
    backdoor: bool = False,
    config: AttackConfig | None = None,
    oracle_for: Callable[[DataOwner], tuple[Any, str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Membership inference (and backdoor success) for every departure of a run.

    Re-runs the scenario once (deterministic, so it is the same run), pausing at every
    departure round to attack the state before it, then attacks the survivors at the end
    and the retrain oracle of each departure. ``oracle_for(key)`` returns a finished
    oracle simulation in which ``key``'s data never left it, and a label; by default one
    oracle without every departure's seed is run and shared.

    Returns
    -------
    tuple of list
        One MIA record per departure (empty without ``mia``) and one backdoor record per
        departure of the planting peer (empty without ``backdoor``).
    """
    from hdus_sim.backdoor import backdoor_stage_rates, backdoor_summary

    cfg = config or AttackConfig()
    root = int(scenario.seed)
    spec = scenario.backdoor if backdoor else None
    state: dict[DataOwner, dict[str, Any]] = {}
    deps = [
        {**d, "key": (int(d["peer"]), int(d["epoch"]))}
        for d in departures
        if mia or (spec is not None and int(d["peer"]) == spec.peer)
    ]

    def before(r: int, sim: Any) -> None:
        for dep in deps:
            if int(dep["round"]) != r:
                continue
            key = dep["key"]
            p = key[0]
            entry: dict[str, Any] = {"note": None}
            state[key] = entry
            if not sim.runtime.is_online(p) or sim.epochs.get(p) != key[1]:
                entry["note"] = f"peer {p} epoch {key[1]} not online at round {r}"
                continue
            owner = sim.peer(p)
            others = [q for q in sim.runtime.online() if q != p]
            entry["holders"] = sorted(q for q in others if key in sim.peer(q).held)
            if spec is not None and p == spec.peer:
                entry["backdoor"] = backdoor_stage_rates(sim, owner, others, spec.target)
            if not mia:
                continue
            if progress is not None:
                progress(f"membership inference on peer {p}'s data: {cfg.shadow_count} shadows")
            cand = candidates_for(
                sim.split,
                p,
                (owner.data.train_x, owner.data.train_y, owner.data.train_ids),
                seed=derive_seed(root, "mia_nonmembers", *key),
            )
            shadows = (
                train_shadows(owner, cand, shadows=cfg.shadow_count, root_seed=root)
                if cfg.shadow_count
                else None
            )
            xt = torch.from_numpy(cand.x)
            entry.update(
                cand=cand,
                shadows=shadows,
                main_before=_Target.of(owner, xt, "main", p),
                ens_before=_Target.of(owner, xt, "ensemble_main", p),
                before=[_Target.of(sim.peer(q), xt, "seed", p) for q in others],
            )

    sim = _replay(scenario, sorted({int(d["round"]) for d in deps}), before)
    shared: list[tuple[Any, str]] = []

    def oracle(key: DataOwner) -> tuple[Any, str]:
        if oracle_for is not None:
            return oracle_for(key)
        if not shared:
            from hdus_sim.simulation import Simulation

            if progress is not None:
                progress("oracle run without every departed seed (for the attacks)")
            keys = frozenset(d["key"] for d in deps)
            shared.append((Simulation(scenario, withheld=keys).run(), "without all departures"))
        return shared[0]

    mia_rows: list[dict[str, Any]] = []
    bd_rows: list[dict[str, Any]] = []
    for dep in deps:
        key = dep["key"]
        p = key[0]
        entry = state.get(key, {"note": f"round {dep['round']} was not reached"})
        survivors = [q for q in sim.runtime.online() if q != p]
        rejoined = sim.runtime.is_online(p)
        osim, label = oracle(key)
        o_survivors = [q for q in survivors if osim.runtime.is_online(q)]
        base = {
            "peer": p,
            "epoch": key[1],
            "kind": dep["kind"],
            "round": int(dep["round"]),
            "holders_before": entry.get("holders"),
            "survivors": survivors,
            "owner_rejoined": rejoined,
            "oracle": label,
            "note": entry["note"],
        }
        if "backdoor" in entry and spec is not None:
            bd_rows.append(
                backdoor_summary(
                    base,
                    spec.target,
                    entry["backdoor"],
                    after=backdoor_stage_rates(sim, None, survivors, spec.target),
                    oracle=backdoor_stage_rates(osim, None, o_survivors, spec.target),
                )
            )
        if not mia:
            continue
        if "cand" not in entry:
            mia_rows.append({**base, "loss": {}, "lira": None})
            continue
        cand: Candidates = entry["cand"]
        shadows: ShadowSet | None = entry["shadows"]
        xt = torch.from_numpy(cand.x)
        after = [_Target.of(sim.peer(q), xt, "seed", p) for q in survivors]
        ns_pos, ns_neg = _never_seen_splits(cand, derive_seed(root, "mia_never_seen", *key))

        def cases(
            targets: Sequence[_Target],
            cand: Candidates = cand,
            shadows: ShadowSet | None = shadows,
            **masks: np.ndarray,
        ) -> list[_Case]:
            return [_Case(t, cand, shadows, **masks) for t in targets]

        holders = set(entry["holders"])
        stages = [
            _Stage("departed_main_before", cases([entry["main_before"]])),
            _Stage("departed_ensemble_before", cases([entry["ens_before"]])),
            _Stage("before", cases(entry["before"])),
            _Stage("before_holders", cases([t for t in entry["before"] if t.peer in holders])),
            _Stage("after", cases(after)),
            _Stage("oracle", cases([_Target.of(osim.peer(q), xt, "seed", p) for q in o_survivors])),
            _Stage("never_seen", cases(after, pos=ns_pos, neg=ns_neg)),
        ]
        res = _collect(stages, cfg)
        mia_rows.append(
            {
                **base,
                "members": cand.members,
                "nonmembers": cand.nonmembers,
                "nonmember_sources": cand.sources,
                "null_auc_sd": null_auc_sd(cand.members, cand.nonmembers),
                "shadows": 0 if shadows is None else shadows.count,
                "variance": cfg.variance,
                "fpr": cfg.fpr,
                **res,
                "after_minus_oracle_auc": {
                    "loss": _difference(res["loss"], "after", "oracle"),
                    "lira": _difference(res["lira"], "after", "oracle"),
                },
            }
        )
    return mia_rows, bd_rows


def deletion_evidence(
    scenario: Any,
    deletions: Sequence[Mapping[str, Any]],
    *,
    config: AttackConfig | None = None,
    oracle: Callable[[], tuple[Any, str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Membership inference on points deleted inside peers, against each owner's models.

    Members: every point an owner deleted (all its requests); non-members:
    ``config.point_nonmembers`` never-seen samples per point, class-matched. Targets: the
    owner's main model and ensemble just before its first deletion (the points still in),
    at the end of the run (after the deletions), and in the point-deletion oracle (the
    points absent from the start). Owners hold few points each, so AUCs are also pooled
    over owners (each point scored by its own owner's model). LiRA shadows train the
    owner's main model (its own unlearning method) on its remaining data plus a half of
    the candidates.
    """
    cfg = config or AttackConfig()
    root = int(scenario.seed)
    by_owner: dict[DataOwner, list[Mapping[str, Any]]] = {}
    for rec in deletions:
        by_owner.setdefault((int(rec["peer"]), int(rec["epoch"])), []).append(rec)
    first = {key: min(int(r["round"]) for r in recs) for key, recs in by_owner.items()}
    state: dict[DataOwner, dict[str, Any]] = {}

    def before(r: int, sim: Any) -> None:
        for key, recs in by_owner.items():
            if first[key] != r:
                continue
            o = key[0]
            if not sim.runtime.is_online(o) or sim.epochs.get(o) != key[1]:
                continue
            owner = sim.peer(o)
            ids = np.array(sorted({int(i) for rec in recs for i in rec["deleted"]}), np.int64)
            data = sim.world.data_of(o)
            pos = np.flatnonzero(np.isin(data.train_ids, ids))
            cand = candidates_for(
                sim.split,
                o,
                (data.train_x[pos], data.train_y[pos], data.train_ids[pos]),
                seed=derive_seed(root, "mia_points_nonmembers", *key),
                ratio=cfg.point_nonmembers,
            )
            xt = torch.from_numpy(cand.x)
            state[key] = {
                "cand": cand,
                "main_before": _Target.of(owner, xt, "main", o),
                "ens_before": _Target.of(owner, xt, "ensemble_main", o),
            }

    sim = _replay(scenario, sorted(set(first.values())), before)
    osim, label = (None, "") if oracle is None else oracle()
    if osim is None:
        from hdus_sim.simulation import Simulation

        points = {
            key[0]: sorted({int(i) for rec in recs for i in rec["deleted"]})
            for key, recs in by_owner.items()
        }
        if progress is not None:
            progress("point-deletion oracle run without every deleted point (for the attacks)")
        osim = Simulation(scenario, withheld_points=points).run()
        label = "without every deleted point"
    owners: dict[str, Any] = {}
    skipped: list[dict[str, Any]] = []
    stages = {name: _Stage(name, []) for name in DELETION_STAGES}
    for key in sorted(by_owner):
        o = key[0]
        entry = state.get(key)
        if entry is None or not sim.runtime.is_online(o) or sim.epochs.get(o) != key[1]:
            skipped.append({"peer": o, "epoch": key[1], "why": "not online at the end"})
            continue
        owner = sim.peer(o)
        cand = entry["cand"]
        shadows = None
        if cfg.shadow_count:
            if progress is not None:
                progress(f"{cfg.shadow_count} shadows of peer {o} for its deleted points")
            keep = (owner.data.train_x, owner.data.train_y, owner.data.train_ids)
            shadows = train_shadows(
                owner,
                cand,
                shadows=cfg.shadow_count,
                root_seed=root,
                purpose="lira_points",
                keep=keep,
            )
        xt = torch.from_numpy(cand.x)
        oracle_owner = osim.peer(o)
        ns_pos, ns_neg = _never_seen_splits(cand, derive_seed(root, "mia_points_never_seen", *key))
        targets = {
            "owner_main_before": entry["main_before"],
            "owner_ensemble_before": entry["ens_before"],
            "owner_main_after": _Target.of(owner, xt, "main", o),
            "owner_ensemble_after": _Target.of(owner, xt, "ensemble_main", o),
            "oracle_main": _Target.of(oracle_owner, xt, "main", o),
            "oracle_ensemble": _Target.of(oracle_owner, xt, "ensemble_main", o),
        }
        for stage, target in targets.items():
            stages[stage].cases.append(_Case(target, cand, shadows))
        stages["never_seen"].cases.append(
            _Case(targets["owner_ensemble_after"], cand, shadows, ns_pos, ns_neg)
        )
        owners[str(o)] = {
            "epoch": key[1],
            "points": cand.members,
            "nonmembers": cand.nonmembers,
            "requests": [str(r["request_id"]) for r in by_owner[key]],
            "first_round": first[key],
            "method": owner.config.unlearning or "retrain",
        }
    res = _collect(list(stages.values()), cfg, pooled=True)
    return {
        "owners": owners,
        "skipped": skipped,
        "points": int(sum(v["points"] for v in owners.values())),
        "nonmembers": int(sum(v["nonmembers"] for v in owners.values())),
        "null_auc_sd": null_auc_sd(
            int(sum(v["points"] for v in owners.values())),
            int(sum(v["nonmembers"] for v in owners.values())),
        ),
        "oracle": label,
        "shadows": cfg.shadow_count,
        "variance": cfg.variance,
        "fpr": cfg.fpr,
        **res,
        "after_minus_oracle_auc": {
            attack: (
                None
                if not res[attack]
                else {
                    "main": _pooled_difference(res[attack], "owner_main_after", "oracle_main"),
                    "ensemble": _pooled_difference(
                        res[attack], "owner_ensemble_after", "oracle_ensemble"
                    ),
                }
            )
            for attack in ("loss", "lira")
        },
    }


def _pooled_difference(res: Mapping[str, Any], a: str, b: str) -> float | None:
    if a not in res or b not in res:
        return None
    x, y = res[a].get("auc_pooled"), res[b].get("auc_pooled")
    return None if x is None or y is None else float(x - y)


def mia_for_departure(
    scenario: Any, departure: Mapping[str, Any], config: AttackConfig | None = None
) -> dict[str, Any]:
    """Both attacks on one departed peer's data: before the leave, after it, and the oracle."""
    rows, _ = departure_evidence(scenario, [departure], config=config)
    return rows[0]
