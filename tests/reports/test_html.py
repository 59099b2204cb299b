"""The HTML report: the paper's sections, offline, small, escaped, no local paths, drill-down."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from fake_run_folder import DATA_PATH, EVIL, TORCH_CACHE, make_run

from reports import build_report
from reports.build import SECTIONS


class _Page(HTMLParser):
    """Collects h2 headings, images, links, scripts and table sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.rows_per_body_table: list[int] = []
        self._in: str | None = None
        self._details = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        elif tag == "a":
            self.links.append(values.get("href") or "")
        elif tag == "script":
            self.scripts += 1
        elif tag == "details":
            self._details += 1
        elif tag == "tbody" and not self._details:
            self.rows_per_body_table.append(0)
        elif tag == "tr" and not self._details and self.rows_per_body_table:
            self.rows_per_body_table[-1] += 1
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._details -= tag == "details"
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "h2":
            self.h2.append(data.strip())


def _read(run_dir: Path) -> tuple[str, _Page]:
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    return html, page


def test_sections_in_order_with_the_question_first(built: Path) -> None:
    html, page = _read(built)
    assert page.h2 == ["Abstract", *[title for _, title in SECTIONS], "Appendix"]
    assert "<h1>Can convolutional networks count?</h1>" in html
    abstract = html[html.index('id="abstract"'):html.index('id="reproduction"')]
    assert "0.95 (95% CI 0.85-1.00, n=20" in abstract and "One seed per configuration" in abstract
    assert 'id="fig-answer"' in abstract and "Figure accuracy_by_range" in abstract  # the first "answer" figure


def test_page_one_shows_the_verdicts_before_what_the_run_cannot_tell(built: Path) -> None:
    html, _ = _read(built)
    abstract = html[html.index('id="abstract"'):html.index('id="reproduction"')]
    verdicts = abstract.index('class="verdicts"')
    assert abstract.index("</p>") < verdicts < abstract.index("What this run cannot tell")
    table = abstract[verdicts:abstract.index("What this run cannot tell")]
    assert "<th>Verdict</th>" in table and "<td>counts</td>" in table and "<td>neither: chance</td>" in table
    assert "no number signal (bN 0.01 [-0.02, 0.04])" in table and 'href="analysis/tables/verdicts.csv"' in table


def test_each_figure_embedded_once_as_the_analysis_png(built: Path) -> None:
    html, page = _read(built)
    analysis = built / "analysis"
    summary = json.loads((analysis / "summary.json").read_text())
    pngs = [analysis / f["file"] for f in summary["figures"] + summary["examples"]]
    pngs += [analysis / m["file"] for cell in summary["cells"].values() for m in cell["misclassified"]]
    embedded = [base64.b64decode(src.split(",", 1)[1]) for src in page.images]
    assert sorted(embedded) == sorted(path.read_bytes() for path in pngs)  # as is, each exactly once
    assert "image/svg+xml" not in html
    overhead = len(html.encode()) - sum(len(src) for src in page.images)
    assert overhead < 60_000, "text and markup should be small beside the figures"


def test_offline_one_script_links_stay_in_the_run_folder(built: Path) -> None:
    html, page = _read(built)
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.scripts == 1
    assert "http://" not in html and "https://" not in html and "@import" not in html
    for link in page.links:
        assert link.startswith("#") or re.fullmatch(r"analysis/tables/\w+\.csv", link), link
    for link in page.links:
        if link.startswith("analysis/"):
            assert (built / link).is_file()


def test_no_local_paths_and_no_hashes_in_body_tables(built: Path) -> None:
    html, page = _read(built)
    for secret in (str(built), str(built.resolve()), DATA_PATH, TORCH_CACHE, "/root/", "/home/"):
        assert secret not in html, secret
    assert ".cache/counting-0123.pt" in html  # the failed cell's message, relative to the run folder
    assert "…/paintings: folder not found" in html
    body = html[html.index('id="reproduction"'):html.index('id="methods"')]
    for cell in (built / "cells").iterdir():  # hashed cell ids belong to the appendix legend only
        assert cell.name not in body and cell.name.rsplit("-", 1)[1] not in body
        assert cell.name in html
    platform_at = html.index("Report built on")
    assert html.count("Linux") <= 1 or html.index("Linux") > platform_at  # the platform only in provenance
    assert all(rows <= 15 for rows in page.rows_per_body_table)


def test_run_strings_are_escaped(built: Path) -> None:
    html, _ = _read(built)
    assert EVIL not in html and "<b>not bold</b>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # takeaways, errors, confusion classes


def test_drill_down_for_every_configuration(built: Path) -> None:
    html, page = _read(built)
    anchors = re.findall(r'<details class="drill" id="(cfg-\d+)"', html)
    assert len(anchors) == 7  # 4 counting + photo configurations, then the failed and skipped cells
    table = html[html.index('class="configurations"'):]
    table = table[:table.index("</table>")]
    assert re.findall(r'href="#(cfg-\d+)"', table) == anchors
    first = html[html.index('id="cfg-1"'):html.index('id="cfg-2"')]
    assert "<svg" in first and "<polyline" in first and 'class="confusion"' in first
    assert first.count("<img") == 2 and "true 5, predicted 1" in first


def test_partial_run_without_analysis_or_results(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, analysis=False, results=False)
    build_report(run_dir)
    html, page = _read(run_dir)
    # the numerosity section is left out when the analysis wrote nothing for it
    assert page.h2 == ["Abstract", *[title for id_, title in SECTIONS if id_ != "numerosity"], "Appendix"]
    assert "The analysis has not run on this folder yet" in html and "7 cells: 5 done, 1 failed, 1 skipped." in html
    assert page.images == []
    assert "0.870 (one cell, no CI)" in html
    drill = html[html.index('id="cfg-1"'):html.index('id="cfg-2"')]
    assert "<polyline" in drill and 'class="confusion"' in drill  # read from the cell's own files


def test_empty_run_folder_still_renders(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "cells").mkdir(parents=True)
    build_report(run_dir)
    html, _ = _read(run_dir)
    assert "0 cells." in html and "No cells yet." in html


def test_analysis_paths_outside_the_folder_are_ignored(run_dir: Path) -> None:
    summary_path = run_dir / "analysis" / "summary.json"
    summary = json.loads(summary_path.read_text())
    secret = run_dir / "secret.png"
    secret.write_bytes((run_dir / "analysis" / "figures" / "label_noise.png").read_bytes() + b"secret")
    summary["figures"].append({"id": "x", "file": "../secret.png", "title": "Escaped", "takeaway": "", "section": "drivers"})
    summary["tables"] = "not a list"
    summary_path.write_text(json.dumps(summary))
    build_report(run_dir)
    html, page = _read(run_dir)
    assert "figure ../secret.png" in html  # named in what is missing...
    assert 'alt="Escaped"' not in html and all(b"secret" not in base64.b64decode(s.split(",")[1]) for s in page.images)
