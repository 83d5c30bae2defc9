"""Membership inference: the attacks work, and after a leave they match the retrain oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from clients.partition import PeerData
from clients.peer import Peer, PeerConfig, PeerSeeds
from clients.training import DistillConfig, TrainConfig
from hdus_sim import Simulation, verify_run
from hdus_sim.verification.mia.candidates import Candidates
from hdus_sim.verification.mia.config import DEPARTURE_STAGES, AttackConfig
from hdus_sim.verification.mia.lira import fit_lira, shadow_inclusion
from hdus_sim.verification.mia.scoring import Case, Stage, Target, score_stage
from hdus_sim.verification.mia.shadows import train_shadows
from hdus_sim.verification.mia.stats import auc, null_auc_sd, tpr_at_fpr

ROOT = Path(__file__).parents[2]


def test_auc_and_tpr_behave() -> None:
    rng = np.random.default_rng(0)
    members, outsiders = rng.normal(1.0, 1.0, 2000), rng.normal(0.0, 1.0, 2000)
    assert 0.74 < auc(members, outsiders) < 0.79  # Phi(1/sqrt(2)) = 0.76
    assert abs(auc(outsiders, outsiders.copy()) - 0.5) < 1e-12
    assert tpr_at_fpr(members, outsiders) > 0.03
    # the AUC of pure noise spreads as the Mann-Whitney null says
    aucs = [auc(rng.normal(size=71), rng.normal(size=71)) for _ in range(400)]
    assert abs(np.std(aucs) - null_auc_sd(71, 71)) < 0.01


def test_shadow_halves_are_balanced_and_the_fit_recovers_in_and_out() -> None:
    y = np.repeat(np.arange(3), [5, 6, 7])
    inc = shadow_inclusion(y, 7, seed=1)  # rounded up to 8: complementary pairs
    assert inc.shape == (8, y.size)
    assert (inc.sum(axis=0) == 4).all()  # every candidate in exactly half of the shadows
    for k in range(8):  # every shadow holds half of every class (odd classes: +-1)
        for c in range(3):
            assert abs(2 * inc[k, y == c].sum() - (y == c).sum()) <= 1
    assert (shadow_inclusion(y, 8, seed=1) == inc).all()  # deterministic
    rng = np.random.default_rng(0)
    phi = np.where(inc, 2.0, -1.0) + rng.normal(0, 0.3, inc.shape)
    fit = fit_lira(phi, inc)
    assert np.allclose(fit.mu_in, 2.0, atol=0.35) and np.allclose(fit.mu_out, -1.0, atol=0.35)
    assert (fit.score(np.full(y.size, 2.0)) > 0).all() and (
        fit.score(np.full(y.size, -1.0)) < 0
    ).all()
    per_example = fit_lira(phi, inc, variance="per_example")
    assert per_example.sd_in.shape == (y.size,) and len(set(per_example.sd_in.round(9))) > 1


def _memoriser_case(n: int = 40, dim: int = 16, classes: int = 4) -> tuple:
    """Random inputs with random labels: only memorisation can fit them."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * n, dim)).astype(np.float32)
    y = rng.integers(0, classes, 2 * n)
    ids = np.arange(2 * n)
    cand = Candidates(x, y, ids, ids < n, {})
    ref = torch.from_numpy(rng.normal(size=(64, dim)).astype(np.float32))
    config = PeerConfig(
        device="phone",
        train=TrainConfig(epochs=80, batch_size=16, lr=0.01),
        train_rounds=1,
        distill=DistillConfig(steps=40, batch_size=64),
    )

    def peer(tx: np.ndarray, ty: np.ndarray, tid: np.ndarray, seed: int) -> Peer:
        data = PeerData(0, tx, ty, tid, tx[:0], ty[:0], tid[:0], ())
        made = Peer(0, 0, data, ref, classes, (dim,), config, PeerSeeds(*range(seed, seed + 4)))
        while made.train_round():
            pass
        return made

    trained_on_members = peer(x[:n], y[:n], ids[:n], 100)
    other_x = rng.normal(size=(n, dim)).astype(np.float32)
    never_saw_them = peer(other_x, rng.integers(0, classes, n), np.arange(1000, 1000 + n), 200)
    return cand, trained_on_members, never_saw_them


def test_lira_finds_a_model_that_trained_on_the_members_and_not_one_that_did_not() -> None:
    torch.set_num_threads(1)
    cand, inside, outside = _memoriser_case()
    shadows = train_shadows(inside, cand, shadows=8, root_seed=5)
    assert shadows.count == 8 and shadows.main.shape == (8, 80, 4)
    xt = torch.from_numpy(cand.x)
    config = AttackConfig(shadows=8)
    for slot in ("main", "ensemble_main"):
        found = score_stage(
            Stage("in", [Case(Target.of(inside, xt, slot, 0), cand, shadows)]), config, False
        )
        clean = score_stage(
            Stage("out", [Case(Target.of(outside, xt, slot, 0), cand, shadows)]), config, False
        )
        loss_in, lira_in = (r.per_peer_auc[0] for r in found)
        loss_out, lira_out = (r.per_peer_auc[0] for r in clean)
        assert lira_in > 0.95 and loss_in > 0.95, (slot, lira_in, loss_in)
        # 40 vs 40 samples: chance spreads by ~0.065
        assert abs(lira_out - 0.5) < 0.2 and abs(loss_out - 0.5) < 0.2, (lira_out, loss_out)
        assert found[1].per_peer_tpr[0] > 0.5  # LiRA is confident at a low false-positive rate


def test_shadows_are_deterministic_from_the_seed() -> None:
    torch.set_num_threads(1)
    cand, inside, _ = _memoriser_case(n=12)
    a = train_shadows(inside, cand, shadows=2, root_seed=9)
    b = train_shadows(inside, cand, shadows=2, root_seed=9)
    c = train_shadows(inside, cand, shadows=2, root_seed=10)
    assert (a.inclusion == b.inclusion).all()
    assert torch.equal(a.main, b.main) and torch.equal(a.seed, b.seed)
    assert not torch.equal(a.main, c.main)


def test_mia_after_leave_equals_oracle(tiny: dict, tmp_path: Path) -> None:
    tiny["events"] = [{"at": 2, "kind": "leave", "peer": 1}]
    Simulation.from_dict(tiny).run().write(tmp_path)
    report = verify_run(tmp_path, mia=True, attack=AttackConfig(shadows=4))
    (m,) = report.mia
    assert m["peer"] == 1 and m["oracle"] == "own" and m["shadows"] == 4
    assert set(m["loss"]) == set(m["lira"]) == set(DEPARTURE_STAGES)
    assert m["members"] == m["nonmembers"] > 100  # class-matched, own test samples first
    assert m["nonmember_sources"]["own_test"] > 0
    for attack in ("loss", "lira"):  # identical ensembles, identical attack
        assert m["after_minus_oracle_auc"][attack] == 0.0
        assert set(m[attack]["after"]["per_peer_auc"]) == {"0", "2", "3", "4", "5"}
        assert set(m[attack]["before_holders"]["per_peer_auc"]) == {"0", "2"}  # ring
        assert abs(m[attack]["never_seen"]["auc_mean"] - 0.5) < 0.06
        summary = m[attack]["after"]
        assert summary["auc_min"] <= summary["auc_mean"] <= summary["auc_max"]
        assert summary["auc_std"] >= 0 and 0 <= summary["tpr_mean"] <= 1


def test_point_deletion_mia_matches_the_point_oracle(tiny: dict, tmp_path: Path) -> None:
    tiny["events"] = [{"at": 2, "kind": "delete", "peer": 0, "count": 6}]
    Simulation.from_dict(tiny).run().write(tmp_path)
    report = verify_run(tmp_path, mia=True, attack=AttackConfig(shadows=2, point_nonmembers=3))
    res = report.point_mia
    assert res is not None and set(res["owners"]) == {"0"}
    assert res["points"] == 6 and res["nonmembers"] == 18
    for attack in ("loss", "lira"):  # retrained from scratch: exactly the oracle's models
        assert res["after_minus_oracle_auc"][attack] == {"main": 0.0, "ensemble": 0.0}
        assert (
            res[attack]["owner_main_after"]["auc_pooled"]
            == res[attack]["oracle_main"]["auc_pooled"]
        )


def test_backdoor_of_a_departed_peer_matches_the_oracle_after_the_leave(
    tiny: dict, tmp_path: Path
) -> None:
    tiny["backdoor"] = {"peer": 1, "target": 0, "fraction": 0.5}
    tiny["training"]["local_epochs"] = 10
    Simulation.from_dict(tiny).run().write(tmp_path)
    report = verify_run(tmp_path, backdoor=True)
    (b,) = report.backdoor
    assert b["planter_own_ensemble_before"] > 0.8  # the trigger works on the planter itself
    assert b["planter_main_before"] >= b["planter_own_ensemble_before"] - 0.2
    assert abs(b["after_minus_oracle"]) < 1e-9  # after the leave: exactly the oracle's rate
    assert set(b["after"]) == {"0", "2", "3", "5", "6"}
    assert set(b["spread"]) == {"before", "before_holders", "after", "oracle"}
    assert b["clean_accuracy"]["after"] == b["clean_accuracy"]["oracle"]


@pytest.mark.slow
def test_quickstart_lira_sees_the_departed_model_and_survivors_match_the_oracle(
    tmp_path: Path,
) -> None:
    """On the quickstart, with the default 16 shadows (about a minute)."""
    Simulation.from_file(ROOT / "scenarios" / "quickstart.yaml").run().write(tmp_path)
    report = verify_run(tmp_path, mia=True)
    assert report.passed
    for m in report.mia:
        lira = m["lira"]
        assert m["after_minus_oracle_auc"] == {"loss": 0.0, "lira": 0.0}
        assert lira["departed_main_before"]["auc_mean"] > lira["after"]["auc_mean"] + 0.05
        assert abs(lira["never_seen"]["auc_mean"] - 0.5) < 2 * m["null_auc_sd"]
