"""Verification: does what was deleted stay deleted? Everything above the simulation.

It reads a written run and re-runs its scenario; nothing below it (simulation, runtimes,
world, peers) imports it. Its modules, each with one job:

========================  ==============================================================
``run``                   :func:`verify_run`: every event's verdict, written to the run
``verdicts``              :class:`EventVerdict`, :class:`VerifyReport`
``checks``                one event's lineage, lease-bound and point-deletion checks
``oracle``                retrain-oracle re-runs, cached; :class:`OracleResult`
``groups``                many events decided with few oracles (split where they differ)
``select``                ``--events``: which events are checked, merging partial checks
``evidence``              membership inference and backdoor success beside the verdicts
``mia``                   membership inference (loss threshold, LiRA with shadow models)
``backdoor``              attack success of a departed peer's trigger
``replay``                a run re-run and paused before given rounds
``audit``                 checking a written audit log; who ever held a peer's seed
``receipts``              deletion receipts with verdicts, appended to the audit chains
========================  ==============================================================

The recorder of the audit chain (:class:`hdus_sim.audit.AuditTrail`) and the data
poisoning a backdoor's planter trains on (:mod:`clients.poisoning`) live below, where
runs use them. The heavy names below (they import torch) load on first use, so the CLI's
``--events`` help (:mod:`hdus_sim.verification.select`) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hdus_sim.verification.mia.config import AttackConfig
    from hdus_sim.verification.run import verify_run
    from hdus_sim.verification.verdicts import EventVerdict, VerifyReport

__all__ = ["AttackConfig", "EventVerdict", "VerifyReport", "verify_run"]

#: Public name -> the module that defines it (imported on first access).
_LAZY = {
    "AttackConfig": "hdus_sim.verification.mia.config",
    "EventVerdict": "hdus_sim.verification.verdicts",
    "VerifyReport": "hdus_sim.verification.verdicts",
    "verify_run": "hdus_sim.verification.run",
}


def __getattr__(name: str) -> Any:
    """Import :data:`_LAZY` names on first access (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hdus_sim.verification' has no attribute {name!r}")
