"""``training.local_steps``: a training round of exactly that many minibatch steps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from clients.models import build_model
from clients.training import TrainConfig, train_supervised
from hdus_sim.errors import ScenarioError
from hdus_sim.scenario import load_scenario
from hdus_sim.simulation import Simulation


def _data(n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8)).astype(np.float32), rng.integers(0, 3, size=n)


def _model() -> torch.nn.Module:
    return build_model("sensor", (8,), 3, seed=1)


def _train(config: TrainConfig, seed: int = 7, n: int = 50) -> torch.nn.Module:
    x, y = _data(n)
    model = _model()
    train_supervised(model, x, y, config, generator=torch.Generator().manual_seed(seed))
    return model


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


class _CountingAdam(torch.optim.Adam):
    steps = 0

    def step(self, closure: Any = None) -> Any:
        type(self).steps += 1
        return super().step(closure)


@pytest.mark.parametrize("steps", [1, 2, 5, 7])
def test_steps_count_is_honoured(monkeypatch: pytest.MonkeyPatch, steps: int) -> None:
    _CountingAdam.steps = 0
    monkeypatch.setattr(torch.optim, "Adam", _CountingAdam)
    _train(TrainConfig(epochs=9, batch_size=16, steps=steps), n=50)
    assert _CountingAdam.steps == steps


def test_batches_cycle_through_shuffled_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = torch.nn.functional.cross_entropy

    def spy(logits: torch.Tensor, target: torch.Tensor, *a: Any, **k: Any) -> torch.Tensor:
        sizes.append(int(target.shape[0]))
        return real(logits, target, *a, **k)

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", spy)
    _train(TrainConfig(batch_size=16, steps=6), n=40)
    # passes of 40 samples: 16, 16, 8, then a fresh shuffled pass: 16, 16, 8
    assert sizes == [16, 16, 8, 16, 16, 8]
    assert TrainConfig(batch_size=16, steps=6).samples_per_round(40) == sum(sizes)


def test_steps_are_deterministic_and_follow_the_generator() -> None:
    cfg = TrainConfig(batch_size=16, steps=5)
    assert _same(_train(cfg, seed=3), _train(cfg, seed=3))
    assert not _same(_train(cfg, seed=3), _train(cfg, seed=4))


def test_whole_passes_equal_epoch_training() -> None:
    n, batch, epochs = 50, 16, 3
    steps = epochs * math.ceil(n / batch)
    by_epochs = _train(TrainConfig(epochs=epochs, batch_size=batch), n=n)
    by_steps = _train(TrainConfig(epochs=1, batch_size=batch, steps=steps), n=n)
    assert _same(by_epochs, by_steps)


def test_train_config_rejects_non_positive_steps() -> None:
    with pytest.raises(ValueError, match=r"steps must be a positive.*use None"):
        TrainConfig(steps=0)


def _scenario(training: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": 5,
        "rounds": 2,
        "settle_rounds": 0,
        "partition": {"scheme": "iid", "reference": {"size": 100}, "global_test_size": 100},
        "topology": {"kind": "ring"},
        "peers": {"initial": 4, "devices": {"sensor": 1}},
        "training": training,
        "seed_model": {"arch": "seed_tiny", "distill_steps": 5, "batch_size": 32},
    }


@pytest.mark.parametrize("bad", [0, -3])
def test_scenario_error_names_the_field_and_the_fix(bad: int) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario({"local_steps": bad}))
    text = str(info.value)
    assert "training.local_steps" in text
    assert "positive number of minibatch steps" in text
    assert "local_epochs" in text


def test_scenario_threads_local_steps_into_peers() -> None:
    assert load_scenario(_scenario({})).training.local_steps is None
    sim = Simulation.from_dict(_scenario({"local_steps": 5, "batch_size": 32, "train_rounds": 2}))
    sim.run()
    peer = sim.peer(0)
    assert peer.config.train.steps == 5
    n = len(peer.data.train_y)
    # work accounting: two training rounds of 5 steps each, plus the distillation
    distil = peer.config.distill.steps * min(peer.config.distill.batch_size, 100)
    assert peer.work_samples == 2 * TrainConfig(batch_size=32, steps=5).samples_per_round(n) + (
        2 * distil
    )
    again = Simulation.from_dict(_scenario({"local_steps": 5, "batch_size": 32, "train_rounds": 2}))
    again.run()
    assert all(
        np.array_equal(a, b)
        for a, b in zip(sim.predictions().values(), again.predictions().values(), strict=True)
    )
