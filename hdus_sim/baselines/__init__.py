"""Baselines run on the same scenario as HDUS, for ``hdus-sim bench``.

Every baseline replays the :class:`~hdus_sim.baselines.common.Timeline` of an HDUS run of
the scenario (who is online in which round, the graph, each leave or crash) on the same
data split, and reports, for each departure, accuracy just before it and just after the
departed peer's data is unlearned, the unlearning's wall time and compute
(samples x epochs), the bytes its training sent and the verdict kind it can claim.

Modules
-------
common
    The timeline, per-event outcomes, accuracy spreads over peers.
dsgd
    Decentralized SGD / gossip averaging over the same topology; unlearning by retraining
    from scratch (the only exact option once parameters are mixed).
pooled
    Centralized training on all data pooled (the ceiling); unlearning by retraining.
flower_fedavg
    FedAvg with a central server on Flower's Message API and simulation engine: the entry
    point, :func:`~hdus_sim.baselines.flower_fedavg.run_fedavg`, and its result. Its parts:
    ``flower_client`` (the ClientApp), ``flower_server`` (the ServerApp and its scheduled
    strategy), ``flower_records`` (their shared record keys), ``flower_checks`` (the
    argument checks) and ``flower_hygiene`` (Ray's state, Flower's log and environment).
fedavg
    The FedAvg baseline over a timeline: retrain from scratch (exact) or subtract the
    departed client's updates and repair by distillation (approximate).
"""
