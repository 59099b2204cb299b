"""Sweep specs: presets, TOML files, --set overrides, and their error messages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from study.config.coerce import from_mapping
from study.config.sweepfile import apply_set, load_sweep, preset_names
from study.errors import ConfigError
from study.config.grid import parse_sweep
from study.config.schedule import Stage
from study.config.spec import TrainSpec


def test_presets_are_shipped():
    assert preset_names() == ["confirm", "full", "quick", "research", "research-cpu", "seed", "smoke"]


@pytest.mark.parametrize("name", ["smoke", "quick", "confirm", "seed", "full", "research", "research-cpu"])
def test_every_preset_round_trips_through_its_toml(name):
    spec = load_sweep(name)
    assert spec.name == name
    again = parse_sweep(tomllib.loads(spec.to_toml()))
    assert again == spec
    assert [c.cell_id() for c in again.cells()] == [c.cell_id() for c in spec.cells()]


def test_smoke_is_two_tiny_cpu_cells():
    cells = load_sweep("smoke").cells()
    assert len(cells) == 2
    assert {(c.counts, c.size, c.epochs, c.arch, c.weights) for c in cells} == {("1-3", 32, 1, "resnet18", "none")}


def test_quick_is_the_default_and_covers_the_issue_grid():
    spec = load_sweep()
    assert spec.name == "quick"
    cells = spec.cells()
    assert len(cells) >= 4
    assert {(c.counts, c.aug) for c in cells} >= {(r, a) for r in ("1-5", "45-50") for a in ("fastai", "sensible")}
    assert all(c.size == 64 and c.weights == "none" and c.arch == "resnet18" for c in cells)


@pytest.mark.parametrize("name", ["quick", "confirm"])
def test_headline_presets_train_where_ink_cannot_count(name):
    """Each count range x policy of the headline presets is trained both on one radius and on DeWind scenes."""
    cells = load_sweep(name).cells()
    regimes = {(c.counts, c.aug): set() for c in cells}
    for cell in cells:
        regimes[(cell.counts, cell.aug)].add(cell.sizes)
    assert all(sizes == {"fixed", "dewind"} for sizes in regimes.values()), regimes
    assert all(c.n_test_dewind > 0 for c in cells)


def test_seed_has_the_posts_experiments():
    cells = load_sweep("seed").cells()
    folders = {c.data for c in cells if c.task == "folder"}
    assert folders == {"data/paintings", "data/kittencat"}
    assert all(c.arch == "resnet34" and c.weights == "imagenet" and c.size == 224 for c in cells)
    assert any(c.task == "counting" and c.counts == "45-50" and c.epochs == 3 and c.aug == "fastai" for c in cells)
    assert any(c.counts == "1-5" and c.aug == "fastai"
               and c.schedule == (Stage("frozen", 3, 3e-3), Stage("unfrozen", 15, 1e-4)) for c in cells)
    assert all(c.epochs == sum(stage.epochs for stage in c.schedule) for c in cells)  # labels say what runs
    assert any(c.aug == "sensible" and c.sizes == "varied" for c in cells)


def test_full_is_the_research_grid():
    cells = load_sweep("full").cells()
    assert len(cells) == 5 * 3 * 2 * 3 * 2 * 3
    assert {c.sizes for c in cells} == {"fixed", "varied", "dewind"}
    assert {c.weights for c in cells} == {"imagenet", "none"}


def test_set_overrides_train_and_grid_axes():
    spec = load_sweep("smoke", sets=["train.epochs=2", "grid.seed=0,1", "train.lr=find", "sweep.name=mine"])
    cells = spec.cells()
    assert spec.name == "mine"
    assert len(cells) == 4 and {c.seed for c in cells} == {0, 1}
    assert all(c.epochs == 2 and c.lr == "find" for c in cells)
    assert len(load_sweep("smoke", sets=['grid.aug=["none"]']).cells()) == 1


def test_grid_set_applies_to_every_block():
    cells = load_sweep("seed", sets=["grid.seed=3"]).cells()
    assert {c.seed for c in cells} == {3}
    shortened = load_sweep("seed", sets=['grid.stages="frozen 1@3e-3"']).cells()
    assert {c.epochs for c in shortened} == {1}


def test_config_file_layers_over_preset(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text('[sweep]\nname = "mine"\n[train]\nepochs = 2\n[grid]\nseed = [3, 4]\n')
    spec = load_sweep("smoke", config=path)
    cells = spec.cells()
    assert spec.name == "mine"
    # The file's grid replaces the preset's; its [train] merges with the preset's.
    assert [(c.seed, c.epochs, c.size, c.aug) for c in cells] == [(3, 2, 32, "fastai"), (4, 2, 32, "fastai")]


def test_a_config_file_without_a_name_is_named_after_the_file(tmp_path: Path):
    path = tmp_path / "my-study.toml"
    path.write_text("[train]\nepochs = 2\n")
    assert load_sweep("smoke", config=path).name == "my-study"
    assert load_sweep(config=path).name == "my-study"


def test_grid_blocks_are_a_union_without_duplicates():
    raw = {"train": {"n_train": 20}, "grid": [{"aug": ["none", "fastai"]}, {"aug": "none", "seed": [0, 1]}]}
    cells = parse_sweep(raw).cells()
    assert [(c.aug, c.seed) for c in cells] == [("none", 0), ("fastai", 0), ("none", 1)]


def test_folder_cells_ignore_counting_axes():
    raw = {"grid": {"task": ["counting", "folder"], "counts": ["1-5", "6-10"], "data": "data/x"}}
    cells = parse_sweep(raw).cells()
    # Two counting cells (data reset) and one folder cell, not two.
    assert [(c.task, c.counts, c.data) for c in cells] == [
        ("counting", "1-5", ""), ("counting", "6-10", ""), ("folder", "1-5", "data/x")
    ]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"sets": ["train.sise=3"]}, ["train.sise: unknown key", "valid keys:", "size"]),
        ({"sets": ["grid.hue=red"]}, ["grid.hue: unknown key"]),
        ({"sets": ["train.size=big"]}, ["train.size: expected an integer, got 'big'"]),
        ({"sets": ["train.epochs=0"]}, ["train.epochs: expected from 1 to 10000 epochs", "got 0"]),
        ({"sets": ["train.sizes=huge"]}, ["train.sizes: unknown value 'huge'", "'fixed' | 'varied' | 'dewind'"]),
        ({"sets": ["grid.aug=fastia"]}, ["grid.aug: unknown value 'fastia'", "fastai", "sensible"]),
        ({"sets": ["grid.arch=resnet19"]}, ["grid.arch: unknown value 'resnet19'", "resnet34"]),
        ({"sets": ["train.weights=nowhere.pt"]}, ["weights: unknown value 'nowhere.pt'", "'imagenet', 'none'"]),
        ({"sets": ["train.lr=fast"]}, ["train.lr: expected", "'find'"]),
        ({"sets": ["grid.counts=5-1"]}, ["grid.counts:", "exceeds"]),
        ({"sets": ["grid.seed=[]"]}, ["grid.seed: expected a non-empty list"]),
        ({"sets": ["train.seed=[1, 2]"]}, ["train.seed: expected a single value", "[grid]"]),
        ({"sets": ["train.aug=none"]}, ["grid sets aug in every block", "--set grid.aug=none"]),
        ({"sets": ["sweep.name=a b"]}, ["sweep.name: expected a folder-safe name"]),
        ({"sets": ["epochs=3"]}, ["expected section.key=value", "sections: sweep, train, grid"]),
        ({"sets": ["train.epochs"]}, ["expected section.key=value"]),
        ({"sets": ["model.arch=resnet18"]}, ["unknown section 'model'", "valid: sweep, train, grid"]),
        ({"preset": "nope"}, ["--preset: unknown preset 'nope'", "full, quick, research, research-cpu, seed, smoke"]),
        ({"config": "/no/such/file.toml"}, ["--config: cannot read '/no/such/file.toml'"]),
    ],
)
def test_errors_name_the_key_and_the_choices(kwargs, expected):
    kwargs = {"preset": "smoke", **kwargs}
    with pytest.raises(ConfigError) as caught:
        load_sweep(**kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in expected:
        assert fragment in message


def test_file_errors_name_the_file_and_section(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[trian]\nepochs = 3\n")
    with pytest.raises(ConfigError, match=r"bad.toml: trian: unknown section; valid sections: sweep, train, grid"):
        load_sweep(config=bad)
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_sweep(config=bad)
    bad.write_text("grid = 3\n")
    with pytest.raises(ConfigError, match=r"grid: expected a table"):
        load_sweep(config=bad)


def test_apply_set_parses_toml_values():
    raw = apply_set({}, "train.lr=1e-4")
    raw = apply_set(raw, "train.compile=true")
    raw = apply_set(raw, "train.data=data/kittencat")
    assert raw["train"] == {"lr": 1e-4, "compile": True, "data": "data/kittencat"}
    assert apply_set({}, "grid.counts=1-5,45-50")["grid"] == {"counts": ["1-5", "45-50"]}


def test_trainspec_from_mapping_is_unchanged():
    spec = from_mapping(TrainSpec, {"counts": "45-50", "epochs": "3", "lr": "find"}, "cli.")
    assert (spec.counts, spec.epochs, spec.lr) == ("45-50", 3, "find")
    with pytest.raises(ConfigError, match="cli.bogus: unknown key"):
        from_mapping(TrainSpec, {"bogus": 1}, "cli.")


def test_compared_count_ranges_share_one_auto_radius():
    from synth.scenes import auto_gap, auto_radius

    spec = load_sweep("smoke", sets=["train.size=64", "grid.counts=1-5,45-50"])
    radii = {cell.counts: cell.radius for cell in spec.cells()}
    assert set(radii) == {"1-5", "45-50"} and len(set(radii.values())) == 1
    expected = auto_radius(64, 64, 50, auto_gap(64))  # what 45-50 needs at 64 px
    assert radii["1-5"] == pytest.approx(expected, abs=1e-4) and radii["1-5"] <= expected
    alone = load_sweep("smoke", sets=["train.size=64", "grid.counts=1-5"]).cells()[0].radius
    assert alone > radii["1-5"]  # 1-5 on its own would have bigger circles
    # The resolved radius is part of the spec, hence of the cell id; a radius the sweep sets is kept.
    assert spec.cells()[0].to_dict()["radius"] == radii["1-5"]
    fixed = load_sweep("smoke", sets=["train.size=64", "train.radius=2", "grid.counts=1-5,45-50"])
    assert {cell.radius for cell in fixed.cells()} == {2.0}


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (["grid.counts=0-5"], ["grid.counts", "'0-5'", "at least 1"]),
        (["grid.counts=5-1"], ["grid.counts", "5-1"]),
        (["train.batch_size=1"], ["train.batch_size", "BatchNorm", "2 or more"]),
        (["train.n_train=10", "train.valid_pct=0.9"], ["train.n_train", "valid_pct 0.9", "1 training image"]),
    ],
)
def test_cells_that_cannot_train_are_refused_at_config_time(sets, named):
    with pytest.raises(ConfigError) as error:
        load_sweep("smoke", sets=sets)
    message = str(error.value)
    assert "\n" not in message and all(word in message for word in named), message


def test_reading_a_sweep_imports_neither_torch_nor_timm():
    import subprocess
    import sys

    code = ("import sys; from study.config.sweepfile import load_sweep; load_sweep('seed').cells(); "
            "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_config_names_agree_with_the_registries():
    from study.config import names
    from study.data import augment
    from study.engine import models

    assert names.AUG_POLICIES == tuple(augment.available())
    assert models.ARCHITECTURES == names.ARCHITECTURES and models.available() == names.architecture_names()


@pytest.mark.parametrize(
    ("arch", "expected"),
    [("resnet19", "arch: unknown value 'resnet19'; valid: resnet18, resnet34, resnet50, timm:<name>"),
     ("timm:vit_tiny_patch16_224@patch0", "arch: bad timm suffix in 'timm:vit_tiny_patch16_224@patch0'"),
     ("timm:vit@16", "arch: bad timm suffix")],
)
def test_an_arch_is_checked_for_its_form_while_the_sweep_is_read(arch, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)) as caught:
        load_sweep("smoke", sets=[f"grid.arch={arch}"])
    assert "\n" not in str(caught.value)


def test_a_well_formed_timm_name_is_left_for_the_run_to_ask_timm():
    cells = load_sweep("smoke", sets=["grid.arch=timm:no_such_model"]).cells()
    assert {c.arch for c in cells} == {"timm:no_such_model"}


def test_sweep_values_lists_a_fields_values_without_expanding():
    raw = {"train": {"n_train": 20, "arch": "resnet18"},
           "grid": [{"aug": ["none", "fastai"]}, {"arch": ["resnet34", "timm:x"], "seed": [0, 1]}]}
    spec = parse_sweep(raw)
    assert spec.values("arch") == {"resnet18", "resnet34", "timm:x"} == {c.arch for c in spec.cells()}
    assert spec.values("seed") == {0, 1}
    only_blocks = parse_sweep({"train": {"n_train": 20}, "grid": {"arch": "resnet50"}})
    assert only_blocks.values("arch") == {"resnet50"}  # [train]'s default is not a cell's


def test_staged_cells_describe_their_schedule_and_collapse_when_only_labels_differed():
    raw = {"train": {"n_train": 20, "stages": "frozen 1@1e-3, unfrozen 2@1e-4"}, "grid": {"epochs": [3, 7]}}
    cells = parse_sweep(raw).cells()
    assert len(cells) == 1 and cells[0].epochs == 3 and cells[0].lr == 1e-4 and cells[0].freeze == "yes"



def test_a_sweep_is_expanded_once(monkeypatch):
    """Reading a sweep expands (and so checks) its cells; every later cells() reuses that expansion."""
    import study.config.grid as grid

    calls = []
    real = grid._make_cell
    monkeypatch.setattr(grid, "_make_cell", lambda *args: calls.append(1) or real(*args))
    spec = load_sweep("quick")
    made = len(calls)
    assert made == len(spec.cells()) == 8
    first, second = spec.cells(), spec.cells()
    assert first == second and first is not second  # a new list of the same cells
    assert len(calls) == made


def test_a_field_added_later_enters_the_cell_id_only_when_set():
    # bn_stats came after cell ids were first written: at its default it leaves every id as it was
    # (the hash of the other fields), so old run folders still resume; set, it makes a new cell.
    from study.config.spec import HASHED_WHEN_SET, spec_hash

    spec = TrainSpec(counts="45-50", epochs=3)
    without = {key: value for key, value in spec.to_dict().items() if key not in HASHED_WHEN_SET}
    assert spec.cell_id().endswith("-" + spec_hash(without)[:8])
    precise = TrainSpec(counts="45-50", epochs=3, bn_stats="precise")
    assert precise.cell_id() != spec.cell_id()
    with pytest.raises(ConfigError, match="bn_stats: unknown 'exact'; valid: running, precise"):
        TrainSpec(bn_stats="exact")
    with pytest.raises(ConfigError, match=r"head_dropout: expected a dropout probability from 0 to below 1, got 1.0"):
        TrainSpec(head_dropout=1.0)
    assert TrainSpec(head_dropout=0.0).cell_id() != TrainSpec().cell_id()
