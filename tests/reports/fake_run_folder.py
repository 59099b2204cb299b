"""Fake run folders that follow docs/RUN_FOLDER.md and the analysis summary.json contract.

No training: cells get hand-written metrics.json/history.csv/error.json, the
results table is built by study.store (so it has the real columns), and the
analysis folder gets tiny matplotlib figures and a table.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from study.spec import TrainSpec
from study.store import results_rows, write_results

# A class folder name that must come out escaped everywhere it appears.
EVIL = "<script>alert(1)</script>"

SWEEP_TOML = """# Resolved sweep spec (test fixture)
[sweep]
name = "fixture"
description = "Fake run for the report tests <b>not bold</b>"

[train]
arch = "resnet34"
weights = "imagenet"

[[grid]]
task = "counting"
counts = ["1-5", "45-50"]
"""


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _history(path: Path, accuracies: list[float]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "train_loss", "valid_loss", "error_rate", "accuracy", "time"])
        for epoch, accuracy in enumerate(accuracies):
            writer.writerow([epoch, 1.5 - accuracy, 1.6 - accuracy, 1 - accuracy, accuracy, 3.0])


def _png(path: Path, svg: bool = True) -> None:
    """A tiny real matplotlib figure as PNG (and SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(3, 2))
    axes.plot([0, 1, 2], [0, 1, 0])
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=50)
    if svg:
        figure.savefig(path.with_suffix(".svg"))
    plt.close(figure)


def _counting_cell(folder: Path, spec: TrainSpec, accuracy: float, noise: float) -> None:
    lo, hi = (int(x) for x in spec.counts.split("-"))
    classes = [str(c) for c in range(lo, hi + 1)]
    _write_json(folder / "spec.json", spec.to_dict())
    _history(folder / "history.csv", [accuracy / 2, accuracy * 0.9, accuracy])
    _write_json(folder / "metrics.json", {
        "status": "done", "valid_accuracy": accuracy + 0.01, "test_accuracy": accuracy,
        "error_rate": 1 - accuracy, "classes": classes,
        "per_class_accuracy": {c: max(0.0, accuracy - 0.05 * i) for i, c in enumerate(classes)},
        "confusion_matrix": [[5 if i == j else 1 for j in classes] for i in classes],
        "most_confused": [[classes[-1], classes[-2], 3]], "count_mae": round(1 - accuracy, 3),
        "off_by_k": {"0": accuracy, "1": 1 - accuracy, "2": 0, "3+": 0}, "label_noise_rate": noise,
        "seconds": 12.5, "device": "cpu", "weights_used": "imagenet", "skipped_files": [],
        "lr_used": spec.lr, "n_train": 32, "n_valid": 8, "n_test": 20,
    })


def _photo_cell(folder: Path, spec: TrainSpec) -> None:
    classes = ["cat", EVIL]
    _write_json(folder / "spec.json", spec.to_dict())
    _history(folder / "history.csv", [0.6, 0.8, 0.9])
    _png(folder / "lr_find.png", svg=False)
    _write_json(folder / "metrics.json", {
        "status": "done", "valid_accuracy": 0.9, "test_accuracy": None, "error_rate": 0.1,
        "classes": classes, "per_class_accuracy": {"cat": 0.95, EVIL: 0.85},
        "confusion_matrix": [[19, 1], [3, 17]], "most_confused": [[EVIL, "cat", 3]],
        "seconds": 30.0, "device": "cpu", "weights_used": "imagenet", "skipped_files": ["bad.jpg"],
        "lr_used": 3e-3, "n_train": 160, "n_valid": 40, "n_test": 0,
    })


def _analysis(run_dir: Path) -> None:
    base = run_dir / "analysis"
    figures = []
    for name, section in [("heatmap", "sweep"), ("noise", "drivers"), ("gallery", "attribution"), ("toplosses", "photo")]:
        _png(base / "figures" / f"{name}.png")
        figures.append({"path": f"figures/{name}.png", "svg": f"figures/{name}.svg",
                        "title": f"Figure {name}", "caption": f"Caption of {name} {EVIL}", "section": section})
    (base / "tables").mkdir(parents=True)
    (base / "tables" / "accuracy.csv").write_text("counts,aug,accuracy\n1-5,fastai,0.91\n45-50,fastai,0.27\n")
    (base / "tables" / "probes.csv").write_text("stage,trained,untrained\nlayer1,0.5,0.4\nlayer4,0.9,0.3\n")
    _write_json(base / "summary.json", {
        "findings": [{"title": "Crops remove circles", "text": f"fastai crops change the count of 12% {EVIL}"}],
        "figures": figures,
        "tables": [{"path": "tables/accuracy.csv", "title": "Accuracy by cell", "section": "sweep"},
                   {"path": "tables/probes.csv", "title": "Linear probes", "section": "drivers"}],
        "missing": [{"what": "Grad-CAM galleries", "why": "no checkpoint in 1 cell"}],
        "seconds": 42.0, "cells_analysed": 3,
    })


COMMON = dict(arch="resnet34", weights="imagenet", size=32, n_train=40, n_test=20, seed=0)


def make_run(root: Path, *, analysis: bool = True, results: bool = True, problems: bool = True) -> Path:
    """Write a fake run folder under ``root`` and return it.

    Cells: two finished counting cells matching the post's 3-epoch experiments,
    a finished photo cell whose second class folder is EVIL, and (with
    ``problems``) a failed counting cell and a skipped photo cell.
    """
    run_dir = root / "runs" / "fixture"
    run_dir.mkdir(parents=True)
    (run_dir / "sweep.toml").write_text(SWEEP_TOML)
    cells = [
        (TrainSpec(task="counting", counts="1-5", aug="fastai", epochs=3, **COMMON), "count", 0.87, 0.21),
        (TrainSpec(task="counting", counts="45-50", aug="fastai", epochs=3, **COMMON), "count", 0.27, 0.35),
        (TrainSpec(task="folder", data="data/kittencat", aug="fastai", epochs=5, arch="resnet34", weights="imagenet"), "photo", 0, 0),
    ]
    if problems:
        cells.append((TrainSpec(task="counting", counts="1-5", aug="sensible", epochs=15, lr=1e-4, **COMMON), "failed", 0, 0))
        cells.append((TrainSpec(task="folder", data="data/paintings", epochs=5, weights="imagenet"), "skipped", 0, 0))
    for spec, kind, accuracy, noise in cells:
        folder = run_dir / "cells" / spec.cell_id()
        if kind == "count":
            _counting_cell(folder, spec, accuracy, noise)
        elif kind == "photo":
            _photo_cell(folder, spec)
        else:
            _write_json(folder / "spec.json", spec.to_dict())
            message = ("RuntimeError: CUDA out of memory " + EVIL if kind == "failed"
                       else f"data/paintings: folder not found (class folder {EVIL})")
            _write_json(folder / "error.json", {"status": kind, "error": message, "traceback": "Traceback ..."})
    if results:
        write_results(results_rows(((s.to_dict(), s.cell_id()) for s, *_ in cells), run_dir), run_dir / "results.csv")
    if analysis:
        _analysis(run_dir)
    (run_dir / ".cache").mkdir()
    (run_dir / ".cache" / "counting-0123456789abcdef.pt").write_bytes(b"x" * 100)
    return run_dir
