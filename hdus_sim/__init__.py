"""hdus-sim: simulate, deploy and test decentralized machine unlearning at the IoT edge.

The Python API::

    from hdus_sim import Simulation, load_scenario, verify_run
    sim = Simulation.from_file("scenarios/quickstart.yaml").run()
    sim.write("runs/quickstart")
    verify_run("runs/quickstart").passed
"""

from __future__ import annotations

from hdus_sim.errors import HdusError, RunError, ScenarioError, VerificationError
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
