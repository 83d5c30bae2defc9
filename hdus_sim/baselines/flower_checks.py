"""Every check of :func:`~hdus_sim.baselines.flower_fedavg.run_fedavg`'s arguments.

Run in the caller before Flower or Ray start, so a mistake costs no start-up and names
the argument, the value and the fix. :func:`validate` runs the checks in a fixed order
(numbers, schedule, model factory, initial parameters, client data, model against data)
and returns the clients' data as contiguous ``float32`` / ``int64`` arrays and the
initial ``state_dict``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

ClientData = dict[int, tuple[np.ndarray, np.ndarray]]


def validate(
    clients: Mapping[int, tuple[np.ndarray, np.ndarray]],
    schedule: Sequence[frozenset[int]],
    model_factory: Callable[[], nn.Module],
    local_epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    initial: list[np.ndarray] | None,
) -> tuple[ClientData, dict[str, torch.Tensor]]:
    """Check every argument a caller can get wrong; return clean data and the start state.

    Returns the clients' data as contiguous ``float32`` / ``int64`` arrays and the initial
    ``state_dict`` (``initial`` loaded into a fresh model, or the model's own).
    """
    _check_numbers(local_epochs, batch_size, lr, seed)
    _check_schedule(clients, schedule)
    model = _checked_model(model_factory)
    state = _initial_state(model, initial)
    data = _clean_data(clients, schedule)
    _check_model_fits(model, data)
    return data, state


def _check_numbers(local_epochs: int, batch_size: int, lr: float, seed: int) -> None:
    """Local epochs and batch size positive integers, ``lr > 0``, seed in [0, 2**63)."""
    for name, value in (("local_epochs", local_epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")


def _check_schedule(
    clients: Mapping[int, tuple[np.ndarray, np.ndarray]], schedule: Sequence[frozenset[int]]
) -> None:
    """Clients named by non-negative ids; every round a non-empty set of known clients."""
    if not clients:
        raise ValueError("clients is empty; give at least one client id -> (train_x, train_y)")
    bad_ids = [c for c in clients if not isinstance(c, int) or isinstance(c, bool) or c < 0]
    if bad_ids:
        raise ValueError(f"client ids must be non-negative integers, got {bad_ids!r}")
    if len(schedule) == 0:
        raise ValueError(
            "schedule is empty; give one set of client ids per round, e.g. "
            "[frozenset(clients)] * rounds"
        )
    for r, members in enumerate(schedule):
        if not members:
            raise ValueError(
                f"schedule[{r}] is empty; every round needs at least one client "
                "(drop the round instead)"
            )
        unknown = sorted(set(members) - set(clients), key=repr)
        if unknown:
            raise ValueError(
                f"schedule[{r}] names clients {unknown} that are not in clients "
                f"(known ids: {sorted(clients)}); add their data or remove them"
            )


def _checked_model(model_factory: Callable[[], nn.Module]) -> nn.Module:
    """A model from ``model_factory``, which must build one and pickle for the workers."""
    try:
        model = model_factory()
    except Exception as exc:
        raise ValueError(f"model_factory() failed: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ValueError(f"model_factory() must return a torch.nn.Module, got {type(model)}")
    from ray import cloudpickle  # Ray's pickler is the one that ships the factory

    try:
        cloudpickle.dumps(model_factory)
    except Exception as exc:
        raise ValueError(
            f"model_factory cannot be pickled for the Ray workers ({exc}); pass e.g. "
            "functools.partial(clients.models.build_model, arch, shape, classes, seed=S)"
        ) from exc
    return model


def _initial_state(model: nn.Module, initial: list[np.ndarray] | None) -> dict[str, torch.Tensor]:
    """The start ``state_dict``: ``initial`` (checked, in state_dict order) or the model's.

    ``initial`` is also loaded into ``model``, so the later checks see the start model.
    """
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if initial is not None:
        if len(initial) != len(state):
            raise ValueError(
                f"initial has {len(initial)} arrays but the model's state_dict has "
                f"{len(state)} ({list(state)}); pass parameters in state_dict order"
            )
        for (name, tensor), array in zip(state.items(), initial, strict=True):
            if tuple(np.shape(array)) != tuple(tensor.shape):
                raise ValueError(
                    f"initial array for {name!r} has shape {np.shape(array)}, the model "
                    f"expects {tuple(tensor.shape)}; pass parameters in state_dict order"
                )
            state[name] = torch.as_tensor(np.asarray(array)).to(tensor.dtype).clone()
        model.load_state_dict(state)
    return state


def _clean_data(
    clients: Mapping[int, tuple[np.ndarray, np.ndarray]], schedule: Sequence[frozenset[int]]
) -> ClientData:
    """Each client's ``(x, y)`` checked (dtypes, shapes, one sample shape for all) and cast."""
    data: ClientData = {}
    sample_shape: tuple[int, ...] | None = None
    scheduled = set().union(*schedule)
    for cid in sorted(clients):
        pair = clients[cid]
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"clients[{cid}] must be a (train_x, train_y) tuple")
        x, y = np.asarray(pair[0]), np.asarray(pair[1])
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"client {cid}: train_x must be floating point, got {x.dtype}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"client {cid}: train_y must be integer labels, got {y.dtype}")
        if y.ndim != 1 or x.ndim < 2 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"client {cid}: train_x must be (n, *sample_shape) and train_y (n,) with the "
                f"same n, got {x.shape} and {y.shape}"
            )
        if sample_shape is None:
            sample_shape = x.shape[1:]
        elif x.shape[1:] != sample_shape:
            raise ValueError(
                f"client {cid}: samples have shape {x.shape[1:]}, other clients' have "
                f"{sample_shape}; every client must hold the same kind of input"
            )
        if len(y) == 0 and cid in scheduled:
            raise ValueError(
                f"client {cid} has no training samples but is scheduled; remove it from "
                "the schedule"
            )
        data[cid] = (np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64))
    return data


def _check_model_fits(model: nn.Module, data: ClientData) -> None:
    """The model takes the clients' samples, and every label is one of its outputs."""
    probe = next((x[:1] for x, _ in data.values() if len(x)), None)
    if probe is None:
        return
    try:
        with torch.no_grad():
            out = model.eval()(torch.from_numpy(probe))
    except Exception as exc:
        raise ValueError(
            f"the model rejects samples of shape {probe.shape[1:]}: {exc}; build the "
            "model for the clients' input shape"
        ) from exc
    classes = int(out.shape[-1])
    for cid, (_, y) in data.items():
        if len(y) and (y.min() < 0 or y.max() >= classes):
            raise ValueError(
                f"client {cid}: labels span [{y.min()}, {y.max()}] but the model has "
                f"{classes} outputs; labels must lie in [0, {classes})"
            )
