"""Cells pooled by configuration key, labelled by the fields that vary, compared pairwise over seeds."""

import numpy as np
import pytest

from analysis.comparisons import paired_comparisons
from analysis.rundata import load_cells
from kit.intervals import T_OVER_SEEDS, WILSON_OVER_IMAGES
from analysis.tables import configurations
from study.run.runfolder import RunFolder
from study.config.spec import TRAIN_DEFAULTS
from kit.records import CellMetrics

LABELS = np.array([1, 2, 3, 1, 2, 3, 1, 2, 3, 1])  # 10 test images, counts 1-3


def _cell(run, name, right, **spec):
    folder = run.cell(name)
    folder.path.mkdir(parents=True)
    folder.write_spec({**TRAIN_DEFAULTS, "counts": "1-3", **spec})
    preds = [label if i < right else label % 3 + 1 for i, label in enumerate(LABELS)]
    folder.write_predictions([{"split": "test", "index": i, "label": str(t), "pred": str(p), "loss": 0.1,
                               "probs": [1.0 if c == p else 0.0 for c in (1, 2, 3)]}
                              for i, (t, p) in enumerate(zip(LABELS, preds))], ["1", "2", "3"])
    folder.write_metrics(CellMetrics(test_accuracy=right / 10, n_test=10, classes=["1", "2", "3"]))


@pytest.fixture()
def run(tmp_path):
    run = RunFolder(tmp_path / "run")
    for seed, (a, b) in enumerate([(9, 6), (8, 7), (10, 5)]):  # policy a beats b on every seed
        _cell(run, f"a-s{seed}", a, aug="fastai", seed=seed)
        _cell(run, f"b-s{seed}", b, aug="sensible", seed=seed)
    _cell(run, "a-lr", 4, aug="fastai", seed=0, lr=0.01)  # another learning rate: its own configuration
    return run


def test_cells_pool_by_configuration_key_with_t_over_three_seeds(run):
    cells = load_cells(run)
    legend = {c["label"]: c for c in configurations(cells)}
    assert set(legend) == {"fastai · 0.003", "sensible · 0.003", "fastai · 0.01"}  # aug and lr vary (declaration order), nothing else
    fastai = legend["fastai · 0.003"]
    assert fastai["n_seeds"] == 3 and fastai["n_images"] == 30 and len(fastai["cells"]) == 3
    assert fastai["accuracy"]["method"] == T_OVER_SEEDS and fastai["accuracy"]["mean"] == pytest.approx(0.9)
    assert fastai["accuracy"]["low"] == pytest.approx(0.6516, abs=1e-4)  # t CI of [0.8, 0.9, 1.0]
    assert legend["fastai · 0.01"]["accuracy"]["method"] == WILSON_OVER_IMAGES
    assert legend["fastai · 0.01"]["dewind_accuracy"] is None
    assert {cell.label for cell in cells} >= {"fastai · 0.003 · seed 0", "fastai · 0.01 · seed 0"}


def test_policies_are_compared_seed_by_seed_on_the_same_images(run):
    comparison = next(c for c in paired_comparisons(load_cells(run)) if c["field"] == "aug")
    assert (comparison["a"], comparison["b"], comparison["configuration"]) == ("fastai", "sensible", "0.003")
    assert comparison["n_seeds"] == 3 and comparison["n_images"] == 30
    assert comparison["difference"] == pytest.approx((3 + 1 + 5) / 30)
    # paired t over seeds on differences 0.3, 0.1, 0.5: t = 0.3 / (0.2 / sqrt 3) = 2.598, df 2 -> p = 0.1217
    assert comparison["p"] == comparison["p_seeds"] == pytest.approx(0.1217, abs=1e-4)
    # image level, stratified by seed: 9 discordant pairs all favour fastai -> exact p = 2 / 2**9
    assert comparison["p_images"] == pytest.approx(2 / 512)
    assert comparison["effect_size"]["only_a_correct"] == 9 and comparison["effect_size"]["only_b_correct"] == 0
    assert "paired t over 3 seeds" in comparison["test"] and "n=30 images" in comparison["test"]
