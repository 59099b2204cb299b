"""The HTML report: parses, has every section, is offline and escapes run data."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports import build_report
from reports.__main__ import main
from reports.collect import SECTIONS

from fake_run_folder import EVIL, make_run


class _Page(HTMLParser):
    """Collects headings, resource references and script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: list[str] = []
        self.references: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.script_text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.references += [value or "" for name, value in attrs if name in ("src", "href")]
        if tag == "script":
            self.scripts.append(dict(attrs))
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "h2":
            self.h2.append(data.strip())
        elif self._in == "script":
            self.script_text.append(data)


def _render(run_dir: Path) -> tuple[str, _Page]:
    written = build_report(run_dir)
    assert written["html"] == str(run_dir / "report.html")
    html = Path(written["html"]).read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    page.close()
    return html, page


def test_every_section_in_order(run_dir: Path) -> None:
    _, page = _render(run_dir)
    assert page.h2 == [title for _, title in SECTIONS]


def test_offline_no_external_references(run_dir: Path) -> None:
    html, page = _render(run_dir)
    assert page.references, "expected embedded figures and in-page links"
    for reference in page.references:
        assert reference.startswith(("data:image/", "#")), reference
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert all("src" not in attrs for attrs in page.scripts), "no external scripts"
    assert "http://" not in html and "https://" not in html  # SVGs are base64, so not even namespaces
    assert not re.search(r"(src|href)\s*=\s*['\"]?https?://", html)
    assert "@import" not in html and "@font-face" not in html


def test_run_strings_are_escaped(run_dir: Path) -> None:
    html, page = _render(run_dir)
    assert EVIL not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # The class folder in the confusion matrix, the skipped cell's error, a caption, a finding.
    confusion = html[html.index('class="confusion"'):]
    assert escaped in confusion[: confusion.index("</table>")]
    assert html.count(escaped) >= 5
    assert len(page.scripts) == 1  # only the sort script
    assert "alert" not in "".join(page.script_text)
    assert "<b>not bold</b>" not in html  # the sweep description is escaped too


def test_failed_and_skipped_cells_are_listed(run_dir: Path) -> None:
    html, _ = _render(run_dir)
    problems = html[html.index('<ul class="problems">'):]
    problems = problems[: problems.index("</ul>")]
    assert "status-failed" in problems and "status-skipped" in problems
    assert "CUDA out of memory" in problems and "folder not found" in problems
    assert problems.count("<li>") == 2


def test_reproduction_table_matches_and_marks_not_run(run_dir: Path) -> None:
    html, _ = _render(run_dir)
    table = html[html.index('class="repro"'):]
    table = table[: table.index("</table>")]
    counting = table[table.index("Counting 1-5 circles</th>"):]
    assert "0.870" in counting[: counting.index("</tr>")]
    assert "error 0.136 (86-87%)" in table
    assert table.count("not run</span>") == 3  # cats lr 1e-4, counting lr 1e-4, Part II varied
    paintings = table[table.index("Impressionist"):]
    assert "folder not found" in paintings[: paintings.index("</tr>")]


def test_no_analysis_folder_gives_missing_note(tmp_path: Path) -> None:
    html, page = _render(make_run(tmp_path, analysis=False, problems=False))
    assert page.h2 == [title for _, title in SECTIONS]
    assert "no analysis folder" in html
    assert "No driver analysis in this run" in html


def test_no_results_csv_reads_cells(tmp_path: Path) -> None:
    html, _ = _render(make_run(tmp_path, results=False, analysis=False))
    assert "results.csv</strong>: not written yet" in html
    assert "count45-50-fixed-fastai" in html and "0.270" in html


def test_empty_run_folder_still_renders(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "cells").mkdir(parents=True)
    html, page = _render(run_dir)
    assert page.h2 == [title for _, title in SECTIONS]
    assert "No results yet" in html


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_not_a_run_folder_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str) -> None:
    path = tmp_path / "nothing"
    if make == "empty":
        path.mkdir()
    elif make == "file":
        path.write_text("x")
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(path) in err and "\n" not in err


def test_not_run_rows_name_the_closest_cell(run_dir: Path) -> None:
    html, _ = _render(run_dir)
    row = html[html.index("Counting 1-5 circles, lower learning rate"):]
    row = row[: row.index("</tr>")]
    assert "Closest cell here" in row and "0.870" in row and "epochs 3 (post: 15)" in row


def test_analysis_paths_outside_the_folder_are_ignored(run_dir: Path) -> None:
    import json

    summary_path = run_dir / "analysis" / "summary.json"
    summary = json.loads(summary_path.read_text())
    (run_dir / "secret.png").write_bytes((run_dir / "analysis" / "figures" / "noise.png").read_bytes())
    summary["figures"].append({"path": "../secret.png", "svg": "", "title": "Escaped", "caption": "", "section": "drivers"})
    summary["tables"] = "not a list"
    summary_path.write_text(json.dumps(summary))
    html, _ = _render(run_dir)
    assert "figure ../secret.png" in html  # named in the missing list...
    assert 'alt="Escaped"' not in html  # ...but never embedded


def test_cli_prints_what_it_wrote(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(run_dir)]) == 0
    assert capsys.readouterr().out.split() == [str(run_dir / "report.html"), str(run_dir / "report.pdf")]
