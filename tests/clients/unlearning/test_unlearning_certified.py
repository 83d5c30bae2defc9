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


def spent(model: CertifiedRemovalModel) -> str:
    """The certificate string the model's current residual should produce."""
    return f"certified(eps={model.eps:g},delta={model.delta:g},spent={model.eps_spent:.3g})"


def test_true_residual_within_certified_figure_over_200_single_removals(digits):
    assert len(digits.ids) >= 1000
    model = make(**pca(digits))
    model.fit(digits.x, digits.y, digits.ids)
    assert model.residual_bound <= model.tol  # training optimum, plus rounding margin
    for victim in digits.ids[:200].tolist():
        out = model.delete([victim])
        assert out.method == "newton_step", out
        true = model.true_gradient_residual()
        assert true <= model.residual_bound, (victim, true, model.residual_bound)
        assert out.residual == model.residual_bound
        assert out.budget_left == pytest.approx(model.budget - model.residual_bound)
        assert out.certificate == spent(model)
        assert victim not in model.sample_ids
    assert len(model.removal_bounds) == 200
    assert model.newton_removals == 200 and model.generation == 0
    assert out.terms["removals_since_training"] == 200
    assert out.terms["sigma"] == model.sigma and out.terms["lam"] == model.lam
    assert len(model.sample_ids) == len(digits.ids) - 200
    # Still close to what retraining on the remaining data with the same b gives.
    w, ref = model.weights, model.reference_weights()
    assert np.linalg.norm(w - ref) <= 1e-3 * np.linalg.norm(ref)
    feats = model.feature_map(digits.test_x)
    assert np.mean((feats @ w).argmax(1) == (feats @ ref).argmax(1)) >= 0.99


def test_true_residual_within_certified_figure_over_200_batched_removals(digits):
    model = make(**pca(digits))
    model.fit(digits.x, digits.y, digits.ids)
    victims = digits.ids[:200].tolist()
    start = 0
    for size in [1, 4, 10, 25, 60, 100]:
        out = model.delete(victims[start : start + size])
        start += size
        assert out.method == "newton_step" and len(out.deleted) == size
        assert model.true_gradient_residual() <= model.residual_bound
        assert out.certificate == spent(model)
    assert start == 200 and model.newton_removals == 200
    assert not set(victims) & set(model.sample_ids.tolist())


def test_exhausting_the_budget_retrains_and_the_certificate_tracks_the_spend(digits):
    # One step per request, no rebuild: Guo et al.'s single step, so the budget runs out.
    model = make(residual_budget=0.02, removal_steps=1, rebuild_hessian=False, **pca(digits))
    model.fit(digits.x, digits.y, digits.ids)
    outs = [model.delete(digits.ids[i : i + 60].tolist()) for i in range(0, 600, 60)]
    methods = [o.method for o in outs]
    assert "newton_step" in methods and "full_retrain" in methods, methods
    c = noise_constant(1e-5)
    for out in outs:
        eps_spent = c * out.residual / model.sigma
        assert out.certificate == f"certified(eps=1,delta=1e-05,spent={eps_spent:.3g})"
        assert out.terms["eps_spent"] == pytest.approx(eps_spent)
        assert out.residual <= model.budget  # never released beyond the budget
        assert out.terms["budget"] == model.budget == pytest.approx(0.02)
    retrain = outs[methods.index("full_retrain")]
    assert retrain.retrained["full_retrain"] and retrain.retrained["newton_steps"] == 0
    assert retrain.terms["removals_since_training"] == 0
    assert retrain.residual <= 2 * model.tol  # a fresh optimum
    assert model.generation == sum(m == "full_retrain" for m in methods)
    assert model.true_gradient_residual() <= model.residual_bound
    assert len(model.sample_ids) == len(digits.ids) - 600


def test_a_wrong_downdate_is_caught_by_the_residual_check(digits, monkeypatch):
    """Negative control: a wrong downdate never yields a false certificate.

    A preconditioner downdated with 400 times the removed points' curvature: the exact
    residual check refuses its steps and the Hessians are rebuilt; the right downdate
    needs one step per request.
    """
    from clients.unlearning.certified import incremental

    def run() -> tuple[CertifiedRemovalModel, list[int]]:
        model = make(**pca(digits))
        model.fit(digits.x, digits.y, digits.ids)
        steps = []
        for i in range(0, 200, 10):
            out = model.delete(digits.ids[i : i + 10].tolist())
            assert model.true_gradient_residual() <= model.residual_bound <= model.budget
            steps.append(out.retrained["newton_steps"])
        return model, steps

    right, right_steps = run()
    assert right.generation == 0
    assert right_steps == [1] * 20 and right.hessian_rebuilds == 0
    downdate = incremental.Preconditioner.downdate

    def wrong(self, x, rows):
        self.curvature[rows] *= 400.0
        return downdate(self, x, rows)

    monkeypatch.setattr(incremental.Preconditioner, "downdate", wrong)
    bad, bad_steps = run()
    assert bad.hessian_rebuilds > 0 and max(bad_steps) > 1, bad_steps


def test_more_steps_keep_the_budget_where_one_step_runs_out(digits):
    """The trade-off of ``removal_steps``: the same requests, one step vs the default."""
    outs = {}
    for steps in (1, 2):
        model = make(
            residual_budget=0.02, removal_steps=steps, rebuild_hessian=False, **pca(digits)
        )
        model.fit(digits.x, digits.y, digits.ids)
        outs[steps] = [
            model.delete(digits.ids[i : i + 60].tolist()).method for i in range(0, 600, 60)
        ]
    assert outs[1].count("full_retrain") > outs[2].count("full_retrain")


def test_residual_margin_covers_rounding_and_is_tiny(digits):
    from clients.unlearning.certified.incremental import certified_residual

    model = make(**pca(digits))
    model.fit(digits.x, digits.y, digits.ids)
    model.delete(digits.ids[:5].tolist())
    x, ypm, alive = model._x, model._ypm, model._alive
    check = certified_residual(model._w, x, alive, ypm, model.lam, model._b)
    assert 0 < check.margin < 1e-8
    # The same quantity summed in another order (rows reversed) agrees within the margin.
    rev = slice(None, None, -1)
    again = certified_residual(model._w, x[rev], alive[rev], ypm[rev], model.lam, model._b)
    assert abs(again.computed - check.computed) <= check.margin
    assert model.true_gradient_residual() <= check.certified


def test_default_random_features_bound_holds(digits):
    model = make()  # random ReLU features, no public data
    model.fit(digits.x, digits.y, digits.ids)
    for victim in digits.ids[:3].tolist():
        out = model.delete([victim])
        assert out.method == "newton_step"
        assert model.true_gradient_residual() <= model.residual_bound
    assert 0 < model.eps_spent <= model.eps


def test_small_budget_retrains_with_a_fresh_perturbation(digits):
    model = make(residual_budget=1e-6, removal_steps=1, rebuild_hessian=False, **pca(digits))
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
    assert methods == {"newton_step"}  # the default steps keep it within the budget
