"""SISA and the summation-form heads at real sizes: per-peer data n up to 60,000.

``python benchmarks/deletion_sizes.py`` prints, side by side in one run (wall and CPU,
medians over trials, BLAS and torch single-threaded):

1. **SISA** (S = 4 shards, R = 4 slices, 2 epochs per slice step, arch ``sensor``) at
   n = 1,000 (real digits), 10,000 and 60,000 (a synthetic 10-class Gaussian mixture in 64
   dimensions, the digits' input size, because no bundled dataset holds 60,000 samples
   per peer): one deleted point and a batch of S points against retraining the whole
   main model (5 epochs, the same samples budget as a full SISA fit), with the speed-up
   over its expectation ``1/f(K)`` (sharding x slicing, see ``point_deletion.py``) on
   every measure, and the test accuracy of S = 1, 4, 8 shards against the monolithic
   model at every size.
2. **Summation form** (ridge and Gaussian naive Bayes on exact integer sums) on the same
   (n, d) grid as ``certified_sizes.py``: one-point and 100-point deletes against a refit
   on the remaining data, and a bitwise check that the statistics and the head after the
   deletes equal a fresh fit's.
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from benchkit import gaussian_mixture, timed
from point_deletion import Samples, expected_fraction
from threadpoolctl import threadpool_limits

from clients.datasets import load_digits
from clients.unlearning import RetrainModel, SisaModel, SummationModel

K = 10
SIZES = (1000, 10000, 60000)
FEATURE_DIMS = (20, 128, 512)
SHARDS, SLICES, EPOCHS_PER_SLICE = 4, 4, 2
RETRAIN_EPOCHS = round(EPOCHS_PER_SLICE * (SLICES + 1) / 2)  # a full SISA fit's samples
SHARD_COUNTS = (1, 4, 8)
GOAL = 0.8
#: SISA trials per size, full and ``--quick``: each deletes one point of every slice
#: (K = 1), a batch of S points, and retrains the monolithic model once.
TRIALS = {1000: (15, 3), 10000: (4, 1), 60000: (2, 1)}


@dataclass(frozen=True)
class Data:
    """One size's training rows (ids ``0..n-1``) and test rows."""

    x: np.ndarray
    y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    input_shape: tuple[int, ...]
    source: str
    public_x: np.ndarray | None = None

    @property
    def ids(self) -> np.ndarray:
        """Sample ids, ``0..n-1``."""
        return np.arange(len(self.y), dtype=np.int64)


def medians(costs: Samples) -> tuple[float, float]:
    """Median wall and CPU seconds of repeated calls."""
    return statistics.median(costs.wall), statistics.median(costs.cpu)


def sisa_data(n: int, seed: int) -> Data:
    """Digits at the smallest size, the 64-dimensional Gaussian mixture above it."""
    if n <= 1000:
        ds = load_digits()
        perm = np.random.default_rng(seed).permutation(len(ds.y))
        tr, te = perm[:n], perm[n:]
        return Data(ds.x[tr], ds.y[tr], ds.x[te], ds.y[te], tuple(ds.input_shape), "digits")
    x, y, tx, ty = gaussian_mixture(n, 64, seed + n)
    return Data(x, y, tx, ty, (64,), "mixture d=64")


def sq_data(n: int, d: int, seed: int) -> tuple[Data, dict[str, Any]]:
    """Data and feature options of one summation cell (digits PCA-20 at 1,000 x 20)."""
    if (n, d) == (1000, 20):
        ds = load_digits()
        perm = np.random.default_rng(seed).permutation(len(ds.y))
        tr, pub, te = perm[:1000], perm[1000:1300], perm[1300:]
        data = Data(ds.x[tr], ds.y[tr], ds.x[te], ds.y[te], (1, 8, 8), "digits", ds.x[pub])
        return data, {"feature_map": "pca", "features": 20, "public_x": data.public_x}
    x, y, tx, ty = gaussian_mixture(n, d, seed + n + d)
    return Data(x, y, tx, ty, (d,), "mixture"), {"feature_map": "identity", "features": d}


def accuracy(model: Any, data: Data) -> float:
    """Test accuracy of a fitted point-deletion model."""
    pred = model.logits(torch.from_numpy(np.ascontiguousarray(data.test_x))).argmax(1)
    return float((pred.numpy() == data.test_y).mean())


def sisa(data: Data, seed: int, shards: int = SHARDS) -> SisaModel:
    """An unfitted SISA model of this benchmark's configuration."""
    return SisaModel(
        arch="sensor",
        input_shape=data.input_shape,
        num_classes=K,
        seed=seed,
        shards=shards,
        slices=SLICES,
        epochs_per_slice=EPOCHS_PER_SLICE,
    )


def retrain(data: Data, seed: int) -> RetrainModel:
    """An unfitted monolithic model (delete = retrain from scratch)."""
    return RetrainModel(
        arch="sensor",
        input_shape=data.input_shape,
        num_classes=K,
        seed=seed,
        epochs=RETRAIN_EPOCHS,
    )


def sisa_size(n: int, seed: int, quick: bool) -> dict[str, Any]:
    """Section 1 at one size: costs of K = 1 and K = S deletes and of the retrain."""
    data = sisa_data(n, seed)
    base, mono = sisa(data, seed), retrain(data, seed)
    base.fit(data.x, data.y, data.ids)
    mono.fit(data.x, data.y, data.ids)
    rng = np.random.default_rng(seed + 101)
    costs = {"retrain": Samples(), 1: Samples(), SHARDS: Samples()}
    slice_of = base.slice_of(data.ids)
    for _ in range(TRIALS[n][1 if quick else 0]):
        # Garbage is collected before each copy; benchkit.timed pauses the collector.
        gc.collect()
        model, one = copy.deepcopy(mono), int(rng.choice(data.ids))
        out, wall, cpu = timed(lambda m=model, g=one: m.delete([g]))
        costs["retrain"].add(wall, cpu, out.samples_processed)
        # One point from every slice: the uniform point's expected cost, stratified.
        for u in range(SLICES):
            gc.collect()
            model = copy.deepcopy(base)
            gone = int(rng.choice(data.ids[slice_of == u]))
            out, wall, cpu = timed(lambda m=model, g=gone: m.delete([g]))
            costs[1].add(wall, cpu, out.samples_processed)
        gc.collect()
        model = copy.deepcopy(base)
        batch = rng.choice(data.ids, size=SHARDS, replace=False).tolist()
        out, wall, cpu = timed(lambda m=model, r=batch: m.delete(r))
        costs[SHARDS].add(wall, cpu, out.samples_processed)
    acc = {"monolithic": accuracy(mono, data), f"S={SHARDS}": accuracy(base, data)}
    for s in SHARD_COUNTS:
        if s != SHARDS:
            other = sisa(data, seed, shards=s)
            other.fit(data.x, data.y, data.ids)
            acc[f"S={s}"] = accuracy(other, data)
    return {"data": data, "costs": costs, "acc": acc}


def print_sisa(quick: bool, seed: int) -> None:
    """Print section 1."""
    print(
        f"1. SISA (S={SHARDS}, R={SLICES}, {EPOCHS_PER_SLICE} epochs per slice step, arch "
        f"'sensor') vs retraining the whole main model ({RETRAIN_EPOCHS} epochs)"
    )
    print("   speed-up = mean retrain / mean SISA delete; /exp = speed-up over 1/f(K);")
    print("   K=1 deletes one point of every slice per trial (the uniform point, stratified),")
    print("   K=S deletes S uniform points in one request; every delete on a fresh copy")
    print(
        f"{'n':>6} {'data':13} {'K':>2} {'expected':>8} | {'retrain ms':>10} {'SISA ms':>9} | "
        f"{'wall x':>7} {'/exp':>5} {'CPU x':>7} {'/exp':>5} {'samples x':>9} {'/exp':>5} | goal"
    )
    accs = []
    for n in SIZES:
        r = sisa_size(n, seed, quick)
        base = r["costs"]["retrain"].mean()
        rw, rc, rs = base.wall, base.cpu, base.samples
        for k in (1, SHARDS):
            cost = r["costs"][k].mean()
            sw, sc, ss = cost.wall, cost.cpu, cost.samples
            exp = 1.0 / expected_fraction(SHARDS, SLICES, k)
            shown = [rw / sw, rc / sc, rs / ss]
            verdict = "PASS" if min(shown) / exp >= GOAL else "MISS"
            cells = " ".join(f"{v:>6.2f}x {v / exp:>5.2f}" for v in shown[:2])
            print(
                f"{n:>6} {r['data'].source:13} {k:>2} {exp:>7.2f}x | {rw * 1e3:>10.1f} "
                f"{sw * 1e3:>9.1f} | {cells} {shown[2]:>8.2f}x {shown[2] / exp:>5.2f} | "
                f"{verdict}",
                flush=True,
            )
        accs.append((n, r["data"].source, r["acc"]))
    print("(K: points in one delete() request; the retrain baseline deletes one point)")
    print()
    print("   test accuracy vs shard count (one fit per cell; mono = monolithic model)")
    names = ["monolithic"] + [f"S={s}" for s in SHARD_COUNTS]
    print(f"{'n':>6} {'data':13} " + " ".join(f"{c:>10}" for c in names) + "  loss S=4")
    for n, source, acc in accs:
        loss = 100 * (acc["monolithic"] - acc[f"S={SHARDS}"])
        row = " ".join(f"{acc[c]:>10.4f}" for c in names)
        print(f"{n:>6} {source:13} {row}  {loss:+6.2f}pt")


def sq_cell(n: int, d: int, head: str, seed: int, quick: bool) -> dict[str, Any]:
    """Section 2 at one cell: one-point and 100-point deletes vs refits, exactness."""
    data, feats = sq_data(n, d, seed)

    def fresh() -> SummationModel:
        return SummationModel(
            input_shape=data.input_shape, num_classes=K, seed=seed, head=head, **feats
        )

    model = fresh()
    model.fit(data.x, data.y, data.ids)
    acc = accuracy(model, data)
    order = np.random.default_rng(seed + 303).permutation(data.ids).tolist()
    one, hundred = Samples(), Samples()
    pos = 0
    for _ in range(5 if quick else 20):
        out, wall, cpu = timed(lambda p=pos: model.delete([order[p]]))
        one.add(wall, cpu, out.samples_processed)
        pos += 1
    for _ in range(1 if quick else 3):
        out, wall, cpu = timed(lambda p=pos: model.delete(order[p : p + 100]))
        hundred.add(wall, cpu, out.samples_processed)
        pos += 100
    keep = np.isin(data.ids, model.sample_ids)
    refit = Samples()
    ref = fresh()
    for _ in range(1 if (quick or n * d >= 60000 * 128) else 3):
        ref = fresh()
        _, wall, cpu = timed(lambda f=ref: f.fit(data.x[keep], data.y[keep], data.ids[keep]))
        refit.add(wall, cpu, int(keep.sum()))
    same = all(
        np.array_equal(a[key], b[key])
        for a, b in (
            (model.statistics, ref.statistics),
            (model.parameters, ref.parameters),
        )
        for key in a
    )
    return {"one": one, "hundred": hundred, "refit": refit, "acc": acc, "same": same}


def print_sq(quick: bool, seed: int) -> None:
    """Print section 2."""
    print(
        "2. summation form: delete (subtract the points' integer statistics, re-solve) "
        "vs refit on the remaining data"
    )
    print(
        f"{'head':5} {'n':>6} {'d':>4} | {'refit ms':>9} {'CPU':>9} | {'1 point':>8} "
        f"{'CPU':>7} {'x wall':>7} {'x CPU':>7} | {'100 pts':>8} {'x wall':>7} | "
        f"{'accuracy':>8} {'bitwise = refit':>15}"
    )
    for head in ("ridge", "gnb"):
        for n in SIZES:
            for d in FEATURE_DIMS:
                r = sq_cell(n, d, head, seed, quick)
                fw, fc = medians(r["refit"])
                ow, oc = medians(r["one"])
                hw, _ = medians(r["hundred"])
                print(
                    f"{head:5} {n:>6} {d:>4} | {fw * 1e3:>9.1f} {fc * 1e3:>9.1f} | "
                    f"{ow * 1e3:>8.3f} {oc * 1e3:>7.3f} {fw / ow:>6.0f}x {fc / oc:>6.0f}x | "
                    f"{hw * 1e3:>8.2f} {fw / hw:>6.0f}x | {r['acc']:>8.4f} "
                    f"{'yes' if r['same'] else 'NO':>15}",
                    flush=True,
                )
    print("(refit: a freshly built model fitted on the rows left after every delete, feature")
    print(" map included; bitwise: integer statistics and head parameters equal the refit's)")


def main(argv: list[str] | None = None) -> None:
    """Run both sections and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="fewer trials")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    torch.set_num_threads(1)
    print("SISA and summation-form deletion at real sizes (benchmarks/deletion_sizes.py)")
    print(f"K={K} classes; torch and BLAS 1 thread; seed {args.seed}; medians of wall / CPU")
    print()
    with threadpool_limits(limits=1):
        print_sisa(args.quick, args.seed)
        print()
        print_sq(args.quick, args.seed)
    print()
    print(f"total: {time.perf_counter() - start:.1f} s wall")


if __name__ == "__main__":
    main()
