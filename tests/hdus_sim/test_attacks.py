"""Membership inference: the attack works, and after a leave it matches the retrain oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hdus_sim import Simulation, verify_run
from hdus_sim.attacks import auc, tpr_at_fpr


def test_auc_and_tpr_behave() -> None:
    rng = np.random.default_rng(0)
    members, outsiders = rng.normal(1.0, 1.0, 2000), rng.normal(0.0, 1.0, 2000)
    assert 0.74 < auc(members, outsiders) < 0.79  # Phi(1/sqrt(2)) = 0.76
    assert abs(auc(outsiders, outsiders.copy()) - 0.5) < 1e-12
    assert tpr_at_fpr(members, outsiders) > 0.03


def test_mia_after_leave_equals_oracle(tiny: dict, tmp_path: Path) -> None:
    tiny["events"] = [{"at": 2, "kind": "leave", "peer": 1}]
    Simulation.from_dict(tiny).run().write(tmp_path)
    report = verify_run(tmp_path, mia=True)
    (m,) = report.mia
    assert m["peer"] == 1 and set(m) >= {"before", "after", "oracle"}
    assert abs(m["after_minus_oracle_auc"]) < 1e-9  # identical ensembles, identical attack
    assert set(m["after"]["per_peer_auc"]) == {"0", "2", "3", "4", "5"}


def test_backdoor_of_a_departed_peer_matches_the_oracle_after_the_leave(
    tiny: dict, tmp_path: Path
) -> None:
    tiny["backdoor"] = {"peer": 1, "target": 0, "fraction": 0.5}
    tiny["training"]["local_epochs"] = 10
    Simulation.from_dict(tiny).run().write(tmp_path)
    report = verify_run(tmp_path, backdoor=True)
    (b,) = report.backdoor
    assert b["planter_own_ensemble_before"] > 0.8  # the trigger works on the planter itself
    assert abs(b["after_minus_oracle"]) < 1e-9  # after the leave: exactly the oracle's rate
    assert set(b["after"]) == {"0", "2", "3", "5", "6"}
