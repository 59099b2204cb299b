"""The PDF report: opens with pypdf, one outline entry and a new page per section.

Layout (reports/pdf.py): the title block shares page 1 with the Summary and
every other section starts on a new page, so a run whose sections each fit on
a page has exactly 6 pages. The full fixture's Sweep section holds the
analysis heatmap (~50 mm), its table, the per-count chart (~85 mm with its
legend) and the learning curves (~85 mm, full width) before the results
table, which therefore moves to a second page: 7 pages, with the sections starting on pages 1, 2, 3, 5, 6, 7.
"""

from __future__ import annotations

from pathlib import Path

import pypdf
import pytest
from fake_run_folder import EVIL, make_run

from reports import build_report
from reports.build import report_data
from reports.collect import SECTIONS
from reports import pdf as pdf_module

TITLES = [title for _, title in SECTIONS]


def _read(run_dir: Path) -> pypdf.PdfReader:
    written = build_report(run_dir)
    assert written["pdf"] == str(run_dir / "report.pdf")
    return pypdf.PdfReader(written["pdf"])


def _section_starts(reader: pypdf.PdfReader) -> list[tuple[str, int]]:
    return [(item.title, reader.get_destination_page_number(item))
            for item in reader.outline if not isinstance(item, list)]


def test_full_run_pages_and_sections(run_dir: Path) -> None:
    reader = _read(run_dir)
    starts = _section_starts(reader)
    assert [title for title, _ in starts] == TITLES
    assert [page for _, page in starts] == [0, 1, 2, 4, 5, 6]
    assert len(reader.pages) == 7
    for title, page in starts:
        assert title in reader.pages[page].extract_text()
    assert "Results table" in reader.pages[3].extract_text()


def test_small_run_is_one_page_per_section(tmp_path: Path) -> None:
    reader = _read(make_run(tmp_path, analysis=False, problems=False))
    assert len(reader.pages) == len(SECTIONS) == 6
    assert _section_starts(reader) == list(zip(TITLES, range(6)))
    assert "no analysis folder" in reader.pages[0].extract_text()


def test_run_strings_print_as_written(run_dir: Path) -> None:
    reader = _read(run_dir)
    photo = reader.pages[5].extract_text()
    assert EVIL in photo  # the class folder name, verbatim (no HTML escaping in a PDF)
    assert "CUDA out of memory" in reader.pages[3].extract_text()  # the failed cell, listed


def test_core_font_fallback_renders(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_module, "_register_fonts", lambda pdf: ("helvetica", "courier", False))
    data = report_data(run_dir)
    data["findings"].append({"title": "Unicode", "text": "→ ≈ 数"})
    reader = pypdf.PdfReader(__import__("io").BytesIO(pdf_module.render_pdf(data)))
    assert len(reader.pages) == 7


def test_long_wide_analysis_tables_are_cut_and_sliced(run_dir: Path) -> None:
    import json

    header = ",".join(f"col{i}" for i in range(12))
    body = "\n".join(",".join(str(r * 100 + c) for c in range(12)) for r in range(40))
    (run_dir / "analysis" / "tables" / "wide.csv").write_text(header + "\n" + body + "\n")
    summary_path = run_dir / "analysis" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["tables"].append({"path": "tables/wide.csv", "title": "Wide", "section": "drivers"})
    summary_path.write_text(json.dumps(summary))
    text = " ".join(page.extract_text() for page in _read(run_dir).pages)
    assert "Wide (first 25 of 40 rows), columns 2-9 of 12" in text
    assert "Wide (first 25 of 40 rows), columns 10-12 of 12" in text
    assert "2411" in text and "2511" not in text  # row 24 is the last one printed
