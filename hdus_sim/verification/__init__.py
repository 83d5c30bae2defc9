"""Verification: does what was deleted stay deleted? Everything above the simulation.

It reads a written run and re-runs its scenario; nothing below it (simulation, runtimes,
world, peers) imports it. Its modules, each with one job:

============  ==========================================================================
``run``       ``verify_run``: every event's verdict, written to the run folder
``verdicts``  ``EventVerdict``, ``VerifyReport``
``checks``    one event's lineage, lease-bound and point-deletion checks
``oracle``    retrain-oracle re-runs, cached; ``OracleResult``
``groups``    many events decided with few oracles (split where they differ)
``select``    ``--events``: which events are checked, merging partial checks
``evidence``  membership inference and backdoor success beside the verdicts
``mia``       membership inference (loss threshold, LiRA with shadow models)
``backdoor``  attack success of a departed peer's trigger
``replay``    a run re-run and paused before given rounds
``audit``     checking a written audit log; who ever held a peer's seed
``receipts``  deletion receipts with verdicts, appended to the audit chains
============  ==========================================================================

The recorder of the audit chain (:class:`hdus_sim.audit.AuditTrail`) and the data
poisoning a backdoor's planter trains on (:mod:`clients.poisoning`) live below, where
runs use them. This package imports nothing itself, so the CLI's ``--events`` help
(:mod:`hdus_sim.verification.select`) stays quick; :func:`hdus_sim.verify_run` (or
:func:`hdus_sim.verification.run.verify_run`) is the entry point.
"""
