"""Membership inference on points deleted inside peers, against each owner's own models.

Members: every point an owner deleted (all its requests); non-members: never-seen samples,
class-matched (:func:`~hdus_sim.verification.mia.candidates.candidates_for`). Targets (the
stages of :data:`~hdus_sim.verification.mia.config.DELETION_STAGES`): the owner's main
model and ensemble just before its first deletion (the points still in), at the end of the
run (after the deletions), and in the point-deletion oracle (the points absent from the
start), and ``never_seen`` (the ensemble after, on halves of the non-members: the null).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from clients.messages import DataOwner
from hdus_sim.rng import derive_seed
from hdus_sim.scenario import Scenario
from hdus_sim.simulation import Simulation
from hdus_sim.verification.mia.candidates import candidates_for, never_seen_splits
from hdus_sim.verification.mia.config import DELETION_STAGES, AttackConfig
from hdus_sim.verification.mia.scoring import Case, Stage, Target, collect, pooled_difference
from hdus_sim.verification.mia.shadows import train_shadows
from hdus_sim.verification.mia.stats import null_auc_sd
from hdus_sim.verification.replay import replay

__all__ = ["deletion_evidence"]


@dataclass
class _DeletionAttack:
    """The attacks on a run's point deletions, grouped by owner (peer, epoch)."""

    scenario: Scenario
    by_owner: dict[DataOwner, list[Mapping[str, Any]]]
    cfg: AttackConfig
    progress: Callable[[str], None] | None
    state: dict[DataOwner, dict[str, Any]] = field(default_factory=dict)

    @property
    def root(self) -> int:
        """The scenario seed every attack stream derives from."""
        return int(self.scenario.seed)

    @property
    def first(self) -> dict[DataOwner, int]:
        """The round of each owner's first deletion."""
        return {key: min(int(r["round"]) for r in recs) for key, recs in self.by_owner.items()}

    def before(self, r: int, sim: Simulation) -> None:
        """At the start of round ``r``: candidates and targets of owners first deleting now."""
        first = self.first
        for key, recs in self.by_owner.items():
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
                seed=derive_seed(self.root, "mia_points_nonmembers", *key),
                ratio=self.cfg.point_nonmembers,
            )
            xt = torch.from_numpy(cand.x)
            self.state[key] = {
                "cand": cand,
                "main_before": Target.of(owner, xt, "main", o),
                "ens_before": Target.of(owner, xt, "ensemble_main", o),
            }

    def own_oracle(self) -> tuple[Simulation, str]:
        """An oracle run without every deleted point (when none was given)."""
        points = {
            key[0]: sorted({int(i) for rec in recs for i in rec["deleted"]})
            for key, recs in self.by_owner.items()
        }
        if self.progress is not None:
            self.progress("point-deletion oracle run without every deleted point (for the attacks)")
        run = Simulation(self.scenario, withheld_points=points).run()
        return run, "without every deleted point"

    def add_owner(
        self, key: DataOwner, sim: Simulation, osim: Simulation, stages: dict[str, Stage]
    ) -> dict[str, Any]:
        """Add one owner's cases to ``stages``; return its row of the ``owners`` table."""
        o, cfg = key[0], self.cfg
        entry = self.state[key]
        owner = sim.peer(o)
        cand = entry["cand"]
        shadows = None
        if cfg.shadow_count:
            if self.progress is not None:
                self.progress(f"{cfg.shadow_count} shadows of peer {o} for its deleted points")
            keep = (owner.data.train_x, owner.data.train_y, owner.data.train_ids)
            shadows = train_shadows(
                owner,
                cand,
                shadows=cfg.shadow_count,
                root_seed=self.root,
                purpose="lira_points",
                keep=keep,
            )
        xt = torch.from_numpy(cand.x)
        oracle_owner = osim.peer(o)
        seed = derive_seed(self.root, "mia_points_never_seen", *key)
        ns_pos, ns_neg = never_seen_splits(cand, seed)
        targets = {
            "owner_main_before": entry["main_before"],
            "owner_ensemble_before": entry["ens_before"],
            "owner_main_after": Target.of(owner, xt, "main", o),
            "owner_ensemble_after": Target.of(owner, xt, "ensemble_main", o),
            "oracle_main": Target.of(oracle_owner, xt, "main", o),
            "oracle_ensemble": Target.of(oracle_owner, xt, "ensemble_main", o),
        }
        for stage, target in targets.items():
            stages[stage].cases.append(Case(target, cand, shadows))
        stages["never_seen"].cases.append(
            Case(targets["owner_ensemble_after"], cand, shadows, ns_pos, ns_neg)
        )
        return {
            "epoch": key[1],
            "points": cand.members,
            "nonmembers": cand.nonmembers,
            "requests": [str(r["request_id"]) for r in self.by_owner[key]],
            "first_round": self.first[key],
            "method": owner.config.unlearning or "retrain",
        }


def _summary(
    owners: dict[str, Any],
    skipped: list[dict[str, Any]],
    res: dict[str, Any],
    label: str,
    cfg: AttackConfig,
) -> dict[str, Any]:
    """The ``point_deletion_inference`` record: totals, both attacks, after minus oracle."""
    points = int(sum(v["points"] for v in owners.values()))
    nonmembers = int(sum(v["nonmembers"] for v in owners.values()))
    return {
        "owners": owners,
        "skipped": skipped,
        "points": points,
        "nonmembers": nonmembers,
        "null_auc_sd": null_auc_sd(points, nonmembers),
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
                    "main": pooled_difference(res[attack], "owner_main_after", "oracle_main"),
                    "ensemble": pooled_difference(
                        res[attack], "owner_ensemble_after", "oracle_ensemble"
                    ),
                }
            )
            for attack in ("loss", "lira")
        },
    }


def deletion_evidence(
    scenario: Scenario,
    deletions: Sequence[Mapping[str, Any]],
    *,
    config: AttackConfig | None = None,
    oracle: Callable[[], tuple[Simulation, str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Membership inference on points deleted inside peers, against each owner's models.

    Members: every point an owner deleted (all its requests); non-members:
    ``config.point_nonmembers`` never-seen samples per point, class-matched. Targets: the
    owner's main model and ensemble just before its first deletion (the points still in),
    at the end of the run (after the deletions), and in the point-deletion oracle (the
    points absent from the start: ``oracle()``, else one run here). Owners hold few points
    each, so AUCs are also pooled over owners (each point scored by its own owner's model).
    LiRA shadows train the owner's main model (its own unlearning method) on its remaining
    data plus a half of the candidates.
    """
    cfg = config or AttackConfig()
    by_owner: dict[DataOwner, list[Mapping[str, Any]]] = {}
    for rec in deletions:
        by_owner.setdefault((int(rec["peer"]), int(rec["epoch"])), []).append(rec)
    attack = _DeletionAttack(scenario, by_owner, cfg, progress)
    sim = replay(scenario, sorted(set(attack.first.values())), attack.before)
    osim, label = attack.own_oracle() if oracle is None else oracle()
    owners: dict[str, Any] = {}
    skipped: list[dict[str, Any]] = []
    stages = {name: Stage(name, []) for name in DELETION_STAGES}
    for key in sorted(by_owner):
        o = key[0]
        if key not in attack.state or not sim.runtime.is_online(o) or sim.epochs.get(o) != key[1]:
            skipped.append({"peer": o, "epoch": key[1], "why": "not online at the end"})
            continue
        owners[str(o)] = attack.add_owner(key, sim, osim, stages)
    res = collect(list(stages.values()), cfg, pooled=True)
    return _summary(owners, skipped, res, label, cfg)
