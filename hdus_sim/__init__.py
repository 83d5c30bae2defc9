"""hdus-sim: simulate, deploy and test decentralized machine unlearning at the IoT edge.

The Python API::

    from hdus_sim import Simulation, load_scenario, verify_run
    sim = Simulation.from_file("scenarios/quickstart.yaml").run()
    sim.write("runs/quickstart")
    verify_run("runs/quickstart").passed

The heavy names (:class:`Simulation`, :func:`verify_run`, which import torch) are loaded on
first use, so ``hdus-sim validate`` and :func:`load_scenario` stay quick (no torch import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hdus_sim.errors import HdusError, RunError, ScenarioError, VerificationError

if TYPE_CHECKING:
    from hdus_sim.scenario import Event, Scenario, load_scenario
    from hdus_sim.simulation import Simulation
    from hdus_sim.verify import VerifyReport, verify_run

__all__ = [
    "Event",
    "HdusError",
    "RunError",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "VerificationError",
    "VerifyReport",
    "load_scenario",
    "verify_run",
]
__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first access).
_LAZY = {
    "Event": "hdus_sim.scenario",
    "Scenario": "hdus_sim.scenario",
    "load_scenario": "hdus_sim.scenario",
    "Simulation": "hdus_sim.simulation",
    "VerifyReport": "hdus_sim.verify",
    "verify_run": "hdus_sim.verify",
}


def __getattr__(name: str) -> Any:
    """Import :data:`_LAZY` names on first access (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hdus_sim' has no attribute {name!r}")
