"""python -m study.audit: the label-noise table per count range, aspect and policy."""

from __future__ import annotations

from study.audit import audit_table, main


def test_audit_table_separates_policies():
    table = audit_table(["45-50"], [1.0], ["none", "fastai", "sensible"], size=64, scenes_per_range=30, samples=200)
    rate = dict(zip(table["policy"], table["label_noise_rate"]))
    assert rate["none"] == 0.0 and rate["sensible"] == 0.0  # a square canvas, no crop: nothing changes
    assert rate["fastai"] > 0.5  # zoom/rotate/warp cut or add circles in most 45-50 samples
    assert (table["samples"] == 200).all()


def test_non_square_canvas_loses_circles_even_without_augmentation():
    table = audit_table(["1-5"], [4 / 3], ["none"], size=48, scenes_per_range=40, samples=200)
    assert table["label_noise_rate"].iloc[0] > 0.1  # the centre crop cuts the 4:3 edges, as in the post


def test_cli_prints_the_table_and_rejects_bad_ranges(capsys):
    assert main(["--counts", "1-3", "--aspect", "1", "--policy", "none", "--size", "32", "--samples", "50"]) == 0
    assert "label_noise_rate" in capsys.readouterr().out
    assert main(["--counts", "5-1", "--size", "32", "--samples", "10"]) == 2
    assert "--counts" in capsys.readouterr().err


def test_cli_names_the_feasible_limits_when_circles_cannot_be_packed(capsys):
    assert main(["--counts", "400-500", "--aspect", "1", "--size", "32", "--samples", "10"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: counts: cannot pack 400-500 circles") and "at most 67 circles" in error
    assert "\n" not in error
