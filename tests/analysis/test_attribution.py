import pytest
import torch
import torch.nn as nn

from analysis import attribution
from study.engine.models import create_model, normalize


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = create_model("resnet18", 3, weights="none", head="fastai")
    net.train()
    with torch.no_grad():  # move BN running stats away from the identity so eval mode matters
        net(torch.randn(8, 3, 32, 32))
    return net.eval()


def test_hygiene_keeps_outputs_and_uses_each_relu_once(model):
    inputs = torch.randn(4, 3, 32, 32)
    clean = attribution.prepare_model(model)
    with torch.no_grad():
        assert torch.equal(model(inputs), clean(inputs))
    assert clean is not model and not clean.training
    calls: dict[int, int] = {}
    hooks = [m.register_forward_hook(lambda m, i, o: calls.__setitem__(id(m), calls.get(id(m), 0) + 1))
             for m in clean.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        clean(inputs[:1])
    for hook in hooks:
        hook.remove()
    assert calls and max(calls.values()) == 1
    assert not any(m.inplace for m in clean.modules() if isinstance(m, nn.ReLU))
    # the original still shares its in-place ReLU (we worked on a copy)
    assert any(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))


@pytest.mark.parametrize("name", attribution.available())
def test_every_method_gives_nonnegative_maps(model, name):
    clean = attribution.prepare_model(model)
    inputs = normalize(torch.rand(2, 3, 32, 32))
    baseline = attribution.background_baseline(32, 32, normalize)
    method = attribution.create(name, clean, batch_size=2, n_steps=4, nt_samples=2, window=16)
    maps = method(inputs, torch.tensor([0, 2]), baseline)
    assert maps.shape == (2, 32, 32)
    assert torch.isfinite(maps).all() and (maps >= 0).all()


def test_unknown_method_lists_names(model):
    with pytest.raises(ValueError, match="gradcam"):
        attribution.create("lime", model)


def test_baseline_is_normalised_white():
    baseline = attribution.background_baseline(4, 4, normalize)
    assert torch.allclose(baseline, normalize(torch.ones(1, 3, 4, 4)))
