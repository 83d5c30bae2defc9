"""Retrain from scratch: the exact reference."""

from __future__ import annotations

import torch

from clients.unlearning import RetrainModel, build_unlearnable


def make() -> RetrainModel:
    model = build_unlearnable(
        "retrain", arch="sensor", input_shape=(1, 8, 8), num_classes=10, seed=9, epochs=3
    )
    assert isinstance(model, RetrainModel)
    return model


def test_delete_equals_fit_without_the_ids(small):
    model = make()
    model.fit(small.x, small.y, small.ids)
    victims = small.ids[[0, 17, 230]].tolist()
    out = model.delete(victims)
    assert out.method == "full_retrain" and out.certificate == "exact"
    assert out.samples_processed == 3 * (len(small.ids) - 3)
    fresh = make()
    fresh.fit(*small.without(victims))
    for (name, got), want in zip(
        model.model.state_dict().items(), fresh.model.state_dict().values(), strict=True
    ):
        assert torch.equal(got, want), name
    probe = torch.from_numpy(small.test_x)
    assert torch.equal(model.logits(probe), fresh.logits(probe))
    assert (model.logits(probe).argmax(1).numpy() == small.test_y).mean() > 0.8
