"""The document model of a report: sections of paragraphs, a table, a plot and notes.

Pure data. The section builders (:mod:`hdus_sim.report.sections`,
:mod:`hdus_sim.report.evidence`) fill it in; :mod:`hdus_sim.report.render` writes it as
Markdown and as HTML, so both formats always say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Section", "Table"]


@dataclass(frozen=True)
class Table:
    """A table of text cells.

    Attributes
    ----------
    header : list of str
        The column titles.
    rows : list of list of str
        The cells, already formatted (see :mod:`hdus_sim.report.format`).
    cell_classes : dict, optional
        ``(row, column) -> HTML class`` of the cells to style (e.g. a verdict).
    """

    header: list[str]
    rows: list[list[str]]
    cell_classes: dict[tuple[int, int], str] | None = None


@dataclass(frozen=True)
class Section:
    """A report section: a title, paragraphs, optional table and plot, in that order.

    ``plot`` names a plot of :data:`hdus_sim.report.figures.PLOT_NAMES`; ``notes`` are
    warnings shown after it; ``css`` is the HTML class of the first paragraph (e.g. a
    PASS/FAIL line).
    """

    title: str
    paragraphs: tuple[str, ...] = ()
    table: Table | None = None
    plot: str | None = None
    notes: tuple[str, ...] = ()
    css: str = ""
