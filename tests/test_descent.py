"""The engine's fused per-step arithmetic (inverter.descent) against the objective's definitions,
and two properties of the generator that the fast path must keep."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inverter import invert
from inverter.descent import RULES, Descent
from inverter.objectives import alpha_norm, total_variation
from inverter.parameterisation import FourierBasis

C0 = 1.0 / 27098.1157


def _autograd_regulariser(x: torch.Tensor, alpha: float, beta: float, lam_a: float, lam_tv: float) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    u = x * C0
    energy = lam_a * alpha_norm(u, alpha).sum() + lam_tv * total_variation(u, beta).sum()
    (grad,) = torch.autograd.grad(energy, x)
    return grad


@pytest.mark.parametrize("alpha", [6.0, 4.0, 2.0, 3.0])
@pytest.mark.parametrize("beta", [2.0, 1.5])
@pytest.mark.parametrize("lam_a, lam_tv", [(2.16e8, 0.5), (0.0, 5.0), (2.16e8, 0.0)])
def test_regulariser_gradient_equals_autograd_of_the_objective(alpha, beta, lam_a, lam_tv):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 11, generator=gen, dtype=torch.float64) * 60
    descent = Descent(x, alpha=alpha, lambda_alpha=lam_a, beta=beta, lambda_tv=lam_tv, inv_sigma0=C0,
                      momentum=0.9, sigma=1.0, clip=None)
    expected = _autograd_regulariser(x, alpha, beta, lam_a, lam_tv)
    torch.testing.assert_close(descent.regulariser_gradient(), expected, rtol=1e-9, atol=1e-9 * expected.abs().max().item())


@pytest.mark.parametrize("size", [1.0, 2.5])
def test_step_is_heavy_ball_with_clip_and_keeps_its_cached_colour_norms_right(size):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 8, 8, generator=gen, dtype=torch.float64) * 100
    x0 = x.clone()
    data_grad = torch.randn(1, 3, 6, 6, generator=gen, dtype=torch.float64) * 1e-7
    descent = Descent(x, alpha=6.0, lambda_alpha=2e8, beta=2.0, lambda_tv=0.5, inv_sigma0=C0,
                      momentum=0.9, sigma=2000.0, clip=120.0)
    grad = _autograd_regulariser(x0, 6.0, 2.0, 2e8, 0.5)
    grad[..., 1:7, 2:8] += 3.0 * data_grad  # the data gradient's scalar factor is applied in the step
    moved = x0 - size * 0.01 * 2000.0**2 * grad  # the step's size (the schedule's boost) scales the update
    expected = moved * (120.0 / moved.norm(dim=1, keepdim=True)).clamp(max=1.0)
    descent.step(0.01, data_grad, 1, 2, data_scale=3.0, size=size)
    torch.testing.assert_close(x, expected)
    assert x.norm(dim=1).max() <= 120.0 + 1e-9
    # the α-norm of the next step reuses Σ_c x² from the clip: it must be that of the clipped x
    torch.testing.assert_close(descent._colour_norm2(), x.square().sum(dim=1, keepdim=True))


@pytest.mark.parametrize("rule", RULES)
def test_fourier_steps_give_the_images_of_transforming_every_clipped_image_back(rule):
    """On coefficients the descent keeps what the clips took off beside ``p`` instead of
    transforming each clipped image back (``p ← T⁻¹(clip(T(p)))``, an FFT a step): the images
    must be those of the written-out loop that does transform back, step by step."""
    gen = torch.Generator().manual_seed(2)
    shape, clip, rate = (2, 3, 12, 10), 50.0, 0.7
    x = torch.randn(*shape, generator=gen) * 30
    descent = Descent(x.clone(), alpha=6.0, lambda_alpha=0.0, beta=2.0, lambda_tv=0.0, inv_sigma0=C0,
                      momentum=0.9, sigma=1.0, clip=clip, rule=rule, pixels=120, parameterisation="fourier")
    basis = FourierBasis(shape)
    p = basis.coefficients(x)
    velocity, squares = torch.zeros_like(p), torch.zeros_like(p)
    clipped_steps = 0
    for _ in range(8):
        data_grad = torch.randn(*shape, generator=gen) * 40
        descent.step(rate, data_grad, 0, 0)
        gradient = basis.adjoint(data_grad)
        if rule == "cvpr":
            velocity = 0.9 * velocity - rate * gradient
        else:
            squares = 0.9 * squares + gradient**2
            velocity = 0.9 * velocity - gradient / (1 / (rate * 120) + squares.sqrt())
        image = basis.image(p + velocity)
        norms = image.norm(dim=1, keepdim=True)
        clipped_steps += int((norms > clip).any())
        image = image * torch.clamp(clip / norms, max=1.0)
        p = basis.coefficients(image)
        torch.testing.assert_close(descent.x, image, rtol=1e-4, atol=1e-3)  # float32, pixels up to 50
    assert clipped_steps >= 4  # the clip did bind


def test_snapshots_own_their_pixels(tiny_cnn, photo):
    shots = list(invert(tiny_cnn, photo, image_size=(16, 16), iterations=20, snapshot_every=10))
    assert not np.array_equal(shots[0].pixels, shots[-1].pixels)
    assert not np.shares_memory(shots[0].pixels, shots[1].pixels)


def test_the_generator_leaves_the_callers_grad_mode_alone(tiny_cnn, photo):
    gen = invert(tiny_cnn, photo, image_size=(16, 16), iterations=10, snapshot_every=2)
    for _ in gen:
        assert torch.is_grad_enabled()
    with torch.no_grad():
        next(invert(tiny_cnn, photo, image_size=(16, 16), iterations=4))
        assert not torch.is_grad_enabled()


def _reference_pixels(rep, image, **overrides) -> np.ndarray:
    """The method written plainly (the loop before the fused path): autograd through Φ for the
    data term, the objective module's gradient functions, a full-size tensor for every term."""
    import random

    from inverter import InversionConfig, resolve_settings
    from inverter.engine import _initial_image
    from inverter.objectives import alpha_norm_grad, image_sigma, regulariser_scale, total_variation_grad
    from inverter.schedule import learning_rates, phase_starts

    st = resolve_settings(rep, InversionConfig(**overrides))
    (h, w), jitter = st.image_size, st.jitter
    with torch.no_grad():
        target = rep(rep.image_to_pixels(image, st.image_size))
    target_norm2 = target.square().sum()
    x = _initial_image(st, rep.image_to_pixels(image, st.image_size), (h + jitter - 1, w + jitter - 1))
    v = torch.zeros_like(x)
    c0, scale = 1 / image_sigma(rep.channels, 227, 227), regulariser_scale(h, w)
    starts, rng, centre = phase_starts(st.phases), random.Random(st.seed), (jitter - 1) // 2
    for step, rate in enumerate(learning_rates(st.learning_rate, st.phases)):
        if step in starts:
            v = torch.zeros_like(x)
        top, left = (rng.randrange(jitter), rng.randrange(jitter)) if jitter > 1 and step < starts[-1] else (centre, centre)
        crop = x[..., top : top + h, left : left + w].clone().requires_grad_(True)
        data = st.data_weight * (rep(crop) - target).square().sum() / target_norm2
        (grad_crop,) = torch.autograd.grad(data, crop)
        u = x * c0
        grad = total_variation_grad(u, st.tv_beta) * (scale * st.lambda_tv * c0)
        grad += alpha_norm_grad(u, st.alpha) * (scale * st.lambda_alpha * c0)
        grad[..., top : top + h, left : left + w] += grad_crop
        v = st.momentum * v - rate * st.sigma**2 * grad
        x = x + v
        if st.clip:
            x = x * (st.clip / x.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
    return x[..., centre : centre + h, centre : centre + w].detach().numpy()


@pytest.mark.parametrize("extra", [{}, {"jitter": 3, "clip": 60.0}, {"clip": 0, "restarts": 2}])
def test_engine_trajectory_equals_the_plain_method_for_beta_2(tiny_cnn, photo, extra):
    """The fused, in-place path changes float rounding only: after 30 steps (β = 2) the pixels
    agree with the plain implementation to 1e-3 pixel units (seen: ~2e-5)."""
    settings = dict(image_size=(24, 24), iterations=30, seed=2, tv_beta=2.0, **extra)
    fast = next(s for s in invert(tiny_cnn, photo, snapshot_every=1000, **settings) if s.done)
    plain = _reference_pixels(tiny_cnn, photo, **settings)
    assert np.abs(plain).max() > 10  # a real trajectory, not a collapse to zero
    np.testing.assert_allclose(fast.pixels, plain, rtol=0, atol=1e-3)
