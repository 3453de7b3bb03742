"""HOG and HOGb (UoCTTI, as vl_hog): shapes, registry, gradients, orientation, references."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverter.errors import WeightsError

from inverter.representations.base import GREY_MEAN_255, SHALLOW_PHASES
from inverter.representations.hog import (
    HOG,
    HOG_EPS,
    HOGb,
    hard_cells,
    image_gradient,
    orientation_histogram,
)
from inverter.representations.registry import get_family, load_representation
from synthetic import ramp, smooth_image


def stripes(height: int, width: int, axis: str, period: float = 6.3) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij")
    coord = x if axis == "x" else y
    return (100.0 * torch.sin(2 * math.pi * coord / period)).view(1, 1, height, width)


# ----------------------------------------------------------------------------------------
# A direct transcription of VLFeat's vl_hog (vl_hog_put_image + vl_hog_extract, UoCTTI),
# pixel by pixel in plain Python/NumPy, as the independent reference of the torch module.
# Differences from the C code, on purpose: the gradient is [-1 0 1]/2 (the paper) instead
# of [-1 0 1], the ε of the block norms is a parameter, and the 4 texture channels are
# not computed.
# ----------------------------------------------------------------------------------------
def vl_hog_reference(image: np.ndarray, cell: int, bilinear: bool, eps: float, no: int = 9) -> np.ndarray:
    height, width = image.shape
    hw, hh = (width + cell // 2) // cell, (height + cell // 2) // cell
    hog = np.zeros((2 * no, hh, hw))
    ox = [math.cos(math.pi * k / no) for k in range(no)]
    oy = [math.sin(math.pi * k / no) for k in range(no)]
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            gx = (image[y, x + 1] - image[y, x - 1]) / 2
            gy = (image[y + 1, x] - image[y - 1, x]) / 2
            grad = math.hypot(gx, gy)
            gx, gy = gx / max(grad, 1e-10), gy / max(grad, 1e-10)
            weights, bins = [0.0, 0.0], [-1, -1]
            for k in range(no):
                score, b = gx * ox[k] + gy * oy[k], k
                if score < 0:
                    score, b = -score, k + no
                if score > weights[0]:
                    bins[1], weights[1], bins[0], weights[0] = bins[0], weights[0], b, score
                elif score > weights[1]:
                    bins[1], weights[1] = b, score
            if bilinear:
                angle0 = math.acos(min(weights[0], 1.0))
                weights[1] = angle0 / (math.pi / no)
                weights[0] = 1 - weights[1]
            else:
                weights[0], bins[1] = 1.0, -1
            for o in range(2):
                if bins[o] < 0:
                    continue
                hx, hy = (x + 0.5) / cell - 0.5, (y + 0.5) / cell - 0.5
                bx, by = math.floor(hx), math.floor(hy)
                wx2, wy2 = hx - bx, hy - by
                wx1, wy1 = 1 - wx2, 1 - wy2
                v = grad * weights[o]
                if bx >= 0 and by >= 0:
                    hog[bins[o], by, bx] += v * wx1 * wy1
                if bx < hw - 1 and by >= 0:
                    hog[bins[o], by, bx + 1] += v * wx2 * wy1
                if bx < hw - 1 and by < hh - 1:
                    hog[bins[o], by + 1, bx + 1] += v * wx2 * wy2
                if bx >= 0 and by < hh - 1:
                    hog[bins[o], by + 1, bx] += v * wx1 * wy2
    norm = ((hog[:no] + hog[no:]) ** 2).sum(axis=0)
    out = np.zeros((3 * no, hh, hw))
    for y in range(hh):
        for x in range(hw):
            xm, xp, ym, yp = max(x - 1, 0), min(x + 1, hw - 1), max(y - 1, 0), min(y + 1, hh - 1)
            f1 = 1 / math.sqrt(norm[ym, xm] + norm[ym, x] + norm[y, xm] + norm[y, x] + eps)
            f2 = 1 / math.sqrt(norm[ym, x] + norm[ym, xp] + norm[y, x] + norm[y, xp] + eps)
            f3 = 1 / math.sqrt(norm[y, xm] + norm[y, x] + norm[yp, xm] + norm[yp, x] + eps)
            f4 = 1 / math.sqrt(norm[y, x] + norm[y, xp] + norm[yp, x] + norm[yp, xp] + eps)
            for k in range(no):
                ha, hb = hog[k, y, x], hog[k + no, y, x]
                hc = ha + hb
                out[k, y, x] = 0.5 * sum(min(0.2, f * ha) for f in (f1, f2, f3, f4))
                out[k + no, y, x] = 0.5 * sum(min(0.2, f * hb) for f in (f1, f2, f3, f4))
                out[k + 2 * no, y, x] = 0.5 * sum(min(0.2, f * hc) for f in (f1, f2, f3, f4))
    return out


def bin_position(image: torch.Tensor, num_bins: int = 18) -> torch.Tensor:
    """Gradient angle of every interior pixel in bin units (bin k centred at k)."""
    gx, gy = image_gradient(image)
    angle = torch.atan2(gy, gx)[..., 1:-1, 1:-1]
    return angle / (2 * math.pi / num_bins)


# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("height,width,cell,expected", [(227, 227, 8, (28, 28)), (32, 40, 8, (4, 5)), (19, 26, 5, (4, 5)), (36, 20, 8, (5, 3))])
def test_output_shape_follows_vl_hog(height, width, cell, expected):
    for bilinear in (False, True):
        module = HOG(cell, bilinear_orientations=bilinear)
        out = module(torch.randn(2, 1, height, width))
        assert out.shape == (2, 27, *expected)
        assert module.output_shape(height, width) == (27, *expected)
        assert out.dtype == torch.float32
    assert HOG(cell)(torch.randn(1, 1, height, width, dtype=torch.float64)).dtype == torch.float64


def test_registered_families_and_metadata():
    for name, cls_bilinear in (("hog", False), ("hogb", True)):
        family = get_family(name)
        assert not family.needs_weights
        (spec,) = family.layers
        assert spec.name == name and spec.stride == 8
        module = family.build(name, None)
        assert isinstance(module, HOG) and module.bilinear_orientations is cls_bilinear
        assert (module.family, module.layer, module.name) == (name, name, name)
        assert module.channels == 1 and module.pixel_mean == GREY_MEAN_255
        assert module.input_size == (227, 227) and module.stride == 8
        assert module.preset.phases == SHALLOW_PHASES and module.preset.lambda_tv == 0.5
        assert module.preset.tv_beta == 2 and module.preset.data_weight == 1.0
        with pytest.raises(WeightsError, match="no learned weights"):  # the registry refuses them for every family
            load_representation(name, weights="some.safetensors")
    rep = load_representation("hogb", device="cpu")
    assert rep.family == "hogb" and not any(p.requires_grad for p in rep.parameters())
    assert isinstance(HOGb(), HOG) and HOGb().bilinear_orientations


def test_rejects_non_grey_input():
    with pytest.raises(ValueError):
        HOG()(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError):
        HOG()(torch.randn(1, 1, 5, 5))


@pytest.mark.parametrize("bilinear", [False, True])
def test_matches_vl_hog_transcription(bilinear):
    """The whole 27-channel code, including borders, equals a pixel-loop vl_hog."""
    for (height, width, cell, seed) in ((19, 26, 4, 1), (23, 17, 5, 2)):
        image = smooth_image(height, width, seed)
        ours = HOG(cell, bilinear_orientations=bilinear)(image)[0].numpy()
        ref = vl_hog_reference(image[0, 0].numpy(), cell, bilinear, HOG_EPS)
        assert ref.max() > 0.05  # a real, textured code
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_cell_histograms_match_scikit_image():
    """Un-normalised per-cell orientation histograms against ``skimage.feature.hog``.

    What is compared: skimage with ``cells_per_block=(1, 1)``, ``block_norm='L1'`` and
    9 orientations gives, per 8×8 cell, the unsigned histogram of the gradient
    magnitude divided by its L1 norm (+1e-5). We compute the same quantity from our
    building blocks: our 18 directed bins (hard assignment) folded into 9 undirected
    ones, pooled over the same hard 8×8 cells with :func:`hard_cells`.
    The remaining differences, accounted for here:

    * skimage's bins are ``[20k°, 20k° + 20°)``, vl_hog's are *centred* at ``20k°``: we
      call our binning with its bin-centre offset set to 10° (the module uses 0°);
    * skimage's gradient is ``[-1 0 1]`` (ours ``/2``) and it averages over the cell
      (we sum): factors 2 and 1/64, which L1 normalisation cancels except in its 1e-5,
      so we apply them;
    * skimage computes the x-derivative on the first and last rows (and y on the
      first/last columns), vl_hog and we give the whole border zero gradient: the test
      image has a constant one-pixel frame, where both are zero;
    * our module pools bilinearly into ``(H + 4)//8`` cells; skimage uses hard cells.
    """
    from skimage.feature import hog as skimage_hog

    image = smooth_image(40, 48, seed=3)
    image[..., 0, :] = image[..., -1, :] = image[..., :, 0] = image[..., :, -1] = 0.0
    gx, gy = image_gradient(image)
    directed = orientation_histogram(gx, gy, 18, bilinear=False, offset=math.pi / 18)
    undirected = directed[:, :9] + directed[:, 9:]
    cells = hard_cells(undirected, 8)[0] * (2.0 / 64.0)  # [9, 5, 6]
    ours = cells / (cells.sum(dim=0, keepdim=True) + 1e-5)

    ref = skimage_hog(
        image[0, 0].numpy(), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(1, 1),
        block_norm="L1", feature_vector=False,
    )[:, :, 0, 0, :]  # [5, 6, 9]
    ref = np.moveaxis(ref, -1, 0)
    assert ref.shape == ours.shape
    assert (ref.sum(axis=0) > 0.99).all()  # every cell has a real (non-empty) histogram
    np.testing.assert_allclose(ours.numpy(), ref, rtol=2e-6, atol=1e-8)  # skimage sums in float32
    # The production binning (bins centred on multiples of 20°) is a different quantity.
    plain = orientation_histogram(gx, gy, 18, bilinear=False)
    plain_cells = hard_cells(plain[:, :9] + plain[:, 9:], 8)[0]
    plain_cells = plain_cells / plain_cells.sum(dim=0, keepdim=True)
    assert np.abs(plain_cells.numpy() - ref).max() > 0.05


def _away_from_bin_boundaries(image: torch.Tensor, bilinear: bool, margin: float = 1e-3) -> bool:
    t = bin_position(image)
    frac = torch.remainder(t + (0.0 if bilinear else 0.5), 1.0)  # hard: boundaries at k + 1/2
    return bool(((frac > margin) & (frac < 1 - margin)).all())


def _away_from_clamp(module: HOG, image: torch.Tensor, margin: float = 1e-4) -> bool:
    cells = module.cell_histograms(image)
    n = cells.shape[1] // 2
    undirected = cells[:, :n] + cells[:, n:]
    energy = (undirected**2).sum(1, keepdim=True)
    padded = torch.nn.functional.pad(energy, (1, 1, 1, 1), mode="replicate")
    blocks = torch.nn.functional.avg_pool2d(padded, 2, stride=1) * 4
    inv = torch.rsqrt(blocks + module.eps)
    factors = torch.stack([inv[..., :-1, :-1], inv[..., :-1, 1:], inv[..., 1:, :-1], inv[..., 1:, 1:]], 1)
    values = factors * torch.cat([cells, undirected], 1).unsqueeze(1)
    return bool(((values - 0.2).abs() > margin).all())


@pytest.mark.parametrize("bilinear", [False, True])
def test_gradcheck(bilinear):
    """Autograd gradients equal finite differences (float64, 14×14, cell 4)."""
    module = HOG(4, bilinear_orientations=bilinear)
    for seed in range(50):
        image = smooth_image(14, 14, seed)
        if _away_from_bin_boundaries(image, bilinear) and _away_from_clamp(module, image):
            break
    else:  # pragma: no cover
        pytest.fail("no test image away from bin boundaries")
    image.requires_grad_(True)
    assert torch.autograd.gradcheck(module, (image,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_hard_assignment_gradient_flows_through_magnitude_only():
    """HOG's derivative ignores the orientation; HOGb's does not."""
    image = smooth_image(24, 24, 5).requires_grad_(True)
    weights = torch.randn(1, 27, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grads = {}
    for bilinear in (False, True):
        (grads[bilinear],) = torch.autograd.grad((HOG(8, bilinear_orientations=bilinear)(image) * weights).sum(), image)
        assert torch.isfinite(grads[bilinear]).all() and grads[bilinear].abs().max() > 0
    assert (grads[False] - grads[True]).abs().max() > 1e-3 * grads[True].abs().max()
    # Hard assignment: the per-pixel histogram's derivative is the magnitude's derivative
    # (the bins are frozen); bilinear assignment also moves mass between bins.
    gx, gy = image_gradient(image)
    magnitude = torch.sqrt(gx**2 + gy**2)
    (g_mag,) = torch.autograd.grad((magnitude * weights[0, 0, 0, 0]).sum(), image, retain_graph=True)
    hard = orientation_histogram(gx, gy, 18, bilinear=False)
    (g_hard,) = torch.autograd.grad((hard * weights[0, 0, 0, 0]).sum(), image, retain_graph=True)
    assert torch.allclose(g_hard, g_mag, atol=1e-10)
    bin_weights = torch.arange(18, dtype=torch.float64).view(1, 18, 1, 1)
    (g_bins,) = torch.autograd.grad((hard * bin_weights).sum(), image, retain_graph=True)
    assigned = hard.detach().argmax(dim=1, keepdim=True).to(torch.float64)
    (g_frozen,) = torch.autograd.grad((magnitude * assigned).sum(), image, retain_graph=True)
    assert torch.allclose(g_bins, g_frozen, atol=1e-10)
    soft = orientation_histogram(gx, gy, 18, bilinear=True)
    (g_soft,) = torch.autograd.grad((soft * bin_weights).sum(), image)
    assert (g_soft - g_frozen).abs().max() > 0.1 * g_frozen.abs().max()


def test_constant_image_gives_zero_code_and_finite_gradient():
    for bilinear in (False, True):
        module = HOG(bilinear_orientations=bilinear)
        image = torch.full((2, 1, 40, 48), 37.0, requires_grad=True)
        out = module(image)
        assert out.shape == (2, 27, 5, 6)
        assert torch.count_nonzero(out) == 0
        (grad,) = torch.autograd.grad((out * torch.randn_like(out)).sum(), image)
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("bilinear", [False, True])
def test_contrast_and_brightness_invariance(bilinear):
    module = HOG(bilinear_orientations=bilinear)
    image = smooth_image(64, 64, 7)
    code = module(image)
    assert code.abs().max() > 0.1
    assert torch.allclose(module(image + 40.0), code, rtol=0, atol=1e-12)  # gradients ignore an offset
    doubled = module(2.0 * image)
    assert (doubled - code).norm() / code.norm() < 1e-3
    # … but ε makes a very faint image's code smaller, not a blown-up copy.
    faint = module(1e-4 * image)
    assert faint.norm() < 0.2 * code.norm()


@pytest.mark.parametrize("bilinear", [False, True])
def test_ramps_fill_the_expected_directed_bins(bilinear):
    """Intensity increasing along θ puts all energy in directed bin θ/20° (y down)."""
    module = HOG(bilinear_orientations=bilinear)
    for angle, directed in ((0, 0), (40, 2), (180, 9), (-60, 15), (280, 14)):
        code = module(ramp(48, 48, angle))[0]
        energy = code.square().sum(dim=(1, 2))
        assert energy[directed] > 0.99 * energy[:18].sum(), (angle, energy[:18])
        undirected = directed % 9
        assert energy[18 + undirected] > 0.99 * energy[18:].sum()
    # A ramp at exactly a bin centre: hard and bilinear assignment agree.
    image = ramp(40, 40, 120)
    assert torch.allclose(HOG()(image), HOGb()(image), atol=1e-7)


@pytest.mark.parametrize("bilinear", [False, True])
def test_stripes_fill_the_expected_undirected_bins(bilinear):
    """Vertical stripes → horizontal gradients (undirected bin 0); horizontal stripes →
    vertical gradients, 90°, on the boundary of undirected bins 4 (80°) and 5 (100°)."""
    module = HOG(bilinear_orientations=bilinear)
    vertical = module(stripes(48, 48, "x"))[0].square().sum(dim=(1, 2))
    assert vertical[18] > 0.99 * vertical[18:].sum()
    assert vertical[0] > 0.3 * vertical[:18].sum() and vertical[9] > 0.3 * vertical[:18].sum()
    horizontal = module(stripes(48, 48, "y"))[0].square().sum(dim=(1, 2))
    assert horizontal[22] + horizontal[23] > 0.99 * horizontal[18:].sum()
    assert horizontal[18] < 1e-3 * horizontal[18:].sum()
    # Shifting a pattern by a whole cell shifts its code by one cell (interior cells).
    image = smooth_image(64, 72, 9)
    shifted = torch.roll(image, shifts=(8, 8), dims=(2, 3))
    a, b = module(image)[0], module(shifted)[0]
    assert torch.allclose(a[:, 2:5, 2:6], b[:, 3:6, 3:7], atol=1e-9)


def test_code_is_bounded_and_nonnegative():
    out = HOG()(smooth_image(64, 64, 11) * 3)
    assert out.min() >= 0 and out.max() <= 0.4 + 1e-12
