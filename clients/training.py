"""Local training and seed distillation: the two things a peer does with its own data.

Both take an explicit ``torch.Generator`` for every random choice (batch order, sampling of
reference batches) so a peer's results depend only on its own seed stream, never on what
other peers did before it in the same process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DistillConfig",
    "TrainConfig",
    "adam_for",
    "as_float_tensor",
    "batch_schedule",
    "distil",
    "distil_schedule",
    "logits_of",
    "recalibrate_batchnorm",
    "reset_adam",
    "train_supervised",
]


@dataclass(frozen=True)
class TrainConfig:
    """How a main model is trained on local data.

    Attributes
    ----------
    epochs
        Passes over the local training set per training round (ignored when ``steps`` is
        set).
    batch_size
        Samples per optimiser step.
    lr
        Adam learning rate.
    weight_decay
        L2 penalty (Adam's ``weight_decay``).
    steps
        If set, a training round is exactly this many optimiser steps instead of
        ``epochs`` passes: minibatches are consecutive slices of a shuffled order of the
        local data, and a new shuffled order is drawn (from the same generator) whenever
        one is used up, so the last batch of each pass may be short. With
        ``steps == epochs * ceil(n / batch_size)`` the result is bit-identical to epoch
        training. ``None`` (the default) trains ``epochs`` passes.
    """

    epochs: int = 5
    batch_size: int = 32
    lr: float = 0.01
    weight_decay: float = 0.0
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.steps is not None and (isinstance(self.steps, bool) or self.steps < 1):
            raise ValueError(
                f"TrainConfig.steps must be a positive number of optimiser steps, got "
                f"{self.steps!r}; use None to train `epochs` passes instead"
            )

    def samples_per_round(self, n: int) -> int:
        """Samples one training round processes on ``n`` local samples (for work accounting).

        ``n * epochs`` for epoch training; the sum of the ``steps`` batch sizes otherwise.

        Examples
        --------
        >>> TrainConfig(epochs=2).samples_per_round(50)
        100
        >>> TrainConfig(batch_size=32, steps=3).samples_per_round(50)  # 32 + 18 + 32
        82
        """
        if n <= 0:
            return 0
        if self.steps is None:
            return n * self.epochs
        per_pass = -(-n // self.batch_size)  # batches in one pass over the data
        full, rest = divmod(self.steps, per_pass)
        return full * n + min(rest * self.batch_size, n)


@dataclass(frozen=True)
class DistillConfig:
    """How a seed model is distilled from a main model on the reference set.

    Attributes
    ----------
    steps
        Optimiser steps (each on a batch sampled with replacement from the reference set).
    batch_size
        Reference samples per step.
    lr
        Adam learning rate.
    temperature
        Softening temperature ``T`` of the KL loss (the HDUS authors use 3 to 9).
    """

    steps: int = 200
    batch_size: int = 128
    lr: float = 0.01
    temperature: float = 3.0


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.from_numpy(np.ascontiguousarray(x))


def as_float_tensor(
    x: np.ndarray | torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``x`` as a tensor of ``dtype`` (no copy when it already is one)."""
    return _as_tensor(x).to(dtype)


def batch_schedule(n: int, config: TrainConfig, generator: torch.Generator) -> list[torch.Tensor]:
    """The minibatch indices of one training call on ``n`` samples, in step order.

    Epoch training: ``epochs`` shuffled passes, each cut into consecutive batches (the last
    may be short). ``steps`` training: exactly ``steps`` batches over shuffled passes, a new
    order drawn whenever one is used up. The generator is consumed exactly as the training
    loop always did, so the per-model loop and the cohort engine share one schedule.

    Examples
    --------
    >>> sched = batch_schedule(5, TrainConfig(epochs=2, batch_size=2), torch.Generator())
    >>> [len(b) for b in sched]
    [2, 2, 1, 2, 2, 1]
    """
    if n <= 0:
        return []
    if config.steps is None:
        batches: list[torch.Tensor] = []
        for _ in range(config.epochs):
            order = torch.randperm(n, generator=generator)
            batches += [order[s : s + config.batch_size] for s in range(0, n, config.batch_size)]
        return batches
    order = torch.randperm(n, generator=generator)
    start = 0
    batches = []
    for _ in range(config.steps):
        if start >= n:  # this pass is used up: draw the next shuffled order
            order = torch.randperm(n, generator=generator)
            start = 0
        batches.append(order[start : start + config.batch_size])
        start += config.batch_size
    return batches


def train_supervised(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    config: TrainConfig,
    *,
    generator: torch.Generator,
    optimiser: torch.optim.Adam | None = None,
) -> float:
    """Train ``model`` in place with cross-entropy on ``(x, y)``; return the last epoch's mean loss.

    A fresh Adam optimiser is used per call, so a call's result depends only on the model's
    weights, the data and ``generator`` (which fixes the batch order, see
    :func:`batch_schedule`). With ``config.steps`` set, exactly that many optimiser steps
    are taken (see :class:`TrainConfig`) and the mean loss over those steps' samples is
    returned. A caller that trains the same module many times may pass its own
    ``optimiser`` (from :func:`adam_for`): it is first reset to a fresh Adam's state (zero
    moments, step 0), so the result is bit-identical, without rebuilding its state.
    """
    xt, yt = _as_tensor(x).float(), _as_tensor(y).long()
    n = xt.shape[0]
    if n == 0:
        return float("nan")
    if optimiser is None:
        optimiser = adam_for(model, config)
    else:
        reset_adam(optimiser, config)
    model.train()
    per_pass = -(-n // config.batch_size)
    total, seen = 0.0, 0
    for step, idx in enumerate(batch_schedule(n, config, generator)):
        if config.steps is None and step % per_pass == 0:
            total, seen = 0.0, 0  # epoch training reports the last epoch's mean loss
        optimiser.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt[idx]), yt[idx])
        loss.backward()
        optimiser.step()
        total += loss.item() * len(idx)
        seen += len(idx)
    recalibrate_batchnorm(model, xt, config.batch_size)
    model.eval()
    return total / seen


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int) -> bool:
    """Recompute every BatchNorm layer's running statistics over ``x``; ``False`` if none.

    Why: a BatchNorm model predicts (eval mode) with running averages of past batches'
    statistics (momentum 0.1), which lag behind weights that moved fast. With small budgets
    they lag badly: a MobileNet_L trained 8 epochs on 202 digits scored 0.12 in eval mode
    and 0.84 with its own batch statistics. So after training (and distillation) the
    statistics are recomputed once over the data just trained on, as the exact average
    of its batches' statistics (``momentum=None``), in index order and batches of
    ``batch_size``: deterministic, and from the owner's own data (or the public reference
    set) only, so forgetting is unaffected. A model with no BatchNorm is left untouched.

    Examples
    --------
    >>> from clients.models import build_model
    >>> m = build_model("resnet8", (1, 8, 8), 10, seed=0)
    >>> recalibrate_batchnorm(m, torch.rand(20, 1, 8, 8), 8), m.bn1.running_mean.abs().sum() > 0
    (True, tensor(True))
    >>> recalibrate_batchnorm(build_model("sensor", (1, 8, 8), 10, seed=0), torch.rand(4, 64), 2)
    False
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or x.shape[0] == 0:
        return False
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: every batch weighs the same
    was_training = model.training
    model.train()
    for start in range(0, x.shape[0], batch_size):
        model(x[start : start + batch_size])
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)
    return True


def adam_for(model: nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """A fresh Adam over ``model``'s parameters with ``config``'s rate and weight decay."""
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


@torch.no_grad()
def reset_adam(optimiser: torch.optim.Adam, config: TrainConfig) -> None:
    """Put ``optimiser`` back into a freshly built Adam's state, in place.

    Adam creates its state lazily as zeros (step 0, zero first and second moments), so
    zeroing the existing tensors gives the next step exactly a fresh optimiser's inputs.

    Raises
    ------
    ValueError
        If the optimiser's rate, weight decay or options differ from a fresh one's.

    Examples
    --------
    >>> net = torch.nn.Linear(2, 1)
    >>> opt = adam_for(net, TrainConfig(lr=0.1))
    >>> net(torch.ones(1, 2)).sum().backward(); opt.step()
    >>> reset_adam(opt, TrainConfig(lr=0.1))
    >>> float(opt.state[net.weight]["step"]), float(opt.state[net.weight]["exp_avg"].abs().sum())
    (0.0, 0.0)
    """
    for group in optimiser.param_groups:
        if group["lr"] != config.lr or group["weight_decay"] != config.weight_decay:
            raise ValueError(
                f"optimiser has lr={group['lr']!r}, weight_decay={group['weight_decay']!r}; "
                f"training asks for lr={config.lr!r}, weight_decay={config.weight_decay!r}"
            )
        if group["amsgrad"] or group["maximize"] or group["capturable"]:
            raise ValueError("reset_adam supports plain Adam only (no amsgrad/maximize/capturable)")
    for state in optimiser.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                value.zero_()


@torch.no_grad()
def logits_of(
    model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 4096
) -> torch.Tensor:
    """Return ``model``'s logits on ``x`` in eval mode, computed in batches."""
    model.eval()
    xt = _as_tensor(x).float()
    if xt.shape[0] <= batch_size:
        logits: torch.Tensor = model(xt)
        return logits
    return torch.cat([model(xt[i : i + batch_size]) for i in range(0, xt.shape[0], batch_size)])


def distil(
    student: nn.Module,
    teacher_logits: torch.Tensor,
    reference_x: np.ndarray | torch.Tensor,
    config: DistillConfig,
    *,
    generator: torch.Generator,
) -> float:
    """Distil ``student`` in place towards ``teacher_logits`` on the reference inputs.

    Loss: ``KL(softmax(teacher / T) || softmax(student / T))`` (batch mean), as in the HDUS
    authors' code. The reference set is public, so the student sees no private sample: only
    the teacher's outputs carry the teacher's data. Returns the final step's loss.
    """
    xt = _as_tensor(reference_x).float()
    n = xt.shape[0]
    temperature = config.temperature
    targets = F.softmax(teacher_logits / temperature, dim=1)
    optimiser = torch.optim.Adam(student.parameters(), lr=config.lr)
    student.train()
    last = float("nan")
    for idx in distil_schedule(n, config, generator):
        optimiser.zero_grad(set_to_none=True)
        log_p = F.log_softmax(student(xt[idx]) / temperature, dim=1)
        loss = F.kl_div(log_p, targets[idx], reduction="batchmean")
        loss.backward()
        optimiser.step()
        last = loss.item()
    recalibrate_batchnorm(student, xt, config.batch_size)
    student.eval()
    return last


def distil_schedule(
    n: int, config: DistillConfig, generator: torch.Generator
) -> list[torch.Tensor]:
    """The reference-set indices of each distillation step (drawn with replacement, in order).

    Examples
    --------
    >>> sched = distil_schedule(10, DistillConfig(steps=3, batch_size=4), torch.Generator())
    >>> [tuple(b.shape) for b in sched]
    [(4,), (4,), (4,)]
    """
    batch = min(config.batch_size, n)
    return [torch.randint(0, n, (batch,), generator=generator) for _ in range(config.steps)]
