import json
import shutil

import pytest

import analysis.__main__ as cli
from analysis import cell_analysis, run_analysis
from analysis.pipeline import SECTIONS
from conftest import TINY

PROMISED_TABLES = {"cells", "seed_summary", "per_count_accuracy", "confusion", "off_by_k", "label_noise", "history",
                   "localization", "interventions", "interventions_summary", "deletion", "confounds", "baselines",
                   "probes"}
PROMISED_FIGURES = {"accuracy_heatmap", "learning_curves", "per_count_accuracy", "confusion_matrices", "off_by_k",
                    "label_noise", "localization", "interventions", "deletion", "confounds", "probes", "baselines"}


def _check_contract(run_dir, summary):
    on_disk = json.loads((run_dir / "analysis" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary, default=str))
    assert set(on_disk) == {"findings", "figures", "tables", "missing", "seconds", "cells_analysed"}
    for finding in on_disk["findings"]:
        assert set(finding) == {"title", "text"} and "n=" in finding["text"]
    for figure in on_disk["figures"]:
        assert set(figure) == {"path", "svg", "title", "caption", "section"} and figure["section"] in SECTIONS
        assert figure["path"].startswith("figures/") and figure["path"].endswith(".png")
        assert (run_dir / "analysis" / figure["path"]).stat().st_size > 0
        assert (run_dir / "analysis" / figure["svg"]).is_file()
    for table in on_disk["tables"]:
        assert set(table) == {"path", "title", "section"} and table["section"] in SECTIONS
        assert (run_dir / "analysis" / table["path"]).is_file()
    for gap in on_disk["missing"]:
        assert set(gap) == {"what", "why"}
    return on_disk


def test_cli_writes_every_promised_output(run_copy, monkeypatch, capsys):
    monkeypatch.setitem(cell_analysis.BUDGETS, "quick", TINY)
    assert cli.main([str(run_copy), "--quick", "--device", "cpu", "--max-cells", "1"]) == 0
    summary = json.loads((run_copy / "analysis" / "summary.json").read_text())
    _check_contract(run_copy, summary)
    tables = {t["path"][len("tables/"):-len(".csv")] for t in summary["tables"]}
    figures = {f["path"][len("figures/"):-len(".png")] for f in summary["figures"]}
    assert PROMISED_TABLES <= tables, PROMISED_TABLES - tables
    assert PROMISED_FIGURES <= figures, PROMISED_FIGURES - figures
    assert any(name.startswith("overlays_chosen_") for name in figures)
    assert any(name.startswith("top_losses_") for name in figures)
    assert summary["cells_analysed"] == 1
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
    assert "no checkpoint.pt" in whats
    assert summary["cells_analysed"] == 1


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
