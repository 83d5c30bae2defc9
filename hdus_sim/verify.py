"""Old import path of ``verify``; the code is in :mod:`hdus_sim.verification`."""

from hdus_sim.verification.oracle import oracle_predictions
from hdus_sim.verification.run import verify_run
from hdus_sim.verification.verdicts import EventVerdict, VerifyReport

__all__ = ["EventVerdict", "VerifyReport", "oracle_predictions", "verify_run"]
