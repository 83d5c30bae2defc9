"""The run report: Markdown and self-contained HTML, plots, verdicts, graph replay."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import pytest

from hdus_sim import Simulation, verify_run
from hdus_sim.attacks import AttackConfig
from hdus_sim.errors import RunError
from hdus_sim.report import PLOT_NAMES, ReportPaths, graph_at, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Doc(HTMLParser):
    """Collects images and tables, and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[dict[str, str]] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self.saw_doctype = False

    def handle_decl(self, decl: str) -> None:
        self.saw_doctype = self.saw_doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append({k: v or "" for k, v in attrs})
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self.tables[-1].append([])
        if tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> _Doc:
    doc = _Doc()
    doc.feed(text)
    doc.close()
    assert doc.saw_doctype
    assert not doc.errors, doc.errors
    assert not doc.stack, f"unclosed elements: {doc.stack}"
    return doc


def verdict_table(doc: _Doc) -> list[list[str]]:
    tables = [t for t in doc.tables if t and "verdict" in t[0]]
    assert len(tables) == 1
    return tables[0]


def markdown_section(md: str, title: str) -> str:
    start = md.index(f"## {title}")
    end = md.find("\n## ", start + 1)
    return md[start : end if end != -1 else len(md)]


@pytest.fixture
def run_dir(tiny: dict[str, Any], tmp_path: Path) -> Path:
    """The tiny scenario run in memory and written to ``tmp_path`` (not verified)."""
    Simulation.from_dict(tiny).run().write(tmp_path)
    return tmp_path


def test_report_embeds_every_plot_and_lists_every_verdict(run_dir: Path) -> None:
    assert verify_run(run_dir).passed
    paths = write_report(run_dir)
    assert isinstance(paths, ReportPaths)
    assert paths.markdown == run_dir / "report.md"
    assert paths.html == run_dir / "report.html"
    assert list(paths.plots) == list(PLOT_NAMES)

    # every plot: a valid PNG under DIR/report/
    for name, png in paths.plots.items():
        assert png == run_dir / "report" / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC
        image = mpimg.imread(png)
        assert image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0

    # HTML: valid, self-contained, one data-URI image per plot
    text = paths.html.read_text()
    doc = parse(text)
    assert [img["alt"] for img in doc.images] == list(PLOT_NAMES)
    assert all(img["src"].startswith("data:image/png;base64,") for img in doc.images)
    assert text.count("data:image/png;base64,") == len(PLOT_NAMES)
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", text)
    assert "<script" not in text

    # Markdown: each PNG by its relative path
    md = paths.markdown.read_text()
    for name in PLOT_NAMES:
        assert f"![{name}](report/{name}.png)" in md

    # the verdict table: every verified event with its verdict, in HTML and in Markdown
    events = json.loads((run_dir / "verify.json").read_text())["events"]
    assert {(e["peer"], e["kind"]) for e in events} == {(1, "leave"), (4, "crash")}
    table = verdict_table(doc)
    header, rows = table[0], table[1:]
    col = {h: i for i, h in enumerate(header)}
    assert len(rows) == len(events)
    for ev, row in zip(events, rows, strict=True):
        assert row[col["peer"]] == str(ev["peer"])
        assert row[col["kind"]] == ev["kind"]
        assert row[col["round"]] == str(ev["round"])
        assert row[col["verdict"]] == ev["verdict"] == "EXACT"
    md_rows = [
        line
        for line in markdown_section(md, "Verification").splitlines()
        if line.startswith("| ") and not line.startswith(("| peer", "| ---"))
    ]
    assert len(md_rows) == len(events)
    for ev, line in zip(events, md_rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == str(ev["peer"]) and cells[2] == ev["kind"]
        assert ev["verdict"] in cells
    assert "not verified yet" not in md

    # header, final accuracy and departures
    assert "tiny" in md and "| seed | 3 |" in md
    assert "| test set | main only | seeds only | ensemble |" in md
    departures = markdown_section(md, "Departures")
    assert "| 1 | 0 | leave | 2 |" in departures and "| 4 | 0 | crash | 3 |" in departures
    assert "No point deletion" in markdown_section(md, "Point deletions")
    assert "## Membership inference" not in md and "## Backdoor" not in md  # not asked for


def test_report_shows_membership_inference_and_backdoor(
    tiny: dict[str, Any], tmp_path: Path
) -> None:
    tiny["backdoor"] = {"peer": 1, "target": 0, "fraction": 0.5}
    tiny["events"].append({"at": 3, "kind": "delete", "peer": 0, "count": 4})
    Simulation.from_dict(tiny).run().write(tmp_path)
    verify = verify_run(tmp_path, mia=True, backdoor=True, attack=AttackConfig(shadows=2))
    paths = write_report(tmp_path)
    md = paths.markdown.read_text()
    mia = markdown_section(md, "Membership inference on departed peers' data")
    for dep in verify.mia:
        for attack in ("loss threshold", "LiRA"):
            rows = [
                line
                for line in mia.splitlines()
                if line.startswith(f"| {dep['peer']} ({dep['kind']}") and f"| {attack} |" in line
            ]
            assert len(rows) == 7, (dep["peer"], attack)  # every stage, with its spread
    assert "| survivors in the retrain oracle |" in mia and "never-seen vs never-seen" in mia
    assert "departed peer's main model, before the leave" in mia
    points = markdown_section(md, "Membership inference on deleted points")
    assert "4 points deleted inside 1 peer(s)" in points
    assert "| owner's main model in the point-deletion oracle |" in points
    backdoor = markdown_section(md, "Backdoor of a departed peer")
    assert "| planter's main model, before |" in backdoor
    assert "| survivors, after |" in backdoor and "| survivors in the retrain oracle |" in backdoor
    doc = parse(paths.html.read_text())
    verdict_table(doc)  # still exactly one verdict table
    headers = [t[0] for t in doc.tables if t]
    assert headers[-3][:3] == ["departed peer", "attack", "models attacked"]
    assert "attack success" in headers[-1]


def test_report_without_verify_says_so(run_dir: Path) -> None:
    assert not (run_dir / "verify.json").exists()
    paths = write_report(run_dir)
    hint = f"not verified yet: run hdus-sim verify {run_dir}"
    md = paths.markdown.read_text()
    assert hint in markdown_section(md, "Verification")
    doc = parse(paths.html.read_text())
    assert hint in paths.html.read_text()
    assert not [t for t in doc.tables if t and "verdict" in t[0]]
    assert len(doc.images) == len(PLOT_NAMES)


def test_graph_replay_matches_the_run(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    last = summary["rounds_run"] - 1

    g = graph_at(run_dir, last)
    active = sorted(v for v in g.nodes if g.nodes[v]["active"])
    assert active == summary["online_at_end"] == [0, 2, 3, 5, 6]
    assert {v: g.nodes[v]["departed"] for v in g.nodes if not g.nodes[v]["active"]} == {
        1: "leave",
        4: "crash",
    }
    assert g.degree(1) == g.degree(4) == 0  # departed: kept, but without edges
    assert g.number_of_edges() == summary["graph"]["n_edges"]
    assert g.graph["warnings"] == []

    start = graph_at(run_dir, 0)  # the 6-ring the run started from
    assert sorted(start.nodes) == list(range(6))
    assert all(start.nodes[v]["active"] for v in start)
    assert sorted(d for _, d in start.degree) == [2] * 6

    mid = graph_at(run_dir, 2)  # peer 6 joined and peer 1 left at the start of round 2
    assert mid.nodes[6]["active"] and not mid.nodes[1]["active"]
    assert sorted(mid.neighbors(6)) == [2, 4]

    paths = write_report(run_dir, graph_rounds=[0, 2, last])
    assert f"## Graph at rounds 0, 2, {last}" in paths.markdown.read_text()
    with pytest.raises(RunError, match="graph_rounds: round 99 is outside"):
        write_report(run_dir, graph_rounds=[99])


def test_report_names_missing_files(tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"lacks scenario\.yaml.*hdus-sim run"):
        write_report(tmp_path)
    with pytest.raises(RunError, match="does not exist"):
        write_report(tmp_path / "nope")
