"""Churn processes: IoT devices that come and go, turned into join / leave / crash events.

A scenario's ``churn:`` section describes *how* devices come and go; :func:`plan_churn`
(and its list-returning twin :func:`generate_churn`) turns that into the same ``join``,
``leave`` and ``crash`` events a scenario can script by hand, so the engine needs nothing new
to run them. The processes:

``sessions``
    Every churning device alternates online sessions and offline gaps whose lengths (in
    rounds, continuous) follow an exponential, Weibull, log-normal or Pareto law.
``arrivals``
    New devices arrive as a Poisson process of ``rate`` devices per round, with fresh ids
    from ``first_id``; each then follows ``sessions`` (when given).
``diurnal``
    A fraction of the devices (chosen by the seed) is offline every day in the window
    ``[offline_start, offline_start + offline_hours)`` modulo ``period`` rounds.
``outages``
    Correlated failures: a whole cluster (a gateway and every device attached to it, from a
    cluster map) or a listed group goes down at round ``at`` and comes back ``duration``
    rounds later.
``battery``
    A device drains ``drain[device class]`` units of its ``capacity`` per online round;
    once empty it is offline for ``recharge`` rounds and comes back full.
``trace``
    Availability replayed from a CSV file ``peer,start,end`` (or inline intervals).

Time and rounding
-----------------
Processes work in continuous time measured in rounds; round ``r`` starts at instant ``r``.
A device is online in round ``r`` iff it is online at the instant ``r``, so a continuous
online interval ``[start, end)`` becomes the rounds ``ceil(start) <= r < ceil(end)``: it
joins at ``ceil(start)`` and leaves at ``ceil(end)``. A session shorter than the distance to
the next round start vanishes, and a gap that contains no round start merges the two
sessions around it (no leave and join in the same round). A Poisson arrival at instant ``t``
joins at ``ceil(t)``: the arrivals counted at round ``r`` are those in ``(r - 1, r]``.

Precedence: intersection
------------------------
Every process that applies to a device says, round by round, whether it may be online; the
device is online iff **all** of them say so (its own arrival included). ``battery`` comes
last because it only drains in rounds the others allow. Which processes apply:

- ``sessions`` and ``diurnal`` with ``peers: all`` take every initial peer and every
  arrival, except peers replayed from the trace (a trace already says everything about a
  device); listing ids explicitly may include trace peers.
- ``outages`` apply to the cluster or peers they name, ``battery`` to every device whose
  class has a drain, the trace to its peers.
- Peers with scripted ``join`` / ``leave`` / ``crash`` events (``scripted=``) are left to
  the script: no process touches them.

One peer always stays online: in a round where no peer would be online, the *anchor* (the
lowest initial id that churns) is kept online, and :attr:`ChurnPlan.warnings` says in which
rounds. Events the anchor rule causes carry ``cause="anchor"``.

Determinism
-----------
Everything comes from the scenario seed through :func:`~hdus_sim.rng.derive_seed`, with one
stream per (process, peer): one peer's session draws never shift another's, and sessions are
drawn in fixed batches, so a longer run extends a shorter one with the same events.

Examples
--------
>>> spec = load_churn({"outages": [{"peers": [1, 2], "at": 2, "duration": 3}]})
>>> for ev in generate_churn(spec, seed=1, rounds=8, initial=[0, 1, 2, 3]):
...     print(ev.at, ev.kind, ev.peer, ev.cause)
2 leave 1 outage
2 leave 2 outage
5 join 1 outage
5 join 2 outage
"""

from __future__ import annotations

from hdus_sim.churn.distributions import scipy_distribution, session_lengths
from hdus_sim.churn.events import CAUSES, ChurnEvent, ChurnPlan, online_intervals
from hdus_sim.churn.plan import generate_churn, plan_churn
from hdus_sim.churn.processes import _rounds_mask as _rounds_mask  # tests check it
from hdus_sim.churn.spec import (
    DISTRIBUTIONS,
    ArrivalsSpec,
    BatterySpec,
    ChurnSpec,
    DistributionSpec,
    DiurnalSpec,
    OutageSpec,
    SessionsSpec,
    TraceSpec,
    load_churn,
)
from hdus_sim.churn.trace import load_trace

__all__ = [
    "CAUSES",
    "DISTRIBUTIONS",
    "ArrivalsSpec",
    "BatterySpec",
    "ChurnEvent",
    "ChurnPlan",
    "ChurnSpec",
    "DistributionSpec",
    "DiurnalSpec",
    "OutageSpec",
    "SessionsSpec",
    "TraceSpec",
    "generate_churn",
    "load_churn",
    "load_trace",
    "online_intervals",
    "plan_churn",
    "scipy_distribution",
    "session_lengths",
]
