"""What the engine needs to know about a representation Φ.

Units. Every representation takes images in the paper's *pixel units*: the 0–255
scale with the representation's per-channel pixel mean subtracted (so a mid-grey
pixel is about 0). Shape ``[B, C, H, W]``, float32, with ``C = 3`` (RGB) for CNNs and
``C = 1`` (grey, ``255·gray − 128``) for HOG, HOGb and DSIFT. Conversions that a
network needs (torchvision's ``[0, 1]`` + mean/std convention, say) are folded into its
``forward`` so that the regularisers keep the paper's meaning for every representation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

#: ImageNet mean of torchvision's convention, in 0–255 units (RGB).
IMAGENET_MEAN_255 = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255 = (0.229 * 255, 0.224 * 255, 0.225 * 255)
#: Grey-level mean of the HOG/DSIFT convention (``255·gray − 128``).
GREY_MEAN_255 = (128.0,)

#: CVPR 2015 step schedules: (rate multiplier, steps) phases of a base rate.
CNN_PHASES: tuple[tuple[float, int], ...] = ((1.0, 100), (0.1, 200), (0.01, 100))
SHALLOW_PHASES: tuple[tuple[float, int], ...] = ((1.0, 200), (0.1, 200), (0.01, 200), (0.001, 200))


@dataclass(frozen=True)
class Preset:
    """The paper's hyper-parameters for one representation layer.

    The objective (see :mod:`inverter.objectives`) is, with ``u = x / σ`` the image in
    the CVPR code's normalised units (σ = image-norm scale, 27098.1 at 227×227×3)::

        E = C·‖M⊙(Φ(x) − Φ0)‖²/‖M⊙Φ0‖² + λ_α·R_α(u) + λ_TV·R_TV^β(u)

    Attributes:
        data_weight: C, weight of the normalised data term (CVPR: 1).
        lambda_tv: λ_TV in CVPR units (AlexNet: 0.5 / 5 / 50 by depth).
        tv_beta: β, exponent of the total variation (1 or 2).
        lambda_alpha: λ_α in CVPR units (2.16e8 ≙ the code's 8e-10 at α = 6).
        alpha: α of the α-norm (6).
        learning_rate: base rate η of the schedule (0.004); the pixel step is η·σ²·∇E.
        phases: ``(multiplier, steps)`` pairs; momentum resets at each change.
        momentum: heavy-ball momentum (0.9).
        jitter: J of IJCV's jitter (1 = off); canvas is J − 1 px larger.
        clip: after every step, each pixel's colour vector is scaled down to this norm
            (pixel units). IJCV clips at B+ = 160; the default 255 never touches a valid
            pixel (the largest is about 244) but stops the stiff α-norm from running away
            at deep layers, where plain CVPR descent can diverge. 0 = no clipping.
    """

    data_weight: float = 1.0
    lambda_tv: float = 0.5
    tv_beta: float = 2.0
    lambda_alpha: float = 2.16e8
    alpha: float = 6.0
    learning_rate: float = 0.004
    phases: tuple[tuple[float, int], ...] = CNN_PHASES
    momentum: float = 0.9
    jitter: int = 1
    clip: float = 255.0

    @property
    def iterations(self) -> int:
        """Total number of steps of the schedule."""
        return sum(steps for _, steps in self.phases)


@dataclass(frozen=True)
class LayerSpec:
    """One invertible layer of a representation family.

    Attributes:
        name: the paper's name for the layer (``"conv1"``, ``"relu5_3"``, ``"hog"``).
        stride: receptive-field stride in input pixels (for jitter, IJCV: J = max(round(stride/4), 1)).
        preset: the paper's hyper-parameters at this layer.
        node: the layer's module path inside the backing model (CNNs only).
    """

    name: str
    stride: int
    preset: Preset
    node: str = ""


class Representation(nn.Module):
    """Base class: a frozen map Φ from images in pixel units to codes.

    Subclasses implement :meth:`forward` (``[B, C, H, W]`` pixel units → codes
    ``[B, ...]``) and set the metadata attributes below.

    Attributes:
        family: registry name of the family (``"alexnet"``, ``"hog"``).
        layer: the layer this instance stops at.
        channels: 3 (RGB) or 1 (grey) input channels.
        input_size: default ``(H, W)`` the image is resized to, in pixels.
        pixel_mean: per-channel mean in 0–255 units, subtracted from the image.
        stride: receptive-field stride in pixels of the output code.
        preset: the paper's hyper-parameters at this layer.
    """

    family: str = ""
    layer: str = ""
    channels: int = 3
    input_size: tuple[int, int] = (227, 227)
    pixel_mean: tuple[float, ...] = IMAGENET_MEAN_255
    stride: int = 1
    preset: Preset = Preset()

    @property
    def name(self) -> str:
        """``family:layer``, the name the CLI and the app use."""
        return f"{self.family}:{self.layer}" if self.layer and self.layer != self.family else self.family

    def freeze(self) -> "Representation":
        """Eval mode, no parameter requires a gradient; returns ``self``."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def mean_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """``pixel_mean`` as a ``[1, C, 1, 1]`` float32 tensor."""
        return torch.tensor(self.pixel_mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def image_to_pixels(self, image: np.ndarray, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Convert an image to this representation's input.

        Args:
            image: float array in ``[0, 1]``, ``[H, W, 3]`` RGB or ``[H, W]`` grey.
            size: ``(H, W)`` to resize to; default :attr:`input_size`.

        Returns:
            ``[1, C, H, W]`` float32 tensor in pixel units (0–255 minus :attr:`pixel_mean`).
        """
        from ..images import prepare_image

        array = prepare_image(image, size or self.input_size, grey=self.channels == 1)
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None].float() * 255.0
        return tensor - self.mean_tensor()


@dataclass(frozen=True)
class Family:
    """A registry entry: one representation family and how to build its layers.

    Attributes:
        name: registry name (``"alexnet"``).
        layers: the invertible layers, shallow to deep.
        build: ``build(layer_name, weights=..., device=...) -> Representation``.
        description: one line for listings.
        needs_weights: whether building it downloads/loads pretrained weights.
    """

    name: str
    layers: tuple[LayerSpec, ...]
    build: Any
    description: str = ""
    needs_weights: bool = False
    default_layer: str = ""
    extra: dict = field(default_factory=dict)

    def layer(self, name: str | None) -> LayerSpec:
        """The spec of layer ``name`` (default layer when ``None``); ``KeyError`` if unknown."""
        name = name or self.default_layer or self.layers[-1].name
        for spec in self.layers:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.layers)
        raise KeyError(f"unknown layer {name!r} of {self.name!r}; known layers: {known}")
