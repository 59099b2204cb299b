"""Read ``analysis/summary.json``, the report's single source of numbers and words.

The analysis package writes it (docs/RUN_FOLDER.md, "analysis/"); this module
only checks its shape and loads the PNG files it names, so the renderers lay
out what the analysis computed and never recompute it. Every entry is
optional: a partial run (no analysis yet, a figure that failed) gives an
``Analysis`` with the parts it has and a ``missing`` note for the rest.
Paths in summary.json are data, not trusted: a file outside ``analysis/`` is
never read.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from study.run.runfolder import RunFolder
from kit.store import read_json

from reports.privacy import PathScrubber

__all__ = ["Analysis", "Figure", "Table", "Example", "read_analysis", "misclassified_png", "SECTIONS", "MAX_BODY_ROWS"]

# The ``section`` values of the contract; unknown ones go to the appendix.
SECTIONS = ("answer", "results", "drivers", "numerosity", "reproduction", "appendix")
# A table in the body of the report shows at most this many rows (its CSV has them all).
MAX_BODY_ROWS = 15
# Figures the analysis did not give a dpi for are taken to be drawn at this one.
DEFAULT_DPI = 100.0


@dataclasses.dataclass
class Figure:
    """A PNG the analysis drew, with what the reader needs to place it.

    Attributes:
        id: the contract's figure id; title, takeaway: its words.
        section: where it goes (one of SECTIONS).
        path: the file relative to the run folder ("analysis/figures/x.png").
        png: its bytes, embedded as they are; width, height: pixels; dpi: its drawing resolution.
    """

    id: str
    title: str
    takeaway: str
    section: str
    path: str
    png: bytes
    width: int
    height: int
    dpi: float

    @property
    def width_mm(self) -> float:
        """The printed width at which the figure was drawn (its pixels at its dpi)."""
        return self.width / self.dpi * 25.4


@dataclasses.dataclass
class Table:
    """A short table: display strings with human labels (<= MAX_BODY_ROWS rows) and its CSV."""

    id: str
    title: str
    section: str
    columns: list[str]
    rows: list[list[str]]
    csv: str  # relative to the run folder, "" when the file is not there


@dataclasses.dataclass
class Example:
    """One "what drives counting" image: input, Grad-CAM/IG overlays, before/after edits."""

    cell_id: str
    label: str
    caption: str
    figure: Figure


@dataclasses.dataclass
class Analysis:
    """What summary.json says, checked. ``present`` is False when there is no readable summary."""

    present: bool = False
    question: str = ""
    abstract: list[str] = dataclasses.field(default_factory=list)
    cannot_tell: list[str] = dataclasses.field(default_factory=list)
    figures: list[Figure] = dataclasses.field(default_factory=list)
    tables: list[Table] = dataclasses.field(default_factory=list)
    configurations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    comparisons: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    limitations: list[str] = dataclasses.field(default_factory=list)
    examples: list[Example] = dataclasses.field(default_factory=list)
    cells: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    missing: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def figures_in(self, section: str) -> list[Figure]:
        return [figure for figure in self.figures if figure.section == section]

    def tables_in(self, section: str) -> list[Table]:
        return [table for table in self.tables if table.section == section]

    @property
    def verdicts(self) -> Table | None:
        """The page-1 table: the first one in section "answer" (the verdict per configuration)."""
        answers = self.tables_in("answer")
        return answers[0] if answers else None

    @property
    def answer_figure(self) -> Figure | None:
        """The page-1 figure: the first one in section "answer"."""
        answers = self.figures_in("answer")
        return answers[0] if answers else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _strings(value: Any) -> list[str]:
    return [str(item) for item in _list(value) if isinstance(item, (str, int, float)) and str(item).strip()]


def _section(value: Any) -> str:
    return str(value) if value in SECTIONS else "appendix"


class _Reader:
    """Loads the files summary.json names, confined to ``analysis/``, noting what is missing."""

    def __init__(self, run: RunFolder, scrub: PathScrubber) -> None:
        self.base = run.analysis_dir.resolve()
        self.scrub = scrub
        self.missing: list[tuple[str, str]] = []

    def inside(self, relative: Any) -> Path | None:
        """``analysis/relative`` if it is a file that stays inside analysis/."""
        if not isinstance(relative, str) or not relative:
            return None
        path = (self.base / relative).resolve()
        return path if path.is_relative_to(self.base) and path.is_file() else None

    def figure(self, entry: dict[str, Any], section: str | None = None) -> Figure | None:
        """The PNG an entry names, or None (noted in ``missing``) when it is absent or not a PNG."""
        name = self.scrub.text(entry.get("file") or entry.get("id") or "?")
        path = self.inside(entry.get("file"))
        if path is None:
            self.missing.append((f"figure {name}", "listed in analysis/summary.json but not a file in analysis/"))
            return None
        try:
            png = path.read_bytes()
            with Image.open(io.BytesIO(png)) as image:
                if image.format != "PNG":
                    raise UnidentifiedImageError(f"a {image.format} file, not a PNG")
                width, height = image.size
                dpi = float((image.info.get("dpi") or (DEFAULT_DPI,))[0]) or DEFAULT_DPI
        except (OSError, UnidentifiedImageError) as error:
            self.missing.append((f"figure {name}", f"unreadable: {self.scrub.text(error)}"))
            return None
        return Figure(
            id=str(entry.get("id") or path.stem), title=self.scrub.text(entry.get("title")),
            takeaway=self.scrub.text(entry.get("takeaway")), section=section or _section(entry.get("section")),
            path=f"{RunFolder.ANALYSIS}/{path.relative_to(self.base).as_posix()}",
            png=png, width=width, height=height, dpi=min(max(dpi, 30.0), 600.0),
        )

    def table(self, entry: dict[str, Any]) -> Table | None:
        columns = _strings(entry.get("columns"))
        rows = [[self.scrub.text(cell) for cell in row] for row in _list(entry.get("rows")) if isinstance(row, list)]
        if not columns:
            self.missing.append((f"table {self.scrub.text(entry.get('id') or entry.get('file'))}",
                                 "listed in analysis/summary.json without columns"))
            return None
        path = self.inside(entry.get("file"))
        return Table(
            id=str(entry.get("id") or ""), title=self.scrub.text(entry.get("title")),
            section=_section(entry.get("section")), columns=[self.scrub.text(c) for c in columns],
            rows=rows[:MAX_BODY_ROWS],
            csv=f"{RunFolder.ANALYSIS}/{path.relative_to(self.base).as_posix()}" if path else "",
        )

    def example(self, entry: dict[str, Any]) -> Example | None:
        figure = self.figure(entry, section="drivers")
        if figure is None:
            return None
        figure.title = self.scrub.text(entry.get("label"))
        figure.takeaway = self.scrub.text(entry.get("caption"))
        return Example(cell_id=str(entry.get("cell_id") or ""), label=figure.title, caption=figure.takeaway,
                       figure=figure)


def read_analysis(run: RunFolder, scrub: PathScrubber) -> Analysis:
    """The checked contents of ``analysis/summary.json`` (``present=False`` when there is none).

    Args:
        run: the run folder.
        scrub: rewrites absolute paths in every string read.
    """
    summary = read_json(run.analysis_dir / "summary.json")
    if not isinstance(summary, dict):
        why = ("not run yet: python -m analysis RUN writes it" if not run.analysis_dir.is_dir()
               else "analysis/summary.json is missing or not valid JSON")
        return Analysis(missing=[("analysis", why)])
    reader = _Reader(run, scrub)
    answer = summary.get("answer") if isinstance(summary.get("answer"), dict) else {}
    analysis = Analysis(
        present=True,
        question=scrub.text(answer.get("question") or ""),
        abstract=[scrub.text(s) for s in _strings(answer.get("abstract"))],
        cannot_tell=[scrub.text(s) for s in _strings(answer.get("cannot_tell"))],
        configurations=scrub.tree(_dicts(summary.get("configurations"))),
        comparisons=scrub.tree(_dicts(summary.get("comparisons"))),
        limitations=[scrub.text(s) for s in _strings(summary.get("limitations"))],
        cells={str(k): scrub.tree(v) for k, v in (summary.get("cells") or {}).items() if isinstance(v, dict)}
        if isinstance(summary.get("cells"), dict) else {},
    )
    analysis.figures = [f for f in map(reader.figure, _dicts(summary.get("figures"))) if f is not None]
    analysis.tables = [t for t in map(reader.table, _dicts(summary.get("tables"))) if t is not None]
    analysis.examples = [e for e in map(reader.example, _dicts(summary.get("examples"))) if e is not None]
    for item in _dicts(summary.get("missing")):  # what the analysis itself could not do
        reader.missing.append((scrub.text(item.get("what")), scrub.text(item.get("why"))))
    analysis.missing = reader.missing
    return analysis


def misclassified_png(run: RunFolder, relative: Any) -> bytes | None:
    """The bytes of a drill-down PNG named relative to analysis/, or None when it is not there."""
    reader = _Reader(run, PathScrubber(run.path))
    path = reader.inside(relative)
    try:
        return path.read_bytes() if path is not None else None
    except OSError:
        return None
