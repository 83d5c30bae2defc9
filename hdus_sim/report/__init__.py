"""A self-contained report of a run directory: Markdown and HTML with plots.

``write_report(DIR)`` reads what ``hdus-sim run`` (and, when present, ``hdus-sim verify``)
wrote to ``DIR`` and writes:

=================== ==========================================================
``report.md``       the report in Markdown; plots referenced as ``report/NAME.png``
``report.html``     the same report as one HTML file: every plot embedded as a
                    base64 data URI, inline CSS, no external resources, no JavaScript
``report/*.png``    the plots (``accuracy``, ``online``, ``graph``, ``latency``,
                    ``traffic``)
=================== ==========================================================

The run directory does not store the graph of every round, so the drawings are
reconstructed: the scenario's topology builder is re-run with the run's topology seed
and ``events.jsonl`` is replayed on it (a join adds its ``links``; a leave or crash removes
the node's edges and adds its ``repair_links``). See :func:`reconstruct_graph`.

The package, one job per module:

=================== ==========================================================
``data``            reading a run directory (:class:`RunData`, :func:`load_run_data`)
``graph``           graph replay (:func:`reconstruct_graph`, :func:`graph_at`) and
                    the drawing positions of the peers
``style``           colours, markers and labels of the figures
``format``          how values are written in cells (numbers, dashes, bytes)
``figures``         the five plots (:data:`PLOT_NAMES`), as PNG files
``model``           the document model: :class:`~hdus_sim.report.model.Section`
                    and :class:`~hdus_sim.report.model.Table`
``tables``          the run sections' tables (overview, accuracy, departures...)
``evidence``        the membership-inference and backdoor sections
``sections``        every section in order, with titles and captions
``render``          Markdown and self-contained HTML from the sections
``write``           :func:`write_report`, which ties them together
=================== ==========================================================

Examples
--------
>>> from hdus_sim.report import write_report
>>> paths = write_report("runs/quickstart")  # doctest: +SKIP
>>> paths.html, sorted(paths.plots)  # doctest: +SKIP
(PosixPath('runs/quickstart/report.html'), ['accuracy', 'graph', 'latency', 'online', 'traffic'])
"""

from hdus_sim.report.data import REQUIRED_FILES, RunData, load_run_data
from hdus_sim.report.figures import (
    PLOT_NAMES,
    plot_accuracy_bands,
    plot_graphs,
    plot_latency,
    plot_online,
    plot_traffic,
)
from hdus_sim.report.graph import graph_at, reconstruct_graph
from hdus_sim.report.write import ReportPaths, write_report

__all__ = [
    "PLOT_NAMES",
    "REQUIRED_FILES",
    "ReportPaths",
    "RunData",
    "graph_at",
    "load_run_data",
    "plot_accuracy_bands",
    "plot_graphs",
    "plot_latency",
    "plot_online",
    "plot_traffic",
    "reconstruct_graph",
    "write_report",
]
