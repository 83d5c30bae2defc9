"""Measure point deletion inside one peer: SISA, certified removal and summation form vs retraining.

What it measures, in one run, on one peer's data: scikit-learn's digits
(:func:`clients.datasets.load_digits`, 1,797 8x8 images, 10 classes) split once with the
seed into 1,200 training samples held by the peer, ~300 *public* samples (the frozen PCA
feature map of the linear heads is fitted on them, never on the peer's data) and ~300 test
samples. Every method is built with :func:`clients.unlearning.build_unlearnable` and
deletes with its ``delete``; its :class:`~clients.unlearning.DeletionOutcome` gives the
compute measure ``samples_processed``. Every cost is taken three ways: wall time
(``time.perf_counter``), CPU time of this process (``time.process_time``, i.e. compute:
other jobs on the machine inflate wall time, not this) and ``samples_processed``. Garbage
is collected before a call's inputs are prepared and the collector is paused while the
clock runs (``benchkit.timed``, ``timeit``'s convention); section 1 also prints a *cold*
K = 1 pair, with a full collection right before the clock (it walks the whole heap and
leaves the caches cold: a fixed wake-up cost of about a millisecond on both sides).

1. **SISA vs full retrain** (``S`` = 4 shards, ``R`` = 4 slices, 2 epochs per slice step,
   ``sensor`` MLP). Baselines: the library's :class:`~clients.unlearning.RetrainModel`,
   same architecture, trained ``e(R+1)/2`` = 5 epochs (the samples budget of a full SISA
   fit), deleting by retraining from scratch (*retrain*), and a SISA fit from scratch on
   the remaining data (*SISA refit*: what the cost model's "retrain everything" means).
   For ``K`` = 1, ``S`` and ``3S`` requests (each one uniformly random training point)
   SISA deletes them one request at a time (*stream*, baseline ``K`` retrains) and as one
   request (*batch*, baseline one retrain), each on a fresh copy of the fitted ensemble,
   over many random request sets (*trials*; both baselines are re-measured in every
   trial, so a change of machine load hits both sides); speed-up = baseline cost / mean
   SISA cost. The expected value comes from the cost model of the anchors doc
   (``/work/shared/background/anchors-unlearning.md`` §1.2): sharding alone retrains the
   expected fraction ``1 - (1 - 1/S)^K`` of the data for a batch of ``K``; with ``R``
   slices (step ``i`` trains on ``i`` slices, so a shard's full training costs
   ``T = R(R+1)/2`` slice-passes) the expected fraction of a full retrain is::

       f(K) = (1/T) * sum_{i=1..R} i * (1 - (1 - i/(S R))^K)

   (step ``i`` of a shard is re-run iff a deleted point sits in one of its slices
   ``1..i``). ``f(1) = (2R+1)/(3RS)`` is §1.2's one-deletion slicing factor ``(2R+1)/(3R)``
   times ``1/S``; ``R = 1`` gives ``1 - (1 - 1/S)^K``. Expected speed-up: stream
   ``1/f(1)``, batch ``1/f(K)``. Goal: measured >= 0.8x expected, on every measure. Also
   printed: the Adam steps re-run (why wall/CPU and samples disagree), a ``cProfile``
   split of a deletion, and a check that stream and batch end in the same ensemble,
   parameter for parameter.
2. **Certified removal** (logistic one-vs-rest head on whitened PCA features of the public
   split, ``features=20``, ``lam`` = 1e-2, default residual budget): the time of one
   Newton-step removal (an ``eps = inf`` head, whose budget never runs out, so every
   removal is a Newton step) against retraining the head from scratch on the remaining data
   (``reference_weights``: exact Newton training, same ``b``); goal >= 100x. Where a Newton
   step's time goes (``cProfile``). Test accuracy of a fresh head at eps = 0.1, 0.5, 1, 2, 5,
   inf (:func:`~clients.unlearning.accuracy_vs_eps`, mean over seeds), and, at eps = 1,
   the number of removals before the budget forces an automatic retrain.
3. **Accuracy cost of sharding**: SISA with ``S`` = 1, 4, 8 (same architecture and
   schedule) against the monolithic retrain model, mean test accuracy over seeds, plus the
   mean accuracy of a lone shard. **Summation form**: ``sq`` ridge and Gaussian naive
   Bayes heads (PCA-20 and the default random ReLU-256 features): one-point delete
   (subtract the point's statistics and re-solve) against a refit on the remaining data.

Torch and BLAS run single-threaded (the models are tiny; spinning worker threads on a
loaded 2-core machine cost far more than they give), and an untimed warm-up comes first.
Usage::

    python benchmarks/point_deletion.py [--quick] [--seed 0] [--trials N]

The default run takes about 1-2 minutes on 2 idle cores (budget: under 5); ``--quick``
(fewer trials and repeats, same sizes) well under a minute. Progress goes to stderr, the
tables to stdout.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import dataclasses
import datetime as dt
import gc
import io
import math
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy
import sklearn
import torch
from benchkit import timed
from threadpoolctl import threadpool_limits

from clients.datasets import load_digits
from clients.unlearning import (
    CertifiedRemovalModel,
    DeletionOutcome,
    RetrainModel,
    SisaModel,
    SummationModel,
    accuracy_vs_eps,
    build_unlearnable,
)
from clients.unlearning.certified import DEFAULT_EPS_GRID

ARCH = "sensor"
N_TRAIN = 1200
SHARDS = 4
SLICES = 4
EPOCHS_PER_SLICE = 2
SHARD_COUNTS = (1, 4, 8)
CERT_OPTIONS: dict[str, Any] = {"feature_map": "pca", "features": 20, "lam": 1e-2}
GOAL_SISA = 0.8
GOAL_CERTIFIED = 100.0


# ------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Settings:
    """Repetition counts of one run (sizes never change with ``--quick``).

    Attributes
    ----------
    trials
        Random request sets per ``K`` in section 1 (each: a stream and a batch).
    newton_removals
        Timed Newton-step removals in section 2.
    head_retrains
        Timed head retrains from scratch in section 2.
    generations
        Automatic retrains to wait for at eps = 1 in section 2.
    acc_seeds
        Seeds averaged for the accuracy tables (eps curve and shard counts).
    sq_deletes, sq_refits
        Timed one-point deletes and refits per summation head.
    """

    trials: int
    newton_removals: int
    head_retrains: int
    generations: int
    acc_seeds: int
    sq_deletes: int
    sq_refits: int


DEFAULT = Settings(
    trials=60,
    newton_removals=100,
    head_retrains=30,
    generations=5,
    acc_seeds=5,
    sq_deletes=50,
    sq_refits=15,
)
QUICK = Settings(
    trials=8,
    newton_removals=30,
    head_retrains=10,
    generations=2,
    acc_seeds=2,
    sq_deletes=20,
    sq_refits=5,
)


@dataclass(frozen=True)
class Split:
    """The peer's training data and the public and test samples, from one digits split."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    public_x: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    input_shape: tuple[int, ...]
    num_classes: int


@dataclass
class Cost:
    """Accumulated cost: wall seconds, CPU seconds and ``samples_processed``."""

    wall: float = 0.0
    cpu: float = 0.0
    samples: int = 0

    def add(self, wall: float, cpu: float, samples: int) -> None:
        """Add one measured call."""
        self.wall += wall
        self.cpu += cpu
        self.samples += samples


@dataclass
class Samples:
    """Per-call measurements of one operation (wall and CPU seconds, samples)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)

    def add(self, wall: float, cpu: float, samples: int) -> None:
        """Record one call."""
        self.wall.append(wall)
        self.cpu.append(cpu)
        self.samples.append(samples)

    def mean(self) -> Cost:
        """Mean cost per call."""
        return Cost(
            statistics.fmean(self.wall),
            statistics.fmean(self.cpu),
            round(statistics.fmean(self.samples)) if self.samples else 0,
        )


def progress(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"[point_deletion] {message}", file=sys.stderr, flush=True)


def ratio(num: float, den: float) -> float:
    """``num / den``, ``nan`` when the denominator is not positive."""
    return num / den if den > 0 else math.nan


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of an unlearnable model (argmax of its logits)."""
    pred = model.logits(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


# ------------------------------------------------------------------------------ data
def make_split(seed: int) -> Split:
    """Split digits into the peer's 1,200 training samples, public and test samples."""
    ds = load_digits()
    perm = np.random.default_rng(seed).permutation(len(ds.y))
    rest = perm[N_TRAIN:]
    n_public = len(rest) // 2
    train, public, test = perm[:N_TRAIN], rest[:n_public], rest[n_public:]
    return Split(
        x=ds.x[train],
        y=ds.y[train],
        ids=ds.sample_ids[train],
        public_x=ds.x[public],
        test_x=ds.x[test],
        test_y=ds.y[test],
        input_shape=tuple(ds.input_shape),
        num_classes=ds.num_classes,
    )


def build(kind: str, split: Split, seed: int, **options: Any) -> Any:
    """Build an unfitted point-deletion model of ``kind`` for the split's task."""
    return build_unlearnable(
        kind,
        arch=ARCH,
        input_shape=split.input_shape,
        num_classes=split.num_classes,
        seed=seed,
        **options,
    )


def sisa_options(shards: int) -> dict[str, Any]:
    """SISA options of every section (only the shard count varies)."""
    return {"shards": shards, "slices": SLICES, "epochs_per_slice": EPOCHS_PER_SLICE}


def retrain_epochs() -> int:
    """Epochs of the monolithic baseline: a full SISA fit's samples budget, ``e(R+1)/2``."""
    return max(1, round(EPOCHS_PER_SLICE * (SLICES + 1) / 2))


# ------------------------------------------------------------------------------ expectations
def shard_fraction(shards: int, k: int) -> float:
    """Expected fraction of shards a batch of ``k`` uniform requests touches."""
    return 1.0 - (1.0 - 1.0 / shards) ** k


def expected_fraction(shards: int, slices: int, k: int) -> float:
    """Expected cost of deleting ``k`` uniform points in one batch, over a full SISA fit.

    Step ``i`` (1-based) of a shard trains on ``i`` slices and is re-run iff a deleted
    point lies in that shard's slices ``1..i``, probability ``1 - (1 - i/(S R))^k``.
    """
    total = slices * (slices + 1) / 2
    touched = (i * (1.0 - (1.0 - i / (shards * slices)) ** k) for i in range(1, slices + 1))
    return sum(touched) / total


# ------------------------------------------------------------------------------ header
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def print_header(split: Split, settings: Settings, quick: bool, seed: int) -> None:
    """Print what ran where: machine, software versions, data and settings."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = [
        ("date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        (
            "machine",
            f"{os.cpu_count()} cores ({usable} usable), {_cpu_model()}, "
            f"{platform.system()} {platform.release()} {platform.machine()}",
        ),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        (
            "torch",
            f"{torch.__version__}, {torch.get_num_threads()} thread(s); BLAS limited to 1 "
            f"thread; numpy {np.__version__}, scipy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}",
        ),
        ("load avg", f"{_load()} at start"),
        (
            "data",
            f"digits: peer holds {len(split.y)} training samples, {len(split.public_x)} public "
            f"(PCA feature map), {len(split.test_y)} test; split seed {seed}",
        ),
        (
            "run",
            f"{'--quick' if quick else 'default'}: {settings.trials} trials per K, "
            f"{settings.newton_removals} Newton removals, {settings.head_retrains} head "
            f"retrains, {settings.acc_seeds} accuracy seeds",
        ),
    ]
    print("point deletion benchmark (benchmarks/point_deletion.py)")
    print("=" * 100)
    for key, value in rows:
        print(f"{key:9} {value}")
    print(
        "wall = perf_counter seconds; CPU = this process's CPU seconds (compute, not inflated by "
        "other jobs);\nsamples = DeletionOutcome.samples_processed (samples x passes)."
    )


# ------------------------------------------------------------------------------ warm-up
def warm_up(split: Split) -> None:
    """Run every model kind once, untimed, so one-time start-up costs land nowhere."""
    small = slice(0, 200)
    x, y, ids = split.x[small], split.y[small], split.ids[small]
    for kind, options in (
        ("sisa", sisa_options(2)),
        ("retrain", {"epochs": 1}),
        ("certified", {**CERT_OPTIONS, "public_x": split.public_x}),
        ("sq", {"feature_map": "pca", "features": 20, "public_x": split.public_x}),
    ):
        model = build(kind, split, 0, **options)
        model.fit(x, y, ids)
        model.delete([int(ids[0])])
        accuracy(model, split.test_x, split.test_y)


# ------------------------------------------------------------------------------ section 1
def full_sisa_samples(model: SisaModel) -> int:
    """``samples_processed`` of a full SISA fit: epochs x ids of every step's checkpoint."""
    return model.config.epochs * sum(len(info.sample_ids) for info in model.checkpoints().values())


def optimizer_steps(model: SisaModel, keys: Sequence[str]) -> int:
    """Adam steps of training ``model``'s checkpoints ``keys``: epochs x batches per step."""
    infos, cfg = model.checkpoints(), model.config
    return cfg.epochs * sum(math.ceil(len(infos[k].sample_ids) / cfg.batch_size) for k in keys)


def rerun_steps(model: SisaModel, out: DeletionOutcome) -> int:
    """Adam steps a SISA ``delete`` re-ran (read from its outcome and the new checkpoints)."""
    chains = model.checkpoint_keys()
    return optimizer_steps(
        model, [k for shard, u in out.retrained["from_slice"].items() for k in chains[shard][u:]]
    )


def same_ensemble(a: SisaModel, b: SisaModel) -> bool:
    """Whether two SISA models hold bitwise-identical shard parameters and the same keys."""
    if a.checkpoint_keys() != b.checkpoint_keys():
        return False
    for ma, mb in zip(a.shard_models, b.shard_models, strict=True):
        for ta, tb in zip(ma.state_dict().values(), mb.state_dict().values(), strict=True):
            if not torch.equal(ta, tb):
                return False
    return True


def single_delete_samples(model: SisaModel) -> float:
    """Exact mean ``samples_processed`` of deleting one uniformly chosen held point.

    For this very partition (shard and slice sizes are hash buckets, so unequal): a point
    in slice ``u`` of shard ``k`` re-runs that shard's steps ``u..R-1``.
    """
    infos = model.checkpoints()
    sizes = [[len(infos[key].sample_ids) for key in chain] for chain in model.checkpoint_keys()]
    ids = model.sample_ids
    shards, slices = model.shard_of(ids).tolist(), model.slice_of(ids).tolist()
    costs = [sum(sizes[k][u:]) for k, u in zip(shards, slices, strict=True)]
    return model.config.epochs * statistics.fmean(costs)


@dataclass
class SisaRun:
    """Section 1 results for one ``K``: per-trial SISA stream and batch costs, shards hit."""

    k: int
    stream: Samples = field(default_factory=Samples)
    batch: Samples = field(default_factory=Samples)
    stream_shards: list[int] = field(default_factory=list)
    batch_shards: list[int] = field(default_factory=list)
    stream_steps: list[int] = field(default_factory=list)
    batch_steps: list[int] = field(default_factory=list)
    identical: bool = True


def _stderr(values: Sequence[float]) -> float:
    """Standard error of the mean (0 for fewer than two values)."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def section_sisa(split: Split, settings: Settings, seed: int) -> Cost:
    """Section 1: SISA stream and batch deletions vs full retraining, with expectations.

    Returns the mean cost of one monolithic retrain (the baseline), for section 2.
    """
    progress("section 1: SISA vs full retrain")
    rng = np.random.default_rng(seed + 101)
    base: SisaModel = build("sisa", split, seed, **sisa_options(SHARDS))
    base.fit(split.x, split.y, split.ids)
    mono: RetrainModel = build("retrain", split, seed, epochs=retrain_epochs())
    mono.fit(split.x, split.y, split.ids)

    retrain = Samples()
    refit = Samples()
    refit_steps: list[int] = []
    ks = (1, SHARDS, 3 * SHARDS)
    runs = {k: SisaRun(k) for k in ks}
    cold_retrain, cold_k1 = Samples(), Samples()
    for trial in range(settings.trials):
        # The baselines are measured inside every trial, so load changes hit both sides.
        # Garbage is collected before each copy and the collector paused while the clock
        # runs (benchkit.timed); the "cold" pair collects right before the clock instead.
        gone = int(rng.choice(split.ids))
        gc.collect()
        model = copy.deepcopy(mono)
        out, wall, cpu = timed(lambda m=model, g=gone: m.delete([g]))
        retrain.add(wall, cpu, out.samples_processed)
        keep = split.ids != gone
        gc.collect()
        fresh: SisaModel = build("sisa", split, seed, **sisa_options(SHARDS))
        _, wall, cpu = timed(lambda f=fresh, k=keep: f.fit(split.x[k], split.y[k], split.ids[k]))
        refit.add(wall, cpu, full_sisa_samples(fresh))
        refit_steps.append(optimizer_steps(fresh, list(fresh.checkpoints())))
        for cold, proto, request in ((cold_retrain, mono, gone), (cold_k1, base, gone)):
            copied = copy.deepcopy(proto)
            gc.collect()
            out, wall, cpu = timed(lambda m=copied, g=request: m.delete([g]))
            cold.add(wall, cpu, out.samples_processed)

        requests = rng.choice(split.ids, size=max(ks), replace=False)
        for k in ks:
            run = runs[k]
            req = [int(i) for i in requests[:k]]
            gc.collect()
            stream_model = copy.deepcopy(base)
            total, hits, steps = Cost(), 0, 0
            for sample in req:
                out, wall, cpu = timed(lambda m=stream_model, s=sample: m.delete([s]))
                total.add(wall, cpu, out.samples_processed)
                hits += len(out.retrained["shards"])
                steps += rerun_steps(stream_model, out)
            run.stream.add(total.wall, total.cpu, total.samples)
            run.stream_shards.append(hits)
            run.stream_steps.append(steps)
            gc.collect()
            batch_model = copy.deepcopy(base)
            out, wall, cpu = timed(lambda m=batch_model, r=req: m.delete(r))
            run.batch.add(wall, cpu, out.samples_processed)
            run.batch_shards.append(len(out.retrained["shards"]))
            run.batch_steps.append(rerun_steps(batch_model, out))
            run.identical &= same_ensemble(stream_model, batch_model)
        if (trial + 1) % max(1, settings.trials // 4) == 0:
            progress(f"  trial {trial + 1}/{settings.trials}")

    one_retrain, one_refit = retrain.mean(), refit.mean()
    retrain_steps = mono.config.epochs * math.ceil((len(split.ids) - 1) / mono.config.batch_size)
    n = settings.trials
    f1 = expected_fraction(SHARDS, SLICES, 1)
    exact1 = single_delete_samples(base)
    print()
    print(
        f"1. SISA deletion vs full retrain (S={SHARDS} shards, R={SLICES} slices, "
        f"{EPOCHS_PER_SLICE} epochs per slice step, arch {ARCH!r};\n   means over {n} random "
        "request sets, each one stream and one batch on a fresh copy of the fitted ensemble)"
    )
    print("-" * 100)
    print(
        f"baseline 'retrain': RetrainModel, {retrain_epochs()} epochs on all data (delete = "
        "retrain from scratch), one per trial:"
    )
    print(
        f"    {one_retrain.wall * 1e3:8.1f} ms wall  {one_retrain.cpu * 1e3:8.1f} ms CPU  "
        f"{one_retrain.samples:7d} samples  {retrain_steps:4d} Adam steps"
    )
    print(
        f"baseline 'SISA refit': fit all {SHARDS} shards from scratch on the remaining data, "
        "one per trial:"
    )
    print(
        f"    {one_refit.wall * 1e3:8.1f} ms wall  {one_refit.cpu * 1e3:8.1f} ms CPU  "
        f"{one_refit.samples:7d} samples  {statistics.fmean(refit_steps):4.0f} Adam steps"
    )
    print(
        "expected cost as a fraction of a full retrain (anchors §1.2: sharding x slicing, "
        "equal-size shards and slices):\n"
        "    f(K) = (1/T) sum_(i=1..R) i (1 - (1 - i/(SR))^K),  T = R(R+1)/2   "
        "(R=1: 1-(1-1/S)^K; K=1: (2R+1)/(3R) x 1/S)\n"
        f"    f(1) = {f1:.4f}; for this partition's actual shard/slice sizes one uniform "
        f"deletion costs {exact1:.0f} samples = {exact1 / one_refit.samples:.4f}\n"
        "stream: K requests one delete() each, baseline K retrains, expected speed-up 1/f(1);"
        "\nbatch:  K requests in one delete(), baseline 1 retrain, expected 1/f(K) "
        "(against K retrains, K times both figures)"
    )
    print()
    print("1a. SISA cost per request set (mean over trials; +- standard error)")
    print(
        f"{'K':>3} {'mode':6} {'wall ms':>8} {'CPU ms':>8} {'samples':>14} "
        f"{'shards hit':>10} {'expected':>8} | {'fraction f':>10} {'measured':>15}"
    )
    for k in ks:
        run = runs[k]
        for mode, cost, hits in (
            ("stream", run.stream, run.stream_shards),
            ("batch", run.batch, run.batch_shards),
        ):
            exp_hits = k if mode == "stream" else SHARDS * shard_fraction(SHARDS, k)
            exp_frac = k * f1 if mode == "stream" else expected_fraction(SHARDS, SLICES, k)
            mean, se = statistics.fmean(cost.samples), _stderr(cost.samples)
            print(
                f"{k:3d} {mode:6} {statistics.fmean(cost.wall) * 1e3:8.1f} "
                f"{statistics.fmean(cost.cpu) * 1e3:8.1f} {mean:7.0f} +-{se:5.0f} "
                f"{statistics.fmean(hits):10.2f} {exp_hits:8.2f} | {exp_frac:10.3f} "
                f"{mean / one_refit.samples:7.3f} +-{se / one_refit.samples:5.3f}"
            )
    print(
        "(shards hit: retrained shards, summed over a stream's deletes; fraction: samples "
        "over one SISA refit's, summed over a stream's deletes)"
    )
    print()
    print(
        "1b. speed-up = baseline cost / mean SISA cost, and measured/expected "
        f"(goal >= {GOAL_SISA} on every measure)"
    )
    print(
        f"{'':3} {'':6} {'':11} {'':8} | {'vs retrain':^38} | {'vs SISA refit':^25} |"
        f"\n{'K':>3} {'mode':6} {'baseline':>11} {'expected':>8} | {'wall':>6} {'/exp':>5} "
        f"{'CPU':>6} {'/exp':>5} {'samples':>6} {'/exp':>5} | {'wall':>6} {'/exp':>5} "
        f"{'CPU':>6} {'/exp':>5} | goal"
    )
    for k in ks:
        run = runs[k]
        for mode, samples in (("stream", run.stream), ("batch", run.batch)):
            times = k if mode == "stream" else 1
            expected = 1.0 / (f1 if mode == "stream" else expected_fraction(SHARDS, SLICES, k))
            per = samples.mean()
            speedups = {
                "wall": ratio(one_retrain.wall * times, per.wall),
                "CPU": ratio(one_retrain.cpu * times, per.cpu),
                "samples": ratio(one_retrain.samples * times, statistics.fmean(samples.samples)),
                "refit wall": ratio(one_refit.wall * times, per.wall),
                "refit CPU": ratio(one_refit.cpu * times, per.cpu),
            }
            cells = " ".join(
                f"{s:5.2f}x {s / expected:5.2f}" + (" |" if name in ("samples",) else "")
                for name, s in speedups.items()
            )
            missed = [name for name, s in speedups.items() if not s / expected >= GOAL_SISA]
            verdict = "PASS" if not missed else "MISS: " + ", ".join(missed)
            label = f"{times} retrain" + ("s" if times > 1 else "")
            print(f"{k:3d} {mode:6} {label:>11} {expected:7.2f}x | {cells} | {verdict}")
    cold_sisa, cold_mono = cold_k1.mean(), cold_retrain.mean()
    f1_speedup = 1.0 / f1
    cells = " ".join(
        f"{s:5.2f}x {s / f1_speedup:5.2f}"
        for s in (
            ratio(cold_mono.wall, cold_sisa.wall),
            ratio(cold_mono.cpu, cold_sisa.cpu),
            ratio(cold_mono.samples, cold_sisa.samples),
        )
    )
    print(
        f"{1:3d} {'cold':6} {'1 retrain':>11} {f1_speedup:7.2f}x | {cells} |"
        f"  (a full gc.collect() right before the clock, both sides: "
        f"SISA {cold_sisa.wall * 1e3:.1f} ms, retrain {cold_mono.wall * 1e3:.1f} ms)"
    )
    identical = all(run.identical for run in runs.values())
    print(
        "stream and batch end in the same ensemble (bitwise parameters, same checkpoint "
        f"keys) in every trial: {'yes' if identical else 'NO'}"
    )
    print()
    print("1c. where the gap between the samples and the CPU speed-ups (vs retrain) comes from")
    print(
        f"{'K':>3} {'mode':6} {'speed-up: samples':>17} {'Adam steps':>10} {'CPU':>6} | "
        f"{'CPU ms per Adam step: SISA':>26} {'retrain':>7}"
    )
    retrain_per_step = one_retrain.cpu / retrain_steps
    for k in ks:
        run = runs[k]
        for mode, samples, steps in (
            ("stream", run.stream, run.stream_steps),
            ("batch", run.batch, run.batch_steps),
        ):
            times = k if mode == "stream" else 1
            mean_steps = statistics.fmean(steps)
            per = samples.mean()
            print(
                f"{k:3d} {mode:6} "
                f"{ratio(one_retrain.samples * times, statistics.fmean(samples.samples)):16.2f}x "
                f"{ratio(retrain_steps * times, mean_steps):9.2f}x "
                f"{ratio(one_retrain.cpu * times, per.cpu):5.2f}x | "
                f"{ratio(per.cpu, mean_steps) * 1e3:26.3f} {retrain_per_step * 1e3:7.3f}"
            )
    print(
        "(samples -> steps: partial last batches of small slice steps; steps -> CPU: fixed "
        "cost per re-run step and per delete)"
    )
    _profile_sisa(base, split, rng)
    return one_retrain


def _profile_sisa(base: SisaModel, split: Split, rng: np.random.Generator) -> None:
    """Print where a stream of ``3S`` SISA deletions spends its time (cProfile)."""
    model = copy.deepcopy(base)
    requests = [int(i) for i in rng.choice(split.ids, size=3 * SHARDS, replace=False)]
    prof = cProfile.Profile()
    prof.enable()
    for sample in requests:
        model.delete([sample])
    prof.disable()
    stats = pstats.Stats(prof)
    total = _cumtime(stats, "unlearning/sisa.py", "delete")
    parts = {
        "train_supervised (forward/backward/Adam)": _cumtime(
            stats, "training.py", "train_supervised"
        ),
        "loading the parent checkpoint": _cumtime(stats, "unlearning/sisa.py", "_load_state"),
    }
    print(f"where a SISA deletion's time goes (cProfile, stream of {3 * SHARDS} deletes):")
    for name, seconds in parts.items():
        print(f"    {name:42} {ratio(seconds, total) * 100:5.1f} %")
    rest = total - sum(parts.values())
    print(
        f"    {'other (state copies, indexing, bookkeeping)':42} {ratio(rest, total) * 100:5.1f} %"
    )


def _cumtime(stats: pstats.Stats, file_part: str, func: str) -> float:
    """Cumulative seconds of every profiled function ``func`` defined in a file ``file_part``."""
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    return sum(
        row[3]
        for (filename, _line, name), row in table.items()
        if name == func and filename.replace(os.sep, "/").endswith(file_part)
    )


# ------------------------------------------------------------------------------ section 2
def section_certified(split: Split, settings: Settings, seed: int, mono: Cost) -> None:
    """Section 2: certified removal's Newton step vs head retraining; accuracy vs eps.

    ``mono`` is section 1's monolithic MLP retrain, printed for context.
    """
    progress("section 2: certified removal")
    rng = np.random.default_rng(seed + 202)
    options = {**CERT_OPTIONS, "public_x": split.public_x}

    # Newton steps on an eps=inf head: the budget is unlimited, so every removal is one step.
    free: CertifiedRemovalModel = build("certified", split, seed, eps=math.inf, **options)
    free.fit(split.x, split.y, split.ids)
    newton = Samples()
    order = [int(i) for i in rng.permutation(split.ids)]
    gc.collect()
    for sample in order[: settings.newton_removals]:
        out, wall, cpu = timed(lambda s=sample: free.delete([s]))
        assert out.method == "newton_step", out.method
        newton.add(wall, cpu, out.samples_processed)
    true_res = free.true_gradient_residual()
    bound_ok = true_res <= free.residual_bound

    # The eps=1 head: count removals per generation until the budget forces retrains. With
    # the default steps the budget practically never runs out (benchmarks/certified_sizes.py);
    # a single step per removal and no rebuild (Guo et al.'s one step) makes it run out.
    model: CertifiedRemovalModel = build(
        "certified", split, seed, eps=1.0, removal_steps=1, rebuild_hessian=False, **options
    )
    fit_cost = Samples()
    for _ in range(max(1, settings.head_retrains // 3)):
        fresh: CertifiedRemovalModel = build("certified", split, seed, eps=1.0, **options)
        _, wall, cpu = timed(lambda f=fresh: f.fit(split.x, split.y, split.ids))
        fit_cost.add(wall, cpu, 0)
    model.fit(split.x, split.y, split.ids)
    tau = model.residual_bound
    per_generation: list[int] = []
    auto_retrain = Samples()
    bounds: list[float] = []
    newton_eps1 = Samples()
    steps = 0
    for sample in (int(i) for i in rng.permutation(split.ids)[: len(split.ids) - 1]):
        if len(per_generation) >= settings.generations:
            break
        before = len(model.sample_ids)
        gone_bounds = model.removal_bounds
        out, wall, cpu = timed(lambda s=sample: model.delete([s]))
        if out.method == "full_retrain":
            per_generation.append(steps)
            bounds.extend(gone_bounds)
            newton_part = (before - 1) * split.num_classes
            auto_retrain.add(wall, cpu, out.samples_processed - newton_part)
            steps = 0
        else:
            newton_eps1.add(wall, cpu, out.samples_processed)
            steps += 1

    # Retraining the head from scratch on the remaining data (exact Newton training).
    head = Samples()
    gc.collect()
    for _ in range(settings.head_retrains):
        _, wall, cpu = timed(model.reference_weights)
        head.add(wall, cpu, 0)
    head_mean = head.mean()
    retrain_samples = auto_retrain.mean().samples if auto_retrain.samples else 0
    head_mean.samples = retrain_samples

    newton_med = statistics.median(newton.wall)
    newton_mean = newton.mean()
    print()
    print(
        f"2. certified removal (one-vs-rest logistic head, {split.num_classes} classes, PCA "
        f"features={CERT_OPTIONS['features']} (+bias) fitted on the public split, "
        f"lam={CERT_OPTIONS['lam']})"
    )
    print("-" * 100)
    print(f"2a. one removed point (Newton step) vs head retrain (goal >= {GOAL_CERTIFIED:g}x)")
    print(f"{'operation':58} {'wall ms':>9} {'median':>8} {'CPU ms':>8} {'samples':>8}")
    rows: list[tuple[str, Cost, float]] = [
        (
            f"Newton-step removal, 1 point (eps=inf head, {len(newton.wall)} removals)",
            newton_mean,
            newton_med,
        ),
        (
            f"Newton-step removal, 1 point (eps=1 head, {len(newton_eps1.wall)} removals)",
            newton_eps1.mean(),
            statistics.median(newton_eps1.wall) if newton_eps1.wall else math.nan,
        ),
        (
            f"head retrain from scratch on D' (reference_weights, x{len(head.wall)})",
            head_mean,
            statistics.median(head.wall),
        ),
        (
            f"automatic retrain inside delete (eps=1, x{len(auto_retrain.wall)})",
            auto_retrain.mean(),
            statistics.median(auto_retrain.wall),
        ),
        (
            f"full fit: features + head (x{len(fit_cost.wall)})",
            fit_cost.mean(),
            statistics.median(fit_cost.wall),
        ),
    ]
    for name, cost, med in rows:
        samples = f"{cost.samples:8d}" if cost.samples else f"{'-':>8}"
        print(f"{name:58} {cost.wall * 1e3:9.2f} {med * 1e3:8.2f} {cost.cpu * 1e3:8.2f} {samples}")
    s_wall = ratio(head_mean.wall, newton_mean.wall)
    s_med = ratio(statistics.median(head.wall), newton_med)
    s_cpu = ratio(head_mean.cpu, newton_mean.cpu)
    s_samples = ratio(retrain_samples, newton_mean.samples)
    verdict = "PASS" if min(s_wall, s_cpu) >= GOAL_CERTIFIED else "MISS"
    print(
        f"speed-up head retrain / Newton step: wall {s_wall:.1f}x (medians {s_med:.1f}x), "
        f"CPU {s_cpu:.1f}x, samples {s_samples:.1f}x -> goal {GOAL_CERTIFIED:g}x: {verdict}"
    )
    print(
        f"for context, section 1's monolithic MLP retrain ({mono.wall * 1e3:.1f} ms wall, "
        f"{mono.cpu * 1e3:.1f} ms CPU) / Newton step: wall "
        f"{ratio(mono.wall, newton_mean.wall):.1f}x, CPU {ratio(mono.cpu, newton_mean.cpu):.1f}x"
    )
    print(
        "(head-retrain samples: Newton iterations x n, taken from the automatic retrains; "
        "a removal: n per data pass, K Hessian passes when it rebuilds)"
    )
    print(
        f"true gradient residual after {len(newton.wall)} removals {true_res:.3g} <= "
        f"certified bound {free.residual_bound:.3g}: {'yes' if bound_ok else 'NO'}"
    )
    _profile_newton(split, options, seed, rng)

    print()
    print(
        f"2b. test accuracy of a fresh certified head vs eps (delta=1e-5, residual budget "
        f"fixed, so sigma = c*budget/eps; mean over {settings.acc_seeds} seeds)"
    )
    curves = [
        accuracy_vs_eps(
            split.x,
            split.y,
            split.test_x,
            split.test_y,
            input_shape=split.input_shape,
            num_classes=split.num_classes,
            seed=seed + s,
            eps_values=DEFAULT_EPS_GRID,
            **options,
        )
        for s in range(settings.acc_seeds)
    ]
    print(f"{'eps':>6} {'sigma':>8} {'budget':>8} {'accuracy':>9} {'min':>7} {'max':>7}")
    for i, eps in enumerate(DEFAULT_EPS_GRID):
        accs = [curve[i].accuracy for curve in curves]
        row = curves[0][i]
        print(
            f"{eps:6g} {row.sigma:8.3f} {row.budget:8.3f} {statistics.fmean(accs):9.3f} "
            f"{min(accs):7.3f} {max(accs):7.3f}"
        )

    print()
    print(
        f"2c. removals before an automatic retrain at eps=1 (budget {model.budget:.3f}, "
        f"sigma {model.sigma:.3f}; {len(per_generation)} generations)"
    )
    mean_bound = statistics.fmean(bounds) if bounds else math.nan
    print(
        f"    Newton removals per generation: {per_generation}, mean "
        f"{statistics.fmean(per_generation):.1f}; mean bound per removal {mean_bound:.4f} "
        f"(after the training residual tau = {tau:.2e}, charged first)"
    )


def _profile_newton(
    split: Split, options: dict[str, Any], seed: int, rng: np.random.Generator
) -> None:
    """Print where a Newton-step removal spends its time (cProfile over 30 removals)."""
    model: CertifiedRemovalModel = build("certified", split, seed, eps=math.inf, **options)
    model.fit(split.x, split.y, split.ids)
    requests = [int(i) for i in rng.choice(split.ids, size=30, replace=False)]
    prof = cProfile.Profile()
    prof.enable()
    for sample in requests:
        model.delete([sample])
    prof.disable()
    stats = pstats.Stats(prof)
    total = _cumtime(stats, "certified/model.py", "delete")
    parts = {
        "exact residual pass (X'w, X'^T r, rounding margin; O(K n d))": _cumtime(
            stats, "certified/incremental.py", "certified_residual"
        ),
        f"Woodbury downdate of {split.num_classes} Hessian inverses (O(K d^2))": _cumtime(
            stats, "certified/incremental.py", "downdate"
        ),
        "removed points' gradients": _cumtime(stats, "certified/incremental.py", "point_gradients"),
        "quasi-Newton direction A g (O(K d^2))": _cumtime(
            stats, "certified/incremental.py", "solve"
        ),
    }
    print("where an incremental removal's time goes (cProfile, 30 removals):")
    for name, seconds in parts.items():
        print(f"    {name:60} {ratio(seconds, total) * 100:5.1f} %")
    rest = total - sum(parts.values())
    print(f"    {'other (id bookkeeping, masks, receipt)':60} {ratio(rest, total) * 100:5.1f} %")


# ------------------------------------------------------------------------------ section 3
def section_sharding(split: Split, settings: Settings, seed: int) -> None:
    """Section 3a: test accuracy of SISA with S = 1, 4, 8 vs the monolithic model."""
    progress("section 3: accuracy vs shards, summation form")
    print()
    print("3. accuracy cost of sharding, and summation-form deletion")
    print("-" * 100)
    print(
        f"3a. test accuracy vs shard count (arch {ARCH!r}, R={SLICES}, {EPOCHS_PER_SLICE} "
        f"epochs per slice step, 'probs' aggregation; mean over {settings.acc_seeds} seeds)"
    )
    print(
        f"{'model':28} {'accuracy':>8} {'min':>6} {'max':>6} {'vs S=1':>7} {'lone shard':>10} "
        f"{'fit ms':>7} {'CPU ms':>7} {'exp. cost/request':>17}"
    )
    reference: float | None = None
    for shards in SHARD_COUNTS:
        accs, lone, walls, cpus = [], [], [], []
        for s in range(settings.acc_seeds):
            model: SisaModel = build("sisa", split, seed + s, **sisa_options(shards))
            _, wall, cpu = timed(lambda m=model: m.fit(split.x, split.y, split.ids))
            walls.append(wall)
            cpus.append(cpu)
            accs.append(accuracy(model, split.test_x, split.test_y))
            test_x = torch.from_numpy(split.test_x)
            for shard in model.shard_models:
                pred = shard(test_x).argmax(1).numpy()
                lone.append(float((pred == split.test_y).mean()))
        mean = statistics.fmean(accs)
        reference = mean if reference is None else reference
        print(
            f"{f'SISA S={shards}':28} {mean:8.3f} {min(accs):6.3f} {max(accs):6.3f} "
            f"{mean - reference:+7.3f} {statistics.fmean(lone):10.3f} "
            f"{statistics.fmean(walls) * 1e3:7.1f} {statistics.fmean(cpus) * 1e3:7.1f} "
            f"{expected_fraction(shards, SLICES, 1):17.3f}"
        )
    accs, walls, cpus = [], [], []
    for s in range(settings.acc_seeds):
        mono: RetrainModel = build("retrain", split, seed + s, epochs=retrain_epochs())
        _, wall, cpu = timed(lambda m=mono: m.fit(split.x, split.y, split.ids))
        walls.append(wall)
        cpus.append(cpu)
        accs.append(accuracy(mono, split.test_x, split.test_y))
    mean = statistics.fmean(accs)
    print(
        f"{f'monolithic ({retrain_epochs()} epochs)':28} {mean:8.3f} {min(accs):6.3f} "
        f"{max(accs):6.3f} {mean - (reference or 0.0):+7.3f} {'-':>10} "
        f"{statistics.fmean(walls) * 1e3:7.1f} {statistics.fmean(cpus) * 1e3:7.1f} {1.0:17.3f}"
    )
    print(
        "(lone shard: mean accuracy of one shard model alone; exp. cost/request: f(1) of "
        "section 1, as a fraction of a full retrain)"
    )


def section_summation(split: Split, settings: Settings, seed: int) -> None:
    """Section 3b: summation-form (sq ridge / GNB) one-point delete vs refit."""
    rng = np.random.default_rng(seed + 303)
    print()
    print("3b. summation form: one-point delete (subtract statistics, re-solve) vs refit on D'")
    print(
        f"{'head':6} {'features':10} {'accuracy':>8} {'delete ms':>9} {'CPU ms':>7} "
        f"{'refit ms':>8} {'CPU ms':>7} {'wall x':>7} {'CPU x':>7} {'samples x':>9}"
    )
    feature_sets: Sequence[tuple[str, dict[str, Any]]] = (
        ("pca-20", {"feature_map": "pca", "features": 20, "public_x": split.public_x}),
        ("relu-256", {"feature_map": "relu", "features": 256, "public_x": split.public_x}),
    )
    for head in ("ridge", "gnb"):
        for label, feats in feature_sets:
            model: SummationModel = build("sq", split, seed, head=head, **feats)
            model.fit(split.x, split.y, split.ids)
            acc = accuracy(model, split.test_x, split.test_y)
            deletes = Samples()
            gc.collect()
            for sample in rng.choice(split.ids, size=settings.sq_deletes, replace=False):
                out, wall, cpu = timed(lambda s=int(sample), m=model: m.delete([s]))
                deletes.add(wall, cpu, out.samples_processed)
            keep = np.isin(split.ids, model.sample_ids)
            refits = Samples()
            for _ in range(settings.sq_refits):
                fresh: SummationModel = build("sq", split, seed, head=head, **feats)
                _, wall, cpu = timed(
                    lambda f=fresh, k=keep: f.fit(split.x[k], split.y[k], split.ids[k])
                )
                refits.add(wall, cpu, int(keep.sum()))
            d, r = deletes.mean(), refits.mean()
            print(
                f"{head:6} {label:10} {acc:8.3f} {d.wall * 1e3:9.3f} {d.cpu * 1e3:7.3f} "
                f"{r.wall * 1e3:8.2f} {r.cpu * 1e3:7.2f} {ratio(r.wall, d.wall):6.1f}x "
                f"{ratio(r.cpu, d.cpu):6.1f}x {ratio(r.samples, d.samples):8.0f}x"
            )
    print(
        "(refit = fit of a freshly built model on the remaining data, feature extraction "
        "included; samples: delete 1, refit n)"
    )


# ------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments, run the three sections and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (under a minute)")
    parser.add_argument("--seed", type=int, default=0, help="data split and model seed")
    parser.add_argument("--trials", type=int, default=None, help="request sets per K (sec. 1)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else DEFAULT
    if args.trials is not None:
        settings = dataclasses.replace(settings, trials=max(1, args.trials))

    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # tables and progress interleave in order
    torch.set_num_threads(1)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1):
        split = make_split(args.seed)
        print_header(split, settings, args.quick, args.seed)
        progress("warm-up")
        warm_up(split)
        mono = section_sisa(split, settings, args.seed)
        section_certified(split, settings, args.seed, mono)
        section_sharding(split, settings, args.seed)
        section_summation(split, settings, args.seed)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print()
    print(
        f"total: {wall:.1f} s wall, {cpu:.1f} s CPU (CPU/wall {ratio(cpu, wall):.2f}); "
        f"load avg {_load()} at end"
    )


if __name__ == "__main__":
    main()
