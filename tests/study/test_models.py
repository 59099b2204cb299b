"""study.engine.models: registry, heads, layer groups, weights files and offline ImageNet weights."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torch.nn as nn
import torchvision

from study.engine.models import (
    IMAGENET_MEAN,
    WeightsUnavailableError,
    create_model,
    fuse_conv_bn,
    normalize,
)


ARCHS = ["resnet18", "timm:resnet10t"]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("head, outputs", [("fastai", 4), ("linear", 4), ("regression", 1), ("ordinal", 3)])
def test_every_arch_and_head_classifies_and_groups_cover_all_parameters(arch, head, outputs):
    model = create_model(arch, 4, head=head).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, outputs)
    assert model.body(torch.randn(1, 3, 32, 32)).shape[1] == model.num_features
    grouped = [id(p) for group in model.groups for p in group.parameters()]
    assert len(model.groups) == 3 and sorted(grouped) == sorted(id(p) for p in model.parameters())
    assert isinstance(model.last_stage(), nn.Module)


def test_fastai_head_is_the_v1_layout():
    head = create_model("resnet34", 5).head
    kinds = [type(layer).__name__ for layer in head]
    assert kinds == [
        "AdaptiveConcatPool2d", "Flatten", "BatchNorm1d", "Dropout", "Linear", "ReLU", "BatchNorm1d", "Dropout", "Linear",
    ]
    assert (head[4].in_features, head[4].out_features, head[8].out_features) == (1024, 512, 5)
    assert (head[3].p, head[7].p) == (0.25, 0.5)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="resnet34"):
        create_model("resnet35", 2)
    with pytest.raises(ValueError, match="fastai, linear, regression, ordinal"):
        create_model("resnet18", 2, head="mlp")
    with pytest.raises(ValueError, match="head 'ordinal' needs >= 2 classes, got 1"):
        create_model("resnet18", 1, head="ordinal")


def test_regression_and_ordinal_heads_reuse_fastais_hidden_layers():
    regression = create_model("resnet18", 5, head="regression").eval()
    ordinal = create_model("resnet18", 5, head="ordinal").eval()
    images = torch.randn(2, 3, 32, 32)
    assert regression(images).shape == (2, 1) and ordinal(images).shape == (2, 4)  # 1 and C - 1 outputs
    hidden = ["AdaptiveConcatPool2d", "Flatten", "BatchNorm1d", "Dropout", "Linear", "ReLU", "BatchNorm1d", "Dropout"]
    assert [type(layer).__name__ for layer in regression.head] == [*hidden, "Linear"]
    assert [type(layer).__name__ for layer in ordinal.head] == [*hidden, "CoralLayer"]
    assert regression.head[8].out_features == 1 and regression.groups[-1] is regression.head


def test_coral_layer_shares_one_weight_vector_and_starts_uniform():
    coral = create_model("resnet18", 4, head="ordinal").head[-1]
    assert coral.weight.shape == (1, 512) and coral.bias.shape == (3,)  # one w, C - 1 biases
    # Biases are the logits of P(count > k) = 3/4, 2/4, 1/4 under uniform classes.
    assert torch.sigmoid(coral.bias).tolist() == pytest.approx([0.75, 0.5, 0.25])
    features = torch.randn(2, 512, generator=torch.Generator().manual_seed(0))
    outputs = coral(features)
    shared = features @ coral.weight.t()  # [2, 1]: the same w.h for every task k
    assert torch.allclose(outputs, shared + coral.bias, atol=1e-5)
    assert torch.allclose(outputs - outputs[:, :1], (coral.bias - coral.bias[0]).expand(2, 3), atol=1e-5)


def test_a_seeded_classifier_head_is_reproducible():
    a, b = create_model("resnet18", 3, seed=4), create_model("resnet18", 3, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_normalize_never_divides_by_zero():
    images = torch.full((1, 3, 2, 2), 0.5)
    assert torch.isfinite(normalize(images, std=(0.0, 0.0, 0.0))).all()
    assert normalize(images)[0, 0, 0, 0] == pytest.approx((0.5 - IMAGENET_MEAN[0]) / 0.229)


def test_imagenet_offline_names_the_file_and_the_cache_folder(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))  # an empty cache
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(WeightsUnavailableError) as error:
        create_model("resnet34", 5, weights="imagenet")
    message = str(error.value)
    assert "resnet34-b627a593.pth" in message and str(tmp_path / "checkpoints") in message
    assert "weights=none" in message


def test_imagenet_weights_load_from_the_hub_cache_without_network(tmp_path, monkeypatch):
    reference = torchvision.models.resnet18(weights=None)
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference.state_dict(), tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("no download expected"))
    model = create_model("resnet18", 3, weights="imagenet")
    assert torch.equal(model.body.conv1.weight, reference.conv1.weight)


def test_weights_files_body_full_torchvision_and_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = create_model("resnet18", 3).eval()
    images = torch.randn(2, 3, 32, 32)
    torch.save(source.body.state_dict(), tmp_path / "body.pt")
    torch.save(source.state_dict(), tmp_path / "full.pt")
    torch.save({"model": source.state_dict(), "arch": "resnet18"}, tmp_path / "checkpoint.pt")
    torchvision_net = torchvision.models.resnet18(weights=None)
    torch.save(torchvision_net.state_dict(), tmp_path / "torchvision.pth")

    body_only = create_model("resnet18", 3, weights=str(tmp_path / "body.pt")).eval()
    assert torch.equal(body_only.body(images), source.body(images))
    for name in ("full.pt", "checkpoint.pt"):
        loaded = create_model("resnet18", 3, weights=str(tmp_path / name)).eval()
        assert torch.equal(loaded(images), source(images))
    transfer = create_model("resnet18", 7, weights=str(tmp_path / "full.pt"))  # other classes: body only
    assert torch.equal(transfer.body.conv1.weight, source.body.conv1.weight)
    from_torchvision = create_model("resnet18", 3, weights=str(tmp_path / "torchvision.pth"))
    assert torch.equal(from_torchvision.body.layer4[1].conv2.weight, torchvision_net.layer4[1].conv2.weight)


def test_weights_file_mismatch_and_missing_file_are_clear(tmp_path):
    torch.save(create_model("resnet18", 2).body.state_dict(), tmp_path / "r18.pt")
    with pytest.raises(ValueError, match="does not match arch 'resnet34'.*missing"):
        create_model("resnet34", 2, weights=str(tmp_path / "r18.pt"))
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        create_model("resnet18", 2, weights=str(tmp_path / "nope.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable state dict"):
        create_model("resnet18", 2, weights=str(tmp_path / "junk.pt"))


def _randomise_batchnorm(model: nn.Module) -> None:
    """BatchNorm statistics and affine parameters far from their identity defaults, so folding them matters."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(size, generator=generator) * 1.5 + 0.5)
                module.weight.copy_(1 + torch.randn(size, generator=generator) * 0.2)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.1)


def test_folding_batchnorm_predicts_as_the_model_does_and_leaves_it_untouched():
    model = create_model("resnet18", 6, seed=0, image_size=32)
    _randomise_batchnorm(model)
    model.eval()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    fused = fuse_conv_bn(model)
    # every BatchNorm2d of the ResNet body folded away (stem, blocks, downsample); the head's BatchNorm1d stays
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 20
    assert any(isinstance(m, nn.BatchNorm1d) for m in fused.modules())
    images = torch.randn(512, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = model(images), fused(images)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert (got.argmax(1) == expected.argmax(1)).float().mean() >= 0.999
    assert all(torch.equal(value, before[key]) for key, value in model.state_dict().items())
    assert not fused.training


def test_folding_only_touches_convolutions_that_feed_a_batchnorm_directly():
    # conv -> relu -> bn: the BatchNorm does not see the convolution's output, so nothing may fold
    unfoldable = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4))
    _randomise_batchnorm(unfoldable)
    fused = fuse_conv_bn(unfoldable.eval())
    assert [type(m) for m in fused] == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d]
    images = torch.randn(8, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(fused(images), unfoldable(images))


@pytest.mark.parametrize("head", ["fastai", "regression", "ordinal"])
def test_head_dropout_is_fastais_ps(head):
    # ps before the last linear layer, ps / 2 before the first: 0.5 is the post's head (0.25, 0.5)
    for dropout, expected in ((0.5, [0.25, 0.5]), (0.2, [0.1, 0.2]), (0.0, [0.0, 0.0])):
        model = create_model("resnet18", 5, head=head, seed=0, head_dropout=dropout)
        assert [m.p for m in model.head.modules() if isinstance(m, torch.nn.Dropout)] == pytest.approx(expected)
    assert create_model("resnet18", 5, head="fastai", seed=0).head[3].p == 0.25  # the default is the post's
