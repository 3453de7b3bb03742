"""CNN representations on torchvision's model definitions, truncated at a named layer.

Truncation uses :func:`torchvision.models.feature_extraction.create_feature_extractor`,
so only the modules up to the chosen layer exist and run, and the output is the very
tensor the full model computes at that node (bit for bit in torchvision's layout, up to
float rounding in the default channels-last one). The model is first built on the ``meta``
device (no memory, no random init), then only the truncated part's weights are loaded.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.models.feature_extraction import create_feature_extractor

from .. import hub
from .base import IMAGENET_MEAN_255, IMAGENET_STD_255, LayerSpec, Preset, Representation
from .registry import register
from .base import Family

#: λ_TV by depth, the CVPR code's AlexNet presets (β = 2): shallow, middle, deep.
TV_SHALLOW, TV_MIDDLE, TV_DEEP = 0.5, 5.0, 50.0


class TorchvisionCNN(Representation):
    """A torchvision classifier truncated at one layer.

    ``forward(x)``: ``[B, 3, H, W]`` RGB in pixel units (0–255 minus the ImageNet mean)
    → the layer's activation, ``[B, C', H', W']`` (conv/pool layers) or ``[B, D]`` (fc).
    torchvision's normalisation ``((x + mean)/255 − mean)/std`` reduces to ``x/(255·std)``.

    Weights and activations are laid out channels-last (NHWC) by default: the same values
    (up to float rounding), and one forward + backward is 1.02–1.15× faster on a CPU
    (oneDNN; ``benchmarks/speed.py`` measures it against torchvision's default layout).
    :meth:`set_channels_last` switches back.
    """

    def __init__(self, body: nn.Module, family: str, spec: LayerSpec, input_size: tuple[int, int]):
        super().__init__()
        self.body = body
        self.family = family
        self.layer = spec.name
        self.node = spec.node
        self.stride = spec.stride
        self.preset = spec.preset
        self.input_size = input_size
        self.channels = 3
        self.pixel_mean = IMAGENET_MEAN_255
        self.register_buffer("inv_std", 1.0 / torch.tensor(IMAGENET_STD_255).view(1, 3, 1, 1), persistent=False)
        self.set_channels_last(True)

    def set_channels_last(self, enabled: bool = True) -> "TorchvisionCNN":
        """Lay weights and activations out channels-last (``True``) or as torchvision does; returns self."""
        self.memory_format = torch.channels_last if enabled else torch.contiguous_format
        self.body.to(memory_format=self.memory_format)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x * self.inv_std).contiguous(memory_format=self.memory_format))["code"]


def _specs(rows: Sequence[tuple[str, str, int]], depth_tv: Callable[[int], float]) -> tuple[LayerSpec, ...]:
    return tuple(
        LayerSpec(name, stride, Preset(lambda_tv=depth_tv(i)), node) for i, (name, node, stride) in enumerate(rows)
    )


# (paper name, torchvision node, receptive-field stride in pixels)
ALEXNET_ROWS = (
    ("conv1", "features.0", 4), ("relu1", "features.1", 4), ("pool1", "features.2", 8),
    ("conv2", "features.3", 8), ("relu2", "features.4", 8), ("pool2", "features.5", 16),
    ("conv3", "features.6", 16), ("relu3", "features.7", 16), ("conv4", "features.8", 16),
    ("relu4", "features.9", 16), ("conv5", "features.10", 16), ("relu5", "features.11", 16),
    ("pool5", "features.12", 32), ("fc6", "classifier.1", 32), ("relu6", "classifier.2", 32),
    ("fc7", "classifier.4", 32), ("relu7", "classifier.5", 32), ("fc8", "classifier.6", 32),
)  # fmt: skip


def _vgg16_rows() -> tuple[tuple[str, str, int], ...]:
    rows, index, stride = [], 0, 1
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
        for j in range(1, convs + 1):
            rows.append((f"conv{block}_{j}", f"features.{index}", stride))
            rows.append((f"relu{block}_{j}", f"features.{index + 1}", stride))
            index += 2
        stride *= 2
        rows.append((f"pool{block}", f"features.{index}", stride))
        index += 1
    rows += [("fc6", "classifier.0", 32), ("relu6", "classifier.1", 32), ("fc7", "classifier.3", 32),
             ("relu7", "classifier.4", 32), ("fc8", "classifier.6", 32)]  # fmt: skip
    return tuple(rows)


VGG16_ROWS = _vgg16_rows()

SQUEEZENET_ROWS = (
    ("conv1", "features.0", 2), ("relu1", "features.1", 2), ("pool1", "features.2", 4),
    ("fire2", "features.3", 4), ("fire3", "features.4", 4), ("pool3", "features.5", 8),
    ("fire4", "features.6", 8), ("fire5", "features.7", 8), ("pool5", "features.8", 16),
    ("fire6", "features.9", 16), ("fire7", "features.10", 16), ("fire8", "features.11", 16),
    ("fire9", "features.12", 16), ("conv10", "classifier.1", 16), ("relu10", "classifier.2", 16),
    ("logits", "flatten", 16),
)  # fmt: skip


def _alexnet_tv(i: int) -> float:  # conv1…relu2 | pool2…relu4 | conv5…fc8 (CVPR code)
    return TV_SHALLOW if i <= 4 else TV_MIDDLE if i <= 9 else TV_DEEP


def _vgg16_tv(i: int) -> float:  # blocks 1–2 | 3–4 | 5 and fc
    name = VGG16_ROWS[i][0]
    block = int(name[4]) if name.startswith(("conv", "relu", "pool")) and name[4].isdigit() else 6
    return TV_SHALLOW if block <= 2 else TV_MIDDLE if block <= 4 else TV_DEEP


def _squeezenet_tv(i: int) -> float:  # conv1…fire3 | pool3…fire7 | fire8…logits
    return TV_SHALLOW if i <= 4 else TV_MIDDLE if i <= 10 else TV_DEEP


def build_truncated(
    family: str,
    constructor: Callable[..., nn.Module],
    spec: LayerSpec,
    input_size: tuple[int, int],
    weights: str | Path | None,
) -> TorchvisionCNN:
    """Build ``constructor()`` truncated at ``spec.node`` and load its weights.

    Args:
        weights: ``None`` (the family's Hub source), a local ``.safetensors`` path,
            ``"hf://…"`` (another Hub file), or ``"random"`` (torchvision's random init,
            for tests and timing).

    Raises:
        inverter.hub.WeightsError: weights missing, unreadable or not fitting.
    """
    if weights == "random":
        body = create_feature_extractor(constructor(), {spec.node: "code"})
        return TorchvisionCNN(body, family, spec, input_size)
    with torch.device("meta"):
        full = constructor()
    expected = {k: v.shape for k, v in full.state_dict().items()}
    body = create_feature_extractor(full, {spec.node: "code"})
    state, origin = hub.load_state_dict(family, weights)
    needed = set(body.state_dict())
    hub.check_state_dict(state, expected, needed, origin)
    body.load_state_dict({k: state[k] for k in needed}, strict=True, assign=True)
    return TorchvisionCNN(body, family, spec, input_size)


def _family(name: str, constructor: Callable[..., nn.Module], rows, depth_tv, size, default: str, text: str) -> Family:
    specs = _specs(rows, depth_tv)

    def build(layer: str, weights: str | Path | None = None) -> TorchvisionCNN:
        spec = next(s for s in specs if s.name == layer)
        return build_truncated(name, constructor, spec, size, weights)

    return register(
        Family(name, specs, build, description=text, needs_weights=True, default_layer=default,
               extra={"constructor": constructor})
    )  # fmt: skip


ALEXNET = _family("alexnet", models.alexnet, ALEXNET_ROWS, _alexnet_tv, (227, 227), "conv5",
                  "AlexNet (torchvision, ImageNet), 227×227, the CVPR paper's network")  # fmt: skip
VGG16 = _family("vgg16", models.vgg16, VGG16_ROWS, _vgg16_tv, (224, 224), "conv4_3",
                "VGG-16 (torchvision architecture, timm's ImageNet weights), 224×224")  # fmt: skip
SQUEEZENET = _family("squeezenet1_1", models.squeezenet1_1, SQUEEZENET_ROWS, _squeezenet_tv, (227, 227), "fire5",
                     "SqueezeNet 1.1 (torchvision, ImageNet), 227×227, small and fast on a CPU")  # fmt: skip
