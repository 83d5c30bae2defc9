"""The cohort engine computes exactly what each model computes alone, bit for bit.

A target peer (real digits, its own data size, its own generators) is trained and distilled
alone and inside cohorts of 1, 7 and 200 models of mixed dataset sizes; its parameters, its
final Adam moments and its distilled seed must be identical every time. Peers of a real
world trained together must make the very seed records they make one at a time, and what
the engine cannot batch (the convolutional gateway, a platform whose check fails) is
trained alone and reported.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

import clients.cohort as cohort
import clients.cohort_ops as ops
from clients.cohort import (
    DistilJob,
    TrainJob,
    distil_cohorts,
    train_cohorts,
)
from clients.cohort_eval import cohort_logits, paired_logits
from clients.cohort_round import train_together
from clients.models import build_model
from clients.training import (
    DistillConfig,
    TrainConfig,
    batch_schedule,
    distil,
    logits_of,
    train_supervised,
)

SHAPE = (1, 8, 8)
TRAIN = TrainConfig(epochs=2, batch_size=16, lr=0.01)
DISTIL = DistillConfig(steps=30, batch_size=64, lr=0.01, temperature=3.0)


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """Runs use ``runtime.torch_threads: 1`` (the default): the engine is exact there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    return torch.from_numpy(x / 16.0).float().reshape(-1, *SHAPE), torch.from_numpy(y).long()


def _job(arch: str, i: int, n: int, digits: tuple[torch.Tensor, torch.Tensor]) -> TrainJob:
    x, y = digits
    start = (i * 37) % (len(x) - n)
    model = build_model(arch, SHAPE, 10, seed=1000 + i)
    return TrainJob(model, x[start : start + n], y[start : start + n], TRAIN, _gen(i))


def _gen(i: int) -> torch.Generator:
    return torch.Generator().manual_seed(77 + i)


def _alone_with_state(job: TrainJob) -> list[dict[str, Any]]:
    """``train_supervised``'s loop with an optimiser we can read the state of afterwards."""
    optimiser = torch.optim.Adam(job.model.parameters(), lr=job.config.lr)
    job.model.train()
    for idx in batch_schedule(len(job.y), job.config, job.generator):
        optimiser.zero_grad(set_to_none=True)
        F.cross_entropy(job.model(job.x[idx]), job.y[idx]).backward()
        optimiser.step()
    return [optimiser.state[p] for p in job.model.parameters()]


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("size", [1, 7, 200])
def test_a_peer_in_a_cohort_is_bit_identical_to_the_peer_alone(
    size: int, digits: tuple[torch.Tensor, torch.Tensor]
) -> None:
    target_n = 83  # 83 = 5 * 16 + 3: a short last batch in every epoch
    alone = _job("phone", 0, target_n, digits)
    state = _alone_with_state(alone)
    lone = _job("phone", 0, target_n, digits)
    assert not _same(alone.model, lone.model)  # training moved it: the check below can fail

    rng = np.random.default_rng(size)
    others = [_job("phone", i, int(rng.integers(1, 300)), digits) for i in range(1, size)]
    jobs = [*others[: size // 2], lone, *others[size // 2 :]]  # the target mid-cohort
    kept: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
    report = train_cohorts(jobs, moments=kept)
    assert _same(alone.model, lone.model)
    assert report.cohorts == [size]
    mine = kept[jobs.index(lone)]
    for (exp_avg, exp_avg_sq), st in zip(mine, state, strict=True):
        assert torch.equal(exp_avg, st["exp_avg"]) and torch.equal(exp_avg_sq, st["exp_avg_sq"])

    # the seed: teacher logits on the reference set, then distillation, both batched
    reference = digits[0][-300:]
    teachers = cohort_logits([j.model for j in jobs], reference)
    t_alone = logits_of(alone.model, reference)
    assert torch.equal(teachers[jobs.index(lone)], t_alone)
    students = [build_model("seed_mlp", SHAPE, 10, seed=5) for _ in jobs]
    d_jobs = [
        DistilJob(s, t, reference, DISTIL, _gen(100 + k))
        for k, (s, t) in enumerate(zip(students, teachers, strict=True))
    ]
    distil_cohorts(d_jobs)
    seed_alone = build_model("seed_mlp", SHAPE, 10, seed=5)
    distil(seed_alone, t_alone, reference, DISTIL, generator=_gen(100 + jobs.index(lone)))
    assert _same(seed_alone, students[jobs.index(lone)])


def test_every_mlp_of_the_zoo_batches_exactly_with_one_sample_batches(
    digits: tuple[torch.Tensor, torch.Tensor],
) -> None:
    # sizes 17 and 33 leave one-sample last batches (the per-model matrix-vector path)
    for arch in ("sensor", "linear", "phone"):
        sizes = [17, 33, 40, 5, 16, 1]
        jobs = [_job(arch, i, n, digits) for i, n in enumerate(sizes)]
        alone = [_job(arch, i, n, digits) for i, n in enumerate(sizes)]
        train_cohorts(jobs)
        for j in alone:
            train_supervised(j.model, j.x, j.y, j.config, generator=j.generator)
        assert all(_same(a.model, b.model) for a, b in zip(alone, jobs, strict=True)), arch


def test_what_cannot_be_batched_is_trained_alone_and_reported(
    digits: tuple[torch.Tensor, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    cnn = [_job("gateway", i, 40, digits) for i in range(3)]
    alone = [_job("gateway", i, 40, digits) for i in range(3)]
    report = train_cohorts(cnn)
    for j in alone:
        train_supervised(j.model, j.x, j.y, j.config, generator=j.generator)
    assert report.cohorts == [] and report.alone == 3
    assert any("SmallCNN" in reason for reason in report.fallback)
    assert all(_same(a.model, b.model) for a, b in zip(alone, cnn, strict=True))

    # a platform where the batched products are not bit-exact: detected, trained alone
    monkeypatch.setattr(cohort, "cohort_exact", lambda signature: False)
    report = train_cohorts([_job("sensor", i, 40, digits) for i in range(4)])
    assert report.cohorts == [] and report.alone == 4
    assert any("not bit-exact" in reason for reason in report.fallback)


def test_the_platform_check_passes_here_and_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    cohort._exact.cache_clear()
    assert cohort.cohort_exact(((32, 64), (10, 32)))
    # negative control: a batched step that is off by one ulp must fail the check
    real = ops._adam_step

    def off_by_a_bit(params: Any, *args: Any, **kwargs: Any) -> None:
        real(params, *args, **kwargs)
        if params[0].dim() == 3 and params[0].shape[0] > 1:  # only the batched path
            params[0].copy_(torch.nextafter(params[0], torch.full_like(params[0], 9.0)))

    monkeypatch.setattr(ops, "_adam_step", off_by_a_bit)
    cohort._exact.cache_clear()
    try:
        assert not cohort.cohort_exact(((32, 64), (10, 32)))
    finally:
        cohort._exact.cache_clear()
    monkeypatch.setattr(ops, "_adam_step", real)
    # the forward is checked as well: batched logits off by one ulp fail it
    real_forward = ops._forward

    def forward_off(weights: Any, biases: Any, x: torch.Tensor) -> Any:
        z, inputs = real_forward(weights, biases, x)
        return torch.nextafter(z, torch.full_like(z, 9.0)), inputs

    monkeypatch.setattr(ops, "_forward", forward_off)
    try:
        assert not cohort.cohort_exact(((32, 64), (10, 32)))
    finally:
        cohort._exact.cache_clear()
    monkeypatch.setattr(ops, "_forward", real_forward)
    # more than one torch thread is never batched
    torch.set_num_threads(2)
    try:
        assert not cohort.cohort_exact(((32, 64), (10, 32)))
    finally:
        torch.set_num_threads(1)
    assert cohort.cohort_exact(((32, 64), (10, 32)))


def test_paired_evaluation_is_bit_identical_to_each_model_alone(
    digits: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x = digits[0]
    rng = np.random.default_rng(3)
    models = [build_model(a, SHAPE, 10, seed=i) for i, a in enumerate(["seed_tiny"] * 150)]
    models += [build_model("sensor", SHAPE, 10, seed=200 + i) for i in range(20)]
    # each model on rows of its own (ragged sizes, 1 and 2 rows among them), some shared
    sizes = [int(rng.integers(1, 60)) for _ in models]
    sizes[:3] = [1, 2, 3]
    xs = [x[int(rng.integers(0, 1000)) :][:n] for n in sizes]
    shared = x[:41]
    xs[100:140] = [shared] * 40
    states: list[Any] = [list(m.state_dict().items()) if i % 2 else m for i, m in enumerate(models)]
    found = paired_logits(states, xs)
    for i, (model, inputs, logits) in enumerate(zip(models, xs, found, strict=True)):
        if len(inputs) < cohort.MIN_BATCHED_ROWS:
            assert logits is None, i  # one or two rows: left to the caller, model by model
            continue
        assert logits is not None and torch.equal(logits, logits_of(model, inputs)), i
    # shared inputs through the module path too
    together = cohort_logits(models, shared)
    assert all(torch.equal(t, logits_of(m, shared)) for t, m in zip(together, models, strict=True))
    # a wrong slice would be caught: neighbours' outputs differ
    assert not torch.equal(found[101], found[102])  # type: ignore[arg-type]


def test_peers_trained_together_make_the_seeds_they_make_alone(
    tiny: dict[str, Any],
) -> None:
    from hdus_sim.plan import resolve_plan
    from hdus_sim.world import World

    sc_dict = copy.deepcopy(tiny)
    sc_dict["peers"]["devices"] = {"sensor": 2, "phone": 1, "gateway": 1}  # gateway: a CNN
    sc_dict["training"] = {**sc_dict["training"], "local_epochs": 1, "train_rounds": 2}
    from hdus_sim.scenario import Scenario

    scenario = Scenario.model_validate(sc_dict)
    world = World.build(scenario)
    plan = resolve_plan(scenario, world.train_ids())

    def peers() -> list[Any]:
        made = []
        for pid in range(scenario.peers.initial):
            made.append(world.make_peer(plan.peer_spec(pid, 0, plan.devices[pid])))
        return made

    together, alone = peers(), peers()
    for expected in (True, True, False):  # the second round starts from trained models
        made, report = train_together(together)
        assert made == [p.train_round() for p in alone] == [expected] * len(alone)
    made, report = train_together(peers())
    assert report.cohorts and report.alone >= 1  # sensors batched, the gateway CNN alone
    for a, b in zip(alone, together, strict=True):
        assert a.own_seed.digest == b.own_seed.digest
        assert a.model_version == b.model_version and a.work_samples == b.work_samples
        assert _same(a.main, b.main)
