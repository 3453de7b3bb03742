"""The IJCV 2016 paper's other two visualisations on the same engine: activation maximisation
and caricatures — their losses and gradients by hand, their effect, their targets, the
experiment view, and a real network's class."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from conftest import TinyCNN
from inverter import InversionConfig, invert, reconstruct, resolve_settings
from inverter.errors import ImageError, SettingError
from inverter.objectives import DataTerm
from inverter.experiments import ExperimentSpec, run_experiment
from inverter.representations import Family, LayerSpec, register, unregister

SMALL = dict(image_size=(32, 32), device="cpu")


def _linear_codes():
    """A linear 'network' c = W·x on a 5-value input, 2 restarts, and a target code."""
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 5, generator=gen)
    x = torch.randn(2, 5, generator=gen, dtype=torch.float32).requires_grad_(True)
    target = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
    return weight, x, target


@pytest.mark.parametrize("objective", ["invert", "activation", "caricature"])
def test_each_loss_and_its_gradient_against_hand_computed_ones(objective):
    weight, x, target = _linear_codes()
    selector = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    term = DataTerm(objective, target, weight=3.0, selector=selector, unit_scale=2.5)
    codes = x @ weight.T
    c, t = codes.detach().double(), target.double()
    positive = t.clamp_min(0)
    expected = {
        "invert": 3.0 * ((c - t) ** 2).sum(dim=1) / (t**2).sum(),
        "activation": -3.0 * c[:, 2] / 2.5,
        "caricature": -3.0 * (c * positive).sum(dim=1) / (positive**2).sum(),
    }[objective]
    torch.testing.assert_close(term.loss(codes).double(), expected, rtol=1e-5, atol=1e-6)
    # the engine's gradient: Φ's backward fed the seed, times the scale, equals ∇ of the loss
    (engine,) = torch.autograd.grad(codes, x, grad_outputs=term.seed(codes.detach()), retain_graph=True)
    (autograd,) = torch.autograd.grad(term.loss(codes).sum(), x)
    torch.testing.assert_close(engine * term.scale, autograd, rtol=1e-5, atol=1e-6)


def test_activation_maximisation_raises_its_unit_from_noise_deterministically(tiny_cnn, photo):
    """From noise, the target unit rises by a large factor; the same seed gives the same image."""
    config = dict(objective="activation", target="5@3,4", method="ijcv", iterations=80, **SMALL)
    first = next(invert(tiny_cnn, photo, **config))
    runs = [reconstruct(tiny_cnn, photo, **config) for _ in range(2)]
    with torch.no_grad():
        before = tiny_cnn(torch.from_numpy(first.pixels))[0, 5, 3, 4]
        after = tiny_cnn(torch.from_numpy(runs[0].pixels))[0, 5, 3, 4]
    assert after > 10 * abs(before) and after > 0
    assert runs[0].score[0] > 10 * abs(first.score[0])
    assert np.array_equal(runs[0].pixels, runs[1].pixels)


def test_a_caricature_starts_from_the_image_and_exaggerates_its_code(tiny_cnn, photo):
    journal = resolve_settings(tiny_cnn, InversionConfig(objective="caricature", method="ijcv", **SMALL))
    assert journal.init == "image" and journal.phases == ((1.0, 300),) and journal.data_weight == 1.0  # one stage
    # (at 32 px a tiny random net's code is weak against the journal's priors: the CVPR preset here)
    shots = list(invert(tiny_cnn, photo, objective="caricature", iterations=60, **SMALL))
    assert shots[0].settings.init == "image"
    target_pixels = tiny_cnn.image_to_pixels(photo, (32, 32))
    np.testing.assert_allclose(shots[0].pixels[0], target_pixels[0].numpy(), atol=1e-4)  # started from the image
    with torch.no_grad():
        phi0 = tiny_cnn(target_pixels)
        phi = tiny_cnn(torch.from_numpy(shots[-1].pixels))
    positive = phi0.clamp_min(0)
    assert float((phi * positive).sum()) > 1.5 * float((phi0 * positive).sum())
    assert shots[0].score[0] == pytest.approx(1.0, rel=1e-3) and shots[-1].score[0] > 1.5


def test_targets_are_checked_against_the_code(tiny_cnn, photo):
    with pytest.raises(SettingError, match=r"target 16 is outside .*its channels are 0…15"):
        resolve_settings(tiny_cnn, InversionConfig(objective="activation", target="16", **SMALL))
    with pytest.raises(SettingError, match=r"target position 9,0 is outside .*8×8 grid"):
        resolve_settings(tiny_cnn, InversionConfig(objective="activation", target="2@9,0", **SMALL))
    with pytest.raises(SettingError, match="needs a target"):
        resolve_settings(tiny_cnn, InversionConfig(objective="activation", **SMALL))
    with pytest.raises(SettingError, match="N@Y,X"):
        resolve_settings(tiny_cnn, InversionConfig(objective="activation", target="left", **SMALL))
    assert resolve_settings(tiny_cnn, InversionConfig(target="3", **SMALL)).target is None  # ignored by an inversion
    with pytest.raises(ImageError, match="needs an image"):
        next(invert(tiny_cnn, None, **SMALL))
    assert next(invert(tiny_cnn, None, objective="activation", target="1", **SMALL)).step == 0


def test_the_visualisations_experiment_has_a_row_per_layer():
    class Stack(TinyCNN):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            out = torch.relu(self.conv1(x * self.inv_std))
            return out if self.layer == "conv1" else self.conv2(out)

    register(Family("vistest", tuple(LayerSpec(n, 4, TinyCNN().preset) for n in ("conv1", "conv2")),
                    lambda layer, weights: Stack(layer), input_size=(32, 32)))  # fmt: skip
    try:
        spec = ExperimentSpec("visualisations", "vistest", image="example:coffee",
                              config={"iterations": 6, "image_size": [32, 32], "device": "cpu", "method": "ijcv"})
        result = run_experiment(spec)
    finally:
        unregister("vistest")
    assert result.rows == [3, 3]
    labels = [p.label for p in result.panels]
    assert labels[0] == "conv1: inversion" and labels[1] == "conv1: caricature"
    assert labels[2].startswith("conv1: channel ") and labels[2].endswith(" maximised")
    assert result.panels[0].score is None and result.panels[1].score is not None
    assert "score ×" in result.panels[2].caption and "error" in result.panels[0].caption


def test_maximising_a_class_logit_makes_it_the_top_class(squeezenet_weights):
    from inverter import load_representation

    rep = load_representation("squeezenet1_1:logits", weights=squeezenet_weights, device="cpu")
    for target in (285, 967):  # Egyptian cat, espresso
        shot = reconstruct(rep, None, objective="activation", target=str(target), method="ijcv", iterations=150,
                           image_size=(128, 128))  # fmt: skip
        with torch.no_grad():
            logits = rep(torch.from_numpy(shot.pixels))
        assert int(logits.argmax()) == target
