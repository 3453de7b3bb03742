"""Dense SIFT: shapes, registry, gradients, orientation, a pixel-level reference."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverter.errors import WeightsError

from inverter.representations.base import GREY_MEAN_255, SHALLOW_PHASES
from inverter.representations.dsift import DSIFT, bilinear_bins, sift_normalise
from inverter.representations.hog import image_gradient
from inverter.representations.registry import get_family, load_representation
from synthetic import ramp, smooth_image


def orientation_energy(code: torch.Tensor) -> torch.Tensor:
    """Energy per orientation (channel = o + 8·x_bin + 32·y_bin)."""
    return code.square().sum(dim=(0, 2, 3)).view(16, 8).sum(dim=0)


def dsift_reference(image: np.ndarray, bin_size: int, step: int, sigma: float = 1.5) -> np.ndarray:
    """SIFT descriptors written from the definition, descriptor by descriptor.

    Descriptor ``(i, j)`` has its top-left pixel at ``(i·step, j·step)``; its spatial bin
    ``(by, bx)`` is centred at pixel ``(i·step + b − ½ + by·b, j·step + b − ½ + bx·b)`` and
    takes every pixel with weight ``max(0, 1 − |Δy|/b)·max(0, 1 − |Δx|/b)`` times the
    Gaussian ``exp(−((by − 1.5)² + (bx − 1.5)²)/(2σ²))``; each pixel's gradient magnitude
    is split linearly between the two orientations (multiples of 45°, y down) around
    its angle. Then the textbook normalisation: v/‖v‖, min(·, 0.2), /‖·‖.
    """
    height, width = image.shape
    gx = np.zeros_like(image)
    gy = np.zeros_like(image)
    gx[1:-1, 1:-1] = (image[1:-1, 2:] - image[1:-1, :-2]) / 2
    gy[1:-1, 1:-1] = (image[2:, 1:-1] - image[:-2, 1:-1]) / 2
    magnitude = np.hypot(gx, gy)
    t = np.mod(np.arctan2(gy, gx), 2 * np.pi) / (2 * np.pi / 8)
    lower = np.floor(t)
    frac = t - lower
    hist = np.zeros((8, height, width))
    for o in range(8):
        hist[o] += magnitude * (1 - frac) * (np.mod(lower, 8) == o)
        hist[o] += magnitude * frac * (np.mod(lower + 1, 8) == o)
    b = bin_size
    rows, cols = (height - 5 * b) // step + 1, (width - 5 * b) // step + 1
    ys, xs = np.arange(height), np.arange(width)
    out = np.zeros((128, rows, cols))
    for i in range(rows):
        for j in range(cols):
            v = np.zeros(128)
            for by in range(4):
                for bx in range(4):
                    cy = i * step + b - 0.5 + by * b
                    cx = j * step + b - 0.5 + bx * b
                    wy = np.maximum(0, 1 - np.abs(ys - cy) / b)
                    wx = np.maximum(0, 1 - np.abs(xs - cx) / b)
                    gauss = math.exp(-((by - 1.5) ** 2 + (bx - 1.5) ** 2) / (2 * sigma**2))
                    for o in range(8):
                        v[o + 8 * bx + 32 * by] = gauss * (wy[:, None] * wx[None, :] * hist[o]).sum()
            v = v / np.linalg.norm(v)
            v = np.minimum(v, 0.2)
            out[:, i, j] = v / np.linalg.norm(v)
    return out


@pytest.mark.parametrize(
    "bin_size,step,size,expected",
    [(5, None, (227, 227), (41, 41)), (5, 15, (227, 227), (14, 14)), (8, None, (227, 227), (24, 24)), (4, 3, (30, 41), (4, 8))],
)
def test_output_shape(bin_size, step, size, expected):
    module = DSIFT(bin_size, step)
    out = module(torch.randn(2, 1, *size))
    assert out.shape == (2, 128, *expected)
    assert module.output_shape(*size) == (128, *expected)
    assert module.stride == (step or bin_size)
    assert DSIFT(bin_size, step)(torch.randn(1, 1, *size, dtype=torch.float64)).dtype == torch.float64


def test_registered_family_and_metadata():
    family = get_family("dsift")
    assert not family.needs_weights
    (spec,) = family.layers
    assert spec.name == "dsift" and spec.stride == 5
    module = family.build("dsift", None)
    assert isinstance(module, DSIFT) and (module.bin_size, module.step) == (5, 5)
    assert (module.family, module.layer, module.name) == ("dsift", "dsift", "dsift")
    assert module.channels == 1 and module.pixel_mean == GREY_MEAN_255 and module.input_size == (227, 227)
    assert module.preset.phases == SHALLOW_PHASES and module.preset.lambda_tv == 0.5 and module.preset.tv_beta == 2
    with pytest.raises(WeightsError, match="no learned weights"):
        load_representation("dsift", weights="w.safetensors")
    assert isinstance(load_representation("dsift", device="cpu"), DSIFT)
    with pytest.raises(ValueError):
        DSIFT()(torch.randn(1, 1, 20, 20))  # smaller than one descriptor (25 px)


def test_matches_reference_from_the_definition():
    image = smooth_image(30, 37, seed=4)
    for bin_size, step in ((4, 3), (5, 5), (3, 4)):
        ours = DSIFT(bin_size, step, eps=1e-20)(image)[0].numpy()
        ref = dsift_reference(image[0, 0].numpy(), bin_size, step)
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-10)


def test_bilinear_bins_weights():
    """One pixel's mass reaches the bins whose centres are < b away, with tent weights."""
    b = 5
    impulse = torch.zeros(1, 1, 20, 20, dtype=torch.float64)
    impulse[0, 0, 9, 10] = 1.0
    pooled = bilinear_bins(impulse, b)[0, 0]  # bin (u, v) centred at (u + 4.5, v + 4.5)
    u = torch.arange(pooled.shape[0], dtype=torch.float64)
    tent_y = torch.relu(1 - (9 - (u + b - 0.5)).abs() / b)
    tent_x = torch.relu(1 - (10 - (u + b - 0.5)).abs() / b)
    assert torch.allclose(pooled, tent_y[:, None] * tent_x[None, :], atol=1e-12)
    assert pooled.sum() == pytest.approx(b * b)  # each pixel feeds b² bin positions in total


def _away_from_kinks(module: DSIFT, image: torch.Tensor) -> bool:
    """No gradient angle within 1e-3 bin of a bin centre, no value within 1e-4 of the clamp."""
    gx, gy = image_gradient(image)
    frac = torch.remainder(torch.atan2(gy, gx)[..., 1:-1, 1:-1] / (math.pi / 4), 1.0)
    raw = module.unnormalised(image)
    w = raw / raw.norm(dim=1, keepdim=True)
    return bool(((frac > 1e-3) & (frac < 1 - 1e-3)).all() and ((w - 0.2).abs() > 1e-4).all())


@pytest.mark.parametrize("bin_size,step,side,fast", [(2, 2, 11, False), (3, 4, 19, True)])
def test_gradcheck(bin_size, step, side, fast):
    """Autograd gradients equal finite differences (float64): the full Jacobian on one
    small descriptor, random projections of it (``fast_mode``) on 2×2 descriptors, and
    in the ε-dominated regime of a nearly flat image."""
    module = DSIFT(bin_size, step)
    image = next(
        (img for img in (smooth_image(side, side, seed) for seed in range(50)) if _away_from_kinks(module, img)), None
    )
    assert image is not None, "no test image away from kinks"
    image.requires_grad_(True)
    assert module(image).shape[-2:] == ((1, 1) if side == 11 else (2, 2))
    assert torch.autograd.gradcheck(module, (image,), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=fast)
    faint = (image.detach() * 1e-4).requires_grad_(True)
    assert torch.autograd.gradcheck(module, (faint,), eps=1e-9, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_normalisation_properties():
    module = DSIFT()
    image = smooth_image(64, 64, 2)
    code = module(image)
    norms = code.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)
    assert code.min() >= 0
    # Before renormalisation nothing exceeds 0.2, so afterwards at most 0.2/‖clamped‖.
    assert code.max() < 0.5
    assert torch.allclose(module(image + 30.0), code, atol=1e-12)
    doubled = module(2 * image)
    assert (doubled - code).norm() / code.norm() < 1e-6
    # ε keeps near-flat descriptors small instead of blowing them up to unit norm.
    faint = module(1e-4 * image).norm(dim=1)
    assert faint.max() < 0.5
    # sift_normalise: textbook result when ε → 0.
    v = torch.rand(3, 128, 2, 2, dtype=torch.float64) ** 4
    w = torch.clamp(v / v.norm(dim=1, keepdim=True), max=0.2)
    assert torch.allclose(sift_normalise(v, eps=1e-30), w / w.norm(dim=1, keepdim=True), atol=1e-12)
    assert (w < 0.2).float().mean() < 1  # the clamp really acted on this input


def test_constant_image_gives_zero_code_and_finite_gradient():
    image = torch.full((2, 1, 40, 45), -12.0, requires_grad=True)
    out = DSIFT()(image)
    assert out.shape == (2, 128, 4, 5)
    assert torch.count_nonzero(out) == 0
    (grad,) = torch.autograd.grad((out * torch.randn_like(out)).sum(), image)
    assert torch.isfinite(grad).all()


def test_orientations_of_ramps():
    """Intensity increasing along θ (y down) puts the energy in orientation θ/45°."""
    module = DSIFT()
    for angle, orientation in ((0, 0), (45, 1), (90, 2), (180, 4), (-90, 6)):
        energy = orientation_energy(module(ramp(40, 40, angle)))
        assert energy[orientation] > 0.99 * energy.sum(), (angle, energy)
    # Halfway between two orientations: split evenly.
    energy = orientation_energy(module(ramp(40, 40, 22.5)))
    assert energy[0] == pytest.approx(energy[1], rel=1e-6) and energy[0] + energy[1] > 0.99 * energy.sum()


def test_orientations_of_stripes():
    y, x = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    vertical = (80 * torch.sin(2 * math.pi * x / 7.3)).view(1, 1, 40, 40)
    energy = orientation_energy(DSIFT()(vertical))
    assert energy[0] + energy[4] > 0.99 * energy.sum() and min(energy[0], energy[4]) > 0.3 * energy.sum()
    horizontal = vertical.transpose(2, 3)
    energy = orientation_energy(DSIFT()(horizontal))
    assert energy[2] + energy[6] > 0.99 * energy.sum() and min(energy[2], energy[6]) > 0.3 * energy.sum()


def test_spatial_layout_follows_vlfeat_order():
    """An edge in the left half of a descriptor fills spatial bins with x_bin < 2 only."""
    image = torch.zeros(1, 1, 25, 25, dtype=torch.float64)
    image[..., :, 7:] = 100.0  # vertical edge between columns 6 and 7: pixels 6, 7 see it
    code = DSIFT(5)(image)[0, :, 0, 0].view(4, 4, 8)  # [y_bin, x_bin, o]
    energy = code.square().sum(dim=2)
    assert energy[:, :2].sum() > 0.999 * energy.sum()
    assert code[..., 0].square().sum() > 0.999 * code.square().sum()  # increasing to the right
    raw = DSIFT(5).unnormalised(image)[0, :, 0, 0].view(4, 4, 8).square().sum(dim=2)
    assert torch.allclose(raw[0], raw[3]) and torch.allclose(raw[1], raw[2])  # Gaussian symmetry in y
    assert (raw[1, :2] > 1.5 * raw[0, :2]).all()  # … and weaker away from the centre
