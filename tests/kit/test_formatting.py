"""kit.formatting: how numbers, durations and intervals read everywhere."""

import math

import pytest

from kit.formatting import MISSING, ci_sentence, duration, general, interval, number


@pytest.mark.parametrize(("value", "digits", "text"), [
    (0.87654, 3, "0.877"), (0.87654, 2, "0.88"), (3, 3, "3"), ("120", 3, "120"), (3.0, 2, "3.00"),
    (0.0004, 3, "4.0e-04"), (0.0, 3, "0.000"), (None, 3, MISSING), ("", 3, MISSING), (math.nan, 2, MISSING),
    ("resnet18", 3, "resnet18"),
])
def test_number(value, digits, text):
    assert number(value, digits) == text


def test_general_is_the_shortest_form():
    assert [general(v) for v in (0.003, 1e-4, "0.01", None, "find")] == ["0.003", "0.0001", "0.01", MISSING, "find"]


def test_durations():
    assert [duration(s) for s in (5, 59.6, 75, 200, 3600, 7500)] == [
        "5 s", "1 min 0 s", "1 min 15 s", "3 min 20 s", "1 h 0 min", "2 h 5 min"]
    assert duration(None) == MISSING and duration("soon") == MISSING


def test_interval_in_a_table_cell():
    assert interval(0.4, 0.31, 0.52, 2) == "0.40 [0.31, 0.52]"
    assert interval(0.4, math.nan, math.nan, 2) == "0.40"
    assert interval(None, 0.1, 0.2) == MISSING


def test_ci_sentence_states_value_interval_method_and_n():
    estimate = {"mean": 0.87, "low": 0.83, "high": 0.9, "method": "t over seeds", "n_seeds": 3, "n_images": 3000}
    assert ci_sentence(estimate) == "0.870 (95% CI 0.830–0.900, t over seeds, 3 seeds, n=3000 images)"
    assert ci_sentence({**estimate, "n_seeds": 1}, 2) == "0.87 (95% CI 0.83–0.90, t over seeds, 1 seed, n=3000 images)"
    assert ci_sentence({"mean": 0.5}) == "0.500"
    assert ci_sentence(None) == MISSING and ci_sentence({"mean": None}) == MISSING and ci_sentence(0.25) == "0.250"
