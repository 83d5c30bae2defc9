"""Empirical evidence beside ``verify``'s verdicts: membership inference and backdoor success.

The attacks examine models, so they need simulations that are still alive: the oracle
runs ``verify`` just made are reused (a departure's own oracle, else the combined one,
else one run made here for all of them). Evidence is never a verdict: it is reported
apart from them (:class:`~hdus_sim.verification.verdicts.VerifyReport` ``mia``,
``point_mia``, ``backdoor``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clients.messages import DataOwner
from hdus_sim.errors import VerificationError
from hdus_sim.scenario import Scenario, load_scenario, with_overrides
from hdus_sim.simulation import Simulation
from hdus_sim.verification.mia.config import AttackConfig
from hdus_sim.verification.mia.deletion import deletion_evidence
from hdus_sim.verification.mia.departure import departure_evidence
from hdus_sim.verification.oracle import oracle_tag
from hdus_sim.verification.verdicts import VerifyReport

__all__ = ["attack_evidence"]


def _attack_scenario(scenario: dict[str, Any]) -> Scenario:
    """The scenario the attacks replay: a Ray run is replayed in-process.

    The attacks examine peers after the run, when Ray actors are gone; the protocol is
    deterministic, so the in-process runtime replays the same run bit for bit.
    """
    loaded = load_scenario(scenario)
    if loaded.runtime.hosted:
        loaded = with_overrides(loaded, {"runtime.kind": "inprocess", "runtime.address": None})
    return loaded


@dataclass
class _AttackOracles:
    """Which finished oracle simulation each attack uses, reusing ``verify``'s."""

    scenario: Scenario
    departures: list[dict[str, Any]]
    sims: dict[str, Simulation]
    combined_tag: str | None
    progress: Callable[[str], None] | None

    def usable(self, tag: str | None) -> Simulation | None:
        """The oracle simulation ``tag`` if it was run here and can still be examined."""
        sim = self.sims.get(tag) if tag is not None else None
        # a Ray oracle's actors are gone once it finished: its peers cannot be examined
        return sim if sim is not None and not sim.scenario.runtime.hosted else None

    def for_departure(self, key: DataOwner) -> tuple[Simulation, str]:
        """A departure's own oracle, else the combined one, else one run for all of them."""
        own = self.usable(oracle_tag(key, None, ()))
        if own is not None:
            return own, "own"
        shared = self.usable(self.combined_tag)
        if shared is not None:
            return shared, "combined"
        if "attacks" not in self.sims:  # the oracles came from the cache: one run for all
            if self.progress is not None:
                self.progress("oracle run without every departed seed (for the attacks)")
            keys = frozenset((int(d["peer"]), int(d["epoch"])) for d in self.departures)
            self.sims["attacks"] = Simulation(self.scenario, withheld=keys).run()
        return self.sims["attacks"], "without all departures"

    def for_deletions(self) -> Callable[[], tuple[Simulation, str]] | None:
        """The combined oracle for the point-deletion attacks (``None``: they run their own)."""
        shared = self.usable(self.combined_tag)
        if shared is None:
            return None
        return lambda: (shared, "combined")


def attack_evidence(
    report: VerifyReport,
    run: dict[str, Any],
    *,
    mia: bool,
    backdoor: bool,
    config: AttackConfig | None,
    sims: dict[str, Simulation],
    combined_tag: str | None,
    progress: Callable[[str], None] | None,
) -> None:
    """Membership inference and backdoor success, reusing the oracle runs made by ``verify``.

    ``run`` is the written run (its ``summary`` holding only the events checked now);
    ``sims`` the oracle simulations ``verify`` ran, by :func:`oracle_tag`; ``combined_tag``
    the oracle without every event, when it passed. A departure's oracle is its own oracle
    run if one was made, else the combined one (every departed seed and deleted point
    withheld: the departed peer's data never left it there either), else one combined run
    made for the attacks. Fills ``report.mia``, ``report.backdoor`` and ``report.point_mia``.
    """
    scenario = _attack_scenario(run["scenario"])
    departures = run["summary"]["departures"]
    deletions = run["summary"].get("point_deletions", [])
    if backdoor and scenario.backdoor is None:
        raise VerificationError(
            "--backdoor needs a `backdoor:` section in the scenario "
            "(e.g. hdus-sim run SCENARIO --set backdoor.peer=4)"
        )
    oracles = _AttackOracles(scenario, departures, sims, combined_tag, progress)
    if departures and (mia or backdoor):
        report.mia, report.backdoor = departure_evidence(
            scenario,
            departures,
            mia=mia,
            backdoor=backdoor,
            config=config,
            oracle_for=oracles.for_departure,
            progress=progress,
        )
    if mia and deletions:
        report.point_mia = deletion_evidence(
            scenario,
            deletions,
            config=config,
            oracle=oracles.for_deletions(),
            progress=progress,
        )
