"""Old import path of membership inference; the code is in :mod:`hdus_sim.verification.mia`."""

from hdus_sim.verification.mia.candidates import Candidates, candidates_for
from hdus_sim.verification.mia.config import DELETION_STAGES, DEPARTURE_STAGES, AttackConfig
from hdus_sim.verification.mia.deletion import deletion_evidence
from hdus_sim.verification.mia.departure import departure_evidence
from hdus_sim.verification.mia.lira import LiraFit, fit_lira, shadow_inclusion
from hdus_sim.verification.mia.scoring import MiaResult
from hdus_sim.verification.mia.shadows import ShadowSet, train_shadows
from hdus_sim.verification.mia.stats import auc, logit_confidence, null_auc_sd, tpr_at_fpr

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
    "null_auc_sd",
    "shadow_inclusion",
    "tpr_at_fpr",
    "train_shadows",
]
