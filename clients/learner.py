"""A peer's learning: its main model, local training, seed distillation and inference.

The :class:`Learner` part of a :class:`~clients.peer.Peer` trains the main model on the
peer's own data only, distils the seed from it on the public reference set (always from
the same fixed initialisation), and predicts with the erasable ensemble of the main model
and the held seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from clients.cohort import DistilJob, TrainJob
from clients.cohort_eval import record_logits
from clients.ensemble import combine, mean_seed_scores
from clients.errors import PeerError
from clients.messages import DataOwner, SeedRecord, content_hash
from clients.models import build_model, parameter_count
from clients.peer_state import PeerState
from clients.peer_types import HeldSeed, sub_seed
from clients.training import distil, logits_of, train_supervised

if TYPE_CHECKING:  # importing clients.unlearning loads scipy: only when a peer needs it
    from clients.unlearning.base import UnlearnableModel

__all__ = ["Learner"]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _state_tensors(model: nn.Module) -> tuple[tuple[str, np.ndarray], ...]:
    return tuple((k, v.detach().cpu().numpy().copy()) for k, v in model.state_dict().items())


class Learner(PeerState):
    """Main model, training, seed distillation and the erasable ensemble of one peer."""

    def _new_main(self) -> nn.Module | UnlearnableModel:
        """A fresh, untrained main model of the configured kind, from its own seed."""
        if self.config.unlearning is None:
            return build_model(
                self.config.device, self.input_shape, self.num_classes, seed=self.seeds.main_init
            )
        from clients.unlearning import build_unlearnable

        options = dict(self.config.unlearning_options)
        if self.config.unlearning in ("certified", "sq"):
            options.setdefault("public_x", self.reference_x.numpy())
        return build_unlearnable(
            self.config.unlearning,
            arch=self.config.device,
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            seed=self.seeds.main_init,
            **options,
        )

    def _plain_main(self) -> nn.Module:
        """The main model as the plain network it is when ``config.unlearning`` is None."""
        assert isinstance(self.main, nn.Module), "a plain main model is an nn.Module"
        return self.main

    def _unlearnable_main(self) -> UnlearnableModel:
        """The main model as the point-deletion model it is when ``config.unlearning`` is set."""
        assert not isinstance(self.main, nn.Module), "an unlearnable main model is no nn.Module"
        return self.main

    def main_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The main model's logits on ``x`` (whatever kind of main model it is)."""
        if self.unlearnable:
            return self._unlearnable_main().logits(x)
        return logits_of(self._plain_main(), x)

    @property
    def main_parameters(self) -> int:
        """Parameter count of the main model (all shards for SISA; the head's weights)."""
        if not self.unlearnable:
            return parameter_count(self._plain_main())
        models = getattr(self.main, "shard_models", None)
        if models is not None:
            return sum(parameter_count(m) for m in models)
        weights = getattr(self.main, "weights", None)
        return int(np.size(weights)) if weights is not None else 0

    @property
    def training_done(self) -> bool:
        """Whether the training budget is spent (an unlearnable model is fit once)."""
        budget = 1 if self.unlearnable else self.config.train_rounds
        return self.trained_rounds >= budget

    def train_round(self) -> bool:
        """Train the main model one round and re-distil the seed, if budget remains.

        Returns ``True`` if a new seed version was made (the caller then announces it).
        :func:`clients.cohort_round.train_together` does the same for many peers at once,
        bit for bit, through the same :meth:`training_job` and :meth:`distil_job`.
        """
        if self.training_done:
            return False
        self._train_one_round()
        self.distil_seed()
        return True

    def training_job(self) -> TrainJob | None:
        """The current round's training of a plain main model as a job (``None``: unlearnable)."""
        if self.unlearnable:
            return None
        gen = _generator(sub_seed(self.seeds.train, self.trained_rounds))
        return TrainJob(self._plain_main(), self._train_x, self._train_y, self.config.train, gen)

    def _train_one_round(self) -> None:
        job = self.training_job()
        if job is None:
            self._unlearnable_main().fit(self.data.train_x, self.data.train_y, self.data.train_ids)
        else:
            train_supervised(job.model, job.x, job.y, job.config, generator=job.generator)
        self.trained(1)

    def trained(self, rounds: int) -> None:
        """Count ``rounds`` finished training rounds (version, budget and work accounting)."""
        self.trained_rounds += rounds
        self.model_version += rounds
        self.work_samples += rounds * self.config.train.samples_per_round(len(self._train_y))

    def _ids_key(self) -> int:
        """A stable integer of the current training ids (seeds the distillation stream)."""
        ids = np.sort(np.asarray(self.data.train_ids, dtype=np.int64))
        return int(hashlib.sha256(ids.tobytes()).hexdigest()[:15], 16)

    def distil_job(self, teacher_logits: torch.Tensor | None = None) -> DistilJob:
        """The distillation of a new seed version, as a job (student from its fixed init).

        ``teacher_logits`` are the main model's logits on the reference set (computed here
        when not given). Starting every version from the same initial weights means a seed
        depends only on the current main model and the public reference set.
        """
        teacher = self.main_logits(self.reference_x) if teacher_logits is None else teacher_logits
        # keyed by what the seed depends on (rounds trained, ids trained on), not by the
        # version: a peer that deleted points distils exactly what one without them would
        gen = _generator(sub_seed(self.seeds.distil, self.trained_rounds, self._ids_key()))
        return DistilJob(
            None,
            teacher,
            self.reference_x,
            self.config.distill,
            gen,
            init=self._seed_init_state(),
            build=self._new_student,
        )

    def _new_student(self) -> nn.Module:
        """A seed model at the peer's fixed initialisation."""
        return build_model(
            self.config.seed_arch, self.input_shape, self.num_classes, seed=self.seeds.seed_init
        )

    def _seed_init_state(self) -> tuple[tuple[str, torch.Tensor], ...]:
        """The fixed initial state every seed version is distilled from (built once)."""
        cached = self._seed_init
        key = (self.config.seed_arch, self.seeds.seed_init)
        if cached is None or cached[0] != key:
            student = self._new_student()
            cached = (key, tuple((k, v.detach()) for k, v in student.state_dict().items()))
            self._seed_init = cached
        state: tuple[tuple[str, torch.Tensor], ...] = cached[1]
        return state

    def distil_seed(self) -> SeedRecord:
        """Distil a new seed version from the current main model (see :meth:`distil_job`)."""
        job = self.distil_job()
        student = job.module()
        distil(student, job.teacher_logits, job.reference_x, job.config, generator=job.generator)
        return self.adopt_seed(_state_tensors(student), student)

    def adopt_seed(
        self, tensors: tuple[tuple[str, np.ndarray], ...], student: nn.Module | None = None
    ) -> SeedRecord:
        """Make the distilled state ``tensors`` this peer's next signed seed version.

        ``student`` is the distilled module when there is one (otherwise it is built from
        the record when first asked for, :meth:`own_seed_module`).
        """
        for _, array in tensors:
            array.flags.writeable = False  # shared by every in-memory holder: never edited
        version = 1 if self.own_seed is None else self.own_seed.version + 1
        self.work_samples += self.config.distill.steps * min(
            self.config.distill.batch_size, len(self.reference_x)
        )
        self.own_seed = self._signed(
            SeedRecord(
                owner=self.peer_id,
                epoch=self.epoch,
                version=version,
                arch=self.config.seed_arch,
                tensors=tensors,
                lineage=frozenset({self.key}),
                deletions=self.deletions,
                digest=content_hash(tensors),
            )
        )
        self._own_seed_module = student
        return self.own_seed

    def _signed(self, record: SeedRecord) -> SeedRecord:
        """``record`` with this peer's signature."""
        return dataclasses.replace(record, signature=self.credentials.sign(record.signed_payload()))

    def _seed_module(self, held: HeldSeed) -> nn.Module:
        if held.module is None:
            module = build_model(held.record.arch, self.input_shape, self.num_classes, seed=0)
            module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in held.record.tensors})
            held.module = module.eval()
        return held.module

    def own_seed_module(self) -> nn.Module | None:
        """The peer's own current seed model (``None`` before the first distillation)."""
        if self._own_seed_module is None and self.own_seed is not None:
            record = self.own_seed
            module = build_model(record.arch, self.input_shape, self.num_classes, seed=0)
            module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in record.tensors})
            self._own_seed_module = module.eval()
        return self._own_seed_module

    def seed_modules(self) -> dict[DataOwner, nn.Module]:
        """Models of every held seed, keyed by data owner."""
        return {k: self._seed_module(h) for k, h in sorted(self.held.items())}

    @torch.no_grad()
    def held_seed_logits(
        self, x: torch.Tensor, *, batched: bool = True
    ) -> dict[DataOwner, torch.Tensor]:
        """Every held seed's logits on ``x``, keyed by data owner.

        ``batched``: MLP seeds are evaluated together straight from their records' arrays
        (:func:`clients.cohort_eval.record_logits`: views, no per-seed module), bit-identical to
        each seed's module; any other architecture (or ``batched=False``) goes through
        its module.
        """
        keys = sorted(self.held)
        records = [self.held[k].record.tensors for k in keys]
        found = record_logits(records, x) if batched else [None] * len(keys)
        return {
            k: logits if logits is not None else logits_of(self._seed_module(self.held[k]), x)
            for k, logits in zip(keys, found, strict=True)
        }

    @torch.no_grad()
    def logits_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[DataOwner, torch.Tensor]]:
        """Return the main model's logits and every held seed's logits on ``x``."""
        return self.main_logits(x), self.held_seed_logits(x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Return the erasable ensemble's scores on ``x`` (argmax is the prediction)."""
        if x.shape[1:] != self.input_shape:
            raise PeerError(
                f"peer {self.peer_id} expects inputs of shape (n, *{self.input_shape})"
                f", got {tuple(x.shape)}"
            )
        main, seeds = self.logits_parts(x)
        return combine(main, seeds, rho=self.config.rho, mode=self.config.combine)

    def seeds_only(self, seed_logits: dict[DataOwner, torch.Tensor]) -> torch.Tensor | None:
        """Mean of held seeds' scores alone (``None`` if no seed is held)."""
        return mean_seed_scores(seed_logits, self.config.combine)
