import dataclasses

import pandas as pd
import pytest
import torch
from helpers import TINY

from analysis.cell_analysis import BUDGETS
from analysis.instruments import (INSTRUMENT_BUDGETS, SECTION, InstrumentBudget, instrument_budget, run_instruments,
                                  units_figure, weber_figure)
from analysis.pipeline import Summary
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
    assert set(units["sets"]) == {"dewind fixed varied"} and set(units["n_units"]) == {512}
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
    single = dataclasses.replace(cell, metrics={**cell.metrics, "classes": ["2"]})
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
    from analysis.instruments import _scene_specs
    from study.spec import TrainSpec
    from study.tasks import rendered_scene_spec

    train = TrainSpec(counts="1-5", size=32, scene_size=128)
    sets, why = _scene_specs(train)
    assert why == [] and set(sets) == {"fixed", "varied", "dewind"}
    assert {(spec.width, spec.height) for spec in sets.values()} == {(32, 32)}
    assert sets["fixed"].radius == pytest.approx(rendered_scene_spec(train).radius)


def test_recorded_specs_of_other_versions_load():
    from study.spec import TrainSpec

    assert TrainSpec.from_record({"counts": "1-3", "size": 32, "a_field_from_elsewhere": 1}).counts == "1-3"
