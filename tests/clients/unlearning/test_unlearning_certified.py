"""Certified removal: bound soundness, budget accounting, retrain, accuracy (anchors B-1 .. B-5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clients.unlearning import (
    CertificationError,
    CertifiedRemovalModel,
    NotFittedError,
    UnlearningError,
    accuracy_vs_eps,
    build_unlearnable,
)
from clients.unlearning.certified import noise_constant

TASK = {"input_shape": (1, 8, 8), "num_classes": 10}


def make(**options: object) -> CertifiedRemovalModel:
    model = build_unlearnable("certified", arch="sensor", seed=5, **TASK, **options)
    assert isinstance(model, CertifiedRemovalModel)
    return model


def pca(digits) -> dict[str, object]:
    """The public feature map: whitened PCA of the public (reference) inputs."""
    return {"feature_map": "pca", "features": 20, "public_x": digits.public_x}


def accuracy(model: CertifiedRemovalModel, digits) -> float:
    pred = model.logits(torch.from_numpy(digits.test_x)).argmax(1).numpy()
    return float((pred == digits.test_y).mean())


def test_true_residual_never_exceeds_accumulated_bound(digits):
    assert len(digits.ids) >= 1000
    model = make(**pca(digits))
    model.fit(digits.x, digits.y, digits.ids)
    assert model.residual_bound <= model.tol  # training optimum, charged to the bound
    methods = []
    for victim in digits.ids[:20].tolist():
        out = model.delete([victim])
        methods.append(out.method)
        true = model.true_gradient_residual()
        assert true <= model.residual_bound, (victim, true, model.residual_bound)
        assert out.residual == model.residual_bound
        assert out.budget_left == pytest.approx(model.budget - model.residual_bound)
        assert out.certificate == "certified(eps=1,delta=1e-05)"
        assert victim not in model.sample_ids
    assert "newton_step" in methods and "full_retrain" in methods
    assert len(model.sample_ids) == len(digits.ids) - 20


def test_default_random_features_bound_holds(digits):
    model = make()  # random ReLU features, no public data
    model.fit(digits.x, digits.y, digits.ids)
    for victim in digits.ids[:3].tolist():
        out = model.delete([victim])
        assert out.method == "newton_step"
        assert model.true_gradient_residual() <= model.residual_bound
    assert 0 < model.eps_spent <= model.eps


def test_budget_switch_happens_exactly_when_the_next_bound_would_exceed_it(digits):
    victims = digits.ids[:4].tolist()
    # Same seed and sigma, so the same perturbation and trajectory, but unlimited budget.
    probe = make(sigma=1.0, eps=math.inf, **pca(digits))
    probe.fit(digits.x, digits.y, digits.ids)
    tau = probe.residual_bound
    for victim in victims:
        probe.delete([victim])
    bounds = probe.removal_bounds
    assert len(bounds) == 4 and all(b > 0 for b in bounds)

    budget = tau + sum(bounds[:3]) + 0.5 * bounds[3]
    c = noise_constant(1e-5)
    model = make(sigma=1.0, eps=budget * c, **pca(digits))  # budget = sigma * eps / c
    model.fit(digits.x, digits.y, digits.ids)
    assert model.budget == pytest.approx(budget)
    outs = [model.delete([v]) for v in victims]
    assert [o.method for o in outs] == ["newton_step"] * 3 + ["full_retrain"]
    assert outs[2].residual == pytest.approx(tau + sum(bounds[:3]))
    assert model.eps_spent == pytest.approx(0.0, abs=1e-6)  # reset: only the new optimum's tau
    assert outs[3].retrained == {"newton_steps": 0, "full_retrain": True, "generation": 1}
    assert model.generation == 1
    assert outs[3].residual <= model.tol
    assert not set(victims) & set(model.sample_ids.tolist())


def test_small_budget_retrains_with_a_fresh_perturbation(digits):
    model = make(residual_budget=1e-6, **pca(digits))
    model.fit(digits.x, digits.y, digits.ids)
    first = model.weights
    out = model.delete(digits.ids[:3].tolist())  # one request, budget spent at once
    assert out.method == "full_retrain"
    assert out.deleted == tuple(sorted(digits.ids[:3].tolist()))
    assert model.generation == 1
    assert not np.allclose(model.weights, first)
    out = model.delete([int(digits.ids[3])])
    assert out.method == "full_retrain" and model.generation == 2
    assert model.true_gradient_residual() <= model.residual_bound


def test_eps_spent_is_c_beta_over_sigma(digits):
    model = make(sigma=2.0, eps=1.0, **pca(digits))
    model.fit(digits.x, digits.y, digits.ids)
    model.delete([int(digits.ids[0])])
    c = noise_constant(1e-5)
    assert model.eps_spent == pytest.approx(c * model.residual_bound / 2.0)
    assert model.budget == pytest.approx(2.0 / c)


def test_newton_removal_is_close_to_the_retrained_optimum(digits):
    model = make(**pca(digits))
    model.fit(digits.x, digits.y, digits.ids)
    model.delete(digits.ids[:3].tolist())
    assert model.generation == 0  # three Newton steps, no retrain
    w, ref = model.weights, model.reference_weights()
    assert np.linalg.norm(w - ref) <= 1e-3 * np.linalg.norm(ref)
    feats = model.feature_map(digits.test_x)
    assert np.mean((feats @ w).argmax(1) == (feats @ ref).argmax(1)) >= 0.99


def test_accuracy_vs_eps_curve(digits):
    rows = accuracy_vs_eps(
        digits.x, digits.y, digits.test_x, digits.test_y, seed=5, **TASK, **pca(digits)
    )
    curve = {r.eps: r.accuracy for r in rows}
    assert list(curve) == [0.1, 0.5, 1.0, 2.0, 5.0, math.inf]
    assert curve[math.inf] > 0.88
    assert curve[1.0] >= curve[math.inf] - 0.02  # eps = 1 within 2 points of non-private
    assert curve[0.1] < curve[math.inf] - 0.05  # strong privacy costs accuracy
    sigmas = [r.sigma for r in rows]
    assert sigmas == sorted(sigmas, reverse=True) and sigmas[-1] == 0.0
    assert [r.budget for r in rows[:-1]] == pytest.approx([0.25] * 5)  # fixed eps'


@pytest.mark.slow
def test_random_relu_features_centred_on_public_data_keep_accuracy(digits):
    rows = accuracy_vs_eps(
        digits.x,
        digits.y,
        digits.test_x,
        digits.test_y,
        seed=5,
        eps_values=(1.0, math.inf),
        public_x=digits.public_x,
        **TASK,
    )
    assert rows[0].accuracy >= rows[1].accuracy - 0.02


def test_preconditions_are_enforced(digits):
    with pytest.raises(CertificationError, match="lam"):
        make(lam=0.0)
    with pytest.raises(UnlearningError, match="not both"):
        make(sigma=1.0, residual_budget=0.1)
    with pytest.raises(UnlearningError, match="delta"):
        make(delta=1.5)
    with pytest.raises(UnlearningError, match="eps"):
        make(eps=-1.0)
    raw = make(feature_map="identity", normalize=False)
    with pytest.raises(CertificationError, match="norm <= 1"):
        raw.fit(digits.x[:50], digits.y[:50], digits.ids[:50])
    stubborn = make(max_newton_iter=1, **pca(digits))
    with pytest.raises(CertificationError, match="optimum"):
        stubborn.fit(digits.x, digits.y, digits.ids)
    with pytest.raises(NotFittedError):  # a failed training claims nothing
        stubborn.logits(torch.from_numpy(digits.test_x[:2]))
    broken = make(feature_map=lambda x: np.full((x.shape[0], 3), np.nan))
    with pytest.raises(CertificationError, match="NaN"):
        broken.fit(digits.x[:50], digits.y[:50], digits.ids[:50])
    with pytest.raises(UnlearningError, match="public_x"):
        make(feature_map="pca")


def test_user_feature_module_trained_on_public_data(digits):
    extractor = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16))
    model = make(feature_map=extractor)
    model.fit(digits.x[:300], digits.y[:300], digits.ids[:300])
    assert model.feature_map.description == "module:Sequential"
    model.delete([int(digits.ids[0])])
    assert model.true_gradient_residual() <= model.residual_bound


@pytest.mark.slow
def test_bound_holds_over_many_removals_with_random_features(digits):
    model = make(public_x=digits.public_x)  # random ReLU features, public-centred
    model.fit(digits.x, digits.y, digits.ids)
    methods = set()
    for victim in digits.ids[:40].tolist():
        methods.add(model.delete([victim]).method)
        assert model.true_gradient_residual() <= model.residual_bound
    assert methods == {"newton_step", "full_retrain"}
