import json
import shutil

import pytest
from PIL import Image

import analysis.__main__ as cli
from analysis import cell_analysis, run_analysis
from analysis.figures import DPI, WIDTH
from analysis.summary import MAX_TABLE_ROWS, SECTIONS
from helpers import TINY

PROMISED_TABLES = {"configurations", "comparisons", "cells", "baselines", "confounds", "interventions", "measurement",
                   "per_count_accuracy", "history", "confusion", "localization", "deletion", "probes"}
PROMISED_FIGURES = {"accuracy", "per_count_accuracy", "confounds", "interventions", "deletion", "probes",
                    "learning_curves", "confusion", "localization"}
TOP_KEYS = {"findings", "figures", "tables", "missing", "seconds", "cells_analysed", "answer", "configurations",
            "comparisons", "limitations", "examples", "cells", "measurement"}


def _check_contract(run_dir, summary):
    out = run_dir / "analysis"
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary, default=str))
    assert set(on_disk) == TOP_KEYS
    assert set(on_disk["answer"]) == {"question", "abstract", "cannot_tell", "run"}
    assert on_disk["answer"]["question"] == "Can convolutional networks count?"
    for figure in on_disk["figures"]:
        assert set(figure) == {"id", "file", "title", "takeaway", "section"} and figure["section"] in SECTIONS
        assert figure["file"].endswith(".png") and figure["takeaway"]
        width, _ = Image.open(out / figure["file"]).size
        assert width <= WIDTH * DPI + 1  # rendered at the size it is shown
    assert not list(out.rglob("*.svg"))
    for table in on_disk["tables"]:
        assert set(table) == {"id", "file", "title", "section", "columns", "rows"} and table["section"] in SECTIONS
        assert (out / table["file"]).is_file() and len(table["rows"]) <= MAX_TABLE_ROWS
        assert all(len(row) == len(table["columns"]) for row in table["rows"])
    for config in on_disk["configurations"]:
        assert {"label", "key", "cells", "n_seeds", "n_images", "accuracy", "dewind_accuracy"} <= set(config)
        assert config["accuracy"]["method"] in ("t over seeds", "Wilson over images")
        assert config["accuracy"]["low"] <= config["accuracy"]["mean"] <= config["accuracy"]["high"]
    for gap in on_disk["missing"]:
        assert set(gap) == {"what", "why"}
    return on_disk


def test_cli_writes_every_promised_output(run_copy, monkeypatch, capsys):
    monkeypatch.setitem(cell_analysis.BUDGETS, "quick", TINY)
    assert cli.main([str(run_copy), "--quick", "--device", "cpu", "--max-cells", "1"]) == 0
    summary = _check_contract(run_copy, json.loads((run_copy / "analysis" / "summary.json").read_text()))
    tables = {t["id"] for t in summary["tables"]}
    figures = {f["id"] for f in summary["figures"]}
    assert PROMISED_TABLES <= tables, PROMISED_TABLES - tables
    assert PROMISED_FIGURES <= figures, PROMISED_FIGURES - figures
    assert summary["figures"][0]["id"] == "accuracy" and summary["figures"][0]["section"] == "answer"
    assert summary["cells_analysed"] == 1 and len(summary["examples"]) == 1
    assert (run_copy / "analysis" / summary["examples"][0]["file"]).is_file()
    # smoke: 2 policies on the same test images, 1 seed -> one paired i.i.d. comparison (McNemar)
    comparison = next(c for c in summary["comparisons"] if c["split"] == "i.i.d. test")
    assert comparison["field"] == "aug" and comparison["n_seeds"] == 1 and "McNemar" in comparison["test"]
    assert comparison["ci"][0] <= comparison["difference"] <= comparison["ci"][1]
    assert {c["label"] for c in summary["configurations"]} == {"none", "fastai"}
    assert all(c["n_seeds"] == 1 and c["accuracy"]["method"] == "Wilson over images" for c in summary["configurations"])
    assert any("fewer than 3 seeds" in s for s in summary["answer"]["cannot_tell"])
    measured = next(iter(summary["measurement"].values()))
    assert measured["gradcam_layer"].startswith("layer1")  # 32 px: only layer1 (8x8) is >= 7x7
    assert "analysed 1 cell(s)" in capsys.readouterr().out
    assert not [m for m in summary["missing"] if "Error" in m["why"] and "ImageNet" not in m["what"]], summary["missing"]


def test_partial_run_gives_partial_outputs(run_copy):
    cells = sorted((run_copy / "cells").iterdir())
    (cells[0] / "checkpoint.pt").unlink()  # a done cell without its checkpoint
    failed = run_copy / "cells" / "count1-3-fixed-broken"
    shutil.copytree(cells[1], failed)
    (failed / "metrics.json").unlink()
    (failed / "error.json").write_text(json.dumps({"status": "failed", "error": "RuntimeError: boom"}))
    summary = _check_contract(run_copy, run_analysis(run_copy, device="cpu", budget=TINY))
    whats = " ".join(m["what"] + " " + m["why"] for m in summary["missing"])
    assert "count1-3-fixed-broken" in whats and "boom" in whats
    assert "checkpoint.pt has been removed" in whats  # the cell's manifest notices the missing file
    assert summary["cells_analysed"] == 1
    assert any("did not finish" in s for s in summary["limitations"])


@pytest.mark.parametrize("damage", ["no cells", "only failed"])
def test_run_without_usable_cells_never_raises(tmp_path, damage):
    run_dir = tmp_path / "run"
    (run_dir / "cells").mkdir(parents=True)
    if damage == "only failed":
        cell = run_dir / "cells" / "c1"
        cell.mkdir()
        (cell / "spec.json").write_text(json.dumps({"task": "counting", "counts": "1-5"}))
        (cell / "error.json").write_text(json.dumps({"status": "skipped", "error": "no GPU"}))
    summary = _check_contract(run_dir, run_analysis(run_dir, device="cpu", budget=TINY))
    assert summary["cells_analysed"] == 0 and summary["missing"]
