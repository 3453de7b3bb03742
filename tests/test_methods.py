"""The IJCV 2016 method (its objective's normalisation, its adaptive step, its second stage)
and the Fourier parameterisation, on tiny tensors and a tiny network."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TinyCNN
from inverter import InversionConfig, invert, reconstruct, resolve_settings
from inverter.descent import Descent
from inverter.errors import SettingError
from inverter.objectives import CVPR_SIGMA_227, image_sigma
from inverter.parameterisation import FourierBasis, fast_fft_size
from inverter.representations import get_family, ijcv
from inverter.schedule import learning_rates

SMALL = dict(image_size=(32, 32), device="cpu")


def test_ijcv_regularisers_are_the_authors_normalisation(tiny_cnn, photo):
    """λ_α·R_α and λ_TV·R_TV of the engine equal the authors' (1/B)^α/(H·W)·Σ‖x‖^α and
    (6.5/B)^β/(H·W)·Σ TV^β computed by hand on the snapshot's pixels (pixel units)."""
    shot = next(invert(tiny_cnn, photo, method="ijcv", jitter=1, **SMALL))
    x = shot.pixels.astype(np.float64)  # [1, 3, 32, 32], step 0: the initial noise
    h, w = x.shape[-2:]
    alpha_norm = ((x**2).sum(axis=1) ** 3).sum() * (1 / ijcv.B) ** 6 / (h * w)
    dx = np.diff(x, axis=-1, append=x[..., -1:])
    dy = np.diff(x, axis=-2, append=x[..., -1:, :])
    tv = (dx**2 + dy**2).sum() * (ijcv.TV_EDGE / ijcv.B) ** 2 / (h * w)
    assert shot.alpha_loss[0] == pytest.approx(alpha_norm, rel=1e-4)
    assert shot.tv_loss[0] == pytest.approx(tv, rel=1e-4)
    # the data term: C·‖Φ(x) − Φ0‖²/‖Φ0‖², C of the layer's depth (the tiny network is shallow: 300)
    assert shot.settings.data_weight == 300.0
    assert shot.data_loss[0] == pytest.approx(300.0 * shot.relative_error[0] ** 2, rel=1e-5)
    assert ijcv.lambda_alpha() == pytest.approx((CVPR_SIGMA_227 / 80) ** 6 / 227**2)


def test_ijcv_preset_values_and_c_by_depth():
    squeezenet = get_family("squeezenet1_1")
    by_layer = {spec.name: spec.presets["ijcv"] for spec in squeezenet.layers}
    assert [by_layer[n].data_weight for n in ("conv1", "fire5", "logits")] == [300.0, 100.0, 20.0]
    preset = by_layer["fire5"]
    assert (preset.method, preset.clip, preset.init, preset.jitter) == ("ijcv", 160.0, "uniform", "auto")
    assert preset.phases == ((1.0, 300), (0.1, 50)) and preset.learning_rate == pytest.approx(0.05 * 80**2 / 6)
    assert get_family("hog").layers[0].presets["ijcv"].data_weight == 100.0  # the authors' C on HOG


def test_the_method_picks_its_preset_and_is_recorded(tiny_cnn):
    cvpr, journal = (resolve_settings(tiny_cnn, InversionConfig(method=m)) for m in ("cvpr", "ijcv"))
    assert cvpr.method == "cvpr" and cvpr.lambda_tv == tiny_cnn.preset.lambda_tv and cvpr.init == "gaussian"
    assert journal.method == "ijcv" and journal.clip == 160 and journal.init == "uniform"
    assert journal.jitter == 1  # max(round(stride 4 / 4), 1)
    assert resolve_settings(tiny_cnn, InversionConfig()).method == "cvpr"  # the layer's default
    overridden = resolve_settings(tiny_cnn, InversionConfig(method="ijcv", data_weight=7.0))
    assert overridden.data_weight == 7.0 and overridden.tv_beta == 2.0


@pytest.mark.parametrize("phase_change, size", [(False, 1.0), (True, 1.0), (False, 3.0)])
def test_the_adaptive_step_follows_a_hand_computed_sequence(phase_change, size):
    """On a 1×1×2×2 tensor with no regulariser: G ← μG + g², v ← μv − s·g/(1/ℓ + √G), x ← x + v, ℓ = rate·H·W,
    s the step's size (the schedule's boost; 1 = the authors' step).
    A change of phase (:meth:`Descent.reset_momentum`) zeroes v and keeps G, as the authors' code does."""
    x = torch.tensor([[[[1.0, -2.0], [0.5, 3.0]]]])
    descent = Descent(x, alpha=6, lambda_alpha=0.0, beta=2, lambda_tv=0.0, inv_sigma0=1.0, momentum=0.9,
                      sigma=1.0, clip=None, rule="ijcv", pixels=4)  # fmt: skip
    expected, g2, v = x.clone().double(), torch.zeros(1, 1, 2, 2, dtype=torch.float64), 0.0
    gradients = [torch.tensor([[[[0.3, -0.1], [2.0, 0.0]]]]), torch.tensor([[[[-0.2, 0.4], [1.0, 0.5]]]])]
    for step, (rate, grad) in enumerate(zip((0.5, 0.05 if phase_change else 0.5), gradients)):
        if phase_change and step == 1:
            descent.reset_momentum()
            v = 0.0
        descent.step(rate, grad, 0, 0, data_scale=2.0, size=size)
        g = 2.0 * grad.double()
        g2 = 0.9 * g2 + g * g
        v = 0.9 * v - size * g / (1.0 / (rate * 4) + g2.sqrt())
        expected = expected + v
        torch.testing.assert_close(x.double(), expected, rtol=1e-6, atol=1e-6)


class _Recording(TinyCNN):
    """The tiny network, keeping every input it is given (``seen``): the engine's crops."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        if x.device.type != "meta":
            self.seen.append(x.detach().clone())
        return super().forward(x)


def _recording_network() -> tuple[TinyCNN, list[torch.Tensor]]:
    rep = _Recording().freeze()
    return rep, rep.seen


def test_the_second_stage_runs_without_jitter_at_a_tenth_of_the_rate(photo):
    rep, seen = _recording_network()
    settings = resolve_settings(rep, InversionConfig(method="ijcv", jitter=5, iterations=35, snapshot_every=1, **SMALL))
    assert settings.phases == ((1.0, 30), (0.1, 5))
    rates = learning_rates(settings.learning_rate, settings.phases)
    assert rates[30:] == pytest.approx([0.1 * rates[0]] * 5)
    shots = list(invert(rep, photo, settings_config(settings)))
    # Φ sees one crop per step (plus the target and the final image); a snapshot's pixels are the
    # canvas's centre, so in the second stage every crop is the centre, in the first mostly not
    crops = seen[1:-1]
    centred = [torch.equal(crop, torch.from_numpy(shot.pixels)) for crop, shot in zip(crops, shots)]
    assert all(centred[30:35]) and not all(centred[:30])
    # the engine steps at the schedule's rates: a snapshot carries the rate of its step
    assert [shot.learning_rate for shot in shots[:35]] == pytest.approx(rates)


def test_a_one_phase_schedule_jitters_throughout(photo):
    """The journal's caricatures run one stage at the base rate: jitter on every step."""
    rep, seen = _recording_network()
    shots = list(invert(rep, photo, method="ijcv", objective="caricature", jitter=5, iterations=12,
                        snapshot_every=1, **SMALL))  # fmt: skip
    assert shots[-1].settings.phases == ((1.0, 12),)
    crops = seen[1:-1]
    centred = [torch.equal(crop, torch.from_numpy(shot.pixels)) for crop, shot in zip(crops, shots)]
    assert len(centred) == 12 and sum(centred) < 6, centred


def settings_config(settings):
    from inverter.settings import pinned_config

    return pinned_config(settings, "cpu")


@pytest.mark.parametrize("parameterisation", ["pixels", "fourier"])
def test_ijcv_lowers_the_error_by_a_large_factor_deterministically(tiny_cnn, photo, parameterisation):
    first = reconstruct(tiny_cnn, photo, method="ijcv", iterations=0, **SMALL)
    runs = [reconstruct(tiny_cnn, photo, method="ijcv", parameterisation=parameterisation, iterations=120, **SMALL)
            for _ in range(2)]  # fmt: skip
    assert runs[0].relative_error[0] < first.relative_error[0] / 5
    assert np.array_equal(runs[0].pixels, runs[1].pixels)


@pytest.mark.parametrize("decay", [1.0, 1.5])
@pytest.mark.parametrize("shape", [(2, 3, 12, 10), (1, 3, 11, 9), (2, 1, 8, 7), (1, 3, 9, 15)])  # fast and slow sizes
def test_the_fourier_basis_is_invertible_and_its_adjoint_is_its_transpose(shape, decay):
    basis = FourierBasis(shape, decay=decay)
    gen = torch.Generator().manual_seed(0)
    image = torch.randn(*shape, generator=gen)
    torch.testing.assert_close(basis.image(basis.coefficients(image)), image, atol=1e-5, rtol=1e-5)
    g = torch.randn(*shape, generator=gen)
    q = torch.randn(*basis.coefficient_shape, generator=gen)
    assert float((g * basis.image(q)).sum()) == pytest.approx(float((basis.adjoint(g) * q).sum()), rel=1e-4)
    # the written-out adjoint is autograd's
    probe = torch.zeros_like(q, requires_grad=True)
    (traced,) = torch.autograd.grad(basis.image(probe), probe, grad_outputs=g)
    torch.testing.assert_close(basis.adjoint(g), traced, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5, 2.0])
def test_the_fourier_scale_falls_as_the_spectrum_decays_power_of_the_frequency(decay):
    basis = FourierBasis((1, 3, 30, 30), decay=decay)  # a fast size: the canvas is the image
    scale = basis.scale[0, 0, :, :, 0]  # [H', W'//2 + 1], frequencies k/30
    assert float(scale[0, 3] / scale[0, 1]) == pytest.approx(3.0**-decay, rel=1e-5)
    assert float(scale[4, 0] / scale[0, 2]) == pytest.approx(2.0**-decay, rel=1e-5)
    assert float(scale[0, 0]) == pytest.approx(float(scale[0, 1]), rel=1e-5)  # the mean as the lowest frequency
    assert float(scale.square().mean()) == pytest.approx(1.0, rel=1e-5)  # T keeps the image's overall size
    assert torch.equal(basis.scale[..., 0], basis.scale[..., 1])  # both parts of a coefficient


def test_a_larger_spectrum_decay_gives_a_smoother_pre_image(tiny_cnn, photo):
    """The setting reaches the engine's basis: from the same seed, after the same steps, the
    pre-image's mean squared neighbour difference over its mean square falls as γ rises (from a
    hundredth of the noise, so that the steps, not the start, make the image)."""

    def roughness(decay: float) -> float:
        x = reconstruct(tiny_cnn, photo, method="ijcv", parameterisation="fourier", spectrum_decay=decay,
                        jitter=1, init_scale=0.01, iterations=30, **SMALL).pixels[0].astype(np.float64)  # fmt: skip
        x = x - x.mean(axis=(1, 2), keepdims=True)
        return float((np.diff(x, axis=1) ** 2).mean() + (np.diff(x, axis=2) ** 2).mean()) / float((x**2).mean())

    rough = [roughness(decay) for decay in (0.5, 1.0, 2.0)]
    assert rough[0] > rough[1] > rough[2], rough


def test_the_fourier_canvas_has_fast_fft_sizes():
    assert [fast_fft_size(n) for n in (1, 7, 11, 227, 240, 241)] == [1, 8, 12, 240, 240, 243]
    assert FourierBasis((1, 3, 227, 227)).coefficient_shape == (1, 3, 240, 121, 2)


def test_the_fourier_parameterisation_keeps_the_clip_and_the_image_in_step(tiny_cnn, photo):
    shot = reconstruct(tiny_cnn, photo, parameterisation="fourier", clip=30.0, iterations=15, **SMALL)
    assert np.linalg.norm(shot.pixels, axis=1).max() <= 30.0 + 1e-3
    assert shot.settings.parameterisation == "fourier"


def test_the_uniform_initialisation_is_the_authors(tiny_cnn, photo):
    shot = next(invert(tiny_cnn, photo, init="uniform", **SMALL))
    x = shot.pixels.flatten()
    assert np.quantile(x, 0.95) == pytest.approx(ijcv.B / np.sqrt(3), rel=0.02)
    gaussian = next(invert(tiny_cnn, photo, init="gaussian", **SMALL)).pixels
    assert np.linalg.norm(gaussian) == pytest.approx(image_sigma(3, 32, 32), rel=1e-4)  # the CVPR one: norm σ


@pytest.mark.parametrize("init", ["uniform", "gaussian"])
def test_the_initial_noise_scales_with_init_scale(tiny_cnn, photo, init):
    """The same noise (the seed's), ``init_scale`` times as large; 0 is refused (a flat start is a
    stationary point of a bias-free ReLU network such as the tiny one)."""
    papers = next(invert(tiny_cnn, photo, init=init, **SMALL)).pixels
    tenth = next(invert(tiny_cnn, photo, init=init, init_scale=0.1, **SMALL)).pixels
    np.testing.assert_allclose(tenth, 0.1 * papers, rtol=1e-5, atol=1e-4)
    quiet = reconstruct(tiny_cnn, photo, init=init, init_scale=0.01, method="ijcv", iterations=60, **SMALL)
    assert quiet.relative_error[0] < 0.5
    with pytest.raises(SettingError, match="init_scale"):
        reconstruct(tiny_cnn, photo, init=init, init_scale=0.0, **SMALL)


@pytest.mark.parametrize("parameterisation", ["pixels", "fourier"])
def test_the_quick_start_gets_there_sooner_and_ends_no_worse(tiny_cnn, photo, parameterisation):
    """The step boost and the smaller initial noise (SqueezeNet's defaults' start) on the IJCV method:
    fewer steps to a fifth of the error (measured: pixels 34 against 49, Fourier 44 against 73), and
    a final error no higher (measured: 0.126 against 0.131, 0.129 against 0.155)."""

    def curve(**start) -> list[float]:
        return [float(shot.relative_error[0]) for shot in invert(
            tiny_cnn, photo, method="ijcv", jitter=1, parameterisation=parameterisation, iterations=120,
            snapshot_every=1, **SMALL, **start)]  # fmt: skip

    papers, quick = curve(), curve(step_boost=2.0, init_scale=0.1)
    first = [next(step for step, error in enumerate(errors) if error < 0.2) for errors in (papers, quick)]
    assert first[1] < 0.8 * first[0], first
    assert quick[-1] <= papers[-1] * 1.02, (quick[-1], papers[-1])
