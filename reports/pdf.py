"""Render a collected run as a PDF with fpdf2: the HTML report's sections, figures and tables.

Why fpdf2: it is pure Python and installs from the package index with no
system libraries (no Cairo, Pango or a browser, unlike WeasyPrint or
headless-Chrome printing), so ``pip install -e .`` is all a report needs, on
any machine a sweep runs on. It draws PNG figures, tables with page breaks and
repeated headings, and a PDF outline (bookmarks) per section.

Text uses DejaVu Sans from matplotlib's bundled fonts
(``matplotlib/mpl-data/fonts/ttf``), so class names and error messages in any
script DejaVu covers print as written. If that file is missing, the core
Helvetica font is used and text is reduced to latin-1.

Layout: A4 portrait; the title block and the Summary share page 1, and every
other section starts on a new page (so a report has at least six pages, one
outline entry per section).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.enums import TableCellFillMode

from reports.formatting import duration, general, number

__all__ = ["render_pdf", "ReportPDF"]

INK, MUTED, WARN = (29, 36, 51), (91, 100, 117), (161, 92, 7)
ZEBRA, RULE = (245, 247, 250), (217, 222, 231)
MAX_FIGURE_HEIGHT = 115.0  # mm: two figures with captions fit on a page
MAX_PDF_TABLE_ROWS = 25  # longer analysis tables (per-image data) are cut: the CSV has them all
MAX_PDF_COLUMNS = 9  # wider analysis tables are printed in slices that fit the page


class ReportPDF(FPDF):
    """FPDF with the report's fonts, a page-numbered footer and text helpers."""

    def __init__(self, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report_title = title
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=16)
        self.sans, self.mono, self.unicode = _register_fonts(self)
        self.sections_started = 0
        self.set_title(title)
        self.set_creator("reports (fpdf2)")

    def clean(self, text: Any) -> str:
        """Text the current font can draw: as is with DejaVu, latin-1 with the core fonts."""
        text = "" if text is None else str(text)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-11)
        self.style(7, color=MUTED)
        self.cell(0, 5, self.clean(f"{self.report_title} · page {self.page_no()} of {{nb}}"), align="C")

    def style(self, size: float, emphasis: str = "", color: tuple[int, int, int] = INK, mono: bool = False) -> None:
        """Set font family/emphasis/size and text colour in one call."""
        self.set_font(self.mono if mono else self.sans, emphasis, size)
        self.set_text_color(*color)


def _register_fonts(pdf: FPDF) -> tuple[str, str, bool]:
    """Add DejaVu Sans/Mono from matplotlib; fall back to core fonts. Returns (sans, mono, unicode)."""
    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        faces = {("DejaVu", ""): "DejaVuSans.ttf", ("DejaVu", "B"): "DejaVuSans-Bold.ttf",
                 ("DejaVu", "I"): "DejaVuSans-Oblique.ttf", ("DejaVu", "BI"): "DejaVuSans-BoldOblique.ttf",
                 ("DejaVuMono", ""): "DejaVuSansMono.ttf", ("DejaVuMono", "B"): "DejaVuSansMono-Bold.ttf"}
        for (family, emphasis), name in faces.items():
            pdf.add_font(family, emphasis, str(folder / name))
        return "DejaVu", "DejaVuMono", True
    except (ImportError, OSError, RuntimeError):
        return "helvetica", "courier", False


# ---------------------------------------------------------------- building blocks


def _heading(pdf: ReportPDF, title: str, level: int = 0) -> None:
    """A section (level 0: new page unless first, outline entry, rule) or sub-heading."""
    if level == 0:
        if pdf.sections_started:  # the first section shares page 1 with the title block
            pdf.add_page()
        pdf.sections_started += 1
        pdf.start_section(pdf.clean(title), level=0)
        pdf.style(17, "B")
        pdf.cell(0, 10, pdf.clean(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(*RULE)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(3)
        return
    if pdf.get_y() > pdf.page_break_trigger - 30:  # keep a heading with what follows
        pdf.add_page()
    pdf.ln(2)
    pdf.start_section(pdf.clean(title), level=1)
    pdf.style(11.5, "B")
    pdf.cell(0, 7, pdf.clean(title), new_x="LMARGIN", new_y="NEXT")


def _paragraph(pdf: ReportPDF, text: str, size: float = 9.5, emphasis: str = "",
               color: tuple[int, int, int] = INK, mono: bool = False) -> None:
    pdf.style(size, emphasis, color, mono)
    pdf.multi_cell(0, size * 0.5, pdf.clean(text), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.2)


def _items(pdf: ReportPDF, items: list[tuple[str, str]], size: float = 9.5) -> None:
    """A bullet list of (bold lead, text) pairs."""
    height = size * 0.5
    for lead, text in items:
        pdf.set_x(pdf.l_margin)
        pdf.style(size)
        pdf.write(height, "•  " if pdf.unicode else "-  ")
        if lead:
            pdf.style(size, "B")
            pdf.write(height, pdf.clean(lead) + " ")
        pdf.style(size)
        pdf.write(height, pdf.clean(text))
        pdf.ln(height + 1.2)
    pdf.ln(1)


def _facts(pdf: ReportPDF, facts: list[tuple[str, str]], size: float = 9) -> None:
    """A two-column list of label: value."""
    for label, value in facts:
        pdf.set_x(pdf.l_margin)
        pdf.style(size, "B", MUTED)
        pdf.cell(34, size * 0.5, pdf.clean(label))
        pdf.style(size)
        pdf.multi_cell(0, size * 0.5, pdf.clean(value), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(0.6)
    pdf.ln(1.5)


def _table(pdf: ReportPDF, columns: list[str], rows: list[list[Any]], *, widths: tuple[float, ...] | None = None,
           numeric: list[bool] | None = None, size: float = 7.5, caption: str = "") -> None:
    """A zebra table with a dark heading row that repeats after page breaks."""
    if caption:
        _paragraph(pdf, caption, 8.5, "B")
    numeric = numeric or [False] * len(columns)
    align = tuple("RIGHT" if is_number else "LEFT" for is_number in numeric)
    pdf.style(size)
    heading_style = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=INK)
    with pdf.table(col_widths=widths, text_align=align, headings_style=heading_style, cell_fill_color=ZEBRA,
                   cell_fill_mode=TableCellFillMode.EVEN_ROWS, line_height=size * 0.5, padding=1.0,
                   borders_layout="HORIZONTAL_LINES", width=pdf.epw, align="LEFT") as table:
        pdf.set_draw_color(*RULE)
        table.row([pdf.clean(c) for c in columns])
        for values in rows:
            table.row([pdf.clean(v) for v in values])
    pdf.ln(3)


def _image_size(data: bytes) -> tuple[float, float] | None:
    """Printed size of a PNG in mm, from its pixel size and stored dpi (matplotlib writes it; else 100)."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            dpi = float((image.info.get("dpi") or (100, 100))[0]) or 100.0
            return image.size[0] * 25.4 / dpi, image.size[1] * 25.4 / dpi
    except Exception:  # noqa: BLE001 - a broken figure costs a note, not the report
        return None


def _figure(pdf: ReportPDF, figure: dict[str, Any]) -> None:
    """A PNG figure scaled to the text width (at most MAX_FIGURE_HEIGHT tall) with its caption."""
    size = _image_size(figure["png"]) if figure.get("png") else None
    if size is None:
        _paragraph(pdf, f"{figure.get('title')}: no PNG version (see report.html).", 8.5, "I", WARN)
        return
    width = min(pdf.epw, size[0])  # the figure's own print size, so small stays small
    height = width * size[1] / size[0]
    if height > MAX_FIGURE_HEIGHT:
        width, height = width * MAX_FIGURE_HEIGHT / height, MAX_FIGURE_HEIGHT
    if pdf.get_y() + height + 14 > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(figure["png"]), x=pdf.l_margin + (pdf.epw - width) / 2, y=pdf.get_y(), w=width, h=height)
    pdf.set_y(pdf.get_y() + height + 1.5)
    pdf.set_x(pdf.l_margin)
    pdf.style(8, "B", MUTED)
    pdf.write(4, pdf.clean(figure.get("title", "")) + ". ")
    pdf.style(8, "", MUTED)
    pdf.write(4, pdf.clean(figure.get("caption", "")))
    if figure.get("source"):
        pdf.style(6.5, color=MUTED, mono=True)
        pdf.write(4, "  " + pdf.clean(figure["source"]))
    pdf.ln(8)


def _analysis_table(pdf: ReportPDF, table: dict[str, Any]) -> None:
    """An analysis CSV: at most MAX_PDF_TABLE_ROWS rows, and wide tables in slices of
    MAX_PDF_COLUMNS columns, each repeating the first (key) column."""
    width = len(table["columns"])
    # Pad or cut ragged CSV rows: an fpdf2 table needs one value per column.
    rows = [[number(v) if table["numeric"][i] else v for i, v in enumerate((r + [""] * width)[:width])]
            for r in table["rows"][:MAX_PDF_TABLE_ROWS]]
    caption = table["title"]
    if table["total_rows"] > len(rows):
        caption += f" (first {len(rows)} of {table['total_rows']} rows)"
    starts = list(range(1, width, MAX_PDF_COLUMNS - 1)) or [1]
    for start in starts:
        chosen = [0, *range(start, min(width, start + MAX_PDF_COLUMNS - 1))]
        part = f", columns {start + 1}-{chosen[-1] + 1} of {width}" if len(starts) > 1 else ""
        _table(pdf, [table["columns"][i] for i in chosen], [[row[i] for i in chosen] for row in rows],
               numeric=[table["numeric"][i] for i in chosen], size=7 if len(chosen) > 6 else 7.5,
               caption=f"{caption}{part}  [{table['source']}]")


def _analysis_block(pdf: ReportPDF, analysis: dict[str, Any], section: str, empty_note: str) -> None:
    figures = analysis["figures"].get(section, [])
    tables = analysis["tables"].get(section, [])
    for figure in figures:
        _figure(pdf, figure)
    for table in tables:
        _analysis_table(pdf, table)
    if not figures and not tables:
        _paragraph(pdf, empty_note, 9, "I", WARN)


# ---------------------------------------------------------------- sections


QUESTION = ("The question: can a convolutional network trained to classify images by the number of circles they "
            "contain really count, or does it learn cues that happen to go with the number (ink area, circle size, "
            "spacing), and why did the original post's counting accuracy collapse from 1-5 circles to 45-50?")


def _title_block(pdf: ReportPDF, data: dict[str, Any]) -> None:
    pdf.add_page()
    _paragraph(pdf, "CAN CONVOLUTIONAL NETWORKS COUNT? · STUDY REPORT", 8, color=MUTED)
    _paragraph(pdf, data["name"], 22, "B")
    if data["description"]:
        _paragraph(pdf, data["description"], 11, color=MUTED)
    _paragraph(pdf, f"Run folder {data['run_dir']} · report generated {data['generated']}", 8, color=MUTED)
    pdf.ln(3)


def _summary(pdf: ReportPDF, data: dict[str, Any], title: str) -> None:
    _heading(pdf, title)
    _paragraph(pdf, QUESTION)
    overview, analysis = data["overview"], data["analysis"]
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(overview["by_status"].items()))
    analysed = (f"{analysis['cells_analysed'] if analysis['cells_analysed'] is not None else '?'} cells analysed in "
                f"{duration(analysis['seconds'])}" if analysis["present"] else "not run")
    _facts(pdf, [
        ("Cells", f"{overview['cells']}" + (f": {statuses}" if statuses else "")),
        ("Tasks", ", ".join(overview["tasks"]) or "–"),
        ("Devices", ", ".join(overview["devices"]) or "–"),
        ("Weights used", ", ".join(overview["weights_used"]) or "–"),
        ("Training time", f"{duration(overview['seconds'])} (sum over cells)"),
        ("Analysis", analysed),
    ])
    _heading(pdf, "Headline findings", 1)
    if data["findings"]:
        _items(pdf, [(f["title"] + ".", f["text"]) for f in data["findings"]])
    else:
        _paragraph(pdf, "No findings yet: no cell has finished.", 9, "I", WARN)
    if data["missing"]:
        _heading(pdf, "What is missing", 1)
        _items(pdf, [(m["what"] + ":", m["why"]) for m in data["missing"]], 8.5)


def _reproduction(pdf: ReportPDF, data: dict[str, Any], title: str) -> None:
    _heading(pdf, title)
    _paragraph(pdf, f"Each experiment of {data['post_title']} beside this run's cell with the same task, count range, "
                    f"augmentation, weights, epochs and learning rate. The post's recipe: {data['post_recipe']}. "
                    "Accuracy is on the test split for counting cells and the validation split for photo cells.")
    rows = []
    for experiment in data["reproduction"]:
        lead = [experiment["name"], experiment["settings"], experiment["published_text"]]
        if not experiment["ours"]:
            closest = experiment["closest"]
            if closest:  # our nearest cell, under other settings
                rows.append(lead + [f"closest here: {closest['settings']} (differs in {closest['differs']})",
                                    f"({number(closest['accuracy'])})", "not run: " + experiment["reason"]])
            else:
                rows.append(lead + ["–", "–", "not run: " + experiment["reason"]])
        for index, ours in enumerate(experiment["ours"]):
            status = ours["status"] + (f": {ours['note']}" if ours["note"] else "")
            rows.append((lead if index == 0 else ["", "", ""]) + [ours["settings"], number(ours["accuracy"]), status])
    _table(pdf, ["Experiment", "Post's settings", "Published", "Our settings", "Our accuracy", "Status"], rows,
           widths=(2.2, 2.6, 1.7, 3.0, 1.1, 2.4), numeric=[False, False, False, False, True, False], size=7)


def _results_table(pdf: ReportPDF, data: dict[str, Any]) -> None:
    """results.csv key columns: the label stands in for the id and axes (the HTML has them all)."""
    columns = ["cell", "status", "valid acc.", "test acc.", "count MAE", "label noise", "seconds", "device", "weights used"]
    rows = [[row["label"], row.get("status", ""), number(row.get("valid_accuracy")), number(row.get("test_accuracy")),
             number(row.get("count_mae")), number(row.get("label_noise_rate")), number(row.get("seconds"), 1),
             row.get("device", ""), row.get("weights_used", "")] for row in data["rows"]]
    _table(pdf, columns, rows, widths=(4.2, 1.1, 1, 1, 1, 1, 1, 0.9, 1.2),
           numeric=[False, False, True, True, True, True, True, False, False], size=7,
           caption="results.csv, key columns (cell ids and every column: report.html and results.csv)")


def _sweep(pdf: ReportPDF, data: dict[str, Any], title: str) -> None:
    _heading(pdf, title)
    _analysis_block(pdf, data["analysis"], "sweep", "No sweep figures from the analysis package (see What is missing).")
    for chart in (data["charts"]["per_count"], data["charts"]["learning_curves"]):
        if chart:
            _figure(pdf, chart)
    _heading(pdf, "Results table", 1)
    if data["rows"]:
        _results_table(pdf, data)
    else:
        _paragraph(pdf, "No results yet.", 9, "I", WARN)
    if data["problems"]:
        _heading(pdf, "Failed, skipped and pending cells", 1)
        _items(pdf, [(f"{p['status']} {p['cell_id']}:", p["error"]) for p in data["problems"]], 8.5)


def _drivers(pdf: ReportPDF, data: dict[str, Any], title: str) -> None:
    _heading(pdf, title)
    _paragraph(pdf, "Augmentation label noise against accuracy, where attribution falls (on the circles or the "
                    "background), counterfactual interventions, regression on numerosity versus size and spacing "
                    "cues, linear probes and non-learned baselines: all from the analysis package.")
    _analysis_block(pdf, data["analysis"], "drivers", "No driver analysis in this run (see What is missing).")
    _heading(pdf, "Attribution", 1)
    _analysis_block(pdf, data["analysis"], "attribution", "No attribution figures in this run.")


def _photo_cell(pdf: ReportPDF, cell: dict[str, Any]) -> None:
    _heading(pdf, cell["label"], 1)
    if cell["classes"] and cell["confusion"]:
        classes = cell["classes"]
        rows = [[classes[i] if i < len(classes) else "?"] + [str(v) for v in (line + [""] * len(classes))[:len(classes)]]
                for i, line in enumerate(cell["confusion"])]
        _table(pdf, ["true \\ predicted", *classes], rows, numeric=[False] + [True] * len(classes), size=7.5,
               caption="Confusion matrix (rows: true class, columns: predicted)")
    if cell["most_confused"]:
        _items(pdf, [("", f"{item[0]} → {item[1]}: {item[2]}") for item in cell["most_confused"] if len(item) >= 3], 8.5)
    if cell["lr_find_png"]:
        _figure(pdf, {"title": "Learning-rate finder", "png": cell["lr_find_png"],
                      "caption": f"Loss against learning rate for {cell['label']}.",
                      "source": f"cells/{cell['cell_id']}/lr_find.png"})
    if cell["skipped_files"]:
        _paragraph(pdf, "Unreadable files skipped: " + ", ".join(cell["skipped_files"]), 8, color=WARN)


def _photo(pdf: ReportPDF, data: dict[str, Any], title: str) -> None:
    _heading(pdf, title)
    if data["photo"]:
        rows = [[c["label"], c["data"], c["status"], number(c["accuracy"]), general(c["lr_used"]), c["error"]]
                for c in data["photo"]]
        _table(pdf, ["Cell", "Data", "Status", "Accuracy", "lr used", "Notes"], rows, widths=(3, 2, 1, 1, 1, 4),
               numeric=[False, False, False, True, True, False])
        for cell in data["photo"]:
            if cell["status"] == "done":
                _photo_cell(pdf, cell)
    else:
        _paragraph(pdf, "This sweep has no photo (folder) cells; the seed preset runs the post's paintings and "
                        "cats-vs-kittens tasks.", 9, "I", WARN)
    _analysis_block(pdf, data["analysis"], "photo", "No photo figures from the analysis package (top losses with "
                                                    "Grad-CAM appear here when it runs).")


def _provenance(pdf: ReportPDF, data: dict[str, Any], title: str) -> None:
    _heading(pdf, title)
    prov = data["provenance"]
    _facts(pdf, [
        ("Reproduce", prov["command"]), ("Rebuild report", prov["report_command"]),
        ("Code commit", f"{prov['commit']} (at report time)"), ("Devices", ", ".join(prov["devices"]) or "–"),
        ("Seeds", ", ".join(prov["seeds"]) or "–"), ("Platform", prov["platform"]),
    ], 8.5)
    versions = list(prov["versions"].items())
    half = (len(versions) + 1) // 2  # two pairs of columns: half the height
    pairs = [[*versions[i], *(versions[i + half] if i + half < len(versions) else ("", ""))] for i in range(half)]
    _table(pdf, ["Package", "Version", "Package", "Version"], pairs, widths=(1, 1, 1, 1), size=7.5,
           caption="Package versions")
    if prov["datasets"]:
        _table(pdf, ["What", "Hash", "Detail"], [[d["what"], d["hash"], d["detail"]] for d in prov["datasets"]],
               widths=(3, 1.3, 2.5), size=7, caption="Datasets (spec hashes)")
    _heading(pdf, "Resolved sweep config (sweep.toml)", 1)
    if prov["sweep_toml"]:
        _paragraph(pdf, prov["sweep_toml"], 7, mono=True)
    else:
        _paragraph(pdf, "sweep.toml is missing.", 9, "I", WARN)


SECTION_RENDERERS = {"summary": _summary, "reproduction": _reproduction, "sweep": _sweep,
                     "drivers": _drivers, "photo": _photo, "provenance": _provenance}


def render_pdf(data: dict[str, Any]) -> bytes:
    """The report as PDF bytes, for ``data`` from ``reports.build.report_data``."""
    pdf = ReportPDF(f"Can CNNs count? {data['name']}")
    _title_block(pdf, data)
    for section_id, title in data["sections"]:
        SECTION_RENDERERS[section_id](pdf, data, title)
    return bytes(pdf.output())
