import math

import torch

from analysis.localization import circle_masses, localization_metrics


def _masks() -> torch.Tensor:
    masks = torch.zeros(2, 10, 10)
    masks[0, 1:3, 1:3] = 1  # a 2x2 "circle"
    masks[1, 6:8, 6:8] = 1
    return masks


def test_all_mass_on_one_circle():
    attribution = torch.zeros(10, 10)
    attribution[1:3, 1:3] = 1.0
    result = localization_metrics(attribution, _masks())
    assert result["mass_share"] == 1.0
    assert math.isclose(result["area_share"], 0.08, rel_tol=1e-6)
    assert math.isclose(result["ratio"], 12.5, rel_tol=1e-6)
    assert result["pointing_hit"] == 1.0
    assert result["circle_coverage"] == 0.5  # the second circle gets nothing
    assert result["circles"] == 2


def test_uniform_map_has_mass_equal_to_area_and_misses_pointing():
    attribution = torch.ones(10, 10)
    attribution[0, 0] = 2.0  # the peak on the background
    result = localization_metrics(attribution, _masks())
    assert math.isclose(result["mass_share"], 8 / 101, rel_tol=1e-6)
    assert result["pointing_hit"] == 0.0
    # each circle gets 4/101 < its fair share 4/100
    assert result["circle_coverage"] == 0.0
    assert torch.allclose(circle_masses(attribution, _masks()), torch.tensor([4 / 101, 4 / 101]))


def test_empty_map_is_nan():
    result = localization_metrics(torch.zeros(10, 10), _masks())
    assert math.isnan(result["mass_share"])
