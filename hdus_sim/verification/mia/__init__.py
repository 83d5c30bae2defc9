"""Membership inference on forgotten data: empirical evidence, never a proof.

Two attacks, scored on the same members and non-members:

* **loss threshold** (Yeom et al. 2018): a sample's score is the model's confidence in its
  true label; members of a model's training data tend to score higher.
* **LiRA** (Carlini et al., "Membership Inference Attacks From First Principles", 2022):
  per-example Gaussians of shadow models' logit-scaled confidence, in and out
  (:mod:`~hdus_sim.verification.mia.lira`).

Modules: ``config`` (stages, :class:`~hdus_sim.verification.mia.config.AttackConfig`),
``stats`` (AUC, TPR at low FPR, the null spread), ``lira``, ``candidates`` (members and
class-matched never-seen samples), ``shadows`` (shadow peers trained on halves of the
candidates, randomness derived from the scenario seed), ``scoring`` (targets, stages,
both attacks), ``departure`` (the data of departed peers) and ``deletion`` (points
deleted inside peers).
"""
