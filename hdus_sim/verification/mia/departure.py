"""Membership inference (and backdoor success) on the data of every departed peer.

**Shadows for HDUS.** The only path by which a departed peer p's data reaches a survivor q
is p's seed inside q's ensemble. A shadow of q's ensemble is therefore q's own ensemble
(its main model and every other held seed, unchanged) with p's seed replaced by a shadow
seed (:mod:`~hdus_sim.verification.mia.shadows`). When q holds no seed of p (a survivor
after the leave, or a peer that never was p's neighbour) the shadow seed is *added*, as if
q held one: the attack then asks whether q's predictions behave like those of an ensemble
holding a seed trained on the example, and a q that depends on p in any other way would
show it.

**Members and non-members.** Members: the departed peer's training samples at the leave.
Non-members: samples nobody trained on, matched class by class to the members
(:func:`~hdus_sim.verification.mia.candidates.candidates_for`).

**Stages** of a departure (see :data:`~hdus_sim.verification.mia.config.DEPARTURE_STAGES`):
the departed peer's own main model and ensemble before the leave (they certainly trained
on the data: what a leaking model looks like), every other online peer's ensemble before
the leave (and the holders of p's seed alone), the survivors after the leave, the same
survivors in the retrain oracle, and ``never_seen``: the survivors after the leave,
attacked with two halves of the never-seen samples (averaged over 16 random halvings:
where chance sits). Every peer is attacked on the same members, so sampling luck moves all
their AUCs together (about :func:`~hdus_sim.verification.mia.stats.null_auc_sd` at these
sizes): the reference for the survivors after the leave is the retrain oracle, not 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from clients.messages import DataOwner
from clients.peer import Peer
from hdus_sim.rng import derive_seed
from hdus_sim.scenario import BackdoorSpec, Scenario
from hdus_sim.simulation import Simulation
from hdus_sim.verification.backdoor import backdoor_stage_rates, backdoor_summary
from hdus_sim.verification.mia.candidates import Candidates, candidates_for, never_seen_splits
from hdus_sim.verification.mia.config import AttackConfig
from hdus_sim.verification.mia.scoring import Case, Stage, Target, collect, difference
from hdus_sim.verification.mia.shadows import ShadowSet, train_shadows
from hdus_sim.verification.mia.stats import null_auc_sd
from hdus_sim.verification.replay import replay

__all__ = ["OracleFor", "departure_evidence"]

#: a finished oracle simulation in which a data owner's data never left it, and its label
OracleFor = Callable[[DataOwner], tuple[Simulation, str]]


def _cases(
    targets: Sequence[Target],
    cand: Candidates,
    shadows: ShadowSet | None,
    pos: np.ndarray | None = None,
    neg: np.ndarray | None = None,
) -> list[Case]:
    return [Case(t, cand, shadows, pos, neg) for t in targets]


@dataclass
class _DepartureAttack:
    """The attacks on a run's departures: state captured before each, rows after the run."""

    scenario: Scenario
    deps: list[dict[str, Any]]
    cfg: AttackConfig
    mia: bool
    spec: BackdoorSpec | None
    oracle_for: OracleFor | None
    progress: Callable[[str], None] | None
    state: dict[DataOwner, dict[str, Any]] = field(default_factory=dict)
    shared: list[tuple[Simulation, str]] = field(default_factory=list)

    @property
    def root(self) -> int:
        """The scenario seed every attack stream derives from."""
        return int(self.scenario.seed)

    def before(self, r: int, sim: Simulation) -> None:
        """At the start of round ``r``: capture what each departure of ``r`` attacks."""
        for dep in self.deps:
            if int(dep["round"]) == r:
                self.state[dep["key"]] = self._capture(dep["key"], r, sim)

    def _capture(self, key: DataOwner, r: int, sim: Simulation) -> dict[str, Any]:
        p = key[0]
        entry: dict[str, Any] = {"note": None}
        if not sim.runtime.is_online(p) or sim.epochs.get(p) != key[1]:
            entry["note"] = f"peer {p} epoch {key[1]} not online at round {r}"
            return entry
        owner = sim.peer(p)
        others = [q for q in sim.runtime.online() if q != p]
        entry["holders"] = sorted(q for q in others if key in sim.peer(q).held)
        if self.spec is not None and p == self.spec.peer:
            entry["backdoor"] = backdoor_stage_rates(sim, owner, others, self.spec.target)
        if self.mia:
            entry.update(self._targets_before(key, sim, owner, others))
        return entry

    def _targets_before(
        self, key: DataOwner, sim: Simulation, owner: Peer, others: list[int]
    ) -> dict[str, Any]:
        """Candidates, shadows and the targets before the leave of ``key``."""
        p, cfg = key[0], self.cfg
        if self.progress is not None:
            self.progress(f"membership inference on peer {p}'s data: {cfg.shadow_count} shadows")
        cand = candidates_for(
            sim.split,
            p,
            (owner.data.train_x, owner.data.train_y, owner.data.train_ids),
            seed=derive_seed(self.root, "mia_nonmembers", *key),
        )
        shadows = (
            train_shadows(owner, cand, shadows=cfg.shadow_count, root_seed=self.root)
            if cfg.shadow_count
            else None
        )
        xt = torch.from_numpy(cand.x)
        return {
            "cand": cand,
            "shadows": shadows,
            "main_before": Target.of(owner, xt, "main", p),
            "ens_before": Target.of(owner, xt, "ensemble_main", p),
            "before": [Target.of(sim.peer(q), xt, "seed", p) for q in others],
        }

    def oracle(self, key: DataOwner) -> tuple[Simulation, str]:
        """The oracle of ``key``: given, or one run without every departure, shared."""
        if self.oracle_for is not None:
            return self.oracle_for(key)
        if not self.shared:
            if self.progress is not None:
                self.progress("oracle run without every departed seed (for the attacks)")
            keys = frozenset(d["key"] for d in self.deps)
            run = Simulation(self.scenario, withheld=keys).run()
            self.shared.append((run, "without all departures"))
        return self.shared[0]

    def rows(self, sim: Simulation) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """After the replay: one MIA row and one backdoor row per departure that has them."""
        mia_rows: list[dict[str, Any]] = []
        bd_rows: list[dict[str, Any]] = []
        for dep in self.deps:
            key = dep["key"]
            p = key[0]
            entry = self.state.get(key, {"note": f"round {dep['round']} was not reached"})
            survivors = [q for q in sim.runtime.online() if q != p]
            rejoined = sim.runtime.is_online(p)
            osim, label = self.oracle(key)
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
            if "backdoor" in entry and self.spec is not None:
                target = self.spec.target
                bd_rows.append(
                    backdoor_summary(
                        base,
                        target,
                        entry["backdoor"],
                        after=backdoor_stage_rates(sim, None, survivors, target),
                        oracle=backdoor_stage_rates(osim, None, o_survivors, target),
                    )
                )
            if not self.mia:
                continue
            if "cand" not in entry:
                mia_rows.append({**base, "loss": {}, "lira": None})
                continue
            mia_rows.append(self._mia_row(base, key, entry, sim, osim, o_survivors))
        return mia_rows, bd_rows

    def _mia_row(
        self,
        base: dict[str, Any],
        key: DataOwner,
        entry: dict[str, Any],
        sim: Simulation,
        osim: Simulation,
        o_survivors: list[int],
    ) -> dict[str, Any]:
        """Both attacks at every stage of one departure."""
        p, cfg = key[0], self.cfg
        cand: Candidates = entry["cand"]
        shadows: ShadowSet | None = entry["shadows"]
        xt = torch.from_numpy(cand.x)
        after = [Target.of(sim.peer(q), xt, "seed", p) for q in base["survivors"]]
        ns_pos, ns_neg = never_seen_splits(cand, derive_seed(self.root, "mia_never_seen", *key))
        holders = set(entry["holders"])
        oracle = [Target.of(osim.peer(q), xt, "seed", p) for q in o_survivors]
        stages = [
            Stage("departed_main_before", _cases([entry["main_before"]], cand, shadows)),
            Stage("departed_ensemble_before", _cases([entry["ens_before"]], cand, shadows)),
            Stage("before", _cases(entry["before"], cand, shadows)),
            Stage(
                "before_holders",
                _cases([t for t in entry["before"] if t.peer in holders], cand, shadows),
            ),
            Stage("after", _cases(after, cand, shadows)),
            Stage("oracle", _cases(oracle, cand, shadows)),
            Stage("never_seen", _cases(after, cand, shadows, ns_pos, ns_neg)),
        ]
        res = collect(stages, cfg)
        return {
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
                "loss": difference(res["loss"], "after", "oracle"),
                "lira": difference(res["lira"], "after", "oracle"),
            },
        }


def departure_evidence(
    scenario: Scenario,
    departures: Sequence[Mapping[str, Any]],
    *,
    mia: bool = True,
    backdoor: bool = False,
    config: AttackConfig | None = None,
    oracle_for: OracleFor | None = None,
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
    spec = scenario.backdoor if backdoor else None
    deps = [
        {**d, "key": (int(d["peer"]), int(d["epoch"]))}
        for d in departures
        if mia or (spec is not None and int(d["peer"]) == spec.peer)
    ]
    attack = _DepartureAttack(
        scenario, deps, config or AttackConfig(), mia, spec, oracle_for, progress
    )
    sim = replay(scenario, sorted({int(d["round"]) for d in deps}), attack.before)
    return attack.rows(sim)
