"""Ensemble combination and the model zoo."""

from __future__ import annotations

import pytest
import torch

from clients.catalog import FAMILY_NAMES
from clients.ensemble import combine
from clients.errors import ModelError
from clients.models import MAIN_ARCHITECTURES, build_model, describe_architectures, parameter_count


def test_combine_is_order_independent_and_bit_exact() -> None:
    g = torch.Generator().manual_seed(0)
    main = torch.randn(20, 10, generator=g)
    seeds = {(i, 0): torch.randn(20, 10, generator=g) for i in range(5)}
    reversed_seeds = dict(reversed(list(seeds.items())))
    for mode in ("logits", "probs"):
        a = combine(main, seeds, rho=0.4, mode=mode)
        b = combine(main, reversed_seeds, rho=0.4, mode=mode)
        assert torch.equal(a, b)


def test_combine_probs_is_log_of_mixture() -> None:
    main = torch.tensor([[0.0, 0.0]])
    seeds = {(1, 0): torch.tensor([[10.0, -10.0]])}
    out = combine(main, seeds, rho=0.5, mode="probs").exp()
    assert torch.allclose(out, torch.tensor([[0.75, 0.25]]), atol=1e-4)


def test_combine_rejects_bad_rho_and_shapes() -> None:
    with pytest.raises(ModelError, match="rho"):
        combine(torch.zeros(1, 2), {}, rho=2.0)
    with pytest.raises(ModelError, match="class count"):
        combine(torch.zeros(1, 2), {(0, 0): torch.zeros(1, 3)}, rho=0.5)


def test_zoo_sizes_differ_clearly() -> None:
    sizes = {r.name: r.parameters for r in describe_architectures((1, 8, 8), 10)}
    assert sizes["sensor"] * 10 < sizes["phone"] < sizes["gateway"]
    assert sizes["seed_mlp"] < sizes["phone"]


@pytest.mark.parametrize("arch", sorted(MAIN_ARCHITECTURES))
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (561,)])
def test_every_architecture_builds_for_every_shape(arch: str, shape: tuple[int, ...]) -> None:
    if arch in FAMILY_NAMES and len(shape) != 3:
        with pytest.raises(ModelError, match="needs image inputs"):
            build_model(arch, shape, 6, seed=1)
        return
    model = build_model(arch, shape, 6, seed=1)
    assert model(torch.zeros(2, *shape)).shape == (2, 6)
    assert parameter_count(model) > 0


def test_unknown_architecture() -> None:
    with pytest.raises(ModelError, match="choose one of"):
        build_model("resnet9000", (1, 8, 8), 10, seed=0)


def test_torch_free_names_match_the_zoo() -> None:
    from clients.catalog import (
        DATASET_CLASSES,
        MAIN_ARCHITECTURE_NAMES,
        SEED_ARCHITECTURE_NAMES,
        UNLEARNING_OPTION_NAMES,
    )
    from clients.datasets import DATASETS, load_dataset
    from clients.models import SEED_ARCHITECTURES
    from clients.unlearning import OPTIONS

    assert set(MAIN_ARCHITECTURE_NAMES) == set(MAIN_ARCHITECTURES)
    assert set(SEED_ARCHITECTURE_NAMES) == set(SEED_ARCHITECTURES)
    assert UNLEARNING_OPTION_NAMES == OPTIONS
    assert set(DATASET_CLASSES) == set(DATASETS)
    for name in ("digits", "synthetic"):
        data = load_dataset(name, synthetic_samples=50)
        assert data.num_classes == DATASET_CLASSES[name]
