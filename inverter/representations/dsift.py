"""Differentiable dense SIFT (as VLFeat's ``vl_dsift``, and the CVPR 2015 DSIFT network).

Input a grey image in pixel units (``255·gray − 128``), ``[B, 1, H, W]``; output
``[B, 128, Hd, Wd]``, one 128-d SIFT descriptor every ``step`` pixels, with::

    Hd = (H − 5·bin_size) // step + 1,   Wd = (W − 5·bin_size) // step + 1

(227 → 41 at bin 5, step 5). Descriptor ``(i, j)`` covers the ``5·bin_size``-pixel
square starting at pixel ``(i·step, j·step)``: 4×4 spatial bins whose centres lie
``bin_size`` apart, each bin pooling bilinearly over ``2·bin_size`` pixels.

Pipeline (all torch ops, batched, float32/float64):

1. Gradient ``[-1 0 1]/2``, zero on the one-pixel border (as :mod:`.hog`).
2. 8 directed orientations, bin ``k`` centred at ``k·45°`` (angle ``atan2(gy, gx)``, y
   down), the magnitude split linearly between the two nearest bins.
3. Bilinear spatial pooling: a separable triangle filter of ``2·bin_size`` taps at stride 1
   (so any ``step`` works), the same weights as ``vl_dsift``'s bilinear binning
   (see :func:`bilinear_bins`).
4. 4×4 bins × 8 orientations stacked into 128 channels by strided slicing (bins
   ``bin_size`` apart, descriptors ``step`` apart), each spatial bin weighted by a Gaussian of
   σ = ``window_size`` = 1.5 bins centred on the descriptor (evaluated at bin centres,
   as ``vl_dsift``'s fast flat-window mode and the CVPR DSIFT network do). Channel
   order is VLFeat's: ``o + 8·x_bin + 32·y_bin``.
5. L2 normalise, clamp at 0.2, L2 renormalise (with an ``eps``, see :func:`sift_normalise`).

``step`` defaults to ``bin_size`` (one descriptor per spatial bin, stride 5 px), dense
enough that every pixel is seen by many descriptors; the CVPR DSIFT network used a
stride of 3 bins, which is ``DSIFT(step=15)``. ``eps`` (1.0, squared-norm units) keeps
gradients finite on flat regions, where the code is zero; on a real photograph
(scikit-image's camera at 227×227) the squared descriptor norms range from about 10²
(flat sky) to 10⁶ in these units, so it is negligible wherever there is any texture.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import GREY_MEAN_255, Family, LayerSpec, Representation
from .hog import SHALLOW_PRESET, SHALLOW_PRESETS, check_grey, check_size, image_gradient, orientation_histogram
from .registry import register

NUM_ORIENTATIONS = 8
NUM_SPATIAL_BINS = 4


def bilinear_bins(hist: torch.Tensor, bin_size: int) -> torch.Tensor:
    """Bilinear spatial binning at stride 1 (valid): ``[B, C, H, W]`` → ``[B, C, H − 2b + 1, W − 2b + 1]``.

    Output ``(u, v)`` is the bin whose centre is at pixel ``(u + b − ½, v + b − ½)``: the
    weight of pixel ``u + j`` is ``max(0, 1 − |j + ½ − b|/b)``, ``j = 0 … 2b − 1`` (per axis).
    That triangle is ``b·box_b ∗ box_b ∗ box_2`` (box = moving average), computed as
    three average poolings, much faster on CPU than a 2b-tap convolution.
    """
    b = bin_size
    pooled = F.avg_pool2d(F.avg_pool2d(hist, b, stride=1), b, stride=1)
    return F.avg_pool2d(pooled, 2, stride=1) * float(b * b)


def spatial_weights(window_size: float, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[4, 4]`` Gaussian weights (σ = ``window_size`` bins) of the spatial bins, [y, x]."""
    pos = torch.arange(NUM_SPATIAL_BINS, dtype=dtype, device=device) - (NUM_SPATIAL_BINS - 1) / 2.0
    return torch.exp(-(pos.view(-1, 1) ** 2 + pos.view(1, -1) ** 2) / (2.0 * window_size**2))


def sift_normalise(v: torch.Tensor, *, eps: float = 1.0, clamp: float = 0.2) -> torch.Tensor:
    """SIFT's normalisation along dim 1: L2 normalise, clamp at ``clamp``, renormalise.

    With ``s = ‖v‖²``: ``w = v/√(s + eps)``, ``c = min(w, clamp)``, and the result is
    ``c/√(‖c‖² + eps/(s + eps))``, the second ``eps`` being the first one in the units of
    ``w``. Textured descriptors (``s ≫ eps``) come out as ``c/‖c‖``, the usual unit vectors;
    near-flat ones (nothing clamped) stay ``w``, small, instead of being blown up to unit
    norm; both square roots stay ≥ a positive bound, so gradients are finite everywhere.
    """
    s = (v * v).sum(dim=1, keepdim=True)
    w = torch.clamp(v * torch.rsqrt(s + eps), max=clamp)
    return w * torch.rsqrt((w * w).sum(dim=1, keepdim=True) + eps / (s + eps))


class DSIFT(Representation):
    """Dense SIFT, 128-d; see the module docstring.

    Args:
        bin_size: spatial bin side in pixels (5 as in CVPR 2015; 8 in IJCV 2016).
        step: descriptor stride in pixels (default ``bin_size``).
        window_size: σ of the Gaussian weighting, in bins (1.5).
        eps: constant under the square roots of the normalisations.
        clamp: truncation after the first normalisation (0.2).

    Input ``[B, 1, H, W]`` in pixel units with H, W ≥ ``5·bin_size``; output
    ``[B, 128, (H − 5·bin_size)//step + 1, (W − 5·bin_size)//step + 1]``.
    """

    family = "dsift"
    layer = "dsift"
    channels = 1
    pixel_mean = GREY_MEAN_255
    input_size = (227, 227)
    preset = SHALLOW_PRESET

    def __init__(
        self,
        bin_size: int = 5,
        step: int | None = None,
        *,
        window_size: float = 1.5,
        eps: float = 1.0,
        clamp: float = 0.2,
    ) -> None:
        super().__init__()
        step = bin_size if step is None else step
        if bin_size < 1 or step < 1 or window_size <= 0:
            raise ValueError("bin_size, step and window_size must be positive")
        self.bin_size = int(bin_size)
        self.step = int(step)
        self.window_size = float(window_size)
        self.eps = float(eps)
        self.clamp = float(clamp)
        self.stride = self.step

    @property
    def support(self) -> int:
        """Side in pixels of the square a descriptor sees (``5·bin_size``)."""
        return (NUM_SPATIAL_BINS + 1) * self.bin_size

    def output_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """``(128, Hd, Wd)`` of the code of an ``H × W`` image."""
        return (
            NUM_SPATIAL_BINS**2 * NUM_ORIENTATIONS,
            (height - self.support) // self.step + 1,
            (width - self.support) // self.step + 1,
        )

    def _code_shape(self, size: tuple[int, int]) -> tuple[int, int, int]:
        check_size(size, max(3, self.support))
        return self.output_shape(*size)

    def unnormalised(self, x: torch.Tensor) -> torch.Tensor:
        """Gaussian-weighted descriptors before normalisation, ``[B, 128, Hd, Wd]``."""
        check_grey(x, max(3, self.support))
        gx, gy = image_gradient(x)
        hist = orientation_histogram(gx, gy, NUM_ORIENTATIONS, bilinear=True)
        pooled = bilinear_bins(hist, self.bin_size)  # [B, 8, H − 2b + 1, W − 2b + 1]
        rows, cols = self.output_shape(*x.shape[-2:])[1:]
        gauss = spatial_weights(self.window_size, dtype=x.dtype, device=x.device)
        b, s = self.bin_size, self.step
        bins = [
            pooled[..., i * b :: s, j * b :: s][..., :rows, :cols] * gauss[i, j]
            for i in range(NUM_SPATIAL_BINS)
            for j in range(NUM_SPATIAL_BINS)
        ]  # y-bin major, then x-bin, each [B, 8, Hd, Wd]
        return torch.cat(bins, dim=1)  # channel = o + 8·x_bin + 32·y_bin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sift_normalise(self.unnormalised(x), eps=self.eps, clamp=self.clamp)

    def extra_repr(self) -> str:
        return f"bin_size={self.bin_size}, step={self.step}, window_size={self.window_size}"


register(
    Family(
        name="dsift",
        layers=(LayerSpec("dsift", stride=5, preset=SHALLOW_PRESET, presets=SHALLOW_PRESETS),),
        build=lambda layer, weights: DSIFT(),
        description="dense SIFT (vl_dsift), bin 5 px, step 5 px, 128-d",
        default_layer="dsift",
    )
)
