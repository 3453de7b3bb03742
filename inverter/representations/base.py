"""What the engine needs to know about a representation Φ.

Units. Every representation takes images in the paper's *pixel units*: the 0–255
scale with the representation's per-channel pixel mean subtracted (so a mid-grey
pixel is about 0). Shape ``[B, C, H, W]``, float32, with ``C = 3`` (RGB) for CNNs and
``C = 1`` (grey, ``255·gray − 128``) for HOG, HOGb and DSIFT. Conversions that a
network needs (torchvision's ``[0, 1]`` + mean/std convention, say) are folded into its
``forward`` so that the regularisers keep the paper's meaning for every representation.
"""
from __future__ import annotations

import itertools
from copy import deepcopy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import torch
from torch import nn

from ..errors import SettingError, UnknownNameError, first_line
from ..masks import CodeMask
from ..weights import HubFile, KeyMap, WeightsSpec

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
    """One method's hyper-parameters for one representation layer (the CVPR paper's by default).

    The objective (see :mod:`inverter.objectives`) is, with ``u = x / σ`` the image in
    the CVPR code's normalised units (σ = image-norm scale, 27098.1 at 227×227×3)::

        E = C·‖M⊙(Φ(x) − Φ0)‖²/‖M⊙Φ0‖² + λ_α·R_α(u) + λ_TV·R_TV^β(u)

    Attributes:
        method: the optimisation it is for: ``"cvpr"`` (heavy-ball momentum on the CVPR
            schedule) or ``"ijcv"`` (the journal's adaptive step; see :mod:`inverter.representations.ijcv`).
        data_weight: C, weight of the normalised data term (CVPR: 1).
        lambda_tv: λ_TV in CVPR units (AlexNet: 0.5 / 5 / 50 by depth).
        tv_beta: β, exponent of the total variation (1 or 2).
        lambda_alpha: λ_α in CVPR units (2.16e8 ≙ the code's 8e-10 at α = 6).
        alpha: α of the α-norm (6).
        learning_rate: base rate η of the schedule (0.004); the pixel step is η·σ²·∇E.
        phases: ``(multiplier, steps)`` pairs; momentum resets at each change.
        momentum: heavy-ball momentum (0.9).
        step_boost: the step's multiplier at the first step, falling linearly to 1 over the
            ``step_boost_share`` of the first phase (:func:`inverter.schedule.step_boosts`); 1,
            both papers', leaves the steps alone. It matters for the IJCV step, whose size (about
            one pixel unit per coordinate, set by √G) does not follow the rate.
        step_boost_share: the share of the first phase over which the boost falls to 1 (1: all of it).
        jitter: J of IJCV's jitter (1 = off; ``"auto"`` = IJCV's rule); canvas is J − 1 px larger.
        clip: after every step, each pixel's colour vector is scaled down to this norm
            (pixel units). IJCV clips at B+ = 160; the default 255 never touches a valid
            pixel (the largest is about 244) but stops the stiff α-norm from running away
            at deep layers, where plain CVPR descent can diverge. 0 = no clipping.
        init: the initial noise, ``"gaussian"`` (CVPR) or ``"uniform"`` (IJCV).
        init_scale: the initial noise's size as a multiple of its paper's (1); a start from the
            image (``init="image"``) is not scaled.
        caricature_weight: C of a caricature (:meth:`for_objective`).
        activation_weight: C of activation maximisation (:meth:`for_objective`), 10⁴/227² for
            every preset and layer. Source: the authors' code (``aravindhm/nnpreimage``,
            ``experiments/exp_maximization.m``) weighs the inner product by
            ``(10000 / rf²) / k ./ stats.max``: C = 10⁴/rf² for k = 1 unit, over Z = the unit's
            largest activation on a data set (here :func:`inverter.engine.typical_scale`), with
            rf the layer's receptive-field size, and renders an image about that size. Fixing
            rf = 227 (the paper's input side) at every layer is this package's own choice, not
            the authors': their C is larger at shallow layers (AlexNet's conv1, rf = 11: 10⁴/121).
        parameterisation: what the step is taken on, ``"pixels"`` (both papers) or ``"fourier"``
            (:mod:`inverter.parameterisation`; some measured defaults).
        spectrum_decay: γ of the Fourier coefficients' frequency scale ``1/f^γ`` (1: Olah et
            al.'s); a larger γ favours the low frequencies, the layout. Ignored on pixels.
        name: what the preset is called in reports (``"cvpr"``, ``"ijcv"``, ``"fast"``, or a
            measured default's name): a label only, it sets nothing.
    """

    method: str = "cvpr"
    data_weight: float = 1.0
    lambda_tv: float = 0.5
    tv_beta: float = 2.0
    lambda_alpha: float = 2.16e8
    alpha: float = 6.0
    learning_rate: float = 0.004
    phases: tuple[tuple[float, int], ...] = CNN_PHASES
    momentum: float = 0.9
    step_boost: float = 1.0
    step_boost_share: float = 1.0
    jitter: int | str = 1
    clip: float = 255.0
    init: str = "gaussian"
    init_scale: float = 1.0
    caricature_weight: float = 1.0
    activation_weight: float = 1e4 / 227**2
    parameterisation: str = "pixels"
    spectrum_decay: float = 1.0
    name: str = "cvpr"

    @property
    def iterations(self) -> int:
        """Total number of steps of the schedule."""
        return sum(steps for _, steps in self.phases)

    def for_objective(self, objective: str) -> "Preset":
        """This preset adapted to an objective (:data:`inverter.objectives.OBJECTIVES`), as the
        IJCV code does: a caricature starts from the image; activation maximisation and
        caricatures skip the journal method's slow second stage (its code runs them at the
        base rate only); their data terms' weights are :attr:`caricature_weight` and
        :attr:`activation_weight`."""
        if objective == "invert":
            return self
        phases = self.phases[:1] if self.method == "ijcv" else self.phases
        if objective == "caricature":
            return replace(self, phases=phases, init="image", data_weight=self.caricature_weight)
        return replace(self, phases=phases, data_weight=self.activation_weight)


@dataclass(frozen=True)
class LayerSpec:
    """One invertible layer of a representation family.

    Attributes:
        name: the paper's name for the layer (``"conv1"``, ``"relu5_3"``, ``"hog"``).
        stride: receptive-field stride in input pixels (for jitter, IJCV: J = max(round(stride/4), 1)).
        preset: the CVPR paper's hyper-parameters at this layer.
        node: the layer's module path inside the backing model (CNNs only).
        presets: every method's preset at this layer, by method: those given, and the CVPR one
            (``preset``) and the IJCV one of the same depth
            (:func:`inverter.representations.ijcv.from_cvpr`) where not given.
        default: the preset used when no method is asked for; default the CVPR one.
    """

    name: str
    stride: int
    preset: Preset
    node: str = ""
    presets: Mapping[str, Preset] = field(default_factory=dict)
    default: Preset | None = None

    def __post_init__(self) -> None:
        from .ijcv import from_cvpr

        object.__setattr__(self, "presets", {"cvpr": self.preset, "ijcv": from_cvpr(self.preset), **self.presets})
        if self.default is None:
            object.__setattr__(self, "default", self.presets["cvpr"])


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
        preset: the CVPR paper's hyper-parameters at this layer.
        presets: every method's preset (default: from :attr:`preset`, see :class:`LayerSpec`).
        default_preset: the preset used when no method is asked for (default: :attr:`preset`).
        interpolation: how images are resized for it (``"bilinear"``, ``"bicubic"``).
    """

    family: str = ""
    layer: str = ""
    channels: int = 3
    input_size: tuple[int, int] = (227, 227)
    pixel_mean: tuple[float, ...] = IMAGENET_MEAN_255
    stride: int = 1
    preset: Preset = Preset()
    interpolation: str = "bilinear"

    def use_presets(self, spec: "LayerSpec") -> "Representation":
        """Take the presets of a family's layer spec (every method's and the default); returns self."""
        self.preset, self.presets, self.default_preset = spec.preset, dict(spec.presets), spec.default
        return self

    @property
    def presets(self) -> dict[str, Preset]:
        """Every method's preset, by method (see :class:`LayerSpec`)."""
        return self.__dict__.get("_presets") or dict(LayerSpec("", self.stride, self.preset).presets)

    @presets.setter
    def presets(self, value: dict[str, Preset]) -> None:
        self.__dict__["_presets"] = value

    @property
    def default_preset(self) -> Preset:
        """The preset used when no method is asked for."""
        return self.__dict__.get("_default_preset") or self.presets["cvpr"]

    @default_preset.setter
    def default_preset(self, value: Preset) -> None:
        self.__dict__["_default_preset"] = value

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

    @property
    def device(self) -> torch.device:
        """Where the representation's weights live (the default device if it has none)."""
        for tensor in itertools.chain(self.parameters(), self.buffers()):
            return tensor.device
        from ..devices import default_device

        return default_device()

    def code_shape(self, size: tuple[int, int] | None = None) -> tuple[int, ...]:
        """The code's shape without batch for an input of ``size = (H, W)`` pixels
        (default :attr:`input_size`): ``(C, H', W')`` or ``(D,)``.

        Computed once per size by running :meth:`forward` on the ``meta`` device (no
        arithmetic, no memory); subclasses that know it analytically override
        :meth:`_code_shape`.

        Raises:
            SettingError: the representation cannot take an input of this size.
        """
        size = tuple(int(s) for s in (size or self.input_size))
        shapes = self.__dict__.setdefault("_code_shapes", {})
        if size not in shapes:
            try:
                shapes[size] = tuple(self._code_shape(size))
            except (RuntimeError, ValueError) as err:
                raise SettingError(f"image_size {size[0]}×{size[1]} does not fit {self.name}: {first_line(err)}") from None
        return shapes[size]

    def code_grid(self, size: tuple[int, int] | None = None) -> tuple[int, int] | None:
        """The spatial grid ``(H', W')`` of the code's units for an input of ``size``, or
        ``None`` for a code without space (a vector). Default: the last two axes of a
        ``(C, H', W')`` code."""
        shape = self.code_shape(size)
        return (shape[1], shape[2]) if len(shape) == 3 else None

    def leaky(self, slope: float) -> "Representation":
        """A copy whose ReLUs leak (``max(x, slope·x)``), as the IJCV code runs activation
        maximisation (a unit that starts dead gets a gradient); ``self`` when it has none.
        The copy is a deep one: the representation itself is left as it is (it may be serving
        other runs)."""
        if not any(isinstance(m, nn.ReLU) for m in self.modules()):
            return self
        copy = deepcopy(self)
        for module in list(copy.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, nn.ReLU):
                    setattr(module, name, nn.LeakyReLU(slope))
        return copy

    def unit_selector(self, channel: int, position: tuple[int, int] | None = None,
                      size: tuple[int, int] | None = None) -> torch.Tensor:  # fmt: skip
        """The one-hot ``[1, *code_shape]`` of one unit of the code for an input of ``size``:
        element ``channel`` of a vector code; the unit at ``position = (row, column)`` of
        channel ``channel`` of a map (default its central unit, the CVPR code's centring).

        Raises:
            SettingError: the unit is outside the code (the message names the valid range).
        """
        shape = self.code_shape(size)
        if not 0 <= channel < shape[0]:
            kind = "classes" if len(shape) == 1 else "channels"
            raise SettingError(f"target {channel} is outside {self.name}'s code: its {kind} are 0…{shape[0] - 1}")
        selector = torch.zeros((1, *shape))
        if len(shape) == 1:
            if position is not None:
                raise SettingError(f"{self.name}'s code is a vector: its target is a class N, with no position")
            selector[0, channel] = 1.0
            return selector
        grid = shape[1:]
        y, x = position if position is not None else ((grid[0] + 1) // 2 - 1, (grid[1] + 1) // 2 - 1)
        if not (0 <= y < grid[0] and 0 <= x < grid[1]):
            raise SettingError(f"target position {y},{x} is outside {self.name}'s {grid[0]}×{grid[1]} grid of units")
        selector[0, channel, y, x] = 1.0
        return selector

    def mask_tensor(self, mask: CodeMask, size: tuple[int, int] | None = None,
                    device: torch.device | str | None = None) -> torch.Tensor:  # fmt: skip
        """The 0/1 mask ``[1, *code_shape]`` that ``mask`` selects of the code for an input of ``size``.

        Raises:
            SettingError: the mask does not fit this code (a channel range outside it, or a
                token selection on a code without tokens).
        """
        if mask.tokens is not None:
            raise SettingError(f"mask tokens={mask.tokens!r} needs a transformer's token code; {self.name} has none")
        return mask.tensor(self.code_shape(size), device)

    def _code_shape(self, size: tuple[int, int]) -> tuple[int, ...]:
        meta = {name: torch.empty_like(t, device="meta")
                for name, t in itertools.chain(self.named_parameters(), self.named_buffers())}  # fmt: skip
        pixels = torch.empty((1, self.channels, *size), device="meta")
        try:
            with torch.no_grad():
                code = torch.func.functional_call(self, meta, (pixels,))
        except NotImplementedError:  # an operation without a meta kernel: one real pass on zeros
            with torch.no_grad():
                code = self(torch.zeros((1, self.channels, *size), device=self.device))
        return tuple(code.shape[1:])

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

        array = prepare_image(image, size or self.input_size, grey=self.channels == 1, interpolation=self.interpolation)
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None].float() * 255.0
        return tensor - self.mean_tensor()


class Builder(Protocol):
    """How a family builds one layer: ``build(layer, weights)``.

    Args:
        layer: one of the family's layer names.
        weights: the concrete source (:class:`inverter.weights.HubFile`, ``LocalFile`` or
            ``RandomInit``) for families with learned weights, ``None`` for the others.
    """

    def __call__(self, layer: str, weights: WeightsSpec | None) -> Representation: ...


@dataclass(frozen=True)
class Family:
    """A registry entry: one representation family, its layers and where its weights come from.

    Attributes:
        name: registry name (``"alexnet"``).
        layers: the invertible layers, shallow to deep.
        build: see :class:`Builder`.
        description: one line for listings.
        default_layer: the layer used when none is named (default: the deepest).
        input_size: ``(H, W)`` its layers resize images to by default, pixels.
        weights: the default weights (a Hub file); ``None`` = no learned weights.
        key_map: how its weight files name tensors, mapped onto the model's names.
        extra: anything a family module keeps for itself.
    """

    name: str
    layers: tuple[LayerSpec, ...]
    build: Builder
    description: str = ""
    default_layer: str = ""
    input_size: tuple[int, int] = (227, 227)
    weights: HubFile | None = None
    key_map: KeyMap = KeyMap()
    extra: dict = field(default_factory=dict)

    @property
    def needs_weights(self) -> bool:
        """Whether building a layer loads learned weights."""
        return self.weights is not None

    def layer(self, name: str | None) -> LayerSpec:
        """The spec of layer ``name`` (default layer when ``None``).

        Raises:
            UnknownNameError: no such layer (the message lists the known ones).
        """
        name = name or self.default_layer or self.layers[-1].name
        for spec in self.layers:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.layers)
        raise UnknownNameError(f"unknown layer {name!r} of {self.name!r}; known layers: {known}")
