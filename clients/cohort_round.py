"""A training round of many peers at once: what :meth:`Learner.train_round` does, batched.

:func:`train_together` is the cohort engine's entry for a runtime: every peer with training
budget left trains its main model and distils a new seed, exactly as its own
:meth:`~clients.learner.Learner.train_round` would (the same jobs, the same generators,
bit-identical results), but the arithmetic of peers that share an architecture runs as one
batched computation (:mod:`clients.cohort`). The per-peer protocol (holdings, tombstones,
relays, deletions) is untouched: this only decides how learning is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from clients.cohort import CohortReport, distil_cohorts, train_cohorts
from clients.cohort_eval import cohort_logits

if TYPE_CHECKING:
    import torch
    from torch import nn

    from clients.learner import Learner

__all__ = ["train_together"]


def _teacher_logits(learners: Sequence[Learner]) -> list[torch.Tensor]:
    """Each learner's main-model logits on its reference set, batched per shared set."""
    out: dict[int, torch.Tensor] = {}
    by_reference: dict[int, list[int]] = {}
    for i, learner in enumerate(learners):
        if learner.unlearnable:
            out[i] = learner.main_logits(learner.reference_x)
        else:
            by_reference.setdefault(id(learner.reference_x), []).append(i)
    for members in by_reference.values():
        models: list[nn.Module] = [learners[i]._plain_main() for i in members]
        logits = cohort_logits(models, learners[members[0]].reference_x)
        out.update(zip(members, logits, strict=True))
    return [out[i] for i in range(len(learners))]


def train_together(learners: Sequence[Learner]) -> tuple[list[bool], CohortReport]:
    """Train and re-distil every learner with budget left; batched where they share a shape.

    Returns, per learner, whether it made a new seed version (as
    :meth:`~clients.learner.Learner.train_round` returns), and what the engine batched.
    """
    active = [learner for learner in learners if not learner.training_done]
    jobs = []
    for learner in active:
        job = learner.training_job()
        if job is None:  # a point-deletion main model fits its own way
            learner._train_one_round()
        else:
            jobs.append(job)
    report = train_cohorts(jobs)
    for learner in active:
        if not learner.unlearnable:
            learner.trained(1)
    teachers = _teacher_logits(active)
    distil_jobs = [learner.distil_job(t) for learner, t in zip(active, teachers, strict=True)]
    report = report.merge(distil_cohorts(distil_jobs))
    for learner, distilled in zip(active, distil_jobs, strict=True):
        learner.adopt_seed(distilled.state, distilled.student)
    made = {id(learner) for learner in active}
    return [id(learner) in made for learner in learners], report
