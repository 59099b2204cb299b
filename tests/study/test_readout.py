"""study.engine.readout: every head's loss, estimate, class and distribution on hand-made outputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from study.errors import ConfigError
from study.engine.readout import (
    ClassifierReadout,
    OrdinalReadout,
    RegressionReadout,
    class_counts,
    create_readout,
    n_outputs,
)

INF = float("inf")


def test_create_readout_picks_the_kind_and_its_output_size():
    assert isinstance(create_readout("fastai", [1, 2, 3]), ClassifierReadout)
    assert isinstance(create_readout("linear", [1, 2, 3]), ClassifierReadout)
    assert create_readout("fastai", [1, 2, 3]).n_outputs == 3
    assert create_readout("regression", [1, 2, 3]).n_outputs == 1
    assert create_readout("ordinal", [1, 2, 3]).n_outputs == 2
    assert [n_outputs(head, 5) for head in ("fastai", "linear", "regression", "ordinal")] == [5, 5, 1, 4]


@pytest.mark.parametrize("call, message", [
    (lambda: create_readout("mlp", [1, 2]), "head: unknown 'mlp'; valid: fastai, linear, regression, ordinal"),
    (lambda: create_readout("regression", [1, 2], reg_target="sqrt"), "reg_target: unknown 'sqrt'; valid: count, log"),
    (lambda: create_readout("regression", [1, 2], reg_loss="l1"), "reg_loss: unknown 'l1'; valid: mse, huber"),
    (lambda: create_readout("regression", [0, 1, 2], reg_target="log"), "reg_target: 'log' needs counts >= 1"),
    (lambda: create_readout("fastai", [3, 2]), "strictly increasing"),
    (lambda: create_readout("ordinal", [4]), "needs >= 2 classes"),
])
def test_bad_choices_are_one_line_errors_naming_the_valid_ones(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_class_counts_are_the_integer_class_names():
    assert class_counts(["1", "2", "3"], "regression") == [1, 2, 3]
    assert class_counts(["cats", "dogs"], "fastai") == [0, 1]  # indices: only a classifier can use them
    with pytest.raises(ConfigError, match="head: 'ordinal' needs classes that are counts.*class 'cats'"):
        class_counts(["cats", "dogs"], "ordinal")


# ---------------------------------------------------------------- classifier


def test_classifier_matches_softmax_cross_entropy_and_the_argmax():
    readout = create_readout("fastai", [2, 3, 4])
    logits = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    labels = torch.tensor([1, 0])
    assert torch.equal(readout.loss(logits, labels), F.cross_entropy(logits, labels))
    assert torch.equal(readout.loss(logits, labels, reduction="none"), F.cross_entropy(logits, labels, reduction="none"))
    assert readout.predict(logits).tolist() == [1, 2]
    assert readout.estimate(logits).tolist() == [3.0, 4.0]
    probs = logits.softmax(1)
    assert torch.equal(readout.probs(logits), probs)
    assert readout.expected(logits).tolist() == pytest.approx((probs @ torch.tensor([2.0, 3.0, 4.0])).tolist())
    uniform = torch.zeros(1, 3)
    assert readout.expected(uniform).tolist() == pytest.approx([3.0])  # mean of 2, 3, 4


def test_loss_is_float32_for_bf16_outputs():
    readout = create_readout("ordinal", [1, 2, 3])
    loss = readout.loss(torch.zeros(2, 2, dtype=torch.bfloat16), torch.tensor([0, 2]))
    assert loss.dtype == torch.float32


def test_wrong_output_width_is_a_clear_error():
    with pytest.raises(ValueError, match=r"OrdinalReadout expects \[B, 2\], got \[4, 3\]"):
        create_readout("ordinal", [1, 2, 3]).estimate(torch.zeros(4, 3))


# ---------------------------------------------------------------- regression


def test_regression_count_target_is_standardised_over_the_class_counts():
    readout = create_readout("regression", [1, 2, 3])  # mean 2, population std sqrt(2/3)
    std = math.sqrt(2 / 3)
    assert readout.mean == pytest.approx(2.0) and readout.std == pytest.approx(std)
    assert readout.normalised_target(torch.tensor([0, 1, 2])).tolist() == pytest.approx([-1 / std, 0, 1 / std])
    outputs = torch.tensor([[0.0], [1.0], [-3.0], [10.0]])
    assert readout.estimate(outputs).tolist() == pytest.approx([2.0, 2 + std, 2 - 3 * std, 2 + 10 * std])
    # rounded and clamped to 1..3: 2.82 -> 3, -0.45 -> 1, 10.2 -> 3
    assert readout.predict(outputs).tolist() == [1, 2, 0, 2]
    assert readout.probs(outputs).tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]]  # one-hot of predict


def test_regression_log_target_maps_output_zero_to_the_geometric_mean_count():
    readout = create_readout("regression", [1, 2, 3], reg_target="log")
    assert readout.estimate(torch.zeros(1, 1)).item() == pytest.approx(6 ** (1 / 3))  # (1*2*3)^(1/3) = 1.817
    # A perfect output (the standardised log of the true count) reads back as that count.
    labels = torch.tensor([0, 1, 2])
    perfect = readout.normalised_target(labels)[:, None]
    assert readout.estimate(perfect).tolist() == pytest.approx([1.0, 2.0, 3.0])
    assert readout.loss(perfect, labels).item() == pytest.approx(0.0, abs=1e-12)


def test_a_perfect_regression_output_gives_zero_mae_and_bias():
    readout = create_readout("regression", [4, 5, 6, 7])
    labels = torch.tensor([0, 3, 1, 2, 2])
    estimates = readout.estimate(readout.normalised_target(labels)[:, None])
    error = estimates - readout.counts[labels]
    assert error.abs().mean().item() == pytest.approx(0, abs=1e-5) and error.mean().item() == pytest.approx(0, abs=1e-5)
    assert torch.equal(readout.predict(readout.normalised_target(labels)[:, None]), labels)


def test_regression_losses_mse_and_huber_with_delta_one_on_the_standardised_scale():
    counts = [1, 2, 3]
    labels = torch.tensor([1, 1])  # count 2: standardised target 0
    outputs = torch.tensor([[0.5], [3.0]])
    mse = create_readout("regression", counts, reg_loss="mse")
    huber = create_readout("regression", counts, reg_loss="huber")
    assert mse.loss(outputs, labels, reduction="none").tolist() == pytest.approx([0.25, 9.0])
    assert huber.loss(outputs, labels, reduction="none").tolist() == pytest.approx([0.125, 2.5])  # 0.5*0.5^2; 3-0.5
    assert huber.loss(outputs, labels).item() == pytest.approx((0.125 + 2.5) / 2)


def test_regression_halves_round_down_between_counts():
    readout = RegressionReadout([1, 2, 3])
    estimates = torch.tensor([1.5, 1.5001, 2.4999, 2.5, 0.0, 7.0])
    assert readout.nearest_class(estimates).tolist() == [0, 1, 1, 1, 0, 2]


# ---------------------------------------------------------------- ordinal (CORAL)


def test_ordinal_extreme_logits_read_as_the_ends_of_the_range():
    readout = create_readout("ordinal", [3, 4, 5, 6])
    outputs = torch.tensor([[INF, INF, INF], [-INF, -INF, -INF]])
    assert readout.estimate(outputs).tolist() == [6.0, 3.0]
    assert readout.predict(outputs).tolist() == [3, 0]
    assert readout.probs(outputs).tolist() == [[0, 0, 0, 1], [1, 0, 0, 0]]


def test_ordinal_probs_are_differences_of_the_cumulative_probabilities():
    readout = create_readout("ordinal", [1, 2, 3, 4])
    logits = torch.tensor([[math.log(4), 0.0, -math.log(4)]])  # P(>1) = 0.8, P(>2) = 0.5, P(>3) = 0.2
    probs = readout.probs(logits)
    assert probs.tolist()[0] == pytest.approx([0.2, 0.3, 0.3, 0.2])
    assert probs.sum().item() == pytest.approx(1.0)
    assert readout.rank(logits).tolist() == [1]  # CORAL's rule: one task above 0.5 (0.5 itself is not "more")
    # the estimate is the expected rank 1 + 0.8 + 0.5 + 0.2, continuous; the class the count nearest it
    assert readout.estimate(logits).tolist() == pytest.approx([2.5])
    assert readout.expected(logits).tolist() == pytest.approx([2.5])
    assert readout.predict(logits).tolist() == [1]  # 2.5 is a half: rounds down to count 2


def test_ordinal_probs_clamp_inconsistent_cumulatives_and_renormalise():
    readout = OrdinalReadout([1, 2, 3])
    logits = torch.tensor([[-math.log(4), math.log(4)]])  # P(>1) = 0.2 < P(>2) = 0.8: not rank consistent
    # raw differences: 0.8, 0.2 - 0.8 = -0.6 -> 0, 0.8; renormalised by 1.6
    assert readout.probs(logits).tolist()[0] == pytest.approx([0.5, 0.0, 0.5])


def test_ordinal_loss_is_the_sum_of_the_binary_cross_entropies_of_count_above_k():
    readout = create_readout("ordinal", [1, 2, 3])
    logits = torch.tensor([[0.0, 0.0], [2.0, -1.0]])
    labels = torch.tensor([2, 0])
    assert readout.levels(labels).tolist() == [[1, 1], [0, 0]]
    by_hand = [2 * math.log(2), math.log(1 + math.exp(2.0)) + math.log(1 + math.exp(-1.0))]
    assert readout.loss(logits, labels, reduction="none").tolist() == pytest.approx(by_hand)
    assert readout.loss(logits, labels).item() == pytest.approx(sum(by_hand) / 2)
    assert readout.loss(logits, labels, reduction="sum").item() == pytest.approx(sum(by_hand))


def test_non_contiguous_counts_read_out_to_the_nearest_class_count():
    readout = create_readout("ordinal", [1, 2, 5])
    assert readout.estimate(torch.tensor([[INF, INF]])).tolist() == [5.0]
    regression = create_readout("regression", [1, 2, 5])
    assert regression.nearest_class(torch.tensor([3.4, 3.6])).tolist() == [1, 2]  # midpoint 3.5


def test_ordinal_readout_places_a_count_held_out_inside_the_range_by_its_expected_rank():
    """CORAL trained on 1, 2, 4, 5 of 1-5 with a near-perfect feature (the count, noise SD 0.05).

    The tasks "> 2" and "> 3" have identical targets, so an image of 3 gets both near 0.5: CORAL's
    rank (tasks above 0.5) jumps from 2 to 4 and almost never reads 3 (MAE about 1), while the
    expected rank reads 1 + 1 + 0.5 + 0.5 = 3.
    """
    torch.manual_seed(0)
    readout = create_readout("ordinal", [1, 2, 3, 4, 5])
    counts = torch.tensor([1.0, 2.0, 4.0, 5.0]).repeat(100)
    features = (counts + 0.05 * torch.randn(len(counts)))[:, None]
    labels = (counts - 1).long()
    weight, biases = torch.zeros(1, requires_grad=True), torch.zeros(4, requires_grad=True)  # CORAL: shared w
    optimiser = torch.optim.Adam([weight, biases], lr=0.1)
    for _ in range(300):
        optimiser.zero_grad()
        readout.loss(features * weight + biases, labels).backward()
        optimiser.step()
    assert (biases[1] - biases[2]).abs().item() < 1e-4  # the two tasks learnt one threshold
    held = torch.full((400,), 3.0)
    outputs = ((held + 0.05 * torch.randn(400))[:, None] * weight + biases).detach()
    estimate = readout.estimate(outputs)
    assert (estimate - 3).abs().mean().item() < 0.2
    assert (readout.predict(outputs) == 2).float().mean().item() > 0.9  # rounding the expected rank names 3
    assert (readout.rank(outputs) == 2).float().mean().item() < 0.05  # CORAL's rank rule almost never does
    seen = readout.estimate((counts[:, None] * weight + biases).detach())
    assert (seen - counts).abs().max().item() < 0.2  # the trained counts are read as before


def test_ordinal_readout_beyond_the_trained_range_reads_where_training_left_a_threshold():
    """Trained on 1-4 of 1-5: no image was ever "> 4", so nothing in the data places that task's threshold.

    Inside the range the thresholds sit between the trained counts (1.5, 2.5, 3.5) however long the
    training; the "> 4" threshold only drifts away from 4 as training goes on, so what a 5 reads is set
    by the number of steps, not by the images: not a measurement of a count concept.
    """
    def trained(steps):
        torch.manual_seed(0)
        readout = create_readout("ordinal", [1, 2, 3, 4, 5])
        counts = torch.tensor([1.0, 2.0, 3.0, 4.0]).repeat(100)
        weight, biases = torch.zeros(1, requires_grad=True), torch.zeros(4, requires_grad=True)
        optimiser = torch.optim.Adam([weight, biases], lr=0.1)
        for _ in range(steps):
            optimiser.zero_grad()
            readout.loss(counts[:, None] * weight + biases, (counts - 1).long()).backward()
            optimiser.step()
        thresholds = (-biases / weight).detach()
        return thresholds, readout.estimate((torch.tensor([[5.0]]) * weight + biases).detach()).item()

    (short, five_short), (long, five_long) = trained(200), trained(2000)
    assert long[:3].tolist() == pytest.approx([1.5, 2.5, 3.5], abs=0.05)
    assert short[:3].tolist() == pytest.approx(long[:3].tolist(), abs=0.1)
    assert abs(five_long - five_short) > 0.2  # the same images, a different reading of 5
