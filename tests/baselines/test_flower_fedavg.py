"""FedAvg on Flower's Message API: real Flower simulation engine, real (embedded) Ray.

Each :func:`run_fedavg` call starts and stops its own Flower simulation and Ray instance
(10-20 s on a two-core machine), so the runs are module fixtures shared by the tests; the
validation tests start nothing. The default run makes three calls (about 40 s on an idle
two-core machine).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from clients.models import build_model
from hdus_sim.baselines.flower_fedavg import FedAvgRun, run_fedavg

Data = dict[int, tuple[np.ndarray, np.ndarray]]

ROUNDS = 3
SCHEDULE = [frozenset({0, 1}), frozenset({0, 1}), frozenset({1})]
FACTORY = functools.partial(build_model, "sensor", (1, 8, 8), 10, seed=11)
KW: dict[str, object] = {"local_epochs": 2, "batch_size": 32, "lr": 0.01, "seed": 4}


def _digits() -> tuple[Data, np.ndarray, np.ndarray]:
    """Three clients of 200 digits each, and 400 held-out digits to score on."""
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    parts = [order[i * 200 : (i + 1) * 200] for i in range(3)]
    test = order[600:1000]
    return {i: (x[p], y[p]) for i, p in enumerate(parts)}, x[test], y[test]


DATA, TEST_X, TEST_Y = _digits()


def _accuracy(parameters: list[np.ndarray]) -> float:
    model = FACTORY()
    model.load_state_dict(
        {k: torch.from_numpy(v) for k, v in zip(model.state_dict(), parameters, strict=True)}
    )
    with torch.no_grad():
        predicted = model(torch.from_numpy(TEST_X)).argmax(1).numpy()
    return float((predicted == TEST_Y).mean())


def _initial() -> list[np.ndarray]:
    return [v.numpy().copy() for v in FACTORY().state_dict().values()]


@pytest.fixture(scope="module", autouse=True)
def _no_ray_running() -> None:
    """run_fedavg refuses to reuse a Ray another test left running; stop that one first."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="module")
def three_clients() -> FedAvgRun:
    """Clients 0, 1 and 2; client 2 is never scheduled."""
    return run_fedavg(DATA, SCHEDULE, FACTORY, **KW)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def two_clients() -> FedAvgRun:
    """The same run without client 2 at all (two simulated nodes instead of three)."""
    data = {c: DATA[c] for c in (0, 1)}
    return run_fedavg(data, SCHEDULE, FACTORY, **KW)  # type: ignore[arg-type]


def test_fedavg_improves_accuracy_and_counts_its_costs(three_clients: FedAvgRun) -> None:
    run = three_clients
    before, after = _accuracy(_initial()), _accuracy(run.parameters)
    assert before < 0.3 < 0.7 < after
    assert run.rounds == ROUNDS
    assert [p.shape for p in run.parameters] == [p.shape for p in _initial()]
    assert all(p.dtype == np.float32 for p in run.parameters)
    # 5 client-rounds of 200 samples x 2 epochs
    assert run.sample_epochs == 5 * 200 * 2
    # each client-round moves the model down and back up: 2 x 5 copies, ~4 bytes/parameter
    n_params = sum(p.size for p in run.parameters)
    assert 10 * 4 * n_params < run.bytes_sent < 10 * (4 * n_params + 1000)
    assert 0 < run.rounds_wall_s < run.wall_s


def test_a_client_in_no_round_contributes_nothing(
    three_clients: FedAvgRun, two_clients: FedAvgRun
) -> None:
    """Client 2 only changes the node count and the partition mapping, never the result."""
    for a, b in zip(three_clients.parameters, two_clients.parameters, strict=True):
        np.testing.assert_array_equal(a, b)
    assert three_clients.bytes_sent == two_clients.bytes_sent
    assert three_clients.sample_epochs == two_clients.sample_epochs


def test_same_inputs_give_bit_identical_parameters(three_clients: FedAvgRun) -> None:
    again = run_fedavg(DATA, SCHEDULE, FACTORY, initial=_initial(), **KW)  # type: ignore[arg-type]
    for a, b in zip(three_clients.parameters, again.parameters, strict=True):
        np.testing.assert_array_equal(a, b)


def test_client_updates_add_up_to_the_global_change(three_clients: FedAvgRun) -> None:
    """Each client's accumulated weighted update; their sum is exactly how far FedAvg moved."""
    run = three_clients
    assert set(run.client_updates) == {0, 1}  # client 2 never trained
    for i, (final, start) in enumerate(zip(run.parameters, _initial(), strict=True)):
        total = sum(upd[i] for upd in run.client_updates.values())
        np.testing.assert_allclose(total, final - start, atol=1e-5)
    assert all(np.abs(u).sum() > 0 for upd in run.client_updates.values() for u in upd)


def test_training_moved_every_parameter(two_clients: FedAvgRun) -> None:
    """Guards the equalities above against being vacuous: the runs did train."""
    assert all(
        not np.array_equal(a, b) for a, b in zip(two_clients.parameters, _initial(), strict=True)
    )


@pytest.mark.slow
def test_another_seed_changes_the_result(three_clients: FedAvgRun) -> None:
    other = run_fedavg(DATA, SCHEDULE, FACTORY, **{**KW, "seed": 5})  # type: ignore[arg-type]
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(three_clients.parameters, other.parameters, strict=True)
    )


# --------------------------------------------------------------------- validation
def _call(**changes: object) -> None:
    args: dict[str, object] = {
        "clients": DATA,
        "schedule": SCHEDULE,
        "model_factory": FACTORY,
        **KW,
        **changes,
    }
    run_fedavg(**args)  # type: ignore[arg-type]


def _wide_labels() -> Data:
    x, y = DATA[0]
    return {0: (x, y + 5), 1: DATA[1]}


def _unpicklable() -> Callable[[], nn.Module]:
    lock = __import__("threading").Lock()

    def factory() -> nn.Module:
        assert lock is not None
        return FACTORY()

    return factory


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"schedule": []}, "schedule is empty"),
        ({"schedule": [frozenset({0}), frozenset()]}, r"schedule\[1\] is empty"),
        ({"schedule": [frozenset({0, 7})]}, r"schedule\[0\] names clients \[7\]"),
        ({"clients": {}}, "clients is empty"),
        (
            {"clients": {0: (DATA[0][0], DATA[0][1][:-1])}, "schedule": [frozenset({0})]},
            "same n",
        ),
        (
            {"clients": {0: (DATA[0][0][:, :, :4, :4], DATA[0][1])}, "schedule": [frozenset({0})]},
            "model rejects samples",
        ),
        ({"clients": {0: DATA[0], 1: (DATA[1][0][:, :, :4], DATA[1][1])}}, "same kind of input"),
        (
            {"clients": {0: (DATA[0][0], DATA[0][1].astype(np.float32)), 1: DATA[1]}},
            "integer labels",
        ),
        ({"clients": _wide_labels()}, r"labels must lie in \[0, 10\)"),
        ({"clients": {0: DATA[0], 1: (DATA[1][0][:0], DATA[1][1][:0])}}, "no training samples"),
        ({"initial": _initial()[:2]}, "initial has 2 arrays"),
        ({"initial": [p.T for p in _initial()]}, "initial array for 'net.1.weight'"),
        ({"local_epochs": 0}, "local_epochs must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"seed": -1}, "seed must be an integer"),
        ({"model_factory": _unpicklable()}, "cannot be pickled"),
    ],
)
def test_user_errors_are_caught_before_flower_starts(
    changes: dict[str, object], match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_flower(**_: object) -> None:
        raise AssertionError("Flower must not start on bad input")

    monkeypatch.setattr("hdus_sim.baselines.flower_fedavg.run_simulation", no_flower)
    with pytest.raises(ValueError, match=match):
        _call(**changes)


def _import_ray() -> ModuleType:
    # as run_fedavg does: ray reads this once, at import, and then listens on loopback only
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    return ray


def test_refuses_to_hijack_a_running_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flower would reuse an initialized Ray and shut it down at the end: refuse instead."""
    monkeypatch.setattr(_import_ray(), "is_initialized", lambda: True)
    monkeypatch.setattr(
        "hdus_sim.baselines.flower_fedavg.run_simulation",
        lambda **_: pytest.fail("Flower must not start"),
    )
    with pytest.raises(RuntimeError, match=r"ray.shutdown\(\) first"):
        _call()


def test_refuses_when_ray_would_listen_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray imported before the loopback switch was set would bind every interface."""
    _import_ray()
    from ray._private import ray_constants

    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    monkeypatch.setattr(
        "hdus_sim.baselines.flower_fedavg.run_simulation",
        lambda **_: pytest.fail("Flower must not start"),
    )
    with pytest.raises(RuntimeError, match="every network interface"):
        _call()


def _fails_in_workers(driver_pid: int) -> nn.Module:
    if os.getpid() != driver_pid:
        raise OSError("disk on fire")
    return FACTORY()


@pytest.mark.slow
def test_a_failing_client_raises_with_its_reason() -> None:
    """A ClientApp error reaches the caller as an exception, not only as a log line."""
    factory = functools.partial(_fails_in_workers, os.getpid())
    with pytest.raises(RuntimeError, match=r"start-up failed on 3 client.*disk on fire"):
        run_fedavg(DATA, SCHEDULE, factory, **KW)  # type: ignore[arg-type]
