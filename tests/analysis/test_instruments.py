import dataclasses

import pandas as pd
import pytest
import torch
from helpers import TINY

from analysis.cell_analysis import BUDGETS
from analysis.instruments import (INSTRUMENT_BUDGETS, SECTION, InstrumentBudget, instrument_budget, run_instruments,
                                  units_figure, weber_figure)
from analysis.summary import Summary
from analysis.rundata import load_cells

CPU = torch.device("cpu")


def test_budgets_map_by_name_and_tiny_budgets_stay_tiny():
    assert instrument_budget(BUDGETS["quick"]) == INSTRUMENT_BUDGETS["quick"]
    assert instrument_budget(BUDGETS["full"]) == INSTRUMENT_BUDGETS["full"]
    tiny = instrument_budget(TINY)  # dewind = 30 scenes
    assert (tiny.weber_images, tiny.weber_pairs, tiny.unit_per_cell) == (30, 300, 3)
    mine = InstrumentBudget(weber_images=5)
    assert instrument_budget(mine) is mine


def test_smoke_run_gets_weber_and_unit_tables_and_figures(smoke_run, tmp_path):
    summary = Summary(tmp_path)
    cells = load_cells(smoke_run)
    run_instruments(cells, summary, TINY, CPU)
    assert summary.missing == []
    weber, units = summary.data["numerosity_weber"], summary.data["numerosity_units"]
    assert len(weber) == 2 and set(weber["n_pairs"]) == {300} and set(weber["n_images"]) == {30}
    assert set(weber["counts"]) == {"1-3"} and weber["n_boot"].eq(50).all()
    assert (weber["w_low"] <= weber["w"]).all() and (weber["w"] <= weber["w_high"]).all()
    assert len(units) == 4 and sorted(set(units["network"])) == ["random", "trained"]
    assert set(units["layer"]) == {"layer4"} and set(units["numbers"]) == {"1 2 3"}
    assert set(units["sets"]) == {"constant_area constant_hull dewind fixed"} and set(units["n_units"]) == {512}
    trained = units[units["network"] == "trained"]
    assert (trained["difference_low"] <= trained["difference"]).all()
    assert (trained["difference"] <= trained["difference_high"]).all()
    assert set(trained["difference_method"]) == {"bootstrap over units (images fixed)"}
    for _, row in weber.iterrows():  # the bound, "no number signal", or a w at or above the bound
        text = row["w_text"]
        assert (text == f"below resolution (w < {row['w_resolution']:.2g})" if row["below_resolution"] else
                text == "no number signal" if row["at_ceiling"] else float(text.split()[0]) >= row["w_resolution"])
    assert not weber["human_band"].any()  # counts 1-3: subitizing range
    tuning = summary.data["numerosity_tuning"]
    assert set(tuning["number"]) == {1, 2, 3} and set(tuning["cell_id"]) == {cell.cell_id for cell in cells}
    assert {f["id"] for f in summary.figures} == {"numerosity_weber", "numerosity_units"}
    for entry in summary.figures + summary.tables:  # the tuning curves' data is a CSV in the appendix
        assert entry["section"] == ("appendix" if entry["id"] == "numerosity_tuning" else SECTION)
    for entry in summary.figures:
        assert (tmp_path / entry["file"]).is_file() and entry["takeaway"]
    selective = units[units["network"] == "trained"]["fraction_selective"].mean()
    assert f"trained {selective:.1%} on average" in summary.figures[1]["takeaway"]
    assert any("deterministic" in sentence for sentence in summary.limitations)


def test_one_count_class_is_a_limitation_not_a_table(smoke_run, tmp_path):
    cell = load_cells(smoke_run)[0]
    single = dataclasses.replace(cell, metrics=dataclasses.replace(cell.metrics, classes=["2"]))
    summary = Summary(tmp_path)
    run_instruments([single], summary, TINY, CPU)
    assert summary.tables == [] and summary.figures == [] and summary.missing == []
    assert any("one count class" in sentence and single.label in sentence for sentence in summary.limitations)


def test_a_cell_whose_scenes_cannot_be_rebuilt_is_missing_and_the_others_go_on(run_copy, tmp_path):
    good, broken = load_cells(run_copy)
    path = broken.folder.path / broken.folder.CHECKPOINT  # its recorded spec asks for 5000 circles on 32 px
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["spec"]["counts"] = "1-5000"
    torch.save(checkpoint, path)
    summary = Summary(tmp_path)
    run_instruments([broken, good], summary, InstrumentBudget(weber_images=30, weber_pairs=100, bootstrap=5,
                                                              unit_per_cell=2, unit_numbers=3), CPU)
    assert len(summary.missing) == 1 and broken.label in summary.missing[0]["what"]
    assert "cannot be rebuilt" in summary.missing[0]["why"]
    assert list(summary.data["numerosity_weber"]["cell_id"]) == [good.cell_id]


def test_figures_of_nothing_are_none():
    assert weber_figure(pd.DataFrame()) is None and units_figure(pd.DataFrame()) is None


def test_stimulus_sets_are_drawn_on_the_images_canvas():
    """A cell whose scenes are drawn at scene_size 128 and shown at 32 px gets its stimuli at 32 px."""
    from analysis.instruments import _scene_recipes
    from study.config.spec import TrainSpec
    from study.config.scenes import rendered_scene_recipe

    train = TrainSpec(counts="1-5", size=32, scene_size=128)
    sets, why = _scene_recipes(train)
    assert why == [] and set(sets) == {"fixed", "constant_area", "constant_hull", "dewind"}
    assert {(spec.width, spec.height) for spec in sets.values()} == {(32, 32)}
    assert sets["fixed"].radius == pytest.approx(rendered_scene_recipe(train).radius)


def test_recorded_specs_of_other_versions_load():
    from study.config.spec import TrainSpec

    assert TrainSpec.from_dict({"counts": "1-3", "size": 32, "a_field_from_elsewhere": 1}).counts == "1-3"


def _weber_rows():
    """Three cells: a perfect counter on 1-5 (below resolution), a resolved w on 45-50, one at the ceiling."""
    base = {"b_size": 0.0, "b_size_low": 0.0, "b_size_high": 0.0, "b_spacing": 0.0, "b_spacing_low": 0.0,
            "b_spacing_high": 0.0, "theta": 0.0, "theta_low": 0.0, "theta_high": 0.0, "n_pairs": 1500,
            "tie_fraction": 0.0, "accuracy": 1.0, "at_ceiling": False, "at_floor": False, "n_boot": 50}
    return pd.DataFrame([
        {**base, "cell_id": "a", "label": "1-5", "configuration": "1-5", "counts": "1-5", "w": 0.001,
         "w_low": 0.001, "w_high": 0.001, "w_resolution": 0.08, "below_resolution": True, "at_floor": True,
         "human_band": False},
        {**base, "cell_id": "b", "label": "45-50", "configuration": "45-50", "counts": "45-50", "w": 0.15,
         "w_low": 0.12, "w_high": 0.19, "w_resolution": 0.006, "below_resolution": False, "human_band": True},
        {**base, "cell_id": "c", "label": "ties", "configuration": "ties", "counts": "45-50", "w": 1000.0,
         "w_low": 1000.0, "w_high": 1000.0, "w_resolution": 0.006, "below_resolution": False, "at_ceiling": True,
         "human_band": True, "theta": float("nan")},
    ])


def test_weber_table_prints_the_bound_not_a_w_below_resolution():
    from analysis.instruments import _weber_display, _weber_takeaway

    display = _weber_display(_weber_rows())
    assert list(display["w [95% CI]"]) == ["below resolution (w < 0.08)", "0.150 [0.120, 0.190]", "no number signal"]
    assert list(display["Human band"]) == ["n/a (subitizing range)", "applies", "applies"]
    text = _weber_takeaway(_weber_rows())
    assert "below the design's resolution (w < 0.08" in text and "0.001" not in text
    assert "1 of 1 beyond the subitizing range inside the human adult band" in text and "not the DeWind model" in text


def test_weber_figure_draws_the_bound_as_an_upper_bound_and_the_band_only_where_it_applies():
    figure = weber_figure(_weber_rows())
    axis = figure.axes[0]
    bands = [c for c in axis.collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]
    assert len(bands) == 2  # rows 1 and 2 (45-50); none beside 1-5
    assert all(band.get_paths()[0].vertices[:, 1].min() > 0.5 for band in bands)  # row 0 (1-5) has no band
    bound = [c for c in axis.collections if type(c).__name__ == "PathCollection"]
    assert len(bound) == 1 and bound[0].get_offsets().tolist() == [[0.08, 0.0]]  # at the bound, not at w = 0.001
    assert axis.get_xlim()[0] > 0.01  # the axis is not stretched down to the floor


def test_units_takeaway_gives_the_difference_over_seeds_where_a_configuration_has_three():
    from analysis.instruments import _units_takeaway

    rows = []
    for seed, (trained, random) in enumerate([(0.10, 0.02), (0.12, 0.02), (0.14, 0.02)]):
        for network, share in (("trained", trained), ("random", random)):
            rows.append({"cell_id": f"c{seed}", "configuration": "1-5", "network": network, "layer": "layer4",
                         "sets": "constant_area constant_hull dewind fixed", "fraction_selective": share,
                         "difference": trained - random, "difference_low": trained - random - 0.02,
                         "difference_high": trained - random + 0.02,
                         "difference_method": "bootstrap over units (images fixed)"})
    text = _units_takeaway(pd.DataFrame(rows))
    # mean 0.10, t(2) 4.303 x sd 0.02 / sqrt(3) = 0.0497
    assert "above 0 (its 95% interval, bootstrap over units (images fixed)) in 3 of 3 cells" in text
    assert "1-5 +10.0% [+5.0%, +15.0%] (t over 3 seeds)" in text
