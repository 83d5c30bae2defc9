"""The cohort engine's arithmetic: stacked MLP state, batched forward and backward, Adam.

What :mod:`clients.cohort` (training and distillation) and :mod:`clients.cohort_eval`
(evaluation) compute with: a cohort's parameters and Adam moments stacked along a leading
member axis (:class:`_Stack`), the forward as ``torch.baddbmm`` products, the backward
written out with the products autograd uses for ``nn.Linear``, the cross-entropy and KL
gradients at the logits, and ``torch.optim.Adam``'s single-tensor update, in place. One
optimiser step of any subset of a stack's members is :func:`_take_step`. Which models this
covers is :func:`mlp_layers` (modules) and :func:`_state_signature` (named state).

Examples
--------
>>> from clients.models import build_model
>>> models = [build_model("seed_tiny", (64,), 10, seed=s) for s in (1, 2)]
>>> stack = _Stack([_module_state(m) for m in models])
>>> [tuple(w.shape) for w in stack.weights]
[(2, 16, 64), (2, 10, 16)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["mlp_layers"]

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults, as train_supervised uses


def mlp_layers(model: nn.Module) -> list[nn.Linear] | None:
    """The linear layers of a zoo MLP (``Flatten``, then ``Linear`` and ``ReLU`` alternating).

    ``None`` for any other model: the cohort engine batches exactly this shape and nothing
    it has not been written (and checked) for.
    """
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential) or len(net) < 2 or not isinstance(net[0], nn.Flatten):
        return None
    layers = list(net)[1:]
    linears = [m for m in layers[0::2] if isinstance(m, nn.Linear)]
    relus = [m for m in layers[1::2] if type(m) is nn.ReLU]
    if len(linears) != (len(layers) + 1) // 2 or len(relus) != len(layers) // 2:
        return None
    if any(m.bias is None for m in linears) or len(layers) % 2 == 0:
        return None
    return linears


def _signature(model: nn.Module) -> tuple[tuple[int, int], ...] | None:
    layers = mlp_layers(model)
    if layers is None:
        return None
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in model.parameters()):
        return None
    return tuple((m.out_features, m.in_features) for m in layers)


def _module_state(model: nn.Module) -> list[torch.Tensor]:
    """A zoo MLP's parameters in ``state_dict`` order (weight, bias per layer), detached."""
    return [t.detach() for layer in mlp_layers(model) or [] for t in (layer.weight, layer.bias)]


def _state_signature(
    named: Sequence[tuple[str, object]],
) -> tuple[tuple[int, int], ...] | None:
    """The layer shapes of a zoo MLP's named state (``net.1.weight``, ``net.1.bias``, ...).

    ``None`` unless the names, dtypes (float32 on the CPU) and shapes are exactly an MLP's.
    """
    names = [name for name, _ in named]
    depth = len(names) // 2
    expected = [f"net.{2 * k + 1}.{part}" for k in range(depth) for part in ("weight", "bias")]
    if depth == 0 or names != expected:
        return None
    values = [v for _, v in named]
    for v in values:
        if isinstance(v, np.ndarray):
            if v.dtype != np.float32:
                return None
        elif not isinstance(v, torch.Tensor) or v.dtype != torch.float32 or v.is_cuda:
            return None
    shapes = [tuple(int(d) for d in v.shape) for v in values]  # type: ignore[attr-defined]
    weights, biases = shapes[0::2], shapes[1::2]
    if any(len(w) != 2 or b != (w[0],) for w, b in zip(weights, biases, strict=True)):
        return None
    if any(weights[k][0] != weights[k + 1][1] for k in range(depth - 1)):
        return None
    return tuple((w[0], w[1]) for w in weights)


class _Stack:
    """A cohort's parameters and Adam moments, stacked along a leading member axis."""

    def __init__(self, states: Sequence[Sequence[torch.Tensor]], *, moments: bool = True) -> None:
        depth = len(states[0]) // 2
        self.size = len(states)
        self.weights = [torch.stack([st[2 * k] for st in states]) for k in range(depth)]
        self.biases = [torch.stack([st[2 * k + 1] for st in states]) for k in range(depth)]
        zeros = [torch.zeros_like(t) for t in self.tensors] if moments else []
        self.exp_avg = zeros
        self.exp_avg_sq = [torch.zeros_like(t) for t in zeros]

    def member(self, i: int) -> list[torch.Tensor]:
        """Member ``i``'s tensors in ``state_dict`` order (views into the stack)."""
        return [
            t for k in range(len(self.weights)) for t in (self.weights[k][i], self.biases[k][i])
        ]

    @property
    def tensors(self) -> list[torch.Tensor]:
        """Weights then biases, layer by layer (the order of every per-tensor list here)."""
        return self.weights + self.biases

    def write_back(self, models: Sequence[nn.Module]) -> None:
        """Copy every member's slice into its own model's parameters."""
        with torch.no_grad():
            for i, model in enumerate(models):
                for k, layer in enumerate(mlp_layers(model) or []):
                    layer.weight.copy_(self.weights[k][i])
                    layer.bias.copy_(self.biases[k][i])


def _forward(
    weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits ``(G, b, classes)`` of ``G`` stacked MLPs on ``x`` ``(G, b, features)``.

    Also returns each layer's input (the backward pass needs them).
    """
    inputs = [x]
    h = x
    last = len(weights) - 1
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if k == last:
            return z, inputs
        h = torch.relu(z)
        inputs.append(h)
    raise AssertionError("an MLP has at least one layer")


def _backward(
    weights: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor], grad: torch.Tensor
) -> list[torch.Tensor]:
    """Gradients (weights then biases) from the loss gradient at the logits ``(G, b, C)``.

    The same products autograd computes for ``nn.Linear`` (``grad^T @ input`` for the
    weight, a sum over the batch for the bias, ``grad @ weight`` into the layer below, then
    ReLU's threshold backward), here batched over the members.
    """
    depth = len(weights)
    g_w: list[torch.Tensor] = [grad] * depth
    g_b: list[torch.Tensor] = [grad] * depth
    for k in reversed(range(depth)):
        g_w[k] = torch.bmm(grad.transpose(1, 2), inputs[k])
        g_b[k] = grad.sum(1)
        if k > 0:
            grad = torch.ops.aten.threshold_backward(torch.bmm(grad, weights[k]), inputs[k], 0)
    return g_w + g_b


def _logit_grad_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of each member's mean cross-entropy at its logits (``F.cross_entropy``'s)."""
    g, b, c = logits.shape
    with torch.enable_grad():
        flat = logits.reshape(g * b, c).detach().requires_grad_(True)
        loss = F.cross_entropy(flat, y.reshape(-1), reduction="none").view(g, b).mean(1).sum()
        (grad,) = torch.autograd.grad(loss, flat)
    return grad.view(g, b, c)


def _logit_grad_kl(logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Gradient of each member's ``KL(targets || softmax(logits / T))`` (batch mean)."""
    g, b, c = logits.shape
    with torch.enable_grad():
        flat = logits.reshape(g * b, c).detach().requires_grad_(True)
        log_p = F.log_softmax(flat / temperature, dim=1)
        loss = F.kl_div(log_p, targets.reshape(g * b, c), reduction="none").view(g, b * c).sum(1)
        (grad,) = torch.autograd.grad((loss / b).sum(), flat)
    return grad.view(g, b, c)


def _adam_step(
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    exp_avg: Sequence[torch.Tensor],
    exp_avg_sq: Sequence[torch.Tensor],
    *,
    step: int,
    lr: float,
    weight_decay: float,
) -> None:
    """``torch.optim.Adam``'s single-tensor update, in place, at Adam step count ``step``."""
    bias_correction1 = 1 - _BETA1**step
    bias_correction2_sqrt = (1 - _BETA2**step) ** 0.5
    step_size = lr / bias_correction1
    for p, g, m, v in zip(params, grads, exp_avg, exp_avg_sq, strict=True):
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        m.lerp_(g, 1 - _BETA1)
        v.mul_(_BETA2).addcmul_(g, g, value=1 - _BETA2)
        denom = (v.sqrt() / bias_correction2_sqrt).add_(_EPS)
        p.addcdiv_(m, denom, value=-step_size)


def _take_step(
    stack: _Stack,
    members: list[int],
    batches: tuple[torch.Tensor, torch.Tensor],
    step: int,
    lr: float,
    weight_decay: float,
    loss_grad: str,
    temperature: float = 1.0,
) -> None:
    """One optimiser step of the ``members`` of ``stack`` on their stacked batches."""
    if batches[0].shape[1] == 1:
        # one-sample batches: torch's per-model ops take a matrix-vector path whose sums
        # differ from the batched product's in the last bit, so repeat the per-model ops
        for i in members:
            _reference_step(
                stack, i, batches, members.index(i), step, lr, weight_decay, loss_grad, temperature
            )
        return
    everyone = len(members) == stack.size
    index = torch.tensor(members)

    def pick(ts: list[torch.Tensor]) -> list[torch.Tensor]:
        return list(ts) if everyone else [t.index_select(0, index) for t in ts]

    params, m, v = pick(stack.tensors), pick(stack.exp_avg), pick(stack.exp_avg_sq)
    depth = len(stack.weights)
    x, target = batches
    logits, inputs = _forward(params[:depth], params[depth:], x)
    if loss_grad == "ce":
        grad = _logit_grad_ce(logits, target)
    else:
        grad = _logit_grad_kl(logits, target, temperature)
    grads = _backward(params[:depth], inputs, grad)
    _adam_step(params, grads, m, v, step=step, lr=lr, weight_decay=weight_decay)
    if not everyone:
        for full, part in (
            (stack.tensors, params),
            (stack.exp_avg, m),
            (stack.exp_avg_sq, v),
        ):
            for whole, piece in zip(full, part, strict=True):
                whole.index_copy_(0, index, piece)


def _reference_step(
    stack: _Stack,
    member: int,
    batches: tuple[torch.Tensor, torch.Tensor],
    row: int,
    step: int,
    lr: float,
    weight_decay: float,
    loss_grad: str,
    temperature: float,
) -> None:
    """One member's step with the very ops a lone ``nn.Linear`` model uses (autograd)."""
    depth = len(stack.weights)
    views = [t[member] for t in stack.tensors]
    x, target = batches[0][row], batches[1][row]
    with torch.enable_grad():
        leaves = [v.detach().requires_grad_(True) for v in views]
        h = x
        for k in range(depth):
            h = F.linear(h, leaves[k], leaves[depth + k])
            if k < depth - 1:
                h = torch.relu(h)
        if loss_grad == "ce":
            loss = F.cross_entropy(h, target)
        else:
            loss = F.kl_div(F.log_softmax(h / temperature, dim=1), target, reduction="batchmean")
        grads = torch.autograd.grad(loss, leaves)
    moments = [t[member] for t in stack.exp_avg], [t[member] for t in stack.exp_avg_sq]
    with torch.no_grad():
        _adam_step(views, grads, *moments, step=step, lr=lr, weight_decay=weight_decay)
