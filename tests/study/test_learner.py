"""study.engine.learner: it learns, the one-cycle schedule, freezing, lr_find, seeds, NaN losses, observers."""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn as nn

from study.data import augment
from study.config.spec import TrainSpec
from study.engine import learner as learner_module
from study.engine.learner import Interpretation, Learner, NonFiniteLossError, lr_range
from study.engine.models import create_model
from study.engine.observe import TrainingObserver
from study.data.tasks import Split, Task, build_task


# timm's test_resnet (0.4M parameters) keeps the suite fast on a shared 2-core CPU;
# the freezing test uses resnet18 for its named layers.
TINY = "timm:test_resnet"


def make_learner(
    aug: str = "none", n_train: int = 200, batch_size: int = 32, arch: str = TINY, **changes
) -> Learner:
    changes = {"precision": "fp32", "seed": 0, **changes}
    spec = TrainSpec(
        counts="1-3", size=32, n_train=n_train, n_test=60, radius=4.0, arch=arch, aug=aug,
        batch_size=batch_size, **changes,
    )
    torch.manual_seed(0)
    task = build_task(spec, "cpu")
    model = create_model(arch, len(task.classes))
    return Learner(model, task, augment.create(aug, size=32), spec, "cpu", log=lambda line: None)


def test_tiny_resnet_learns_to_count_one_to_three_circles():
    learner = make_learner(n_train=300)
    learner.fit_one_cycle(4, 1e-2)
    test = learner.evaluate("test")
    assert test.accuracy > 0.7  # chance is 1/3
    assert len(learner.history) == 4 and learner.history[-1]["train_loss"] < learner.history[0]["train_loss"]


def test_one_cycle_schedule_matches_fastai():
    learner = make_learner(n_train=50, batch_size=4)  # 40 training images: 10 steps per epoch
    learner.fit_one_cycle(2, 1e-2)
    lrs = [lr for lr, _ in learner.schedule_trace]
    betas = [beta for _, beta in learner.schedule_trace]
    assert len(lrs) == 20
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert lrs[peak] == pytest.approx(1e-2, rel=0.05) and peak in (4, 5)  # pct_start 0.3 of 20 steps
    assert betas[peak] == pytest.approx(0.85, abs=0.01)
    assert lrs[-2] < 1e-4 and betas[-2] > 0.94
    optimizer = learner._optimizer([1.0] * 3)
    assert optimizer.defaults["weight_decay"] == 1e-2 and optimizer.defaults["betas"] == (0.9, 0.99)


def test_lr_range_slices_like_fastai():
    assert lr_range(1e-3) == [1e-3] * 3
    assert lr_range(slice(1e-5, 1e-3)) == pytest.approx([1e-5, 1e-4, 1e-3])
    assert lr_range(slice(1e-3)) == pytest.approx([1e-4, 1e-4, 1e-3])
    with pytest.raises(ValueError, match="3 learning rates"):
        lr_range([1e-3, 1e-2])


def test_freeze_keeps_batchnorm_and_head_trainable():
    learner = make_learner(n_train=40, arch="resnet18")
    learner.freeze()
    model = learner.model
    assert not model.body.conv1.weight.requires_grad and not model.body.layer4[0].conv1.weight.requires_grad
    assert model.body.bn1.weight.requires_grad and model.body.layer3[0].bn2.bias.requires_grad
    assert all(p.requires_grad for p in model.head.parameters())
    before = model.body.conv1.weight.clone()
    learner.fit_one_cycle(1, 1e-2)
    assert torch.equal(before, model.body.conv1.weight)  # frozen really means unchanged
    learner.unfreeze()
    assert all(p.requires_grad for p in model.parameters())


def test_lr_find_returns_a_finite_lr_restores_weights_and_saves_files(tmp_path):
    learner = make_learner(n_train=50, batch_size=8)
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    result = learner.lr_find(iterations=30, output=tmp_path / "lr_find")
    assert math.isfinite(result.suggestion) and 1e-7 <= result.suggestion <= 10
    assert 3 <= len(result.lrs) <= 30 and result.lrs == sorted(result.lrs)
    after = learner.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (tmp_path / "lr_find.png").stat().st_size > 0
    assert (tmp_path / "lr_find.csv").read_text().startswith("lr,loss,smoothed_loss")


def test_non_finite_loss_stops_training():
    learner = make_learner(n_train=40)
    final = learner.model.head[-1]
    assert isinstance(final, nn.Linear)
    with torch.no_grad():
        final.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="loss became nan at epoch 1"):
        learner.fit_one_cycle(1, 1e-3)


def test_evaluate_and_interpretation_agree():
    learner = make_learner(n_train=40)
    evaluation = learner.evaluate("valid")
    assert evaluation.probs.shape == (8, 3) and torch.allclose(evaluation.probs.sum(1), torch.ones(8), atol=1e-5)
    interpretation = Interpretation.from_evaluation(evaluation, learner.task.classes)
    assert interpretation.confusion.sum() == 8
    assert interpretation.confusion.trace() == int((evaluation.preds == evaluation.labels).sum())
    confused = interpretation.most_confused()
    assert all(true != pred for true, pred, _ in confused)
    assert [n for _, _, n in confused] == sorted((n for _, _, n in confused), reverse=True)
    losses, indices = interpretation.top_losses(3)
    assert losses[0] == evaluation.losses.max() and len(indices) == 3


def test_lr_find_does_not_shift_the_fits_batch_order_augmentation_or_dropout():
    # Dropout in the fastai head and the fastai policy's draws make any shift visible in the weights.
    plain = make_learner(aug="fastai", n_train=50, batch_size=8)
    found = make_learner(aug="fastai", n_train=50, batch_size=8)
    torch.manual_seed(7)
    plain_state = plain.generator.get_state()
    plain.fit_one_cycle(1, 1e-3)
    torch.manual_seed(7)
    found.lr_find(iterations=12)
    assert torch.equal(found.generator.get_state(), plain_state)  # the fit's generator was not drawn from
    found.fit_one_cycle(1, 1e-3)
    for (name, a), b in zip(plain.model.state_dict().items(), found.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert found.schedule_trace == plain.schedule_trace  # lr_find's steps are not in the fit's trace


def test_seed_drives_batch_order_and_init_through_its_own_generators():
    torch.manual_seed(0)
    a = create_model(TINY, 3, seed=3)
    torch.manual_seed(1)  # the global RNG does not matter ...
    b = create_model(TINY, 3, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    state = torch.random.get_rng_state()
    create_model(TINY, 3, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())  # ... and is left where it was
    first, second = make_learner(n_train=50, seed=1), make_learner(n_train=50, seed=2)
    assert not torch.equal(first._batches(first.generator)[0], second._batches(second.generator)[0])


def test_infinite_loss_names_the_epoch_and_what_to_try():
    learner = make_learner(n_train=40)
    with torch.no_grad():
        learner.model.head[-1].bias.copy_(torch.tensor([float("inf"), 0.0, 0.0]))
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1 \(stage 1\).*try a lower lr") as raised:
        learner.fit_one_cycle(1, 1e-3)
    assert raised.value.epoch == 1


def test_nan_predictions_at_evaluation_name_the_split_and_epoch():
    learner = make_learner(n_train=40)
    learner.history.append({"epoch": 1})  # as if one epoch had been trained
    with torch.no_grad():
        learner.model.head[-1].weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"predictions on test became NaN/inf after epoch 1 \(60 of 60") as raised:
        learner.evaluate("test")
    assert raised.value.epoch == 1


class Recorder(TrainingObserver):
    """Records the hooks the learner calls."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_fit_start(self, stage, epochs, steps_per_epoch):
        self.calls.append(("fit_start", stage, epochs, steps_per_epoch))

    def on_step(self, step, lrs, momentum):
        self.calls.append(("step", step, len(lrs), momentum))

    def on_batch_end(self, epoch, batch, batches):
        self.calls.append(("batch", epoch, batch, batches))

    def on_epoch_end(self, row):
        self.calls.append(("epoch", row["epoch"], row["stage"]))

    def on_fit_end(self):
        self.calls.append(("fit_end",))


def test_observers_hear_every_fit_step_batch_and_epoch():
    recorder = Recorder()
    learner = make_learner(n_train=25, batch_size=10)  # 20 training images: 2 steps per epoch
    learner.observers.append(recorder)
    learner.fit_one_cycle(1, 1e-3, stage=1)
    learner.fit_one_cycle(1, 1e-3, stage=2)
    kinds = [call[0] for call in recorder.calls]
    assert kinds == ["fit_start", "step", "batch", "step", "batch", "epoch", "fit_end"] * 2
    assert recorder.calls[0] == ("fit_start", 1, 1, 2) and recorder.calls[7] == ("fit_start", 2, 1, 2)
    assert [c[1] for c in recorder.calls if c[0] == "step"] == [1, 2, 3, 4]  # steps count over fits
    assert ("epoch", 2, 2) in recorder.calls and ("batch", 2, 2, 2) in recorder.calls
    assert recorder.calls[1][2] == 3 and 0.85 <= recorder.calls[1][3] <= 0.95  # 3 layer groups; beta1


def brightness_task(n_per_class: int = 24, seed: int = 0) -> Task:
    """Counts 1..3 written as brightness (count k -> grey level 40 + 80 (k - 1), plus noise): separable."""
    generator = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        labels = torch.arange(3).repeat(n)
        levels = 40.0 + 80.0 * labels.float()
        noise = 10 * torch.randn(len(labels), 3, 16, 16, generator=generator)
        return Split((levels[:, None, None, None] + noise).clamp(0, 255).to(torch.uint8), labels)

    train, valid = split(n_per_class), split(n_per_class // 2)
    return Task(classes=["1", "2", "3"],
                splits={"train": train, "valid": valid, "test": Split(valid.images[:0], valid.labels[:0])})


@pytest.mark.parametrize("head, changes", [
    ("regression", {}), ("regression", {"reg_target": "log", "reg_loss": "huber"}), ("ordinal", {})])
def test_regression_and_ordinal_heads_learn_an_easy_count(head, changes):
    spec = TrainSpec(counts="1-3", size=16, arch=TINY, head=head, batch_size=8, precision="fp32", seed=0, **changes)
    task = brightness_task(n_per_class=48)
    model = create_model(TINY, 3, head=head, seed=0)
    torch.manual_seed(0)  # dropout
    learner = Learner(model, task, augment.create("none", size=16), spec, "cpu", log=lambda line: None)
    assert learner.readout.kind == head and learner.readout.n_outputs == (1 if head == "regression" else 2)
    before = learner.evaluate("valid")
    learner.fit_one_cycle(5, 1e-2)
    after = learner.evaluate("valid")
    true_counts = (after.labels + 1).float()
    assert after.loss < 0.5 * before.loss and after.accuracy > 0.5  # chance is 1/3
    assert (after.estimates - true_counts).abs().mean() < (before.estimates - true_counts).abs().mean()
    # The evaluation is the readout's: per-image losses, float counts, classes nearest the counts.
    assert after.losses.shape == after.estimates.shape == (72,) and after.estimates.dtype == torch.float32
    assert torch.equal(after.preds, learner.readout.nearest_class(after.estimates))
    assert after.probs.shape == (72, 3) and torch.allclose(after.probs.sum(1), torch.ones(72))


def test_classifier_evaluation_estimates_are_the_predicted_counts():
    learner = make_learner(n_train=40)
    evaluation = learner.evaluate("valid")
    assert torch.equal(evaluation.estimates, evaluation.preds.float() + 1)  # counts 1-3: class i is count i + 1
    assert torch.equal(evaluation.preds, evaluation.probs.argmax(1))


def test_one_pass_evaluation_of_several_splits_equals_evaluating_each():
    learner = make_learner(n_train=100)
    learner.fit_one_cycle(1, 1e-2)
    splits = ["valid", "test"]
    together = learner.evaluate_splits(splits, batch_size=16)  # 20 + 60 images: batches cross the split boundary
    for split in splits:
        alone = learner.evaluate(split, batch_size=7)
        assert torch.equal(together[split].labels, alone.labels) and torch.equal(together[split].preds, alone.preds)
        assert torch.allclose(together[split].probs, alone.probs, atol=1e-5)
        assert torch.allclose(together[split].losses, alone.losses, atol=1e-5)
    assert list(together) == splits


def test_fused_evaluation_predicts_as_the_trained_model():
    # resnet18 (torchvision blocks) so that every BatchNorm2d is folded
    learner = make_learner(n_train=100, arch="resnet18")
    learner.fit_one_cycle(1, 1e-3)
    plain = learner.evaluate_splits(["valid", "test"])
    fused = learner.evaluate_splits(["valid", "test"], fused=True)
    for split in plain:
        assert (plain[split].preds == fused[split].preds).float().mean() >= 0.999
        assert torch.allclose(plain[split].probs, fused[split].probs, atol=1e-4)
    assert learner.model.body.bn1.__class__ is nn.BatchNorm2d  # the learner's own model is not folded


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("STUDY_TEST_COMPILE"),
                    reason="inductor takes minutes to compile on a small CPU; set STUDY_TEST_COMPILE=1 to run it")
def test_compile_on_the_cpu_trains_as_the_eager_model():
    pytest.importorskip("torch._inductor")
    losses = {}
    for compiled in (False, True):
        learner = make_learner(n_train=40, batch_size=8, compile=compiled)
        assert (learner.forward_model is not learner.model) == compiled
        optimizer = learner._optimizer([1e-3] * 3)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        batch = learner._batches(learner.generator)[0]
        try:
            losses[compiled] = [float(learner.train_step(batch, optimizer, scheduler)) for _ in range(2)]
        except Exception as error:  # no C++ compiler or an inductor limitation on this machine
            if compiled:
                pytest.skip(f"inductor cannot compile on this CPU: {type(error).__name__}: {error}")
            raise
    assert losses[True] == pytest.approx(losses[False], rel=1e-3, abs=1e-4)


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]


def test_precise_bn_statistics_are_the_training_images_own():
    # The first BatchNorm after the stem sees conv1's outputs: its recomputed mean is their plain mean over
    # every training image, shown with the eval transform, whatever the running averages said before.
    learner = make_learner(n_train=100, arch="resnet18")
    learner.fit_one_cycle(1, 1e-3)
    first = learner.model.body.bn1
    first.running_mean.fill_(50.0)  # running statistics gone wrong
    first.running_var.fill_(1e-3)
    learner.recompute_bn_stats()
    with torch.no_grad():
        features = learner.model.body.conv1(learner._inputs(learner.task.splits["train"].images))
    assert torch.allclose(first.running_mean, features.mean((0, 2, 3)), atol=1e-4)
    # torch.optim.swa_utils.update_bn averages per-batch unbiased variances; one batch here (80 images)
    assert torch.allclose(first.running_var, features.var((0, 2, 3), unbiased=True), rtol=1e-3)
    assert first.momentum == 0.1 and not learner.model.training  # momentum and mode put back


def test_precise_bn_rescues_a_model_whose_running_statistics_are_wrong():
    # A simulated failure with a known answer: a model that counts (trained), then statistics of another
    # distribution (pure noise) written into every BatchNorm layer. Evaluated with them it is near chance;
    # PreciseBN restores what it learned. Recomputing the trained model's own statistics changes little.
    learner = make_learner(n_train=300)
    learner.fit_one_cycle(4, 1e-2)
    trained = learner.evaluate("test").accuracy
    assert trained > 0.7  # chance is 1/3
    learner.recompute_bn_stats()
    assert abs(learner.evaluate("test").accuracy - trained) < 0.1
    with torch.no_grad():
        learner.model.train()
        for module in _batchnorms(learner.model):
            module.reset_running_stats()
            module.momentum = None
        learner.model(torch.randn(64, 3, 32, 32) * 5)
        for module in _batchnorms(learner.model):
            module.momentum = 0.1
    assert learner.evaluate("test").accuracy < 0.6
    learner.recompute_bn_stats()
    assert learner.evaluate("test").accuracy > 0.7


def test_bn_stats_precise_changes_only_the_statistics_after_the_last_epoch():
    # Same seeds, same fit: the weights agree exactly; only the BatchNorm buffers differ, and the last
    # history row's validation is the one the recomputed statistics give.
    runs = {}
    for bn_stats in ("running", "precise"):
        learner = make_learner(n_train=100, arch="resnet18", bn_stats=bn_stats)
        learner.fit_one_cycle(2, 1e-3)
        runs[bn_stats] = learner
    running, precise = runs["running"].model.state_dict(), runs["precise"].model.state_dict()
    parameters = {name for name, _ in runs["running"].model.named_parameters()}
    assert all(torch.equal(running[name], precise[name]) for name in parameters)
    assert not torch.equal(running["body.bn1.running_mean"], precise["body.bn1.running_mean"])
    assert [row["train_loss"] for row in runs["running"].history] == [row["train_loss"] for row in runs["precise"].history]
    assert runs["precise"].history[-1]["accuracy"] == pytest.approx(runs["precise"].evaluate("valid").accuracy)
    assert runs["running"].history[0]["valid_loss"] == pytest.approx(runs["precise"].history[0]["valid_loss"])


def test_precise_bn_draws_its_images_from_every_class_of_a_class_ordered_split(monkeypatch):
    # A photo folder's training split is in class order: the statistics must come from a random draw
    # of the split, not its first images (one class, here the darkest).
    task = brightness_task(n_per_class=60)
    order = task.splits["train"].labels.argsort(stable=True)
    train = Split(task.splits["train"].images[order], task.splits["train"].labels[order])
    task = Task(classes=task.classes, splits={**task.splits, "train": train})
    spec = TrainSpec(counts="1-3", size=16, arch="resnet18", batch_size=8, precision="fp32", seed=0)
    learner = Learner(create_model("resnet18", 3, seed=0), task, augment.create("none", size=16), spec, "cpu",
                      log=lambda line: None)
    with torch.no_grad():
        conv1 = learner.model.body.conv1
        features = conv1(learner._inputs(train.images))
        every, first = features.mean((0, 2, 3)), features[:60].mean((0, 2, 3))
        variance = features.var((0, 2, 3))
    learner.recompute_bn_stats(max_images=60)  # a third of the 180 images: first 60 = one class
    recomputed = learner.model.body.bn1.running_mean
    assert (recomputed - every).abs().max() < 0.25 * (first - every).abs().max()
    # In batches of 8, a batch in class order misses the variance between classes; random batches do not.
    monkeypatch.setattr(learner_module, "EVAL_BATCH_SIZE", 8)
    learner.recompute_bn_stats(max_images=180)
    with torch.no_grad():
        in_class_order = torch.stack([features[i : i + 8].var((0, 2, 3)) for i in range(0, 180, 8)]).mean(0)
    error = (learner.model.body.bn1.running_var - variance).abs().max()
    assert error < 0.5 * (in_class_order - variance).abs().max()
