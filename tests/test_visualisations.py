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
    # and the closed forms for Φ(x) = W·x (one row per restart): ∇ = Wᵀ·∂ℓ/∂c
    w = weight.double()
    closed = {
        "invert": 2 * 3.0 * (c - t) @ w / (t**2).sum(),  # 2C·Wᵀ(Φ(x) − Φ0)/‖Φ0‖²
        "activation": (-3.0 * w[2] / 2.5).expand(2, 5),  # −C·W[unit]/Z
        "caricature": (-3.0 * positive @ w / (positive**2).sum()).expand(2, 5),  # −C·Wᵀ·Φ0⁺/‖Φ0⁺‖²
    }[objective]
    torch.testing.assert_close((engine * term.scale).double(), closed, rtol=1e-5, atol=1e-6)


def test_activation_maximisation_raises_its_unit_from_noise_deterministically(tiny_cnn, photo):
    """From noise, the target unit rises by a large factor; the same seed gives the same image."""
    config = dict(objective="activation", target="5@3,4", iterations=80, **SMALL)
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
    assert journal.init == "image" and journal.phases == ((1.0, 300),)  # one stage
    assert journal.data_weight == 20.0  # a shallow layer's caricature weight (ijcv.CARICATURE_WEIGHT_BY_TIER)
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
    assert float((phi * phi0).sum()) > float((phi0 * phi0).sum())  # ⟨Φ(x), Φ0⟩ above ⟨Φ(x0), Φ0⟩
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
    """The default method, 150 steps at 128 px. Classes with no near twin among ImageNet's:
    a fine-grained sibling (the Egyptian cat 285 against the lynx 287 or the tabby 281) wins as
    often as not, by a fraction of a percent, with the same image up to float rounding."""
    from inverter import load_representation

    rep = load_representation("squeezenet1_1:logits", weights=squeezenet_weights, device="cpu")
    for target in (1, 967):  # goldfish, espresso
        shot = reconstruct(rep, None, objective="activation", target=str(target), iterations=150, image_size=(128, 128))
        with torch.no_grad():
            logits = rep(torch.from_numpy(shot.pixels))
        assert int(logits.argmax()) == target


@pytest.mark.parametrize("method", ["cvpr", "ijcv"])
def test_the_objectives_data_weights_come_from_the_preset(tiny_cnn, method):
    """Activation maximisation's C is 10⁴/227² at every layer and method (the authors' 10⁴/rf² with
    rf = 227: see Preset.activation_weight); a caricature's is 1 with CVPR, 20 / 5 / 1 by depth with IJCV."""
    resolved = resolve_settings(tiny_cnn, InversionConfig(objective="activation", target="1", method=method, **SMALL))
    assert resolved.data_weight == pytest.approx(1e4 / 227**2)
    assert resolve_settings(tiny_cnn, InversionConfig(objective="activation", target="1", method=method,
                                                      data_weight=7.0, **SMALL)).data_weight == 7.0  # fmt: skip
    from inverter.representations import Preset, ijcv

    for tier, cvpr_tv in enumerate(ijcv.CVPR_TV_BY_TIER):
        cvpr = Preset(lambda_tv=cvpr_tv)
        preset = ijcv.from_cvpr(cvpr) if method == "ijcv" else cvpr
        expected = (20.0, 5.0, 1.0)[tier] if method == "ijcv" else 1.0
        assert preset.for_objective("caricature").data_weight == expected
        assert preset.for_objective("activation").data_weight == pytest.approx(1e4 / 227**2)


@pytest.mark.parametrize("objective", ["activation", "caricature"])
def test_restarts_with_a_channel_mask_end_with_k_images_and_the_best_by_score(tiny_cnn, photo, objective):
    """K restarts through a channel mask: K images, the best restart the one of highest score (not
    of lowest relative error: here the two differ), and a caricature's score taken on the mask."""
    from inverter.masks import CodeMask

    mask = CodeMask(channels=(0, 8))
    # a caricature starts every restart from the image (K equal runs): noise starts make them differ
    extra = {"target": "5"} if objective == "activation" else {"init": "uniform"}
    final = reconstruct(tiny_cnn, photo, objective=objective, restarts=3, mask=mask, iterations=20, **SMALL,
                        **extra)  # fmt: skip
    assert final.done and final.images.shape == (3, 32, 32, 3) and final.pixels.shape[0] == 3
    assert final.settings.restarts == 3 and tuple(final.settings.mask["channels"]) == (0, 8)
    assert len(set(final.score.round(6))) == 3  # the restarts differ
    assert final.best == int(np.argmax(final.score)) != int(np.argmin(final.relative_error))
    assert np.array_equal(final.image, final.images[int(np.argmax(final.score))])
    if objective == "caricature":  # ⟨Φ(x), M⊙Φ0⁺⟩/‖M⊙Φ0⁺‖² with M the first 8 channels
        with torch.no_grad():
            phi0 = tiny_cnn(tiny_cnn.image_to_pixels(photo, (32, 32)))[:, :8].clamp_min(0)
            phi = tiny_cnn(torch.from_numpy(final.pixels))[:, :8]
        expected = (phi * phi0).flatten(1).sum(dim=1) / phi0.square().sum()
        np.testing.assert_allclose(final.score, expected.numpy(), rtol=1e-4)


def test_the_app_accepts_the_default_visualisations_experiment(monkeypatch):
    """With no layers chosen, the visualisations take 6 layers spread over the depth (first and last
    included), 18 inversions within the app's MAX_JOBS; chosen layers are kept as they are."""
    pytest.importorskip("gradio")
    from inverter.experiments import get_kind
    from inverter.ui import experiments_tab as tab
    from inverter.weights import RANDOM_ENV

    monkeypatch.setenv(RANDOM_ENV, "1")  # random weights: planned on meta-device networks, nothing runs
    request = {"kind": "visualisations", "representation": "squeezenet1_1"}
    assert tab.problems(request) == {}  # the app's validator
    spec = tab.build_spec(request)
    assert spec.weights == "random" and spec.layers == ()

    def jobs(spec):  # as tab.estimate plans them: meta-device networks, no weights read
        return tab.plan_experiment(spec, lambda layer: tab.cost.skeleton("squeezenet1_1", layer)).jobs

    assert list(dict.fromkeys(job.layer for job in jobs(spec))) == ["conv1", "fire2", "fire4", "fire6", "fire9", "logits"]
    assert len(jobs(spec)) == 18 <= tab.MAX_JOBS
    chosen = tab.build_spec({**request, "layers": ["fire3", "fire5"]})
    assert [job.layer for job in jobs(chosen)] == ["fire3"] * 3 + ["fire5"] * 3
    kind = get_kind("visualisations")
    assert kind.default_layers(["hog"], "hog") == ("hog",)  # a one-layer family
    assert kind.default_layers([f"l{i}" for i in range(7)], "l3") == ("l0", "l1", "l2", "l4", "l5", "l6")
    assert "visualisations" in [d for p, d in tab.LEADING if p.name == "layers"][0]  # its default is documented


def test_the_apps_target_control_shows_the_layers_valid_range():
    """The target picker's info names the layer's classes (at the logits) or channels (elsewhere),
    when the tab is built and whenever the layer changes."""
    gr = pytest.importorskip("gradio")
    from inverter.ui.invert_tab import TARGETS, _knobs, on_layer, target_info

    assert TARGETS == ("target",)
    assert target_info("squeezenet1_1", "fire5").endswith("at fire5: channels 0…255")
    assert on_layer("squeezenet1_1", "logits")[-1]["info"].endswith("at logits: classes 0…999")
    assert on_layer("squeezenet1_1", "conv1")[-1]["info"].endswith("at conv1: channels 0…63")
    with gr.Blocks():
        knobs = _knobs({}, {"target": []}, {"target": target_info("squeezenet1_1", "fire9")})
    assert knobs["target"].info.endswith("at fire9: channels 0…511")
