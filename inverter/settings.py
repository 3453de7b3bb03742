"""Every inversion setting, described once; every front end is derived from this module.

:class:`InversionConfig` is the schema: each of its fields is one setting, declared with
:func:`setting` together with everything a front end needs — its kind of value (and so
its validation, its text syntax and its JSON form), unit, help text, whether the layer's
preset supplies its default, its command-line flag and metavar, and the app's widget,
range and default. From these declarations come:

* :func:`resolve_settings`: the validated, fully resolved :class:`Settings` of a run;
* the command line's options (:mod:`inverter.cli.options`);
* the app's controls, its validation and its ``/invert`` parameters (:mod:`inverter.ui.form`);
* the report's ``config`` (:func:`config_to_dict`, :func:`config_from_dict`, :func:`pinned_config`);
* the preset display (:func:`preset_values`).

Adding a setting means adding one field here and the code that uses it (the engine).
A new kind of value (a range, a size) is a new :class:`Kind`.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, ClassVar

from .errors import SettingError
from .masks import TOKEN_CHOICES, CodeMask
from .objectives import OBJECTIVES
from .parameterisation import PARAMETERISATIONS

#: The optimisation methods: the CVPR 2015 paper's and its IJCV 2016 sequel's; ``"fast"``, where a
#: family offers it (HOG, HOGb, DSIFT, SqueezeNet), a measured shorter preset. A method names a
#: preset; the step rule is that preset's own (:attr:`inverter.representations.base.Preset.method`).
METHODS = ("cvpr", "ijcv", "fast")
DISPLAY_MODES = ("minmax", "clip")
INIT_MODES = ("gaussian", "uniform", "image")
#: Arithmetic of Φ: ``float32``, or ``bfloat16`` under :func:`torch.autocast`.
PRECISIONS = ("float32", "bfloat16")
#: Smallest pre-image side, pixels.
MIN_SIDE = 8


def auto_jitter(stride: int) -> int:
    """IJCV's jitter amount for a receptive-field stride (pixels): ``max(round(stride/4), 1)``."""
    return max(int(round(stride / 4)), 1)


# ------------------------------------------------------------------------------ kinds of value
def _bounds_text(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None and not (low_open or high_open):
        return f"between {low:g} and {high:g}"
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '≥'} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '≤'} {high:g}")
    return " and ".join(parts)


@dataclass(frozen=True)
class Kind:
    """What values a setting takes: how they are checked, read from text and written to JSON.

    ``coerce`` turns any front end's raw value (Python, JSON, a form field) into the
    config's canonical value or raises :class:`SettingError` naming the setting;
    ``resolve`` turns that into the value the run uses, given the representation.
    """

    python_type: ClassVar[type] = object

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> Any:
        """``value`` checked and in canonical form (``bounds``: narrower limits of a front end)."""
        return value

    def parse_text(self, text: str, name: str) -> Any:
        """A command-line word → value (syntax, and what can never be valid)."""
        return self.coerce(text, name)

    def to_json(self, value: Any) -> Any:
        """Canonical (or resolved) value → JSON-ready value."""
        return list(value) if isinstance(value, tuple) else value

    def resolve(self, value: Any, context: "Context") -> Any:
        """The value a run uses, given the representation (``context``)."""
        return value

    def describe(self) -> str:
        """The accepted values, for help texts."""
        return ""


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise SettingError(f"{name} is missing or not a number (got {value!r})")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a number, got {value!r}") from None


@dataclass(frozen=True)
class Integer(Kind):
    """A whole number in ``[low, high]`` (either bound optional)."""

    low: int | None = None
    high: int | None = None
    python_type: ClassVar[type] = int

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> int:
        number = _number(value, name)
        if not math.isfinite(number) or number != int(number):
            raise SettingError(f"{name} must be a whole number, got {value!r}")
        low, high = bounds or (self.low, self.high)
        if (low is not None and number < low) or (high is not None and number > high):
            raise SettingError(f"{name} must be {_bounds_text(low, high)}, got {number:g}")
        return int(number)

    def describe(self) -> str:
        return f"a whole number {_bounds_text(self.low, self.high)}".rstrip()


@dataclass(frozen=True)
class Number(Kind):
    """A finite real number; ``low_open``/``high_open`` exclude the bound itself.

    On the command line only the syntax is checked when the word is read: the range is
    checked with the other settings, once the layer's preset is merged in.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    python_type: ClassVar[type] = float

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> float:
        number = _number(value, name)
        low, high = bounds or (self.low, self.high)
        low_open, high_open = (False, False) if bounds else (self.low_open, self.high_open)
        bad = not math.isfinite(number) or (
            low is not None and (number <= low if low_open else number < low)
        ) or (high is not None and (number >= high if high_open else number > high))
        if bad:
            raise SettingError(f"{name} must be a finite number {_bounds_text(low, high, low_open, high_open)}, "
                               f"got {number:g}")  # fmt: skip
        return number

    def parse_text(self, text: str, name: str) -> float:
        return _number(text, name)

    def describe(self) -> str:
        return f"a number {_bounds_text(self.low, self.high, self.low_open, self.high_open)}".rstrip()


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few words."""

    options: tuple[str, ...] = ()
    python_type: ClassVar[type] = str

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> str:
        if value not in self.options:
            raise SettingError(f"{name} must be one of {', '.join(self.options)}; got {value!r}")
        return str(value)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)


@dataclass(frozen=True)
class Precision(Choice):
    """The arithmetic of Φ; bfloat16 needs a device with bfloat16 arithmetic."""

    def resolve(self, value: str, context: "Context") -> str:
        import torch

        device = context.values["device"]
        if value == "bfloat16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
            raise SettingError("this GPU has no bfloat16 arithmetic; use precision='float32'")
        return value


@dataclass(frozen=True)
class Objective(Choice):
    """What the data term asks of the code (:data:`inverter.objectives.OBJECTIVES`); it adapts the preset."""

    def adjust_preset(self, preset: Any, value: str | None) -> Any:
        """The preset for this objective: see :meth:`inverter.representations.Preset.for_objective`."""
        return preset.for_objective(value or self.options[0])


@dataclass(frozen=True)
class Target(Kind):
    """The unit that activation maximisation raises: ``"N"`` (class N of a vector code, or the
    central unit of channel N of a map) or ``"N@Y,X"`` (the unit at row Y, column X of channel N)."""

    python_type: ClassVar[type] = str

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        channel, position = self.parse(value, name)
        return str(channel) if position is None else f"{channel}@{position[0]},{position[1]}"

    @staticmethod
    def parse(value: Any, name: str = "target") -> tuple[int, tuple[int, int] | None]:
        """``"N"`` → ``(N, None)``, ``"N@Y,X"`` → ``(N, (Y, X))``."""
        text = str(value).strip()
        head, at, tail = text.partition("@")
        try:
            channel = int(head)
            position = tuple(int(v) for v in tail.split(",")) if at else None
        except ValueError:
            channel, position = -1, ()
        if channel < 0 or (position is not None and (len(position) != 2 or min(position) < 0)):
            raise SettingError(f"{name} must be N (a class or channel) or N@Y,X (a unit of channel N), "
                               f"whole numbers ≥ 0; got {value!r}")  # fmt: skip
        return channel, position  # type: ignore[return-value]

    def resolve(self, value: str | None, context: "Context") -> str | None:
        if context.values.get("objective") != "activation":
            return None  # only activation maximisation has a target
        if value is None:
            raise SettingError("objective 'activation' needs a target: a class index (for a vector code such as "
                               "logits) or a channel, N or N@Y,X")  # fmt: skip
        context.representation.unit_selector(*self.parse(value), context.values["image_size"])  # checks it fits
        return value

    def describe(self) -> str:
        return "N (a class or the central unit of channel N) or N@Y,X"


@dataclass(frozen=True)
class Jitter(Kind):
    """``J ≥ 1`` pixels (1 = off), or ``"auto"`` for IJCV's rule from the layer's stride."""

    python_type: ClassVar[type] = int

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> int | str:
        if value == "auto":
            return "auto"
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            raise SettingError(f"{name} must be an integer ≥ 1 or 'auto', got {value!r}")
        try:
            return Integer(1).coerce(value, name, bounds)
        except SettingError:
            raise SettingError(f"{name} must be an integer ≥ 1 or 'auto', got {value!r}") from None

    def resolve(self, value: int | str, context: "Context") -> int:
        return auto_jitter(context.representation.stride) if value == "auto" else int(value)

    def describe(self) -> str:
        return "pixels ≥ 1 (1 = off) or 'auto' = max(round(stride/4), 1)"


@dataclass(frozen=True)
class Size(Kind):
    """``(H, W)`` in pixels, each ≥ :data:`MIN_SIDE`; ``None`` = the representation's input size.

    Text: ``SIDE`` or ``HxW``; JSON: ``[H, W]`` (a single number is a square).
    """

    python_type: ClassVar[type] = int

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> tuple[int, int] | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = value.lower().replace("×", "x").split("x")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (value, value)
        try:
            sides = [Integer().coerce(v, name) for v in value]
        except (TypeError, SettingError):
            sides = []
        if len(sides) == 1:
            sides *= 2
        low, high = bounds or (MIN_SIDE, None)
        if len(sides) != 2 or min(sides) < low or (high is not None and max(sides) > high):
            raise SettingError(f"{name} must be SIDE or HxW (H, W) with both sides {_bounds_text(low, high)} "
                               f"pixels, got {value!r}")  # fmt: skip
        return sides[0], sides[1]

    def resolve(self, value: tuple[int, int] | None, context: "Context") -> tuple[int, int]:
        size = tuple(value or context.representation.input_size)
        context.representation.code_shape(size)  # a representation too small for its input says so here
        return size  # type: ignore[return-value]

    def describe(self) -> str:
        return f"SIDE or HxW pixels, each ≥ {MIN_SIDE}"


@dataclass(frozen=True)
class Mask(Kind):
    """A :class:`CodeMask` (a channel range and/or a central N×N neighbourhood); ``None`` = all units.

    JSON: ``{"channels": [start, stop] | null, "neighbourhood": N | null}``. On the
    command line it is two options, one per :attr:`parts` entry.
    """

    #: ``(attribute of CodeMask, command-line flag, metavar, help)``
    parts: ClassVar[tuple[tuple[str, str, str, str], ...]] = (
        ("channels", "--channels", "START:STOP", "invert from this channel range only (stop exclusive)"),
        ("neighbourhood", "--neighbourhood", "N", "invert from the central N×N units only (of the patch grid, "
                                                   "for a transformer)"),
        ("tokens", "--tokens", "cls|patch", "transformer layers: invert from the class tokens or the patch tokens only"),
    )

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> CodeMask | None:
        if value is None or isinstance(value, CodeMask):
            return None if value is None or value.is_full else value
        if not isinstance(value, Mapping) or set(value) - {part for part, *_ in self.parts}:
            raise SettingError(f"{name} must be {{'channels': [START, STOP] | null, 'neighbourhood': N | null, "
                               f"'tokens': 'cls' | 'patch' | null}}, got {value!r}")  # fmt: skip
        channels, size = value.get("channels"), value.get("neighbourhood")
        try:
            return self.coerce(CodeMask(
                channels=None if channels is None else tuple(Integer(0).coerce(c, f"{name} channel") for c in channels),
                neighbourhood=None if size is None else Integer(1).coerce(size, f"{name} neighbourhood"),
                tokens=value.get("tokens"),
            ), name)  # fmt: skip
        except TypeError:
            raise SettingError(f"{name}: channels must be [START, STOP], got {channels!r}") from None

    def parse_part(self, part: str, text: str) -> Any:
        """One command-line part: ``START:STOP`` (channels), ``N`` (neighbourhood), ``cls|patch`` (tokens)."""
        if part == "neighbourhood":
            return Integer(1).parse_text(text, "neighbourhood")
        if part == "tokens":
            return Choice(tuple(t for t in TOKEN_CHOICES if t)).coerce(text, "tokens")
        start, sep, stop = text.partition(":")
        try:
            values = (int(start), int(stop)) if sep else None
        except ValueError:
            values = None
        if values is None or values[0] < 0 or values[1] <= values[0]:
            raise SettingError(f"expected START:STOP with 0 ≤ START < STOP, got {text!r}")
        return values

    def with_parts(self, old: CodeMask | None, **parts: Any) -> CodeMask | None:
        """``old`` with the parts given (not ``None``) replaced."""
        old = old or CodeMask()
        merged = {name: parts[name] if parts.get(name) is not None else getattr(old, name) for name, *_ in self.parts}
        return self.coerce(CodeMask(**merged), "the mask")

    def to_json(self, value: Any) -> Any:
        if value is None:
            return None
        data = dataclasses.asdict(value) if isinstance(value, CodeMask) else dict(value)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    def resolve(self, value: CodeMask | None, context: "Context") -> dict | None:
        if value is None:
            return None
        context.representation.mask_tensor(value, context.values["image_size"])  # the representation checks it
        return dataclasses.asdict(value)

    def describe(self) -> str:
        return "a channel range START:STOP, a central N×N neighbourhood and/or the tokens of a transformer"


@dataclass(frozen=True)
class Device(Kind):
    """``cpu``, ``cuda``, ``cuda:1`` or ``auto``; ``None`` = where the representation is."""

    python_type: ClassVar[type] = str

    def coerce(self, value: Any, name: str, bounds: tuple[float, float] | None = None) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise SettingError(f"{name} must be a device name such as 'cpu' or 'cuda', got {value!r}")
        return value

    def resolve(self, value: str | None, context: "Context") -> str:
        from .devices import resolve_device

        return str(resolve_device(value) if value else context.representation.device)


# ------------------------------------------------------------------------------ the schema
_INHERIT = object()  # Setting.app_default: the same as Setting.default

@dataclass(frozen=True)
class Setting:
    """One inversion setting, as every front end needs it.

    Attributes:
        name: the config field (filled in from :class:`InversionConfig`).
        kind: its kind of value (validation, text syntax, JSON form).
        help: one line for help texts and API docs.
        unit: what the number is measured in (``"steps"``, ``"pixels"``), ``""`` if none.
        preset: ``None`` means "the layer's preset" (the preset has a field of this name).
        default: the value when not given (preset settings: ``None``).
        group: heading under which front ends list it.
        flag: command-line flag (default ``--`` + the name with dashes).
        metavar: command-line placeholder.
        label: the app's label.
        widget: the app's control: ``"slider"``, ``"number"``, ``"radio"``, ``"side"`` (a
            square's side, 0 = the representation's size), ``"pixels_auto"`` (0 = ``"auto"``),
            ``"mask_group"`` (a channel group or range and a neighbourhood), ``"unit_picker"``
            (a unit or class, offered by name where the layer has ImageNet's classes), or
            ``None`` when the app does not offer it.
        app_range: the app's accepted range (also its control's); ``None`` = the kind's.
        app_default: the app's default, where it differs from :attr:`default`.
        api_default: the default of the app's API and MCP callers, where it differs from
            :attr:`app_default` (a client downloads every streamed update, a browser does not).
        advanced: listed under "Advanced" in the app.
        pinned: a report records the resolved value (else the value asked for).
        selects_preset: its value names the preset that the other preset settings are read
            from (the method); ``None`` = the layer's default preset.
    """

    kind: Kind
    help: str
    unit: str = ""
    preset: bool = False
    default: Any = None
    group: str = "optimisation"
    flag: str = ""
    metavar: str | None = None
    label: str = ""
    widget: str | None = "number"
    app_range: tuple[float, float] | None = None
    app_default: Any = _INHERIT
    api_default: Any = _INHERIT
    advanced: bool = False
    pinned: bool = True
    selects_preset: bool = False
    name: str = ""

    @property
    def cli_flag(self) -> str:
        """The command-line flag, ``--lambda-tv`` for ``lambda_tv``."""
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def initial(self) -> Any:
        """The app's default value (``None`` = the preset)."""
        return self.default if self.app_default is _INHERIT else self.app_default

    @property
    def api_initial(self) -> Any:
        """The default of the app's API callers (``None`` = the preset)."""
        return self.initial if self.api_default is _INHERIT else self.api_default

    @property
    def doc(self) -> str:
        """Help with unit, accepted values and default, for API docs."""
        text = self.help + (f" ({self.unit})" if self.unit else "")
        accepted = self.kind.describe()
        default = "the layer's preset" if self.preset else repr(self.initial)
        return f"{text}; {accepted + '; ' if accepted else ''}default {default}"

    def coerce(self, value: Any, *, app: bool = False) -> Any:
        """``value`` validated (with the app's narrower range when ``app``); ``None`` passes for preset settings."""
        if value is None and (self.preset or self.default is None):
            return None
        return self.kind.coerce(value, self.name, self.app_range if app else None)


def setting(kind: Kind, help: str, **options: Any) -> Any:
    """A dataclass field of :class:`InversionConfig` that declares one :class:`Setting`."""
    declared = Setting(kind, help, **options)
    return field(default=declared.default, metadata={"setting": declared})


@dataclass(frozen=True)
class InversionConfig:
    """Settings of one inversion; ``None`` means "the layer's preset" (see :data:`SETTINGS`)."""

    iterations: int | None = setting(
        Integer(0), "total steps; the preset's schedule is stretched to it", unit="steps", preset=True,
        metavar="N", label="Iterations", widget="slider", app_range=(1, 2000))
    lambda_tv: float | None = setting(
        Number(0), "λ_TV, weight of the total-variation prior (CVPR units: 0.5 / 5 / 50 by depth)", preset=True,
        group="regularisers", metavar="λ", label="λ_TV")
    tv_beta: float | None = setting(
        Number(0, low_open=True), "β, exponent of the total variation (paper: 1 or 2)", preset=True,
        group="regularisers", metavar="β", label="β (TV exponent)", app_range=(0.5, 4))
    alpha: float | None = setting(
        Number(0, low_open=True), "α, exponent of the α-norm prior (paper: 6)", preset=True,
        group="regularisers", metavar="α", label="α (norm exponent)", app_range=(1, 20))
    lambda_alpha: float | None = setting(
        Number(0), "λ_α, weight of the α-norm prior (CVPR units: 2.16e8)", preset=True,
        group="regularisers", metavar="λ", label="λ_α", app_range=(0, 1e15))
    data_weight: float | None = setting(
        Number(0), "C, weight of the normalised data term", preset=True, metavar="C", label="C (data weight)",
        app_range=(0, 1e9))
    learning_rate: float | None = setting(
        Number(0), "η, base rate of the step schedule (the CVPR step: x/σ units, the paper's 0.004; the IJCV "
        "adaptive step: about 53)", preset=True, metavar="η", label="Learning rate η", app_range=(0, 1e4))
    jitter: int | str | None = setting(
        Jitter(), "random shift of up to J−1 pixels per step (IJCV); the last of several phases runs without",
        unit="pixels", preset=True, metavar="J|auto", label="Jitter (px; 1 = off, 0 = auto)", widget="pixels_auto",
        app_range=(0, 64))
    restarts: int = setting(
        Integer(1), "random starts optimised together as one batch; the best is the result", default=1,
        metavar="K", label="Restarts", widget="slider", app_range=(1, 8))
    seed: int = setting(
        Integer(0), "seed of the initial noise and the jitter offsets", default=0, metavar="S", label="Seed",
        app_range=(0, 2**31 - 1))
    momentum: float | None = setting(
        Number(0, 1, high_open=True), "μ of the heavy-ball update", preset=True, metavar="μ", label="Momentum",
        advanced=True, app_range=(0, 0.999))
    clip: float | None = setting(
        Number(0), "clip each pixel's colour vector to this norm after every step (IJCV: B+ = 160); 0 = off",
        unit="pixel units, 0–255 scale", preset=True, metavar="B+", label="Pixel clip (0–255 units, 0 = off)",
        advanced=True, app_range=(0, 1e4))
    init: str | None = setting(
        Choice(INIT_MODES), "the start: noise, 'gaussian' (CVPR, rescaled to norm σ) or 'uniform' (IJCV, its 95% "
        "quantile at B/√3), or the 'image' itself (caricatures)", preset=True, label="Start from", widget="radio",
        advanced=True)
    display: str = setting(
        Choice(DISPLAY_MODES), "display mapping: 'minmax' (the paper: add the mean, stretch to [0, 1]) or 'clip'",
        default="minmax", group="output", label="Display", widget="radio", advanced=True)
    snapshot_every: int = setting(
        Integer(1), "yield a snapshot (a progress update) every this many steps, and at the end", unit="steps",
        default=25, group="output", metavar="N", label="Update every N steps", widget="slider",
        app_range=(1, 200), app_default=10, api_default=100, advanced=True)
    image_size: tuple[int, int] | None = setting(
        Size(), "size of the pre-image; default the representation's input size (227 for AlexNet)",
        unit="pixels", group="output", flag="--size", metavar="SIDE|HxW",
        label="Image side, px (0 = the representation's)", widget="side", app_range=(16, 512), advanced=True)
    mask: CodeMask | None = setting(
        Mask(), "which code units the data term sees: a channel range and/or the central N×N units",
        group="code mask", label="Mask: invert from part of the code", widget="mask_group")
    device: str | None = setting(
        Device(), "where the inversion runs: cpu, cuda, cuda:1 or auto; default where the representation is",
        group="device", metavar="DEVICE", widget=None, pinned=False)
    precision: str = setting(
        Precision(PRECISIONS), "arithmetic of the representation Φ; bfloat16 is faster on GPUs and AMX CPUs",
        default="float32", group="device", label="Arithmetic of Φ (bfloat16: faster on GPUs and AMX CPUs)",
        widget="radio", advanced=True)
    method: str | None = setting(
        Choice(METHODS), "the optimisation: 'cvpr' (CVPR 2015: heavy-ball momentum, its schedule and presets) or "
        "'ijcv' (IJCV 2016: adaptive step, B = 80 normalisation, jitter, C by depth) or 'fast' (HOG, HOGb, DSIFT, "
        "SqueezeNet: 200 steps, soonest to a low error); its preset fills the settings left out", preset=True,
        selects_preset=True, label="Method", widget="radio")
    objective: str = setting(
        Objective(OBJECTIVES), "what the pre-image is asked to do: 'invert' (reproduce the image's code), 'activation' "
        "(raise one unit or class: see target), 'caricature' (exaggerate what the layer sees in the image, starting "
        "from it) — the IJCV 2016 paper's three visualisations", default="invert", label="Objective", widget="radio")
    target: str | None = setting(
        Target(), "activation maximisation's unit: N = class N of a vector code (logits) or the central unit of "
        "channel N, N@Y,X = the unit at row Y, column X of channel N", metavar="N|N@Y,X", label="Target (class or "
        "channel)", widget="unit_picker")
    parameterisation: str | None = setting(
        Choice(PARAMETERISATIONS), "what the step is taken on: 'pixels' (the papers) or 'fourier' (decorrelated "
        "Fourier coefficients, as in Olah et al. 2017; the regularisers stay on the image)", preset=True,
        label="Parameterisation", widget="radio", advanced=True)
    # the later settings, last so that the /invert endpoint's earlier parameters keep their positions
    step_boost: float | None = setting(
        Number(0, low_open=True), "the first step's multiplier, falling linearly to 1 over its share of the first "
        "phase (1 = the papers' steps; the IJCV step's size does not follow η)", preset=True, metavar="S",
        label="Step boost (first phase)", advanced=True, app_range=(0.1, 20))
    init_scale: float | None = setting(
        Number(0, low_open=True), "the initial noise's size, as a multiple of the papers' (not 0: a flat start can "
        "be a stationary point of a ReLU network)", preset=True, metavar="S", label="Initial noise (× the papers')",
        advanced=True, app_range=(0.001, 10))
    spectrum_decay: float | None = setting(
        Number(0), "γ of the Fourier parameterisation's frequency scale 1/f^γ (1 = Olah et al.'s; larger favours "
        "the low frequencies, a smoother pre-image; ignored on pixels)", preset=True, metavar="γ",
        label="Fourier spectrum decay γ", advanced=True, app_range=(0, 3))
    step_boost_share: float | None = setting(
        Number(0, 1, low_open=True), "the share of the first phase over which the step boost falls to 1 (1 = all "
        "of it; smaller: the large steps lay out the image, the later ones at the plain size refine it sooner)",
        preset=True, metavar="F", label="Step boost's share of the first phase", advanced=True, app_range=(0.05, 1))

    def replace(self, **changes: Any) -> "InversionConfig":
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


#: The schema: every setting, in the order front ends list them.
SETTINGS: tuple[Setting, ...] = tuple(
    dataclasses.replace(f.metadata["setting"], name=f.name) for f in fields(InversionConfig)
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
#: The settings the app's Experiments tab offers (shared by every panel), in its order, with its defaults.
EXPERIMENT_TAB: dict[str, Any] = {"iterations": 100, "image_size": 96, "seed": 0, "method": None}
InversionConfig.__doc__ += "\n\nAttributes:\n" + "\n".join(f"    {s.name}: {s.doc}." for s in SETTINGS)


# ------------------------------------------------------------------------------ resolution
@dataclass
class Context:
    """What resolution may ask of the run: the representation and the values resolved so far."""

    representation: Any
    values: dict[str, Any]


def _settings_fields() -> list[tuple[str, Any, Any]]:
    resolved = {Jitter: int, Size: tuple[int, int], Mask: "dict | None", Device: str}
    return ([("representation", str)]
            + [(s.name, resolved.get(type(s.kind), s.kind.python_type)) for s in SETTINGS]
            + [("phases", tuple[tuple[float, int], ...]), ("sigma", float),
               ("preset", str, field(compare=False))])  # a label: equal settings make the same run  # fmt: skip


def _settings_to_dict(self: Any) -> dict[str, Any]:
    """JSON-ready dictionary."""
    data = {"representation": self.representation}
    data.update({s.name: BY_NAME[s.name].kind.to_json(getattr(self, s.name)) for s in SETTINGS})
    data["phases"] = [list(p) for p in self.phases]
    data["sigma"] = self.sigma
    data["preset"] = self.preset
    return data


#: The fully resolved settings a run uses (no ``None``): every setting of :data:`SETTINGS`
#: plus ``representation`` (its name), ``phases`` (the step schedule, ``(rate multiplier,
#: steps)`` pairs), ``sigma`` (the image-norm scale σ, pixel units) and ``preset`` (the name of
#: the preset the run started from, ``"default: …"`` where no method was asked for).
Settings = make_dataclass("Settings", _settings_fields(), frozen=True, namespace={"to_dict": _settings_to_dict})
Settings.__module__ = __name__
Settings.__doc__ = ("The fully resolved hyper-parameters an inversion runs with (no ``None``).\n\nAttributes:\n"
                    + "\n".join(f"    {s.name}: {s.help}." for s in SETTINGS)
                    + "\n    phases: the step schedule, (rate multiplier, steps) pairs."
                    + "\n    sigma: the image-norm scale σ, pixel units."
                    + "\n    preset: the name of the preset the run started from (``\"default: …\"``: no method asked for).")  # fmt: skip


def asked_preset(config: InversionConfig) -> str | None:
    """The preset ``config`` names (the value of the setting that selects presets, the method), or
    ``None`` for the layer's default."""
    return next((getattr(config, s.name) for s in SETTINGS if s.selects_preset), None)


def chosen_preset(name: str, presets: Mapping[str, Any], default: Any, config: InversionConfig) -> Any:
    """The preset a run's other preset settings are read from: the one the method (the setting
    that selects presets) names, else the layer's ``default``, adapted to the objective.

    Raises:
        SettingError: the layer ``name`` has no preset of that name.
    """
    chosen = asked_preset(config)
    if chosen is not None and chosen not in presets:
        raise SettingError(f"{name} has no {chosen!r} preset; it has {', '.join(presets)}")
    preset = presets[chosen] if chosen is not None else default
    for s in SETTINGS:  # the objective adapts it (caricatures start from the image, …)
        if hasattr(s.kind, "adjust_preset"):
            preset = s.kind.adjust_preset(preset, s.kind.coerce(getattr(config, s.name) or s.default, s.name))
    return preset


def resolve_settings(representation: Any, config: InversionConfig) -> Any:
    """Merge ``config`` over the representation's preset, validating every value.

    Args:
        representation: a :class:`inverter.representations.Representation`.
        config: the settings asked for (``None`` = the preset).

    Returns:
        :class:`Settings`.

    Raises:
        SettingError: an out-of-range setting (the message names it).
    """
    from .objectives import image_sigma
    from .schedule import scale_phases

    preset = chosen_preset(representation.name, representation.presets, representation.default_preset, config)
    context = Context(representation, {})
    for s in SETTINGS:
        value = getattr(config, s.name)
        if (value is None and s.preset) or s.selects_preset:
            value = getattr(preset, s.name)  # the method resolves to the chosen preset's step rule
        value = s.kind.coerce(value, s.name) if value is not None or s.default is not None else None
        context.values[s.name] = s.kind.resolve(value, context)
    values = context.values
    return Settings(
        representation=representation.name,
        phases=scale_phases(preset.phases, values["iterations"]),
        sigma=image_sigma(representation.channels, *values["image_size"]),
        preset=preset.name if asked_preset(config) is not None else f"default: {preset.name}",
        **values,
    )


#: Resolved fields derived from a setting: they differ whenever it does.
DERIVED = {"phases": "iterations", "sigma": "image_size"}
#: Resolved fields that describe a run without setting anything (a re-run from pinned settings
#: names the method's preset, not the default it came from).
DESCRIPTIVE = {"preset"}


def settings_differ(recorded: Mapping[str, Any], resolved: Any, overridden: set[str]) -> list[str]:
    """The resolved settings (:meth:`Settings.to_dict`) that differ from a report's ``recorded``
    ones, leaving out those ``overridden`` on purpose, what derives from them, and the
    settings a report does not pin (the device)."""
    skip = overridden | {d for d, source in DERIVED.items() if source in overridden}
    skip |= {s.name for s in SETTINGS if not s.pinned} | DESCRIPTIVE
    return sorted(k for k, v in resolved.to_dict().items() if k not in skip and recorded.get(k) != v)


def pinned_config(settings: Any, device: str | None = None) -> InversionConfig:
    """The config that resolves to ``settings`` again, independent of presets.

    Args:
        settings: resolved settings of a run.
        device: the device as *requested* (``None`` = automatic), so that a re-run on
            another machine need not have the same accelerator.
    """
    return InversionConfig(**{
        s.name: s.kind.coerce(s.kind.to_json(getattr(settings, s.name)), s.name) if s.pinned else device
        for s in SETTINGS
    })  # fmt: skip


def config_to_dict(config: InversionConfig) -> dict[str, Any]:
    """An :class:`InversionConfig` as a JSON-ready dictionary (``None`` kept as null)."""
    return {s.name: s.kind.to_json(getattr(config, s.name)) for s in SETTINGS}


def config_from_dict(data: Mapping[str, Any], *, exclude: Sequence[str] = ()) -> InversionConfig:
    """Inverse of :func:`config_to_dict`; absent keys take :class:`InversionConfig`'s defaults.

    Args:
        exclude: settings the document may not set (an experiment sets the mask itself).

    Raises:
        SettingError: an unknown key or a malformed value (the message names it).
    """
    if not isinstance(data, Mapping):
        raise SettingError("'config' must be a JSON object")
    unknown = sorted(set(data) - set(BY_NAME) | (set(data) & set(exclude)))
    if unknown:
        known = ", ".join(name for name in BY_NAME if name not in exclude)
        raise SettingError(f"unknown config keys: {', '.join(unknown)}; known: {known}")
    return InversionConfig(**{name: BY_NAME[name].coerce(value) for name, value in data.items()})


def preset_values(preset: Any, stride: int) -> dict[str, Any]:
    """A layer's preset as setting values: ``{name: value}`` of every preset setting,
    ``"auto"`` jitter resolved for the layer's ``stride`` (pixels)."""
    out = {}
    for s in SETTINGS:
        if s.preset:
            value = getattr(preset, s.name)
            out[s.name] = auto_jitter(stride) if value == "auto" else value
    return out

