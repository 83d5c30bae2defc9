"""Replaying a run to look at its peers mid-run: the attacks' view of the state before an event.

A run is deterministic (every random stream derives from the scenario seed), so re-running
its scenario gives the same run bit for bit; :func:`replay` pauses it at given rounds so the
attacks can examine the peers before a departure or a deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hdus_sim.scenario import Scenario
from hdus_sim.simulation import Simulation

__all__ = ["replay"]


def replay(
    scenario: Scenario,
    rounds: Sequence[int],
    at_round: Callable[[int, Simulation], None],
) -> Simulation:
    """Re-run ``scenario`` (deterministic: the same run), pausing before each of ``rounds``.

    ``at_round(r, sim)`` is called with the state at the start of round ``r``, before its
    events are applied; the finished simulation is returned.
    """
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
