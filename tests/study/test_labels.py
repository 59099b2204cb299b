"""study.config.labels: the one vocabulary for how cells and settings read (analysis, report, console)."""

from study.config.labels import cell_labels, short_value, spelled_value
from study.config.spec import TrainSpec


def _spec(**fields):
    return TrainSpec(**fields).to_dict()


def test_cell_labels_name_what_varies_and_the_seed():
    specs = [_spec(counts="1-5", aug="none", seed=0), _spec(counts="1-5", aug="fastai", seed=0),
             _spec(counts="1-5", aug="none", seed=1)]
    labels = cell_labels(specs)
    assert [label.text for label in labels] == ["none · seed 0", "fastai · seed 0", "none · seed 1"]
    assert labels[0].configuration == labels[2].configuration == "none" and labels[1].fields == ("aug",)
    varied_range = cell_labels([_spec(counts="1-5"), _spec(counts="45-50", aug="none")])
    assert [label.text for label in varied_range] == ["1-5 · fastai", "45-50 · none"]


def test_the_label_of_a_lone_configuration_is_its_count_range():
    assert [label.text for label in cell_labels([_spec(counts="45-50")])] == ["45-50"]


def test_values_read_as_words():
    assert short_value("arch", "timm:vit_tiny_patch16_224") == "ViT-Tiny/16"
    assert short_value("held_out", "3") == "held out 3"
    assert spelled_value("counts", "1-5") == "count range 1-5" and spelled_value("data_seed", 2) == "data seed 2"
