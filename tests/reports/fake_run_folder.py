"""Fake run folders: cells written through study.run.runfolder, and an analysis/summary.json
(``kit.records.AnalysisSummary``) that follows the analysis -> report contract (answer, figures, tables, configurations, comparisons,
limitations, examples, cells), sized like the quick preset's run (4 counting cells).

No training: cells get hand-written metrics/history/errors, the analysis folder gets small
PIL-drawn PNGs at the pixel sizes and dpi the analysis draws them. Messages carry absolute
paths (the run folder, a data folder, the torch cache) so privacy can be tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from kit.records import AnalysisSummary, CellMetrics
from study.run.runfolder import CellFolder, CellStatus, RunFolder
from study.config.spec import TrainSpec

# A class folder name that must come out escaped everywhere it appears.
EVIL = "<script>alert(1)</script>"
# Absolute paths outside the run folder that appear in messages; none may reach the report.
DATA_PATH = "/home/alice/data/paintings"
TORCH_CACHE = "/root/.cache/torch/hub/checkpoints/resnet34-b627a593.pth"

SWEEP_TOML = """# Resolved sweep spec (test fixture)
[sweep]
name = "fixture"
description = "Fake run for the report tests <b>not bold</b>"

[train]
arch = "resnet18"

[grid]
counts = ["1-5", "45-50"]
aug = ["fastai", "sensible"]
"""

COMMON = dict(task="counting", arch="resnet18", weights="none", size=32, n_train=40, n_test=20, epochs=3, seed=0)
# (counts, aug, test accuracy) of the four finished counting cells, as in the quick preset.
COUNTING = [("1-5", "fastai", 0.87), ("1-5", "sensible", 0.95), ("45-50", "fastai", 0.27), ("45-50", "sensible", 0.41)]


def png(path: Path, size: tuple[int, int], dpi: int = 100, shade: int = 0) -> None:
    """A small PNG of ``size`` pixels at ``dpi`` with a few shapes (like a plot, compresses like one)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle([width // 10, height // 10, width - width // 10, height - height // 10], outline=(90, 90, 90))
    for i in range(6):
        x = width // 10 + i * (width * 8 // 10) // 6
        draw.rectangle([x + 4, height // 2 - i * height // 20 + shade % 7, x + 30, height - height // 10],
                       fill=(42 + 20 * i, 93, 176))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, dpi=(dpi, dpi))


def _history(accuracy: float) -> list[dict[str, Any]]:
    return [{"epoch": e, "train_loss": 1.5 - a, "valid_loss": 1.6 - a, "error_rate": 1 - a, "accuracy": a, "time": 3.0}
            for e, a in enumerate([accuracy / 2, accuracy * 0.9, accuracy])]


def _counting_cell(cell: CellFolder, spec: TrainSpec, accuracy: float) -> None:
    classes = _classes(spec.counts)
    cell.reset(spec.to_dict())
    cell.write_history(_history(accuracy))
    cell.write_metrics(CellMetrics(
        valid_accuracy=accuracy + 0.01, test_accuracy=accuracy, error_rate=1 - accuracy, classes=classes,
        confusion_matrix=[[5 if i == j else 1 for j in classes] for i in classes], count_mae=round(1 - accuracy, 3),
        label_noise_rate=0.2, seconds=12.5, device="cpu", weights_used="none", lr_used=spec.lr, n_train=32,
        n_valid=8, n_test=20,
    ))


def _photo_cell(cell: CellFolder, spec: TrainSpec) -> None:
    cell.reset(spec.to_dict())
    cell.write_history(_history(0.9))
    cell.write_metrics(CellMetrics(
        valid_accuracy=0.9, test_accuracy=None, error_rate=0.1, classes=["cat", EVIL],
        confusion_matrix=[[19, 1], [3, 17]], seconds=30.0, device="cpu", weights_used="imagenet", lr_used=3e-3,
        n_train=160, n_valid=40, n_test=0,
    ))


def _cells(run: RunFolder, problems: bool) -> dict[str, TrainSpec]:
    """Write the cell folders; returns label -> spec of the finished ones."""
    done = {}
    for counts, aug, accuracy in COUNTING:
        spec = TrainSpec(counts=counts, aug=aug, **COMMON)
        _counting_cell(run.cell(spec.cell_id()), spec, accuracy)
        done[f"{counts} · {aug}"] = spec
    photo = TrainSpec(task="folder", data="data/kittencat", aug="fastai", epochs=5, lr=3e-3, weights="imagenet")
    _photo_cell(run.cell(photo.cell_id()), photo)
    done["kittencat · fastai"] = photo
    if problems:
        failed = TrainSpec(counts="1-5", aug="none", **COMMON)
        cell = run.cell(failed.cell_id())
        cell.reset(failed.to_dict())
        cell.write_error(CellStatus.FAILED, f"RuntimeError: out of memory reading {run.path.resolve()}/.cache/"
                         f"counting-0123.pt {EVIL}", "Traceback ...")
        skipped = TrainSpec(task="folder", data=DATA_PATH, epochs=5, weights="imagenet")
        cell = run.cell(skipped.cell_id())
        cell.reset(skipped.to_dict())
        cell.write_error(CellStatus.SKIPPED, f"{DATA_PATH}: folder not found; weights not in {TORCH_CACHE}")
    return done


def _figure_entries(base: Path) -> list[dict[str, str]]:
    """The figures a quick run's analysis writes: (id, section, pixel size)."""
    layout = [("accuracy_by_range", "answer", (700, 380)), ("per_count_accuracy", "results", (700, 300)),
              ("learning_curves", "results", (700, 280)), ("seed_spread", "results", (500, 260)),
              ("label_noise", "drivers", (600, 300)), ("interventions", "drivers", (600, 300)),
              ("weber_fraction", "numerosity", (650, 300)),
              ("confusion_matrices", "appendix", (700, 420)), ("off_by_k", "appendix", (600, 300))]
    entries = []
    for index, (name, section, size) in enumerate(layout):
        png(base / "figures" / f"{name}.png", size, dpi=100, shade=index)
        entries.append({"id": name, "file": f"figures/{name}.png", "title": f"Figure {name}",
                        "takeaway": f"Takeaway of {name}: 0.87 vs 0.27 (n=20 images) {EVIL}.", "section": section})
    return entries


VERDICT_COLUMNS = ["Configuration", "Verdict", "i.i.d. accuracy", "Controlled accuracy", "i.i.d. - controlled",
                   "bSize/bN (0 counter, 1 ink)", "Chance", "Seeds"]
VERDICT_ROWS = [
    ["1-5 · fastai", "counts", "0.95 [0.85, 1.00]", "0.90 [0.75, 0.95]",
     "0.05 [-0.10, 0.20] (size generalisation; Newcombe over images, 1 seed)", "0.04 [-0.02, 0.10]", "0.20", "1"],
    ["45-50 · fastai", "neither: chance", "0.18 [0.08, 0.23]", "0.15 [0.05, 0.20]",
     "0.03 [-0.10, 0.15] (size generalisation; Newcombe over images, 1 seed)",
     "no number signal (bN 0.01 [-0.02, 0.04])", "0.17", "1"],
]


def _tables(base: Path) -> list[dict[str, Any]]:
    (base / "tables").mkdir(parents=True, exist_ok=True)
    rows = [[str(c), "fastai", f"{0.9 - c / 100:.2f}", "20"] for c in range(1, 41)]
    (base / "tables" / "per_count_accuracy.csv").write_text(
        "count,augmentation,accuracy,n\n" + "\n".join(",".join(r) for r in rows) + "\n")
    (base / "tables" / "label_noise.csv").write_text("policy,noise\nfastai,0.21\nsensible,0.00\n")
    (base / "tables" / "verdicts.csv").write_text("configuration,verdict\n1-5 · fastai,counts\n")
    return [
        {"id": "verdicts", "file": "tables/verdicts.csv", "title": "Verdict per configuration", "section": "answer",
         "columns": VERDICT_COLUMNS, "rows": VERDICT_ROWS},
        {"id": "per_count_accuracy", "file": "tables/per_count_accuracy.csv", "title": "Accuracy per true count",
         "section": "appendix", "columns": ["count", "augmentation", "accuracy", "n"], "rows": rows[:15]},
        {"id": "label_noise", "file": "tables/label_noise.csv", "title": "Label noise per policy", "section": "drivers",
         "columns": ["policy", "label noise"], "rows": [["fastai", "0.21"], ["sensible", "0.00"]]},
    ]


def _configurations(done: dict[str, TrainSpec]) -> list[dict[str, Any]]:
    configurations = []
    for label, spec in done.items():
        accuracy = 0.9 if spec.task == "folder" else next(a for c, g, a in COUNTING if f"{c} · {g}" == label)
        key = {"task": spec.task, "counts": spec.counts if spec.task == "counting" else "", "aug": spec.aug,
               "data": spec.data}
        configurations.append({
            "label": label, "key": key, "cells": [spec.cell_id()], "n_seeds": 1, "n_images": 20,
            "accuracy": {"mean": accuracy, "low": accuracy - 0.1, "high": min(1.0, accuracy + 0.05),
                         "method": "Wilson over images"},
            "dewind_accuracy": {"mean": accuracy - 0.05, "low": accuracy - 0.2, "high": accuracy,
                                "method": "Wilson over images"}})
    return configurations


def _classes(counts: str) -> list[str]:
    lo, hi = (int(x) for x in counts.split("-"))
    return [str(c) for c in range(lo, hi + 1)]


def _cells_drill(base: Path, done: dict[str, TrainSpec]) -> dict[str, Any]:
    cells = {}
    for index, (label, spec) in enumerate(done.items()):
        classes = ["cat", EVIL] if spec.task == "folder" else _classes(spec.counts)
        files = []
        for k in range(2):
            name = f"misclassified/{spec.cell_id()}-{k}.png"
            png(base / name, (96, 96), shade=index + k)
            files.append({"file": name, "true": classes[-1], "pred": classes[0]})
        cells[spec.cell_id()] = {"label": label, "history": _history(0.8), "classes": classes,
                                 "confusion": [[4 if i == j else 1 for j in classes] for i in classes],
                                 "misclassified": files}
    return cells


def write_summary(run: RunFolder, done: dict[str, TrainSpec]) -> None:
    """analysis/ with PNGs, CSVs and a summary.json per the analysis -> report contract."""
    base = run.analysis_dir
    examples = []
    for index, (label, spec) in enumerate(list(done.items())[:4]):
        name = f"examples/{spec.cell_id()}.png"
        png(base / name, (720, 260), shade=index)
        examples.append({"cell_id": spec.cell_id(), "label": f"{label}: Grad-CAM, IG, remove one circle",
                         "file": name, "caption": f"Caption of example {index}."})
    summary = AnalysisSummary(
        answer={
            "question": "Can convolutional networks count?",
            "abstract": [
                "A ResNet-18 trained from scratch counts 1-5 circles with accuracy 0.95 (95% CI 0.85-1.00, n=20 "
                "test images) but 45-50 circles only 0.41 (95% CI 0.22-0.61, n=20).",
                "Sensible augmentation beats fastai's by 0.08 on 1-5 circles (n=1 seed).",
                f"Attribution maps put 0.62 of their mass on circles (n=40 images; run folder {run.path.resolve()}).",
            ],
            "cannot_tell": ["One seed per configuration: no spread over seeds.",
                            "No pretrained weights: the post's ImageNet start is not tested."],
        },
        figures=_figure_entries(base),
        tables=_tables(base),
        configurations=_configurations(done),
        comparisons=[
            {"axis": "augmentation", "a": "sensible", "b": "fastai", "configuration": "1-5", "n_seeds": 1,
             "split": "i.i.d. test", "difference": 0.08, "ci": [-0.05, 0.21], "p": 0.039, "p_seeds": None, "p_images": 0.039,
             "n_images": 20, "test": "exact McNemar (binomial) on discordant pairs pooled over seeds, n=20 images",
             "effect_size": 0.3}],
        limitations=["Images are 32 px: small circles merge at 45-50.",
                     f"The photo folder {DATA_PATH} was not found, so one reproduction row is missing."],
        examples=examples,
        cells=_cells_drill(base, done),
        missing=[{"what": "Grad-CAM for the photo cell", "why": f"weights not in {TORCH_CACHE}"}],
    )
    (base / AnalysisSummary.FILE).write_bytes(summary.to_bytes())


def make_run(root: Path, *, analysis: bool = True, results: bool = True, problems: bool = True) -> Path:
    """Write a fake run folder ``root/runs/fixture`` and return it.

    Cells: four finished counting cells (1-5/45-50 x fastai/sensible), a finished photo cell whose
    second class is EVIL, and (with ``problems``) a failed counting cell and a skipped photo cell whose
    messages carry absolute paths.
    """
    run = RunFolder(root / "runs" / "fixture")
    run.path.mkdir(parents=True)
    run.write_sweep_text(SWEEP_TOML)
    done = _cells(run, problems)
    if results:
        run.write_results([cell.record() for cell in run.cells()])
    if analysis:
        write_summary(run, done)
    run.cache_dir.mkdir()
    (run.cache_dir / "counting-0123456789abcdef.pt").write_bytes(b"x" * 100)
    return run.path
