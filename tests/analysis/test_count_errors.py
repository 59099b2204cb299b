"""Count errors of heads, held-out counts, resolution and architecture, on fake run folders with known predictions."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis import run_analysis
from analysis.numerosity import count_error_table, count_kind, heads_table, image_errors, resolution_table
from analysis.rundata import load_cells
from study.config.labels import arch_label, short_value
from kit.intervals import BOOTSTRAP_OVER_IMAGES, T_OVER_SEEDS, WILSON_OVER_IMAGES
from helpers import TINY
from study.run.runfolder import RunFolder
from study.config.spec import TRAIN_DEFAULTS
from kit.records import CellMetrics


def _cell(run, name, rows, with_estimate=True, **spec):
    """A done counting cell whose predictions.csv holds ``rows``: (split, true count, estimate)."""
    folder = run.cell(name)
    folder.path.mkdir(parents=True)
    spec = {**TRAIN_DEFAULTS, "counts": "1-3", **spec}
    folder.write_spec(spec)
    lo, hi = (int(v) for v in spec["counts"].split("-"))
    classes = [str(c) for c in range(lo, hi + 1)]
    table, seen = [], {}
    for split, true, estimate in rows:
        index = seen[split] = seen.get(split, -1) + 1  # images numbered within their split, as the study does
        pred = int(np.clip(round(estimate), lo, hi))
        row = {"split": split, "index": index, "label": str(true), "pred": str(pred), "loss": 0.1,
               "probs": [1.0 if int(c) == pred else 0.0 for c in classes]}
        if with_estimate:
            row["estimate"] = estimate
        table.append(row)
    folder.write_predictions(table, classes)
    test = [r for r in rows if r[0] == "test"]
    hits = sum(int(np.clip(round(e), lo, hi)) == t for _, t, e in test)
    folder.write_metrics(CellMetrics(test_accuracy=hits / max(1, len(test)), n_test=len(test), classes=classes))


TEST = [("test", 1, 1.2), ("test", 1, 0.9), ("test", 3, 3.4), ("test", 3, 2.6)]  # MAE 0.275, bias +0.025
HELD = [("test_held_out", 2, 2.2), ("test_held_out", 2, 1.4), ("test_held_out", 2, 2.4), ("test_held_out", 2, 2.0)]


@pytest.fixture()
def held_run(tmp_path):
    """Regression and classifier heads trained on 1 and 3, tested on the held-out 2 (interpolation)."""
    run = RunFolder(tmp_path / "run")
    _cell(run, "regression", TEST + HELD, head="regression", held_out="2")
    classifier_held = [("test_held_out", 2, 1.0), ("test_held_out", 2, 3.0), ("test_held_out", 2, 1.0),
                       ("test_held_out", 2, 3.0)]
    _cell(run, "classifier", [("test", 1, 1.0), ("test", 3, 3.0)] + classifier_held, head="fastai", held_out="2")
    return run


def test_heads_table_mae_bias_and_accuracy_by_hand(held_run):
    errors = image_errors(load_cells(held_run))
    heads = heads_table(errors).set_index(["configuration", "split"])
    regression = heads.loc[("regression head", "test")]
    assert regression["mae"] == pytest.approx(0.275) and regression["bias"] == pytest.approx(0.025)
    assert regression["accuracy"] == 1.0 and regression["n"] == 4 and regression["n_seeds"] == 1
    assert regression["accuracy_method"] == WILSON_OVER_IMAGES and regression["mae_method"] == BOOTSTRAP_OVER_IMAGES
    assert regression["mae_low"] <= regression["mae"] <= regression["mae_high"]
    held = heads.loc[("regression head", "test_held_out")]
    # estimates 2.2, 1.4, 2.4, 2.0 of a true 2: |errors| 0.2, 0.6, 0.4, 0 -> MAE 0.3, bias 0; 1.4 rounds to 1
    assert held["mae"] == pytest.approx(0.3) and held["bias"] == pytest.approx(0.0) and held["accuracy"] == 0.75
    classifier = heads.loc[("fastai head", "test_held_out")]
    assert classifier["accuracy"] == 0.0 and classifier["mae"] == pytest.approx(1.0)
    assert classifier["bias"] == pytest.approx(0.0) and classifier["test_set"] == "held-out counts"


def test_count_errors_mark_held_out_counts_as_interpolation(held_run):
    table = count_error_table(image_errors(load_cells(held_run)))
    rows = table[table["configuration"] == "regression head"].set_index(["split", "count"])
    assert rows.loc[("test_held_out", 2), "kind"] == "interpolation"
    assert rows.loc[("test", 1), "kind"] == "seen"
    # count 1: estimates 1.2, 0.9 -> bias +0.05, MAE 0.15; count 3: 3.4, 2.6 -> bias 0, MAE 0.4
    assert rows.loc[("test", 1), "bias"] == pytest.approx(0.05) and rows.loc[("test", 1), "mae"] == pytest.approx(0.15)
    assert rows.loc[("test", 3), "bias"] == pytest.approx(0.0) and rows.loc[("test", 3), "mae"] == pytest.approx(0.4)
    assert count_kind(25, held_out=range(21, 31), train_counts=range(1, 21)) == "extrapolation"
    assert count_kind(3, held_out=[3], train_counts=[1, 2, 4, 5]) == "interpolation"


def test_held_out_section_in_summary_with_classifier_sentence(held_run):
    summary = run_analysis(held_run.path, device="cpu", budget=TINY)
    tables = {t["id"]: t for t in summary["tables"]}
    assert tables["heads"]["section"] == "numerosity"
    # per true count is the figure's data: a CSV in the appendix, no rows in the report body
    assert tables["count_errors"]["section"] == "appendix" and tables["count_errors"]["rows"] == []
    per_count = pd.read_csv(held_run.path / "analysis" / tables["count_errors"]["file"])
    assert set(per_count.loc[per_count["split"] == "test_held_out", "kind"]) == {"interpolation"}
    figure = next(f for f in summary["figures"] if f["id"] == "count_errors")
    assert figure["section"] == "numerosity"
    assert "MAE 0.30" in figure["takeaway"] and "held-out count(s) 2 (interpolation)" in figure["takeaway"]
    assert "cannot output an untrained class reliably" in figure["takeaway"]
    # the direct test of a count concept follows the verdicts and the accuracy range
    abstract = summary["answer"]["abstract"]
    held = [i for i, s in enumerate(abstract) if s.startswith("On counts held out of training the mean absolute "
                                                              "count error ranges from 0.30")]
    assert held and held[0] <= 2
    assert Image.open(held_run.path / "analysis" / figure["file"]).size[0] <= 651


def test_t_interval_over_three_seeds_of_the_mae(tmp_path):
    run = RunFolder(tmp_path / "run")
    for seed, error in enumerate([0.1, 0.2, 0.3]):  # per-seed MAE 0.1, 0.2, 0.3 -> t CI 0.2 +- 0.2484
        _cell(run, f"s{seed}", [("test", 1, 1 + error), ("test", 2, 2 - error)], head="regression", seed=seed)
    row = heads_table(image_errors(load_cells(run))).iloc[0]
    assert row["mae_method"] == T_OVER_SEEDS and row["n_seeds"] == 3 and row["n"] == 6
    assert row["mae"] == pytest.approx(0.2) and row["mae_low"] == pytest.approx(0.2 - 0.2484, abs=1e-4)
    assert row["bias"] == pytest.approx(0.0)


def test_old_predictions_without_estimate_use_the_predicted_count(tmp_path):
    run = RunFolder(tmp_path / "run")
    _cell(run, "old", [("test", 1, 1.0), ("test", 2, 3.0), ("test", 3, 1.0)], with_estimate=False)
    row = heads_table(image_errors(load_cells(run))).iloc[0]
    assert row["mae"] == pytest.approx(1.0) and row["bias"] == pytest.approx(-1 / 3) and row["accuracy"] == 1 / 3
    summary = run_analysis(run.path, device="cpu", budget=TINY)
    assert any(t["id"] == "heads" for t in summary["tables"])
    assert any("cannot tell whether a model estimates counts" in s for s in summary["limitations"])


def test_resolution_figure_separates_crowding_from_a_limit(tmp_path):
    run = RunFolder(tmp_path / "run")
    for counts, lo, hi in (("45-50", 45, 50), ("1-5", 1, 5)):
        for size, right in ((32, 10 if lo == 45 else 39), (64, 40)):  # 45-50: 10/40 -> 40/40; 1-5: 39/40 -> 40/40
            truth = [lo + i % (hi - lo + 1) for i in range(40)]
            rows = [("test", t, float(t if i < right else (lo + 1 if t == lo else lo))) for i, t in enumerate(truth)]
            _cell(run, f"c{counts}-{size}", rows, counts=counts, size=size, scene_size=64)
    table = resolution_table(load_cells(run), image_errors(load_cells(run)))
    assert sorted(table["px"].unique()) == [32, 64] and set(table["group"]) == {"45-50", "1-5"}
    crowded = table[table["group"] == "45-50"].set_index("px")
    assert crowded.loc[32, "accuracy"] == 0.25 and crowded.loc[64, "accuracy"] == 1.0
    summary = run_analysis(run.path, device="cpu", budget=TINY)
    figure = next(f for f in summary["figures"] if f["id"] == "resolution")
    assert figure["section"] == "numerosity"
    assert "rises with resolution for 45-50" in figure["takeaway"]
    assert "does not rise clearly for 1-5" in figure["takeaway"]
    assert (run.path / "analysis" / figure["file"]).is_file()


def test_architecture_table_uses_paper_names(tmp_path):
    run = RunFolder(tmp_path / "run")
    _cell(run, "resnet", [("test", 1, 1.0), ("test", 2, 2.0)], arch="resnet18")
    _cell(run, "vit", [("test", 1, 1.0), ("test", 2, 1.0)], arch="timm:vit_tiny_patch16_224")
    summary = run_analysis(run.path, device="cpu", budget=TINY)
    table = next(t for t in summary["tables"] if t["id"] == "architecture")
    assert {row[1] for row in table["rows"]} == {"ResNet-18", "ViT-Tiny/16"}
    figure = next(f for f in summary["figures"] if f["id"] == "architecture")
    assert "ResNet-18 best at 1.00" in figure["takeaway"]
    assert {c["label"] for c in summary["configurations"]} == {"ResNet-18", "ViT-Tiny/16"}
    on_disk = json.loads((run.path / "analysis" / "summary.json").read_text())
    assert on_disk["tables"] == summary["tables"]


def test_labels_read_well():
    assert arch_label("timm:vit_tiny_patch16_224") == "ViT-Tiny/16" and arch_label("resnet34") == "ResNet-34"
    assert arch_label("timm:mixer_b16_224") == "MLP-Mixer-B/16" and arch_label("timm:odd_net") == "odd_net"
    assert arch_label("timm:vit_tiny_patch16_224@patch8") == "ViT-Tiny/8"
    assert short_value("radius", 1.28) == "r 1.28 px" and short_value("n_train", 1000) == "1000 images"
    assert short_value("overlap", True) == "overlap" and short_value("overlap", "False") == "no overlap"
    assert short_value("distractors", "0") == "no distractors"
    assert short_value("distractors", "2-4") == "2-4 distractors"
    assert short_value("held_out", "") == "none held out" and short_value("head", "ordinal") == "ordinal head"


def test_heads_are_compared_on_the_same_held_out_images(held_run):
    from analysis.comparisons import paired_comparisons

    held = [c for c in paired_comparisons(load_cells(held_run)) if c["split"] == "held-out counts"]
    assert len(held) == 1 and held[0]["field"] == "head" and held[0]["n_images"] == 4
    # regression right on 3 of the 4 held-out images, the classifier on none
    assert {held[0]["a"], held[0]["b"]} == {"regression", "fastai"}
    assert abs(held[0]["difference"]) == pytest.approx(0.75)


def test_count_error_panels_split_disjoint_ranges_and_keep_overlapping_ones_together():
    from analysis.figures import _count_panels

    rows = [("1-5 · a", c) for c in range(1, 6)] + [("1-5 · b", c) for c in range(1, 6)]
    rows += [("3-8 · c", c) for c in range(3, 9)] + [("45-50 · a", c) for c in range(45, 51)]
    table = pd.DataFrame(rows, columns=["configuration", "count"])
    assert _count_panels(table) == [["1-5 · a", "1-5 · b", "3-8 · c"], ["45-50 · a"]]


def test_block_sweeps_label_a_configuration_by_what_sets_it_apart():
    from study.config.labels import usual_values

    base = {"task": "counting", "counts": "1-5", "held_out": "", "head": "fastai", "arch": "resnet18", "size": 32}
    specs = [base, {**base, "held_out": "3", "head": "regression"}, {**base, "arch": "timm:vit_tiny_patch16_224"},
             {**base, "size": 64}, {**base, "counts": "11-20"}]
    usual = usual_values(specs, ["counts", "held_out", "head", "arch", "size"])
    assert usual == {"counts": '"1-5"', "held_out": '""', "head": '"fastai"', "arch": '"resnet18"', "size": "32"}
    # a comparison names the settings both sides share as their labels name them
    from analysis.comparisons import _within
    from analysis.rundata import CellResults

    usual_cell = CellResults(None, base, None, None, label_fields=("counts",))
    vit = CellResults(None, {**base, "arch": "timm:vit_tiny_patch16_224"}, None, None, label_fields=("counts", "arch"))
    assert _within(["counts", "held_out", "head", "size"], usual_cell, vit) == "1-5"
    # a two-way tie has no usual value: both sides are always shown
    assert usual_values([{"aug": "fastai"}, {"aug": "sensible"}], ["aug"]) == {}


def test_an_ordinal_head_is_scored_on_its_expected_rank_even_where_the_folder_recorded_the_rank(tmp_path):
    """CORAL trained on 1, 2, 4, 5: an image of 3 gets P(> 2) = P(> 3) near 0.5 (identical tasks).

    An older folder recorded the rank (2 or 4: MAE 1); the expected rank 1 + 1 + 0.5 + 0.5 is 3.
    """
    run = RunFolder(tmp_path / "run")
    folder = run.cell("ordinal")
    folder.path.mkdir(parents=True)
    folder.write_spec({**TRAIN_DEFAULTS, "counts": "1-5", "held_out": "3", "head": "ordinal"})
    classes = ["1", "2", "3", "4", "5"]
    rows = []
    for index, above in enumerate([0.49, 0.51, 0.45, 0.55]):  # P(> 2) = P(> 3) = above
        cumulative = [1.0, above, above, 0.0]
        probs = np.diff([1.0, *cumulative, 0.0]) * -1  # P(class k) = P(> k-1) - P(> k)
        rank = 1 + sum(p > 0.5 for p in cumulative)
        rows.append({"split": "test_held_out", "index": index, "label": "3", "pred": str(rank), "estimate": rank,
                     "loss": 0.1, "probs": probs.tolist()})
    folder.write_predictions(rows, classes)
    folder.write_metrics(CellMetrics(n_test=0, classes=classes))
    held = image_errors(load_cells(run))
    assert held["estimate"].tolist() == pytest.approx([2.98, 3.02, 2.9, 3.1])
    assert held["abs_error"].mean() < 0.2 and held["correct"].all() and held["pred"].tolist() == [3, 3, 3, 3]
