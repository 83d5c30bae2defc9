"""Old import path of the retrain oracle; the code is in :mod:`hdus_sim.verification.oracle`."""

from hdus_sim.verification.groups import check_groups
from hdus_sim.verification.oracle import (
    OracleResult,
    OracleRunner,
    compare,
    oracle_predictions,
    oracle_tag,
)

__all__ = [
    "OracleResult",
    "OracleRunner",
    "check_groups",
    "compare",
    "oracle_predictions",
    "oracle_tag",
]
