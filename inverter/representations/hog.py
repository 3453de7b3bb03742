"""Differentiable HOG and HOGb (UoCTTI / DPM variant, as VLFeat's ``vl_hog``).

Both map a grey image in pixel units (``255·gray − 128``), ``[B, 1, H, W]``, to a
27-channel cell code ``[B, 27, h, w]`` with, as in ``vl_hog``::

    h = (H + cell_size // 2) // cell_size,   w = (W + cell_size // 2) // cell_size

(the last cell is at least half inside the image; 227 → 28 at cell 8). The pipeline,
step by step (every step is a torch op, batched, float32 or float64):

1. **Gradient** by ``[-1 0 1]/2`` along x and y. Like ``vl_hog``, only interior pixels
   get a gradient: the one-pixel border has gradient zero (no padding is invented; a
   zero padding would create spurious edges at the frame of a mean-subtracted image).
2. **Orientation binning** into 18 directed bins, bin ``k`` centred at angle ``k·20°``
   with the angle ``atan2(gy, gx)`` measured with y pointing *down* (``vl_hog``'s
   convention: bin 0 = intensity increasing to the right, bin 4.5 = increasing
   downwards). ``hog`` gives each pixel's gradient magnitude to its nearest bin (hard
   assignment, a one-hot mask times the magnitude: autograd flows through the
   magnitude only, and the code jumps where a gradient crosses a bin boundary, where
   it is not differentiable). ``hogb`` splits the magnitude linearly between the two
   nearest bins (``vl_hog``'s bilinear orientations), differentiable almost everywhere.
3. **Bilinear spatial pooling**: pixel ``x`` gives weight ``max(0, 1 − |(x + ½)/s − ½ − c|)``
   to cell ``c`` (its 4 nearest cell centres in 2-D), a separable stride-``s`` conv.
4. **UoCTTI normalisation**: with ``n = Σ_k (h_k + h_{k+9})²`` the undirected energy of a
   cell, each cell is divided by the L2 norm ``√(Σ_block n + ε)`` of each of the four 2×2
   blocks that contain it (blocks at the border replicate the edge cells, as
   ``vl_hog``), clamped at 0.2, and the four copies are summed and halved. Channels
   0–17 are the directed bins, 18–26 the undirected ``h_k + h_{k+9}`` (normalised and
   clamped the same way). The 4 texture channels of the 31-d variant are left out.

``ε`` (``eps``) defaults to ``1e-4·(255/2)²``: ``vl_hog``'s ``1e-4`` for images in
``[0, 1]`` with gradients ``[-1 0 1]``, carried over to our units. It keeps the gradient
finite on flat regions (a constant image gives a zero code) and is negligible wherever
there is texture, so the code is invariant to contrast.
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from ..schedule import scale_phases
from . import ijcv
from .base import GREY_MEAN_255, SHALLOW_PHASES, Family, LayerSpec, Preset, Representation
from .registry import register

#: The CVPR 2015 code's settings for HOG/HOGb/DSIFT (λ_TV code value 1 ⇒ 0.5 here).
SHALLOW_PRESET = Preset(phases=SHALLOW_PHASES, lambda_tv=0.5, tv_beta=2.0, data_weight=1.0)

#: 200 steps for HOG, HOGb and DSIFT (issue 15): the CVPR preset's four phases, a quarter as long, at twice
#: the base rate (the data term's curvature at the start allows about 0.009, ``benchmarks/curvature.py``).
#: Chosen with ``benchmarks/quality.py --iterations 200`` on the nine sample photographs (the README's
#: figures): below CVPR 2015's Table 1 for all three, in a quarter of the paper's steps.
FAST_PRESET = replace(SHALLOW_PRESET, learning_rate=0.008, phases=scale_phases(SHALLOW_PHASES, 200), name="fast")

#: The presets of HOG, HOGb and DSIFT by method (IJCV: C = 100, the authors' value).
SHALLOW_PRESETS = {"cvpr": SHALLOW_PRESET, "ijcv": ijcv.preset(ijcv.SHALLOW_DATA_WEIGHT, ijcv.CARICATURE_WEIGHT_BY_TIER[0]), "fast": FAST_PRESET}

#: ``vl_hog``'s normalisation constant, converted to our pixel units (see module doc).
HOG_EPS = 1e-4 * (255.0 / 2.0) ** 2


def check_grey(x: torch.Tensor, min_size: int = 3) -> None:
    """Raise ``ValueError`` unless ``x`` is a ``[B, 1, H, W]`` float tensor, H, W ≥ ``min_size``."""
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected a grey image batch [B, 1, H, W], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point image, got {x.dtype}")
    check_size(tuple(x.shape[-2:]), min_size)


def check_size(size: tuple[int, int], min_size: int) -> None:
    """Raise ``ValueError`` unless both sides of ``size = (H, W)`` are ≥ ``min_size`` pixels."""
    if min(size) < min_size:
        raise ValueError(f"image too small: {tuple(size)}, need at least {min_size} pixels a side")


def image_gradient(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences ``[-1 0 1]/2`` of ``[B, 1, H, W]``; zero on the 1-pixel border.

    Returns:
        ``(gx, gy)``, each ``[B, 1, H, W]``; x to the right, y downwards.
    """
    gx = F.pad((x[..., 1:-1, 2:] - x[..., 1:-1, :-2]) * 0.5, (1, 1, 1, 1))
    gy = F.pad((x[..., 2:, 1:-1] - x[..., :-2, 1:-1]) * 0.5, (1, 1, 1, 1))
    return gx, gy


def polar(gx: torch.Tensor, gy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Magnitude and angle ``atan2(gy, gx)`` in ``(−π, π]``, with finite gradients at 0.

    Where the gradient is exactly zero the magnitude is 0 with a zero (sub)gradient and
    the angle is 0 (it does not matter: it is always multiplied by the magnitude).
    """
    g2 = gx * gx + gy * gy
    zero = g2 <= 0
    one = torch.ones_like(g2)
    magnitude = torch.where(zero, torch.zeros_like(g2), torch.sqrt(torch.where(zero, one, g2)))
    angle = torch.atan2(torch.where(zero, torch.zeros_like(gy), gy), torch.where(zero, one, gx))
    return magnitude, angle


def orientation_histogram(
    gx: torch.Tensor,
    gy: torch.Tensor,
    num_bins: int,
    *,
    bilinear: bool,
    offset: float = 0.0,
) -> torch.Tensor:
    """Per-pixel directed orientation histogram weighted by the gradient magnitude.

    Args:
        gx, gy: ``[B, 1, H, W]`` gradients.
        num_bins: bins over the full circle; bin ``k`` is centred at ``offset + 2πk/num_bins``.
        bilinear: split linearly between the two nearest bins; otherwise hard
            assignment to the nearest bin (bin ``k`` covers ``[centre − Δ/2, centre + Δ/2)``).
        offset: angle of the centre of bin 0, radians.

    Returns:
        ``[B, num_bins, H, W]``; each pixel's bins sum to its gradient magnitude.
    """
    magnitude, angle = polar(gx, gy)
    t = (angle - offset) * (num_bins / (2.0 * math.pi))  # position in bin units
    hist = torch.zeros(
        (gx.shape[0], num_bins, *gx.shape[2:]), dtype=gx.dtype, device=gx.device
    )
    if bilinear:
        base = torch.floor(t.detach())
        frac = t - base  # in [0, 1); carries the gradient of the angle
        first = torch.remainder(base, num_bins).long()
        second = torch.remainder(first + 1, num_bins)
        hist = hist.scatter_add(1, first, magnitude * (1.0 - frac))
        return hist.scatter_add(1, second, magnitude * frac)
    nearest = torch.remainder(torch.floor(t.detach() + 0.5), num_bins).long()
    return hist.scatter_add(1, nearest, magnitude)


def triangle_kernel(size: int, centre: float, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``2·size`` taps ``max(0, 1 − |j − centre|/size)``, ``j = 0 … 2·size − 1``: bilinear weights.

    For ``vl_hog``'s cells (pixel ``x`` gives cell ``c`` weight ``max(0, 1 − |(x + ½)/s − ½ − c|)``)
    with a left padding ``pad``, tap ``j`` of cell ``c`` reads pixel ``c·s + j − pad``, so
    ``centre = pad − ½ + s/2``.
    """
    j = torch.arange(2 * size, dtype=dtype, device=device)
    return torch.relu(1.0 - (j - centre).abs() / size)


def separable_pool(hist: torch.Tensor, kernel: torch.Tensor, stride: int) -> torch.Tensor:
    """Filter each channel of ``[B, C, H, W]`` by ``kernel`` along y and x (valid, strided)."""
    b, c, h, w = hist.shape
    flat = hist.reshape(b * c, 1, h, w)
    k = kernel.numel()
    flat = F.conv2d(flat, kernel.view(1, 1, 1, k), stride=(1, stride))
    flat = F.conv2d(flat, kernel.view(1, 1, k, 1), stride=(stride, 1))
    return flat.reshape(b, c, flat.shape[-2], flat.shape[-1])


def hog_grid(height: int, width: int, cell_size: int) -> tuple[int, int]:
    """Number of HOG cells ``(h, w)`` for an image, as ``vl_hog``."""
    return (height + cell_size // 2) // cell_size, (width + cell_size // 2) // cell_size


def bilinear_cells(hist: torch.Tensor, cell_size: int) -> torch.Tensor:
    """``vl_hog``'s bilinear spatial pooling of ``[B, C, H, W]`` into ``[B, C, h, w]`` cells."""
    height, width = hist.shape[-2:]
    rows, cols = hog_grid(height, width, cell_size)
    pad = cell_size // 2
    kernel = triangle_kernel(cell_size, pad - 0.5 + cell_size / 2.0, dtype=hist.dtype, device=hist.device)
    right = max(0, (cols + 1) * cell_size - pad - width)
    bottom = max(0, (rows + 1) * cell_size - pad - height)
    padded = F.pad(hist, (pad, right, pad, bottom))
    return separable_pool(padded, kernel, cell_size)[..., :rows, :cols]


def hard_cells(hist: torch.Tensor, cell_size: int) -> torch.Tensor:
    """Sum of ``[B, C, H, W]`` over non-overlapping square cells (the Dalal–Triggs /
    scikit-image pooling; cells are ``H // cell_size × W // cell_size``, the rest is dropped)."""
    return F.avg_pool2d(hist, cell_size, stride=cell_size) * float(cell_size * cell_size)


def uoctti_normalise(cells: torch.Tensor, *, eps: float = HOG_EPS, clamp: float = 0.2) -> torch.Tensor:
    """UoCTTI block normalisation of directed cell histograms ``[B, 2n, h, w]`` → ``[B, 3n, h, w]``.

    Channels ``0..2n−1`` directed, ``2n..3n−1`` undirected; each is ``½ Σ_blocks min(clamp, v/‖block‖)``.
    """
    n = cells.shape[1] // 2
    undirected = cells[:, :n] + cells[:, n:]
    energy = (undirected * undirected).sum(dim=1, keepdim=True)  # [B, 1, h, w]
    padded = F.pad(energy, (1, 1, 1, 1), mode="replicate")
    blocks = F.avg_pool2d(padded, 2, stride=1) * 4.0  # [B, 1, h+1, w+1]
    inv = torch.rsqrt(blocks + eps)
    factors = torch.stack(
        [inv[..., :-1, :-1], inv[..., :-1, 1:], inv[..., 1:, :-1], inv[..., 1:, 1:]], dim=1
    )  # [B, 4, 1, h, w]
    features = torch.cat([cells, undirected], dim=1).unsqueeze(1)  # [B, 1, 3n, h, w]
    return 0.5 * torch.clamp(factors * features, max=clamp).sum(dim=1)


class HOG(Representation):
    """UoCTTI HOG (``vl_hog``), 27 channels per cell; see the module docstring.

    Args:
        cell_size: cell side in pixels (8).
        num_orientations: undirected orientations (9); there are twice as many directed.
        bilinear_orientations: ``False`` for ``hog`` (hard), ``True`` for ``hogb``.
        eps: constant added under the square root of the block norms.
        clamp: truncation of the normalised values (0.2).

    Input ``[B, 1, H, W]`` in pixel units (``255·gray − 128``), H, W ≥ max(3, cell_size);
    output ``[B, 3·num_orientations, (H + s//2)//s, (W + s//2)//s]`` with ``s = cell_size``.
    """

    channels = 1
    pixel_mean = GREY_MEAN_255
    input_size = (227, 227)
    preset = SHALLOW_PRESET

    def __init__(
        self,
        cell_size: int = 8,
        num_orientations: int = 9,
        *,
        bilinear_orientations: bool = False,
        eps: float = HOG_EPS,
        clamp: float = 0.2,
    ) -> None:
        super().__init__()
        if cell_size < 1 or num_orientations < 1:
            raise ValueError("cell_size and num_orientations must be positive")
        self.cell_size = int(cell_size)
        self.num_orientations = int(num_orientations)
        self.bilinear_orientations = bool(bilinear_orientations)
        self.eps = float(eps)
        self.clamp = float(clamp)
        self.family = "hogb" if self.bilinear_orientations else "hog"
        self.layer = self.family
        self.stride = self.cell_size

    @property
    def out_channels(self) -> int:
        """Channels per cell (27 at 9 orientations)."""
        return 3 * self.num_orientations

    def output_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """``(channels, h, w)`` of the code of an ``H × W`` image."""
        return (self.out_channels, *hog_grid(height, width, self.cell_size))

    def _code_shape(self, size: tuple[int, int]) -> tuple[int, int, int]:
        check_size(size, max(3, self.cell_size))
        return self.output_shape(*size)

    def cell_histograms(self, x: torch.Tensor) -> torch.Tensor:
        """Un-normalised directed cell histograms ``[B, 2·num_orientations, h, w]``."""
        check_grey(x, max(3, self.cell_size))
        gx, gy = image_gradient(x)
        hist = orientation_histogram(gx, gy, 2 * self.num_orientations, bilinear=self.bilinear_orientations)
        return bilinear_cells(hist, self.cell_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return uoctti_normalise(self.cell_histograms(x), eps=self.eps, clamp=self.clamp)

    def extra_repr(self) -> str:
        return (
            f"cell_size={self.cell_size}, num_orientations={self.num_orientations}, "
            f"bilinear_orientations={self.bilinear_orientations}"
        )


class HOGb(HOG):
    """HOG with bilinear orientation assignment (the paper's HOGb)."""

    def __init__(self, cell_size: int = 8, num_orientations: int = 9, **kwargs) -> None:
        kwargs.setdefault("bilinear_orientations", True)
        super().__init__(cell_size, num_orientations, **kwargs)


for _name, _bilinear, _assignment in (("hog", False, "hard"), ("hogb", True, "bilinear")):
    register(Family(
        name=_name,
        layers=(LayerSpec(_name, stride=8, preset=SHALLOW_PRESET, presets=SHALLOW_PRESETS),),
        build=lambda layer, weights, bilinear=_bilinear: HOG(bilinear_orientations=bilinear),
        description=f"{_name.upper()[:3]}{_name[3:]} (UoCTTI/vl_hog), cell 8, 27 channels, {_assignment} orientation "
                    "assignment",
        default_layer=_name,
    ))  # fmt: skip
