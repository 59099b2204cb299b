"""The PDF report: page 1 answers the question, the sections follow, nothing from the appendix."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdf
import pytest
from fake_run_folder import DATA_PATH, EVIL, TORCH_CACHE

from reports import build_report
from reports import pdf as pdf_module
from reports.build import SECTIONS, report_data


def _text(reader: pypdf.PdfReader) -> list[str]:
    return [page.extract_text() for page in reader.pages]


def test_page_one_answers_and_sections_follow(built: Path) -> None:
    reader = pypdf.PdfReader(built / "report.pdf")
    pages = _text(reader)
    assert len(pages) <= 12
    first = pages[0]
    assert "Can convolutional networks count?" in first and "Abstract" in first
    assert "0.95 (95% CI 0.85-1.00, n=20" in first and "What this run cannot tell" in first
    assert "Figure accuracy_by_range." in first
    # the verdict table, between the abstract and what the run cannot tell
    assert first.index("Abstract") < first.index("Verdict per configuration") < first.index("What this run cannot tell")
    assert "neither: chance" in first and "no number signal" in first
    outline = [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]
    assert [title for title, _ in outline] == ["Abstract", *[title for _, title in SECTIONS]]
    assert outline[0][1] == 0 and outline[1][1] == 1  # Reproduction starts page 2


def test_appendix_and_paths_stay_out(built: Path) -> None:
    text = " ".join(_text(pypdf.PdfReader(built / "report.pdf")))
    assert "Figure confusion_matrices" not in text and "Accuracy per true count" not in text  # appendix: HTML only
    assert "Figure per_count_accuracy" in text and "Label noise per policy" in text
    for secret in (str(built.resolve()), DATA_PATH, TORCH_CACHE, "/home/"):
        assert secret not in text
    assert EVIL in text  # a class name prints verbatim (no HTML escaping in a PDF)


def test_long_configuration_list_is_cut_to_15_rows(run_dir: Path) -> None:
    summary_path = run_dir / "analysis" / "summary.json"
    summary = json.loads(summary_path.read_text())
    base = summary["configurations"][0]
    summary["configurations"] = [{**base, "label": f"variant {i}", "cells": []} for i in range(40)]
    summary_path.write_text(json.dumps(summary))
    text = " ".join(_text(pypdf.PdfReader(build_report(run_dir)["pdf"])))
    assert "first 15 of 47" in text  # 40 pooled + 7 cells the analysis did not pool
    assert "variant 14" in text and "variant 15" not in text


def test_core_font_fallback_renders(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_module, "_register_fonts", lambda pdf: ("helvetica", "courier", False))
    data = report_data(run_dir)
    data["limitations"].append("→ ≈ 数")
    reader = pypdf.PdfReader(io.BytesIO(pdf_module.render_pdf(data)))
    assert "Can convolutional networks count?" in reader.pages[0].extract_text()
