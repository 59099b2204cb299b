"""Matching results rows to the post's experiments, and the headline findings."""

from __future__ import annotations

from reports.headlines import headline_findings
from reports.published import PUBLISHED
from reports.reproduction import reproduction


def _row(**values: str) -> dict[str, str]:
    base = {"cell_id": "c", "task": "counting", "counts": "1-5", "sizes": "fixed", "aug": "fastai",
            "weights": "imagenet", "epochs": "15", "lr": "0.0001", "data": "", "status": "done",
            "test_accuracy": "0.99", "label": "count 1-5"}
    return {**base, **values}


def _by_name(table: list[dict]) -> dict[str, dict]:
    return {entry["name"]: entry for entry in table}


def test_every_published_experiment_has_a_row() -> None:
    assert [entry["name"] for entry in reproduction([], {})] == [e.name for e in PUBLISHED]
    assert all(entry["reason"] == "no cells in this run yet" for entry in reproduction([], {}))


def test_lr_matches_numerically_and_data_by_folder_name() -> None:
    rows = [_row(lr="1e-4"),
            _row(cell_id="p", task="folder", data="/abs/data/kittencat/", epochs="5", lr="0.003",
                 test_accuracy="", valid_accuracy="0.9")]
    table = _by_name(reproduction(rows, {}))
    assert table["Counting 1-5 circles, lower learning rate"]["ours"][0]["accuracy"] == 0.99
    assert table["Cats vs kittens (~180 + ~180 photos)"]["ours"][0]["accuracy"] == 0.9
    assert table["Counting 1-5 circles"]["ours"] == []  # 3 epochs at 3e-3: not this row
    assert table["Counting 1-5 circles"]["closest"]["differs"] == "epochs 15 (post: 3), lr 1e-4 (post: 0.003)"


def test_skipped_match_carries_its_error_and_weights_reason() -> None:
    rows = [_row(status="skipped", error="ImageNet weights unavailable (offline)", test_accuracy="")]
    entry = _by_name(reproduction(rows, {}))["Counting 1-5 circles, lower learning rate"]
    assert entry["ours"][0]["status"] == "skipped"
    assert entry["ours"][0]["note"] == "ImageNet weights unavailable (offline)"
    scratch = _by_name(reproduction([_row(weights="none")], {}))["Counting 45-50 circles"]
    assert "without ImageNet weights" in scratch["reason"]


def test_headlines_state_numbers() -> None:
    rows = [_row(cell_id="a", aug="fastai", test_accuracy="0.5", label_noise_rate="0.2", label="count 1-5, aug=fastai"),
            _row(cell_id="b", aug="sensible", test_accuracy="1.0", label_noise_rate="0.0", label="count 1-5, aug=sensible"),
            _row(cell_id="c", status="failed", test_accuracy="")]
    texts = {f["title"]: f["text"] for f in headline_findings(rows)}
    assert "1.000 (count 1-5, aug=sensible)" in texts["Best and worst cell"]
    assert "aug sensible: 1.000 (n=1); aug fastai: 0.500 (n=1)" in texts["Accuracy by aug"]
    assert "0.0% to 20.0%" in texts["Label noise from augmentation"]
    assert headline_findings([_row(status="failed")]) == []
