"""Certified removal at real sizes: head retrain vs one removal vs batches, accuracy, budgets.

``python benchmarks/certified_sizes.py`` prints, for per-peer data sizes ``n`` and feature
dimensions ``d`` (K = 10 classes): the head retrained from scratch (the same Newton
training, :func:`clients.unlearning.certified.fit_head`) against one incremental removal
and batches of 10 and 100 (wall and CPU, medians, measured in the same run), the test
accuracy of the eps = 1 head against the non-private one, and how many removals pass
before an automatic retrain at eps = 1, 0.5 and 0.1 (with the residual budget fixed, and
with sigma fixed). The smallest cell is real digits (PCA-20 features); the larger ones are
a synthetic 10-class Gaussian mixture drawn from the seed (``--seed``), because no
bundled dataset holds 60,000 samples per peer. BLAS runs single-threaded.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from benchkit import gaussian_mixture, timed
from threadpoolctl import threadpool_limits

from clients.datasets import load_digits
from clients.unlearning import CertifiedRemovalModel
from clients.unlearning.certified import fit_head, noise_constant
from clients.unlearning.certified.logistic import _targets

K = 10
#: ``(n, d)`` cells; ``(1000, 20)`` is real digits. The goal cell is ``(10000, 128)``.
CELLS: tuple[tuple[int, int], ...] = tuple(
    (n, d) for n in (1000, 10000, 60000) for d in (20, 128, 512)
)
#: Cells of the accuracy-vs-eps table, and its eps grid.
EPS_CELLS: tuple[tuple[int, int], ...] = ((1000, 20), (10000, 128), (60000, 128), (10000, 512))
EPS_GRID: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, math.inf)
GOAL = (10000, 128)


def cell_data(n: int, d: int, seed: int) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    """Model options and ``(x, y, test_x, test_y)`` of one cell."""
    if (n, d) == (1000, 20):
        ds = load_digits()
        perm = np.random.default_rng(seed).permutation(len(ds.y))
        tr, pub, te = perm[:1000], perm[1000:1300], perm[1300:]
        opts = {"input_shape": (1, 8, 8), "feature_map": "pca", "features": 20}
        opts["public_x"] = ds.x[pub]
        return opts, (ds.x[tr], ds.y[tr], ds.x[te], ds.y[te])
    x, y, tx, ty = gaussian_mixture(n, d, seed + n + d)
    return {"input_shape": (d,), "feature_map": "identity", "features": d}, (x, y, tx, ty)


def model(opts: dict[str, Any], seed: int, **extra: Any) -> CertifiedRemovalModel:
    """An unfitted certified head of one cell."""
    return CertifiedRemovalModel(num_classes=K, seed=seed, **opts, **extra)


def accuracy(m: CertifiedRemovalModel, tx: np.ndarray, ty: np.ndarray) -> float:
    """Test accuracy of a fitted head."""
    return float((m.logits(tx).argmax(1).numpy() == ty).mean())


def med(values: Sequence[float]) -> float:
    """Median in milliseconds."""
    return statistics.median(values) * 1e3


def costs(n: int, d: int, seed: int, quick: bool) -> dict[str, Any]:
    """Retrain vs removals for one cell; accuracy at eps = 1 and inf."""
    opts, (x, y, tx, ty) = cell_data(n, d, seed)
    ids = np.arange(len(y), dtype=np.int64)
    head = model(opts, seed, eps=1.0)
    head.fit(x, y, ids)
    acc1 = accuracy(head, tx, ty)
    free = model(opts, seed, eps=math.inf)
    free.fit(x, y, ids)
    feats, ypm = head._x, _targets(y, K)
    assert feats is not None
    big = n * d >= 60000 * 128 or d >= 512
    reps = 1 if (big or quick) else 3
    retrain = []
    for _ in range(reps):
        _, wall, cpu = timed(
            lambda: fit_head(
                feats, ypm, head.lam, head._b, tol=head.tol, max_iter=head.max_newton_iter
            )
        )
        retrain.append((wall, cpu))
    order = np.random.default_rng(seed + 7).permutation(ids)
    pos = 0

    def removals(size: int, count: int) -> list[tuple[float, float]]:
        nonlocal pos
        out = []
        for _ in range(count):
            req = order[pos : pos + size].tolist()
            pos += size
            res, wall, cpu = timed(lambda r=req: head.delete(r))
            assert res.method == "newton_step", res.method
            out.append((wall, cpu))
        return out

    one = removals(1, 10 if quick else 30)
    ten = removals(10, 3 if quick else 10)
    hundred = removals(100, 2 if quick else 5)
    assert head.true_gradient_residual() <= head.residual_bound
    return {
        "n": n,
        "d": d,
        "retrain": retrain,
        "one": one,
        "ten": ten,
        "hundred": hundred,
        "acc1": acc1,
        "acc_inf": accuracy(free, tx, ty),
        "residual": head.residual_bound,
        "budget": head.budget,
        "removed": pos,
    }


def eps_curve(n: int, d: int, seed: int) -> list[float]:
    """Test accuracy of a freshly fitted head at every eps of :data:`EPS_GRID` (budget fixed)."""
    opts, (x, y, tx, ty) = cell_data(n, d, seed)
    ids = np.arange(len(y), dtype=np.int64)
    out = []
    for eps in EPS_GRID:
        m = model(opts, seed, eps=eps)
        m.fit(x, y, ids)
        out.append(accuracy(m, tx, ty))
    return out


def budgets(seed: int, quick: bool) -> list[tuple[str, float, float, float, int, int]]:
    """Removals before an automatic retrain at the goal cell, for eps 1, 0.5, 0.1.

    Two modes: the defaults (up to 2 steps and a Hessian rebuild per request) and Guo et
    al.'s single step (``removal_steps=1, rebuild_hessian=False``); with the residual budget
    fixed (sigma grows as eps shrinks) and with sigma fixed at eps = 1's (the budget shrinks).
    Counted over at most ``cap`` one-point removals.
    """
    n, d = GOAL
    opts, (x, y, _, _) = cell_data(n, d, seed)
    ids = np.arange(len(y), dtype=np.int64)
    cap = 100 if quick else 300
    order = np.random.default_rng(seed + 11).permutation(ids)[:cap].tolist()
    sigma1 = noise_constant(1e-5) * 0.25
    rows = []
    for mode, extra in (
        ("default", {}),
        ("one step", {"removal_steps": 1, "rebuild_hessian": False}),
    ):
        for eps in (1.0, 0.5, 0.1):
            for fixed, kw in (("budget", {}), ("sigma", {"sigma": sigma1})):
                m = model(opts, seed, eps=eps, **kw, **extra)
                m.fit(x, y, ids)
                first = next(
                    (i for i, v in enumerate(order) if m.delete([v]).method == "full_retrain"),
                    -1,
                )
                rows.append((f"{mode}, {fixed} fixed", eps, m.sigma, m.budget, first, cap))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """Run every cell and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print("certified removal at real sizes (benchmarks/certified_sizes.py)")
    print(f"K={K}, lam=0.01, delta=1e-5, residual budget 0.25; BLAS 1 thread; seed {args.seed}")
    print("medians of wall / CPU ms; retrain = fit_head from scratch on the same features")
    print()
    header = (
        f"{'n':>6} {'d':>4} | {'retrain ms':>11} {'CPU':>9} | {'1 point':>8} {'CPU':>7} "
        f"{'x wall':>7} {'x CPU':>7} | {'10 pts':>7} {'100 pts':>8} | "
        f"{'acc eps=1':>9} {'eps=inf':>7} {'loss':>6}"
    )
    print(header)
    with threadpool_limits(limits=1):
        for n, d in CELLS:
            r = costs(n, d, args.seed, args.quick)
            rw, rc = med([a for a, _ in r["retrain"]]), med([b for _, b in r["retrain"]])
            ow, oc = med([a for a, _ in r["one"]]), med([b for _, b in r["one"]])
            tw, hw = med([a for a, _ in r["ten"]]), med([a for a, _ in r["hundred"]])
            goal = " <- goal cell" if (n, d) == GOAL else ""
            loss = 100 * (r["acc_inf"] - r["acc1"])
            print(
                f"{n:>6} {d:>4} | {rw:>11.1f} {rc:>9.1f} | {ow:>8.2f} {oc:>7.2f} "
                f"{rw / ow:>6.0f}x {rc / oc:>6.0f}x | {tw:>7.2f} {hw:>8.2f} | "
                f"{r['acc1']:>9.4f} {r['acc_inf']:>7.4f} {loss:>+5.2f}pt{goal}",
                flush=True,
            )
        print("(1/10/100 points: one delete() request of that many points; loss: accuracy")
        print(" points lost by the eps=1 head against the non-private eps=inf head)")
        print()
        print("test accuracy vs eps (delta=1e-5, residual budget 0.25 fixed, so sigma grows as")
        print("1/eps; points lost against eps=inf in brackets)")
        print(f"{'n':>6} {'d':>4} | " + " ".join(f"{f'eps={e:g}':>16}" for e in EPS_GRID))
        for n, d in EPS_CELLS:
            accs = eps_curve(n, d, args.seed)
            cells = " ".join(f"{a:>8.4f} ({100 * (accs[-1] - a):+5.2f})" for a in accs[:-1])
            print(f"{n:>6} {d:>4} | {cells} {accs[-1]:>16.4f}", flush=True)
        print()
        print(
            "removals (one point per request) before the first automatic retrain, "
            f"n={GOAL[0]}, d={GOAL[1]}"
        )
        print(f"{'mode':28} {'eps':>5} {'sigma':>8} {'budget':>8} {'removals before retrain':>24}")
        for mode, eps, sigma, budget, first, cap in budgets(args.seed, args.quick):
            shown = f"none in {cap}" if first < 0 else str(first)
            print(f"{mode:28} {eps:>5g} {sigma:>8.3f} {budget:>8.4f} {shown:>24}", flush=True)
    print()
    print(f"total: {time.perf_counter() - start:.1f} s wall")


if __name__ == "__main__":
    main()
