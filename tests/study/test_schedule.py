"""study.config.schedule: the stages grammar, its one-line errors, and the one schedule a spec resolves to."""

from __future__ import annotations

import pytest

from study.errors import ConfigError
from study.config.schedule import Stage, describe_schedule, parse_stages, stages_text
from study.config.spec import TrainSpec


def test_the_posts_two_stages_parse():
    stages = parse_stages("frozen 3@3e-3, unfrozen 15@1e-6:1e-4")
    assert stages == [Stage("frozen", 3, 3e-3), Stage("unfrozen", 15, (1e-6, 1e-4))]
    assert stages[0].max_lr() == 3e-3 and stages[1].max_lr() == slice(1e-6, 1e-4)
    assert parse_stages(" unfrozen  2 @ find ") == [Stage("unfrozen", 2, "find")]
    assert [s.describe() for s in stages] == ["frozen 3@0.003", "unfrozen 15@1e-06:0.0001"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "stages: empty"),
        ("frozen 3", "stage 1 'frozen 3': expected '<frozen|unfrozen> <epochs>@<lr> [<side>px]'"),
        ("frozen 3@1e-3 32", "training side '32': expected <pixels>px with pixels >= 8"),
        ("frozen 3@1e-3 4px", "training side '4px': expected <pixels>px with pixels >= 8"),
        ("thawed 3@1e-3", "stage 1 'thawed 3@1e-3': unknown kind 'thawed'; valid: frozen, unfrozen"),
        ("frozen 0@1e-3", "epochs '0' is not a whole number >= 1"),
        ("frozen 2.5@1e-3", "epochs '2.5' is not a whole number >= 1"),
        ("frozen 3@", "missing lr after '@'"),
        ("frozen 3@fast", "lr 'fast' is not a number"),
        ("frozen 3@0", "lr '0' must be a finite number > 0"),
        ("frozen 3@nan", "lr 'nan' must be a finite number > 0"),
        ("frozen 1@1e-3, unfrozen 2@1e-4:1e-6", "stage 2 'unfrozen 2@1e-4:1e-6': lr '1e-4:1e-6' has lo > hi"),
        ("frozen 1@1:2:3", "more than one ':'"),
        ("frozen 1@1e-3,", "stage 2 '': empty stage"),
    ],
)
def test_bad_stages_give_one_line_errors_naming_the_stage(text, message):
    with pytest.raises(ConfigError) as raised:
        parse_stages(text)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_stage_may_train_on_smaller_images():
    stages = parse_stages("unfrozen 4@3e-3 32px, unfrozen 4@3e-3")
    assert stages == [Stage("unfrozen", 4, 3e-3, side=32), Stage("unfrozen", 4, 3e-3)]
    assert stages_text(stages) == "unfrozen 4@0.003 32px, unfrozen 4@0.003"
    spec = TrainSpec(counts="1-5", size=64, stages="unfrozen 4@3e-3 32px, unfrozen 4@3e-3")
    assert spec.epochs == 8 and spec.schedule[0].side == 32
    with pytest.raises(ConfigError, match="training side 64 px is above the cell's size 32; expected at most 32px"):
        TrainSpec(counts="1-5", size=32, stages="unfrozen 2@3e-3 64px")


def test_the_spec_validates_its_stages_field():
    with pytest.raises(ConfigError, match="stages: stage 1 'frozen 3@x'"):
        TrainSpec(stages="frozen 3@x")
    with pytest.raises(ConfigError, match="stages: stage 2 'unfrozen 1@20': lr 20 is above 10"):
        TrainSpec(stages="frozen 1@1e-3, unfrozen 1@20")


def test_an_empty_field_is_one_stage_from_epochs_lr_and_freeze():
    assert TrainSpec(epochs=4, lr=1e-3).schedule == (Stage("unfrozen", 4, 1e-3),)  # random init: auto = no
    assert TrainSpec(weights="imagenet", lr="find").schedule == (Stage("frozen", 5, "find"),)
    assert TrainSpec(weights="imagenet", freeze="no").schedule == (Stage("unfrozen", 5, 3e-3),)
    assert TrainSpec(freeze="yes").schedule == (Stage("frozen", 5, 3e-3),)
    plain = TrainSpec(epochs=2)
    assert (plain.stages, plain.epochs, plain.lr, plain.freeze) == ("", 2, 3e-3, "auto")  # the shorthand is kept


def test_set_stages_are_what_runs_and_the_shorthand_fields_describe_them():
    spec = TrainSpec(epochs=9, lr=0.5, freeze="no", stages="frozen 3@3e-3 ,unfrozen 15@1e-6:1e-4")
    assert spec.schedule == (Stage("frozen", 3, 3e-3), Stage("unfrozen", 15, (1e-6, 1e-4)))
    assert spec.stages == "frozen 3@0.003, unfrozen 15@1e-06:0.0001"  # canonical
    assert (spec.epochs, spec.lr, spec.freeze) == (18, 1e-4, "yes")  # total, last stage's head lr, first stage
    assert TrainSpec(stages="unfrozen 2@find").lr == "find"


def test_two_spellings_of_one_schedule_are_one_cell():
    written = TrainSpec(stages="frozen 3@3e-3, unfrozen 15@1e-4", epochs=15, lr=1e-4)
    other = TrainSpec(stages="frozen  3 @ 0.003,unfrozen 15@0.0001")
    assert written == other and written.cell_id() == other.cell_id()
    assert TrainSpec(stages="unfrozen 4@1e-3").cell_id() != TrainSpec(stages="unfrozen 5@1e-3").cell_id()


def test_describe_schedule_and_stages_text():
    stages = parse_stages("unfrozen 2@find, frozen 1@1e-5:1e-3")
    assert describe_schedule(stages).epochs == 3 and describe_schedule(stages).lr == 1e-3
    assert describe_schedule(stages).freeze == "no"
    assert parse_stages(stages_text(stages)) == stages  # the canonical text reads back
    with pytest.raises(ValueError):
        describe_schedule([])
