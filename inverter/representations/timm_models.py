"""Any timm image model as a representation: ``timm:<model>[:<layer>]``.

``<model>`` is a timm model name with its pretrained tag (``resnet50.a1_in1k``,
``vit_small_patch14_dinov2.lvd142m``) or a Hub id (``hf-hub:ORG/NAME``). Its layers come
from the model itself: one per entry of timm's ``feature_info`` (named by timm's module
names: ``act1``, ``layer1``…``layer4`` for a ResNet, ``stages.0``… for a ConvNeXt,
``blocks.0``… for a ViT), then ``pre_logits`` and ``logits``. A layer is truncated with
timm's ``prune_intermediate_layers`` and run with ``forward_intermediates(...,
stop_early=True)``: only the modules up to it exist and run.

Input convention from the model's ``pretrained_cfg`` (input size, mean, std,
interpolation); the pre-image stays in the project's pixel units (0–255 minus the mean),
the model's ``[0, 1]`` + mean/std convention folded into :meth:`TimmModel.forward`.
Vision transformers are built with timm's dynamic image size, so a pre-image of any
multiple of the patch size works; their code at a block is every token, ``[D, P + H'·W']``
(``P`` class/prefix tokens, then the patch grid row by row), so that a mask can keep the
class tokens, the patch tokens, or a central neighbourhood of the patch grid.

Weights: the model's Hub file (``pretrained_cfg.hf_hub_id``, its ``.safetensors`` file),
downloaded through :mod:`inverter.weights` (the Hub cache, offline mode, one error with
its fix per kind of failure, never a pickle), then loaded by timm's own
``load_pretrained`` (its checkpoint filters, e.g. resizing position embeddings).
"""
from __future__ import annotations

import difflib
import functools
import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import SettingError, UnknownNameError, WeightsError, first_line
from ..masks import CodeMask
from ..weights import HubFile, KeyMap, RandomInit, WeightsSpec, hub_error, load_state_dict, weights_text
from .base import Family, LayerSpec, Preset, Representation
from .cnn import TV_DEEP, TV_MIDDLE, TV_SHALLOW
from .registry import Provider, register_provider

PREFIX = "timm"
#: The models the app lists next to the other families (a CNN, a modern CNN, a supervised ViT,
#: a self-supervised ViT, a language-supervised ViT).
SUGGESTED = (
    "resnet50.a1_in1k", "convnext_tiny.fb_in1k", "vit_small_patch16_224.augreg_in21k_ft_in1k",
    "vit_small_patch14_dinov2.lvd142m", "vit_base_patch16_clip_224.openai",
)  # fmt: skip
HEAD_LAYERS = ("pre_logits", "logits")
_NO_RENAMING = KeyMap(rename=())


def _split(rest: str) -> tuple[str, str | None]:
    """``"resnet50.a1_in1k:layer3"`` → ``("resnet50.a1_in1k", "layer3")``; ``hf-hub:ORG/NAME`` keeps its colon."""
    hub = rest.startswith("hf-hub:")
    model, _, layer = rest[len("hf-hub:") if hub else 0 :].partition(":")
    return ("hf-hub:" + model if hub else model), (layer or None)


def depth_tv(index: int, count: int) -> float:
    """λ_TV of the layer ``index`` of ``count`` by relative depth: the paper's AlexNet presets
    (0.5 / 5 / 50) for the first, middle and last third of the layers."""
    return (TV_SHALLOW, TV_MIDDLE, TV_DEEP)[min(3 * index // max(count, 1), 2)]


@dataclass(frozen=True)
class ModelInfo:
    """What the model says about itself, read from a ``meta``-device instance (no weights, no memory).

    Attributes:
        features: ``(module name, reduction in pixels)`` of each ``feature_info`` entry.
        config: the model's ``pretrained_cfg`` as a dict.
        kwargs: extra ``create_model`` arguments (a ViT's ``dynamic_img_size``).
        prefix_tokens: class/prefix tokens of a transformer's code, ``None`` for a CNN.
        patch: a transformer's patch side in pixels (its images must be multiples), else 1.
        truncates: whether the model has ``forward_intermediates`` (else only the head layers).
    """

    features: tuple[tuple[str, int], ...]
    config: dict[str, Any]
    kwargs: dict[str, Any]
    prefix_tokens: int | None
    patch: int
    truncates: bool


def _unknown(model: str) -> UnknownNameError:
    import timm

    names = timm.list_pretrained() + timm.list_models()
    close = difflib.get_close_matches(model, names, n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return UnknownNameError(f"unknown timm model {model!r}{hint} (any name of timm.list_pretrained(), or hf-hub:ORG/NAME)")


@functools.lru_cache(maxsize=64)
def model_info(model: str) -> ModelInfo:
    """:class:`ModelInfo` of a timm model name (``hf-hub:`` names read their config from the Hub).

    Raises:
        UnknownNameError: timm has no such model (the message lists close matches).
        WeightsError: the model's config must come from the Hub and cannot be had (offline and
            not cached, no such repo…); the message names the repo and the fix.
    """
    import timm

    if not model.startswith("hf-hub:") and not timm.is_model(model.partition(".")[0]):
        raise _unknown(model)
    try:
        with torch.device("meta"):
            net = timm.create_model(model, pretrained=False)
            kwargs = {"dynamic_img_size": True} if hasattr(net, "dynamic_img_size") else {}
            if kwargs:
                net = timm.create_model(model, pretrained=False, **kwargs)
    except Exception as err:
        if isinstance(err, RuntimeError) and ("Unknown model" in str(err) or "Invalid pretrained tag" in str(err)):
            raise _unknown(model) from None  # an unknown pretrained tag
        hub = model.startswith("hf-hub:")
        if type(err).__module__.startswith("huggingface_hub") or (hub and isinstance(err, OSError)):
            # the config comes from the Hub (an hf-hub: model's config.json) and cannot be had
            repo_id, _, revision = (model[len("hf-hub:"):] if hub else "timm/" + model).partition("@")
            raise hub_error(HubFile(repo_id, "config.json", revision or None), err, "the model config",
                            alternative="") from err  # fmt: skip
        raise
    intermediates = getattr(net, "forward_intermediates", None)
    prefix = None
    if intermediates is not None and "return_prefix_tokens" in inspect.signature(intermediates).parameters:
        prefix = int(getattr(net, "num_prefix_tokens", 0))
    patch = getattr(getattr(net, "patch_embed", None), "patch_size", (1, 1))
    features = tuple((f["module"], int(f["reduction"])) for f in getattr(net, "feature_info", []))
    return ModelInfo(features if intermediates is not None else (), dict(net.pretrained_cfg), kwargs, prefix,
                     int(patch[0]), intermediates is not None)  # fmt: skip


def default_weights(info: ModelInfo, model: str) -> HubFile:
    """The model's Hub file: ``hf_hub_id`` and its safetensors file (a ``.bin`` name's safe alternative)."""
    repo = info.config.get("hf_hub_id") or ("timm/" + model if not model.startswith("hf-hub:") else model[7:])
    repo, _, revision = repo.partition("@")  # hf-hub:ORG/NAME@REVISION
    filename = info.config.get("hf_hub_filename") or "model.safetensors"
    if not filename.endswith(".safetensors"):  # timm's own rule: a pickle's safe alternative
        filename = "open_clip_model.safetensors" if filename.startswith("open_clip") else "model.safetensors"
    return HubFile(repo, filename, revision or None)


class TimmModel(Representation):
    """A timm model truncated at one layer.

    ``forward(x)``: ``[B, 3, H, W]`` RGB in pixel units (0–255 minus the model's mean) →
    the layer's code: ``[B, C, H', W']`` (a CNN's stage), ``[B, D, P + H'·W']`` (a
    transformer's block: its tokens, class tokens first), ``[B, D]`` (``pre_logits``,
    ``logits``). The model's normalisation ``((x + mean)/255 − mean)/std`` is ``x/(255·std)``.
    """

    def __init__(self, net: nn.Module, family: str, spec: LayerSpec, info: ModelInfo):
        super().__init__()
        config = info.config
        self.net = net
        self.family, self.layer, self.stride, self.preset = family, spec.name, spec.stride, spec.preset
        self.input_size = tuple(config["input_size"][1:])
        self.channels = 3
        self.pixel_mean = tuple(255.0 * m for m in config["mean"])
        self.interpolation = config.get("interpolation", "bilinear")
        self.index = int(spec.node) if spec.node.isdigit() else None
        self.head = spec.node if self.index is None else None
        self.prefix_tokens = info.prefix_tokens if self.index is not None else None
        self.patch = info.patch
        self.register_buffer("inv_std", 1.0 / (255.0 * torch.tensor(config["std"]).view(1, 3, 1, 1)), persistent=False)
        # channels-last suits convolutions (oneDNN, cuDNN), not a transformer's tokens
        self.memory_format = torch.channels_last if info.prefix_tokens is None else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x * self.inv_std).contiguous(memory_format=self.memory_format)
        if self.head == "logits":
            return self.net(x)
        if self.head == "pre_logits":
            return self.net.forward_head(self.net.forward_features(x), pre_logits=True)
        if self.prefix_tokens is None:
            (code,) = self.net.forward_intermediates(x, indices=[self.index], intermediates_only=True, stop_early=True)
            return code
        (out,) = self.net.forward_intermediates(x, indices=[self.index], intermediates_only=True, stop_early=True,
                                                output_fmt="NLC", return_prefix_tokens=True)  # fmt: skip
        patches, prefix = out if isinstance(out, tuple) else (out, None)
        tokens = patches if prefix is None else torch.cat([prefix, patches], dim=1)
        return tokens.transpose(1, 2)

    def _code_shape(self, size: tuple[int, int]) -> tuple[int, ...]:
        if self.patch > 1 and (size[0] % self.patch or size[1] % self.patch):
            raise ValueError(f"a transformer with {self.patch}-pixel patches needs both sides a multiple of "
                             f"{self.patch} (e.g. {self.patch * max(size[0] // self.patch, 1)})")  # fmt: skip
        return super()._code_shape(size)

    def code_grid(self, size: tuple[int, int] | None = None) -> tuple[int, int] | None:
        if self.prefix_tokens is None:
            return super().code_grid(size)
        height, width = size or self.input_size
        self.code_shape((height, width))  # checks the size
        return height // self.patch, width // self.patch

    def unit_selector(self, channel: int, position: tuple[int, int] | None = None,
                      size: tuple[int, int] | None = None) -> torch.Tensor:  # fmt: skip
        """A transformer's unit: channel ``channel`` of the class token (``position`` ``None``; the
        central patch without a class token) or of the patch at ``position``; otherwise as
        :class:`Representation`."""
        if self.prefix_tokens is None:
            return super().unit_selector(channel, position, size)
        dims, count = self.code_shape(size)
        rows, cols = self.code_grid(size)
        if not 0 <= channel < dims:
            raise SettingError(f"target {channel} is outside {self.name}'s code: its channels are 0…{dims - 1}")
        if position is None and self.prefix_tokens:
            token = 0
        else:
            y, x = position if position is not None else ((rows + 1) // 2 - 1, (cols + 1) // 2 - 1)
            if not (0 <= y < rows and 0 <= x < cols):
                raise SettingError(f"target position {y},{x} is outside {self.name}'s {rows}×{cols} patch grid")
            token = self.prefix_tokens + y * cols + x
        selector = torch.zeros((1, dims, count))
        selector[0, channel, token] = 1.0
        return selector

    def mask_tensor(self, mask: CodeMask, size: tuple[int, int] | None = None,
                    device: torch.device | str | None = None) -> torch.Tensor:  # fmt: skip
        """A transformer's mask: channels, then the tokens kept — the class tokens
        (``tokens="cls"``), the patch tokens (``"patch"``), or the central ``N×N`` of the patch
        grid (``neighbourhood``, patch tokens only); otherwise as :class:`Representation`."""
        if self.prefix_tokens is None:
            return super().mask_tensor(mask, size, device)
        dims, count = self.code_shape(size)
        grid = self.code_grid(size)
        prefix = self.prefix_tokens
        if mask.tokens == "cls" and (prefix == 0 or mask.neighbourhood is not None):
            raise SettingError(f"mask tokens='cls': {self.name} has no class token" if prefix == 0 else
                               "mask tokens='cls' and a neighbourhood exclude each other (the class token has no place "
                               "on the patch grid)")  # fmt: skip
        keep = torch.ones(count, dtype=torch.bool)
        if mask.tokens == "cls":
            keep[prefix:] = False
        elif mask.tokens == "patch" or mask.neighbourhood is not None:
            keep[:prefix] = False
        if mask.neighbourhood is not None:
            keep[prefix:] = CodeMask(neighbourhood=mask.neighbourhood).tensor((1, *grid))[0, 0].flatten().bool()
        channels = CodeMask(channels=mask.channels).tensor((dims,))[0].bool()
        return (channels[:, None] & keep[None, :]).float()[None].to(device)


def _load(model: str, info: ModelInfo, weights: WeightsSpec) -> nn.Module:
    """The whole model with ``weights``: a random init, or a safetensors file through timm's ``load_pretrained``."""
    import timm

    if isinstance(weights, RandomInit):
        return timm.create_model(model, pretrained=False, **info.kwargs)
    state = load_state_dict(weights, _NO_RENAMING)
    overlay = {"source": "", "state_dict": dict(state), "file": None, "url": None}
    try:
        return timm.create_model(model, pretrained=True, pretrained_cfg_overlay=overlay, **info.kwargs)
    except RuntimeError as err:  # load_state_dict(strict=True): keys or shapes that do not fit
        raise WeightsError(f"weights from {weights_text(weights)} do not fit timm model {model}: {first_line(err)}") from None


def family(model: str) -> Family:
    """The family ``timm:<model>``: its layers from the model, its input size and default weights.

    Raises:
        UnknownNameError: timm has no such model.
    """
    info = model_info(model)
    nodes = [(name, reduction, str(i)) for i, (name, reduction) in enumerate(info.features)]
    deepest = max([r for _, r, _ in nodes], default=32)
    nodes += [(head, deepest, head) for head in HEAD_LAYERS]
    layers = tuple(LayerSpec(name, stride, Preset(lambda_tv=depth_tv(i, len(nodes))), node)
                   for i, (name, stride, node) in enumerate(nodes))  # fmt: skip
    name = f"{PREFIX}:{model}"
    height, width = info.config["input_size"][1:]

    def build(layer: str, weights: WeightsSpec | None) -> TimmModel:
        spec = next(s for s in layers if s.name == layer)
        net = _load(model, info, weights or RandomInit())
        if spec.node.isdigit():
            net.prune_intermediate_layers(indices=[int(spec.node)], prune_norm=True, prune_head=True)
        elif spec.node == "pre_logits":
            net.reset_classifier(0)  # the classifier's weights are not needed before it
        return TimmModel(net, name, spec, info)

    kind = "transformer" if info.prefix_tokens is not None else "CNN"
    description = f"timm {model} ({kind}), {height}×{width}" + ("" if info.truncates else ", head layers only")
    default = nodes[len(nodes) // 2][0]
    return Family(name, layers, build, description, default, (height, width), default_weights(info, model),
                  _NO_RENAMING, extra={"timm": info})  # fmt: skip


register_provider(Provider(PREFIX, family, _split, SUGGESTED))
