"""study.engine.backbones: timm bodies at the study's image size, token models as patch maps, clear errors."""

from __future__ import annotations

import urllib.error

import pytest
import timm
import timm.models._builder as timm_builder
import torch
import torch.nn as nn

from analysis.probes import stage_features
from study.engine.backbones import TokenMapBody, parse_timm_name, timm_body
from study.errors import ConfigError, WeightsUnavailableError
from study.engine.models import Classifier, fastai_head, linear_head

# (timm name, embedding width D, patch size): the recommended ViT and MLP-Mixer, and timm's 0.1M-parameter test ViT
TOKEN_MODELS = [("vit_tiny_patch16_224", 192, 16), ("mixer_s16_224", 512, 16), ("test_vit", 64, 16)]


def _classifier(name: str, size: int, head: str, classes: int = 3) -> Classifier:
    body, features, split = timm_body(name, pretrained=False, image_size=size)
    make_head = fastai_head if head == "fastai" else linear_head
    return Classifier(body, make_head(features, classes), split, features)


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize(("name", "width", "patch"), TOKEN_MODELS)
def test_token_bodies_return_a_map_on_the_patch_grid(name, width, patch, size):
    body, features, split = timm_body(name, pretrained=False, image_size=size)
    assert isinstance(body, TokenMapBody) and features == width
    assert body(torch.randn(2, 3, size, size)).shape == (2, width, size // patch, size // patch)
    names = [child for child, _ in body.named_children()]
    assert names == ["embed", "blocks1", "layer1", "blocks2", "layer2", "blocks3", "layer3", "blocks4", "norm", "layer4"]
    assert names[split] == "blocks3"  # like a ResNet split before layer3


def test_patch_suffix_sets_a_finer_grid():
    body, _, _ = timm_body("vit_tiny_patch16_224@patch8", pretrained=False, image_size=64)
    assert body(torch.randn(1, 3, 64, 64)).shape == (1, 192, 8, 8)
    assert parse_timm_name("vit_tiny_patch16_224@patch8") == ("vit_tiny_patch16_224", {"patch_size": 8})
    assert parse_timm_name("resnet10t") == ("resnet10t", {})


def test_patch_tokens_are_laid_out_row_major_and_prefix_tokens_dropped():
    body, _, _ = timm_body("test_vit", pretrained=False, image_size=32)  # 2x2 grid, one class token
    prefix = body.num_prefix_tokens
    assert prefix == 1
    tokens = torch.arange(prefix + 4, dtype=torch.float32).view(1, -1, 1).expand(1, -1, 3)  # token i holds i
    patch_map = body._to_map(tokens, (2, 2))
    assert patch_map.shape == (1, 3, 2, 2)
    assert patch_map[0, 0].tolist() == [[1.0, 2.0], [3.0, 4.0]]  # patch (r, c) = token prefix + 2r + c
    assert torch.equal(body._to_tokens(tokens[:, :prefix], patch_map), tokens)


@pytest.mark.parametrize("name", ["test_vit", "mixer_s16_224"])
def test_body_computes_what_timm_computes(name):
    size = 64
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False, num_classes=0, img_size=size).eval()
    body, _, _ = timm_body(name, pretrained=False, image_size=size)
    body.load_state_dict(_as_body_keys(reference, body))
    images = torch.randn(2, 3, size, size)
    tokens = reference.forward_features(images)[:, body.num_prefix_tokens :]
    expected = tokens.transpose(1, 2).reshape(2, -1, size // 16, size // 16)
    torch.testing.assert_close(body.eval()(images), expected)


def _as_body_keys(reference: nn.Module, body: TokenMapBody) -> dict[str, torch.Tensor]:
    """The reference network's weights under the body's names (blocks regrouped into stages)."""
    stage_of = {}
    for stage in range(1, body.stages + 1):
        for offset in range(len(getattr(body, f"blocks{stage}"))):
            stage_of[len(stage_of)] = (stage, offset)
    state = {}
    for key, value in reference.state_dict().items():
        if key.startswith("blocks."):
            index, rest = key.split(".", 2)[1:]
            stage, offset = stage_of[int(index)]
            state[f"blocks{stage}.{offset}.{rest}"] = value
        elif key.startswith("norm."):
            state[key] = value
        else:
            state[f"embed.network.{key}"] = value
    return state


@pytest.mark.parametrize("head", ["fastai", "linear"])
@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "mixer_s16_224", "resnet10t"])
def test_classifier_from_a_timm_body_classifies_and_trains(name, head):
    model = _classifier(name, 32, head)
    grouped = [id(p) for group in model.groups for p in group.parameters()]
    # class token and position embedding live in the embed child, so the optimiser sees every parameter
    assert len(model.groups) == 3 and sorted(grouped) == sorted(id(p) for p in model.parameters())
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    assert model.eval()(images).shape == (4, 3)
    model.train()
    optimizer = torch.optim.SGD([{"params": group.parameters()} for group in model.groups], lr=0.1)
    first = model.body.state_dict()[next(iter(model.body.state_dict()))].clone()
    loss = nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(first, model.body.state_dict()[next(iter(model.body.state_dict()))])


def test_every_stage_is_a_map_with_gradients_for_probes_and_gradcam():
    model = _classifier("test_vit", 64, "fastai").eval()
    features = stage_features(model, torch.randn(5, 3, 64, 64))
    assert list(features) == ["layer1", "layer2", "layer3", "layer4"]
    assert all(array.shape == (5, 64) for array in features.values())
    captured = {}

    def keep(module, args, output):
        output.retain_grad()
        captured["map"] = output

    model.body.layer2.register_forward_hook(keep)  # an intermediate tap: its map must feed the rest of the network
    model(torch.randn(1, 3, 64, 64))[0, 1].backward()
    assert captured["map"].shape == (1, 64, 4, 4)
    assert captured["map"].grad is not None and captured["map"].grad.abs().sum() > 0
    assert model.last_stage() is model.body.layer4


def test_cnn_from_timm_keeps_its_own_children():
    body, features, split = timm_body("resnet10t", pretrained=False, image_size=64)
    assert body(torch.randn(2, 3, 64, 64)).shape == (2, features, 2, 2)
    assert "layer4" in dict(body.named_children()) and split >= 1


@pytest.mark.parametrize(("name", "words"), [
    ("vit_tinny_patch16_224", ["vit_tinny_patch16_224", "timm.list_models", "vit_tiny_patch16_224"]),
    ("no_such_model_anywhere", ["no_such_model_anywhere", "timm.list_models"]),
    ("vit_tiny_patch16_224@p8", ["@patch<P>", "vit_tiny_patch16_224@p8"]),
    ("resnet10t@patch8", ["resnet10t@patch8", "patch_size=8"]),
])
def test_bad_names_give_one_clear_error(name, words):
    with pytest.raises(ConfigError) as error:
        timm_body(name, pretrained=False, image_size=32)
    message = str(error.value)
    assert "\n" not in message and all(word in message for word in words)


def _offline(*args, **kwargs):
    raise FileNotFoundError("cannot find the requested files in the local cache")  # what huggingface_hub raises


def test_pretrained_offline_raises_weights_unavailable(monkeypatch):
    monkeypatch.setattr(timm_builder, "load_state_dict_from_hf", _offline)
    monkeypatch.setattr(timm_builder, "load_state_dict_from_url",
                        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")))
    for name in ("test_vit", "test_resnet"):
        with pytest.raises(WeightsUnavailableError) as error:
            timm_body(name, pretrained=True, image_size=32)
        assert f"timm:{name}" in str(error.value) and "HF_HOME" in str(error.value) and "weights=none" in str(error.value)


def test_pretrained_vit_weights_are_resampled_to_the_new_grid(monkeypatch):
    torch.manual_seed(0)
    saved = timm.create_model("test_vit", pretrained=False).state_dict()  # at its 160 px: 10x10 patches + class token
    monkeypatch.setattr(timm_builder, "load_state_dict_from_hf", lambda *a, **k: dict(saved))
    body, _, _ = timm_body("test_vit", pretrained=True, image_size=64)
    loaded = body.embed.network
    assert torch.equal(loaded.patch_embed.proj.weight, saved["patch_embed.proj.weight"])
    assert loaded.pos_embed.shape == (1, 1 + 4 * 4, 64) and saved["pos_embed"].shape == (1, 1 + 10 * 10, 64)
    depth = sum(len(getattr(body, f"blocks{stage}")) for stage in range(1, body.stages + 1))
    assert torch.equal(body.blocks4[-1].mlp.fc2.weight, saved[f"blocks.{depth - 1}.mlp.fc2.weight"])


def test_pretrained_that_timm_does_not_have_or_cannot_fit_is_a_config_error(monkeypatch):
    with pytest.raises(ConfigError, match="no pretrained weights for 'mixer_s16_224'"):
        timm_body("mixer_s16_224", pretrained=True, image_size=64)
    torch.manual_seed(0)
    at_224 = timm.create_model("resmlp_12_224", pretrained=False).state_dict()  # token mixing over 14x14 patches
    monkeypatch.setattr(timm_builder, "load_state_dict_from_hf", lambda *a, **k: dict(at_224))
    with pytest.raises(ConfigError, match="do not fit timm:resmlp_12_224 at 64 px"):
        timm_body("resmlp_12_224", pretrained=True, image_size=64)


def test_cached_weights_look_in_the_hub_cache_only(tmp_path, monkeypatch):
    from study.engine.backbones import cached_weights

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert cached_weights("vit_tiny_patch16_224") is None  # nothing cached, and no network call
    assert cached_weights("mixer_s16_224") is None  # timm has no weights for it at all
    folder = tmp_path / "models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc")
    (folder / "snapshots" / "abc").mkdir(parents=True)
    (folder / "snapshots" / "abc" / "model.safetensors").write_bytes(b"x")
    assert cached_weights("vit_tiny_patch16_224@patch8").endswith("model.safetensors")
