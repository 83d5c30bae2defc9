"""The HDUS authors' model families: their parameter counts, BatchNorm state, exactness."""

from __future__ import annotations

import pytest
import torch

from clients.models import build_model, parameter_count
from clients.training import TrainConfig, logits_of, train_supervised

# the authors' counts on 1-channel input, 10 classes (their code, counted by hand)
AUTHORS = {
    "resnet8": 3_890,
    "resnet18": 272_186,
    "resnet50": 758_266,
    "mobilenet_s": 5_050,
    "mobilenet_m": 348_490,
    "mobilenet_l": 2_237_194,
}


@pytest.mark.parametrize("arch", sorted(AUTHORS))
def test_parameter_counts_are_the_authors(arch: str) -> None:
    for shape in ((1, 28, 28), (1, 8, 8)):  # global pooling: the count ignores the size
        assert parameter_count(build_model(arch, shape, 10, seed=0)) == AUTHORS[arch]


@pytest.mark.parametrize("arch", ["resnet8", "mobilenet_s"])
def test_batchnorm_state_trains_and_is_used_in_eval(arch: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 8, 8, generator=gen)
    y = torch.randint(0, 10, (64,), generator=gen)
    a = build_model(arch, (1, 8, 8), 10, seed=1)
    b = build_model(arch, (1, 8, 8), 10, seed=1)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.01)
    for m in (a, b):
        train_supervised(m, x, y, cfg, generator=torch.Generator().manual_seed(3))
    sa, sb = a.state_dict(), b.state_dict()
    assert any("running_mean" in k for k in sa)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # bit-identical from the same seeds
    means = [v for k, v in sa.items() if k.endswith("running_mean")]
    assert all(m.abs().sum() > 0 for m in means)  # training moved the running statistics
    # eval mode normalises with the running statistics: one sample alone scores as it
    # does in a batch (in train mode its own statistics would make it all zeros)
    full = logits_of(a, x)
    torch.testing.assert_close(full[:1], logits_of(a, x[:1]), rtol=0, atol=1e-5)
    assert not a.training


def test_recalibrated_statistics_are_the_exact_batch_average() -> None:
    """After training, BatchNorm's running mean is the average of the data's batch means."""
    from clients.training import recalibrate_batchnorm

    model = build_model("resnet8", (1, 8, 8), 10, seed=2)
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    assert recalibrate_batchnorm(model, x, 16)  # batches of 16, 16 and 8
    with torch.no_grad():
        means = [model.conv1(x[i : i + 16]).mean(dim=(0, 2, 3)) for i in (0, 16, 32)]
    torch.testing.assert_close(model.bn1.running_mean, torch.stack(means).mean(0))
    assert model.bn1.momentum == 0.1 and not model.training  # the layer is as it was
    assert int(model.bn1.num_batches_tracked) == 3
