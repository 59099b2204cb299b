"""Render the report as a short PDF with fpdf2: page 1 answers the question, then the sections.

Why fpdf2: it is pure Python and installs from the package index with no
system libraries (no Cairo, Pango or a browser, unlike WeasyPrint or
headless-Chrome printing), so ``pip install -e .`` is all a report needs, on
any machine a sweep runs on.

Text uses DejaVu Sans from matplotlib's bundled fonts
(``matplotlib/mpl-data/fonts/ttf``), so class names and error messages in any
script DejaVu covers print as written; without that file the core Helvetica
font is used and text is reduced to latin-1.

Layout: A4 portrait. Page 1 holds the question, the abstract, the verdict
table, what the run cannot tell and the answer figure; the sections follow one after another
(each an outline entry), not one per page, so a quick run reads in a few
pages. Figures are placed at the size they were drawn (pixels / dpi), never
enlarged. The appendix (every cell, every table, the drill-down) is in the
HTML report only.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.enums import TableCellFillMode

from kit.formatting import number
from reports.summary import MAX_BODY_ROWS, Figure, Table

__all__ = ["render_pdf", "ReportPDF", "MAX_PDF_EXAMPLES"]

INK, MUTED, WARN = (29, 36, 51), (91, 100, 117), (161, 92, 7)
ZEBRA, RULE = (245, 247, 250), (217, 222, 231)
MAX_FIGURE_HEIGHT = 110.0  # mm: a tall figure is shrunk so two fit a page
MAX_PDF_EXAMPLES = 6  # "what drives counting" images in the PDF; the HTML has them all


class ReportPDF(FPDF):
    """FPDF with the report's fonts, a page-numbered footer and text helpers."""

    def __init__(self, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report_title = title
        self.set_margins(16, 14, 16)
        self.set_auto_page_break(auto=True, margin=15)
        self.sans, self.mono, self.unicode = _register_fonts(self)
        self.set_title(title)
        self.set_creator("reports (fpdf2)")

    def clean(self, text: Any) -> str:
        """Text the current font can draw: as is with DejaVu, latin-1 with the core fonts."""
        text = "" if text is None else str(text)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def footer(self) -> None:
        self.set_y(-10)
        self.style(7, color=MUTED)
        self.cell(0, 5, self.clean(f"{self.report_title} · page {self.page_no()} of {{nb}}"), align="C")

    def style(self, size: float, emphasis: str = "", color: tuple[int, int, int] = INK, mono: bool = False) -> None:
        """Set font family/emphasis/size and text colour in one call."""
        self.set_font(self.mono if mono else self.sans, emphasis, size)
        self.set_text_color(*color)


def _register_fonts(pdf: FPDF) -> tuple[str, str, bool]:
    """Add DejaVu Sans/Mono from matplotlib; fall back to core fonts. Returns (sans, mono, unicode)."""
    try:
        import matplotlib  # only for the path of its bundled fonts

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
    """A section (level 0: outline entry and rule) or sub-heading, kept with what follows it."""
    if pdf.get_y() > pdf.page_break_trigger - 40:  # never a heading alone at the foot of a page
        pdf.add_page()
    if level == 0:
        pdf.ln(3)
        pdf.start_section(pdf.clean(title), level=0)
        pdf.style(15, "B")
        pdf.cell(0, 9, pdf.clean(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(*RULE)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(3)
        return
    pdf.ln(1)
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
           size: float = 7.5, caption: str = "") -> None:
    """A zebra table (at most MAX_BODY_ROWS rows) with a dark heading row that repeats after page breaks."""
    if caption:
        _paragraph(pdf, caption, 8.5, "B")
    pdf.style(size)
    heading_style = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=INK)
    width = len(columns)
    with pdf.table(col_widths=widths, text_align="LEFT", headings_style=heading_style, cell_fill_color=ZEBRA,
                   cell_fill_mode=TableCellFillMode.EVEN_ROWS, line_height=size * 0.5, padding=1.0,
                   borders_layout="HORIZONTAL_LINES", width=pdf.epw, align="LEFT") as table:
        pdf.set_draw_color(*RULE)
        table.row([pdf.clean(c) for c in columns])
        for values in rows[:MAX_BODY_ROWS]:
            table.row([pdf.clean(v) for v in (list(values) + [""] * width)[:width]])  # ragged rows padded
    pdf.ln(3)


def _analysis_table(pdf: ReportPDF, table: Table) -> None:
    _table(pdf, table.columns, table.rows, caption=table.title)


def _figure(pdf: ReportPDF, figure: Figure) -> None:
    """A PNG at the size it was drawn (shrunk only to fit the page), with its takeaway."""
    width = min(pdf.epw, figure.width_mm)
    height = width * figure.height / figure.width
    if height > MAX_FIGURE_HEIGHT:
        width, height = width * MAX_FIGURE_HEIGHT / height, MAX_FIGURE_HEIGHT
    if pdf.get_y() + height + 12 > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(figure.png), x=pdf.l_margin + (pdf.epw - width) / 2, y=pdf.get_y(), w=width, h=height)
    pdf.set_y(pdf.get_y() + height + 1.5)
    pdf.set_x(pdf.l_margin)
    pdf.style(8.5, "B")
    pdf.write(4.2, pdf.clean(figure.title) + ". ")
    pdf.style(8.5)
    pdf.write(4.2, pdf.clean(figure.takeaway))
    pdf.ln(7)


# ---------------------------------------------------------------- page 1 and sections


def _front_page(pdf: ReportPDF, data: dict[str, Any]) -> None:
    front = data["front"]
    pdf.add_page()
    _paragraph(pdf, f"STUDY REPORT · RUN {data['name'].upper()} · {data['generated']}", 7.5, color=MUTED)
    _paragraph(pdf, front["question"], 20, "B")
    if data["description"]:
        _paragraph(pdf, data["description"], 9.5, color=MUTED)
    pdf.ln(1)
    pdf.start_section(pdf.clean("Abstract"), level=0)
    _paragraph(pdf, "Abstract", 10.5, "B")
    _paragraph(pdf, " ".join(front["abstract"]), 10)
    if front["verdicts"] is not None:
        _verdicts(pdf, front["verdicts"])
    if front["cannot_tell"]:
        _paragraph(pdf, "What this run cannot tell", 9.5, "B")
        _items(pdf, [("", sentence) for sentence in front["cannot_tell"]], 9)
    if front["figure"] is not None:
        _figure(pdf, front["figure"])


def _verdicts(pdf: ReportPDF, table: Table) -> None:
    """The verdict table, its verdict column in bold: page 1's answer in one line per configuration."""
    widths = tuple(2.0 if column in ("Verdict", "i.i.d. - controlled", "bSize/bN (0 counter, 1 ink)") else
                   0.85 if column in ("Seeds", "Chance") else 1.3 for column in table.columns)
    _table(pdf, table.columns, table.rows, widths=widths, size=6.5, caption=table.title)


def _reproduction(pdf: ReportPDF, data: dict[str, Any]) -> None:
    _paragraph(pdf, f"Each experiment of {data['post_title']} beside this run's matching configuration. "
                    f"The post's recipe: {data['post_recipe']}.", 8.5, color=MUTED)
    rows = [[f"{e['name']}\n{e['settings']}", e["published"], "\n".join([*e["ours"], e["note"]]).strip()]
            for e in data["reproduction"]]
    _table(pdf, ["Experiment (post's settings)", "Post", "This run"], rows, widths=(2.2, 1.2, 3.0), size=7)
    for figure in data["analysis"].figures_in("reproduction"):
        _figure(pdf, figure)
    for table in data["analysis"].tables_in("reproduction"):
        _analysis_table(pdf, table)


def _results(pdf: ReportPDF, data: dict[str, Any]) -> None:
    analysis = data["analysis"]
    configurations = data["configurations"]
    if configurations:
        caption = "Accuracy per configuration"
        if len(configurations) > MAX_BODY_ROWS:
            caption += f" (first {MAX_BODY_ROWS} of {len(configurations)}; the HTML report lists all)"
        _table(pdf, ["Configuration", "Test accuracy", "Controlled (DeWind) test", "Seeds", "Images"],
               [[c["label"], c["accuracy"], c["dewind"], c["n_seeds"], c["n_images"]] for c in configurations],
               widths=(1.6, 2.6, 2.0, 0.6, 0.7), caption=caption)
    if analysis.comparisons:
        rows = [[c.get("axis"), f"{c.get('a')} vs {c.get('b')}", c.get("configuration"),
                 number(c.get("difference")) + (f" ({number(c['ci'][0])}–{number(c['ci'][1])})"
                                                if isinstance(c.get("ci"), list) and len(c["ci"]) == 2 else ""),
                 number(c.get("p_seeds")), number(c.get("p_images", c.get("p"))), c.get("n_seeds"),
                 c.get("n_images"), c.get("test")] for c in analysis.comparisons]
        _table(pdf, ["Setting", "A vs B", "Within", "Difference (95% CI)", "p, t over seeds",
                     "p, images (seed-stratified)", "Seeds", "Images", "Tests"], rows,
               widths=(1.0, 1.3, 1.2, 1.5, 0.8, 0.9, 0.6, 0.7, 2.0), size=7, caption="Paired comparisons")
    for figure in analysis.figures_in("results"):
        _figure(pdf, figure)
    for table in analysis.tables_in("results"):
        _analysis_table(pdf, table)


def _drivers(pdf: ReportPDF, data: dict[str, Any]) -> None:
    analysis = data["analysis"]
    for figure in analysis.figures_in("drivers"):
        _figure(pdf, figure)
    for example in analysis.examples[:MAX_PDF_EXAMPLES]:
        _figure(pdf, example.figure)
    if len(analysis.examples) > MAX_PDF_EXAMPLES:
        _paragraph(pdf, f"{len(analysis.examples) - MAX_PDF_EXAMPLES} more examples are in the HTML report.", 8.5,
                   "I", MUTED)
    for table in analysis.tables_in("drivers"):
        _analysis_table(pdf, table)
    if not analysis.figures_in("drivers") and not analysis.examples:
        _paragraph(pdf, "No attribution or intervention results in this run (see Limitations).", 9, "I", WARN)


def _numerosity(pdf: ReportPDF, data: dict[str, Any]) -> None:
    analysis = data["analysis"]
    for figure in analysis.figures_in("numerosity"):
        _figure(pdf, figure)
    for table in analysis.tables_in("numerosity"):
        _analysis_table(pdf, table)


def _limitations(pdf: ReportPDF, data: dict[str, Any]) -> None:
    _items(pdf, [("", sentence) for sentence in data["limitations"]], 9)
    if data["missing"]:
        _paragraph(pdf, "What is missing from this run", 9.5, "B")
        _items(pdf, [(f"{what}:", why) for what, why in data["missing"]], 8.5)
    if not data["limitations"] and not data["missing"]:
        _paragraph(pdf, "None recorded.", 9)


def _methods(pdf: ReportPDF, data: dict[str, Any]) -> None:
    _facts(pdf, data["provenance"], 8)


SECTION_RENDERERS = {"reproduction": _reproduction, "results": _results, "drivers": _drivers,
                     "numerosity": _numerosity, "limitations": _limitations, "methods": _methods}


def render_pdf(data: dict[str, Any]) -> bytes:
    """The report as PDF bytes, for ``data`` from ``reports.build.report_data``."""
    pdf = ReportPDF(f"{data['front']['question']} Run {data['name']}")
    _front_page(pdf, data)
    for section_id, title in data["sections"]:
        if section_id == "reproduction":  # page 1 is the answer alone
            pdf.add_page()
        _heading(pdf, title)
        SECTION_RENDERERS[section_id](pdf, data)
    return bytes(pdf.output())
