"""Rendering a report's sections as Markdown and as one self-contained HTML page.

The HTML page has inline CSS, every plot embedded as a base64 ``data:`` URI, no external
resource and no JavaScript, so it can be mailed or archived as one file. The Markdown
refers to the plots by their path relative to the run directory.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from hdus_sim.report.data import RunData
from hdus_sim.report.model import Section, Table
from hdus_sim.report.sections import PLOT_CAPTIONS

__all__ = ["CSS", "render_html", "render_markdown", "table_html", "table_markdown"]

#: The inline style sheet of the HTML page (cell classes: ok, cert, fail, warn).
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1180px; padding: 1.5em 2em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #4a7ab5; padding-bottom: .3em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
p.desc { color: #555; font-style: italic; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
tbody tr:nth-child(even) { background: #fafafa; }
td.ok { background: #dff3df; color: #1b5e20; font-weight: 600; }
td.cert { background: #e1ecfa; color: #0d47a1; font-weight: 600; }
td.fail { background: #fbe0e0; color: #b71c1c; font-weight: 700; }
td.warn { background: #fff4d6; color: #7a5a00; font-weight: 600; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; margin-top: .3em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5em 1em; }
.pass { color: #1b5e20; font-weight: 700; }
.failtext { color: #b71c1c; font-weight: 700; }
code { background: #f3f3f3; padding: 0 .25em; }
"""


def table_markdown(table: Table) -> str:
    """``table`` as a GitHub-flavoured Markdown table (``|`` escaped, newlines as spaces)."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(esc(h) for h in table.header) + " |",
        "| " + " | ".join("---" for _ in table.header) + " |",
    ]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def table_html(table: Table) -> str:
    """``table`` as an HTML ``<table>``, text escaped, styled cells given their class."""
    classes = table.cell_classes or {}
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, cell in enumerate(row):
            cls = classes.get((i, j))
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + ("\n</tbody>\n</table>")
    )


def _data_uri(path: Path) -> str:
    """The PNG at ``path`` as a base64 ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_markdown(data: RunData, sections: list[Section], plots: dict[str, Path]) -> str:
    """The Markdown report: a title, then every section; ``plots``: name -> PNG path."""
    name = data.scenario.get("name") or data.summary.get("scenario") or data.run_dir.name
    lines = [f"# hdus-sim report: {name}", ""]
    if data.scenario.get("description"):
        lines += [f"> {data.scenario['description']}", ""]
    for sec in sections:
        lines += [f"## {sec.title}", ""]
        for para in sec.paragraphs:
            lines += [para, ""]
        if sec.table is not None:
            lines += [table_markdown(sec.table), ""]
        if sec.plot is not None:
            rel = plots[sec.plot].relative_to(data.run_dir).as_posix()
            lines += [f"![{sec.plot}]({rel})", "", f"*{PLOT_CAPTIONS[sec.plot]}*", ""]
        for note in sec.notes:
            lines += [f"> **Note:** {note}", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_html(data: RunData, sections: list[Section], plots: dict[str, Path]) -> str:
    """The HTML report, self-contained: inline CSS, plots as data URIs, no script."""
    name = str(data.scenario.get("name") or data.summary.get("scenario") or data.run_dir.name)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>hdus-sim report: {html.escape(name)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>hdus-sim report: {html.escape(name)}</h1>",
    ]
    if data.scenario.get("description"):
        parts.append(f'<p class="desc">{html.escape(str(data.scenario["description"]))}</p>')
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        for i, para in enumerate(sec.paragraphs):
            cls = f' class="{sec.css}"' if sec.css and i == 0 else ""
            parts.append(f"<p{cls}>{html.escape(para)}</p>")
        if sec.table is not None:
            parts.append(table_html(sec.table))
        if sec.plot is not None:
            parts.append(
                "<figure>"
                f'<img alt="{sec.plot}" src="{_data_uri(plots[sec.plot])}">'
                f"<figcaption>{html.escape(PLOT_CAPTIONS[sec.plot])}</figcaption>"
                "</figure>"
            )
        for note in sec.notes:
            parts.append(f'<p class="note">Note: {html.escape(note)}</p>')
    parts += [
        f"<p><small>Written by hdus-sim from {html.escape(str(data.run_dir))}.</small></p>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
