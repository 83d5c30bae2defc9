"""``hdus-sim bench``: HDUS and its baselines side by side on one scenario, in one run.

The bench first runs HDUS on the scenario (in-process; the protocol is the same on every
runtime) and reads off its :class:`~hdus_sim.baselines.common.Timeline`: who is online in
each round, the graph, every leave and crash. Every baseline then replays that timeline on
the same data split and devices:

==========================  =========================================  ====================
method                      unlearning a departed peer                 verdict it can claim
==========================  =========================================  ====================
HDUS                        its holders drop its seed                  EXACT (checked here)
HDUS, retrain from scratch  re-run everything without it (the oracle)  EXACT
local-only                  nothing to do: nothing was shared          EXACT
SISA per peer               every peer drops its shard model           EXACT
DSGD (gossip averaging)     retrain every peer from scratch            EXACT
FedAvg (Flower)             retrain the global model from scratch      EXACT
FedAvg + KD repair          subtract its updates, distil to repair     EMPIRICAL
centralized (pooled)        retrain on the pool without its data       EXACT
==========================  =========================================  ====================

Parameter-averaging methods (DSGD, FedAvg) and the pooled model need one architecture:
they use the smallest main model (``sensor`` by default, ``--baseline-arch``), as the HDUS
authors gave every baseline the smallest model. HDUS, local-only and SISA keep each
device's own main model. Local training budgets match: a FedAvg or DSGD client trains
``ceil(train_rounds x local_epochs / rounds)`` epochs in each of the scenario's ``rounds``
rounds (about what an HDUS peer trains in all), as that many communication rounds of one
local epoch each (more averaging helps them on non-IID data); the pooled model trains
``train_rounds x local_epochs`` epochs.

For HDUS, the unlearning wall time of a leave runs from the leave notice to the last
holder's drop; for a crash, from the first holder's drop (at detection) to the last: the
rounds spent waiting for missed heartbeats are reported as latency, not as work.

The package: :mod:`~hdus_sim.bench.config` (what to run), :mod:`~hdus_sim.bench.hdus_arm`
(the HDUS run, its oracle, local-only and SISA measured on it),
:mod:`~hdus_sim.bench.run` (the phases: HDUS, then each baseline),
:mod:`~hdus_sim.bench.results` (the report and its comparisons) and
:mod:`~hdus_sim.bench.table` (the Markdown table and the files).
"""

from hdus_sim.bench.config import METHODS, BenchConfig
from hdus_sim.bench.results import RETRAIN_METHODS, BenchReport, comparisons
from hdus_sim.bench.run import matched_epochs, run_bench
from hdus_sim.bench.table import render, write

__all__ = [
    "METHODS",
    "RETRAIN_METHODS",
    "BenchConfig",
    "BenchReport",
    "comparisons",
    "matched_epochs",
    "render",
    "run_bench",
    "write",
]
