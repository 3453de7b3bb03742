"""The experiments of the paper, each a *plan*: the list of inversions (jobs) it runs.

A planner turns a spec's layers and parameters into :class:`Job` s; the runner
(:mod:`inverter.experiments.runner`) executes them with the engine and collects panels.
Every kind accepts several layers: its variants then form one grid row per layer.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..masks import CodeMask
from ..objectives import CVPR_SIGMA_227
from ..representations.base import Preset
from ..errors import UnknownNameError
from .spec import ExperimentError

#: IJCV's typical pixel norm B (pixel units) and TV normalisation λ_V = (6.5/B)^β.
IJCV_B = 80.0
IJCV_TV_EDGE = 6.5
#: The gradient magnitude, in the CVPR units ``x/σ0``, that costs the same under every β
#: when λ_TV is converted with :func:`tv_lambda_for_beta` (an edge of B/6.5 pixel units).
TV_REFERENCE_GRADIENT = IJCV_B / (IJCV_TV_EDGE * CVPR_SIGMA_227)


@dataclass(frozen=True)
class Job:
    """One inversion of an experiment.

    Attributes:
        layer: the layer to invert.
        label: the panel caption (restart panels get ``" #k"`` appended).
        changes: :class:`inverter.engine.InversionConfig` fields this job sets.
        values: JSON-ready description of what this job varies.
        per_restart: one panel per restart (else one panel: the best restart).
    """

    layer: str
    label: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    per_restart: bool = False


@dataclass(frozen=True)
class PlanContext:
    """What a planner may ask about the run.

    Attributes:
        layers: the layers to use, shallow to deep as given.
        params: the kind's parameters, defaults filled in.
        preset: ``preset(layer)`` → the layer's :class:`Preset`.
        code_shape: ``code_shape(layer)`` → the code's shape without batch (``(C, H, W)``, ``(D, T)`` or ``(D,)``).
        code_grid: ``code_grid(layer)`` → the ``(H, W)`` grid of the code's units, ``None`` without space.
        top_channel: ``top_channel(layer)`` → the channel (or class) the image excites most.
        config: the spec's shared config fields (``lambda_tv`` etc. when set).
    """

    layers: tuple[str, ...]
    params: Mapping[str, Any]
    preset: Callable[[str], Preset]
    code_shape: Callable[[str], tuple[int, ...]]
    code_grid: Callable[[str], tuple[int, int] | None]
    top_channel: Callable[[str], int]
    config: Mapping[str, Any]


@dataclass(frozen=True)
class ExperimentKind:
    """A registered experiment.

    Attributes:
        name: identifier used by the API, CLI and JSON (``"layer_sweep"``).
        title: short human title.
        description: one line on what it shows (and the paper's figure).
        defaults: parameters and their default values.
        plan: ``plan(context) -> list[Job]``.
        all_layers: the default layers are every layer of the family (else one layer).
        spread_layers: when > 0, the default layers are this many of the family's, evenly
            spread over its depth, first and last included (:func:`spread`); overrides ``all_layers``.
        paper_layers: the layers the paper used, as a suggestion for AlexNet.
        shadows: inversion settings that this kind takes as its own parameter when a
            front end is given them (the restarts view shows K restarts as K panels).

    Layers chosen explicitly are always used as given; these only set the default.
    """

    name: str
    title: str
    description: str
    defaults: Mapping[str, Any]
    plan: Callable[[PlanContext], list[Job]]
    all_layers: bool = False
    paper_layers: tuple[str, ...] = ()
    shadows: tuple[str, ...] = ()
    spread_layers: int = 0

    def default_layers(self, layers: Sequence[str], default: str) -> tuple[str, ...]:
        """The layers used when none are chosen, of a family whose layers are ``layers``
        (shallow to deep) and whose default layer is ``default``."""
        if self.spread_layers:
            return spread(layers, self.spread_layers)
        return tuple(layers) if self.all_layers else (default,)

    @property
    def default_layers_text(self) -> str:
        """:meth:`default_layers` in words."""
        if self.spread_layers:
            return f"{self.spread_layers} layers spread over the depth, first and last included"
        return "every layer" if self.all_layers else "the family's default layer"


def spread(layers: Sequence[str], count: int) -> tuple[str, ...]:
    """``count`` of ``layers`` evenly spaced over them, the first and the last included (all of
    them when there are no more than ``count``; the deepest alone for 1): SqueezeNet 1.1's
    16 layers, 6 → conv1, fire2, fire4, fire6, fire9, logits."""
    if len(layers) <= count:
        return tuple(layers)
    if count == 1:
        return (layers[-1],)
    picked = dict.fromkeys(round(i * (len(layers) - 1) / (count - 1)) for i in range(count))
    return tuple(layers[i] for i in picked)


#: How front ends offer the kinds' own parameters: ``name: (metavar, help, type)`` with
#: ``type`` one of ``int``, ``bool``, ``str`` (parsed further by the kind's planner).
PARAMETER_OPTIONS: dict[str, tuple[str | None, str, type]] = {
    "neighbourhood": ("N", "receptive_field: central N×N code units", int),
    "channels": ("halves|START:STOP", "channels: the two halves or a range", str),
    "include_full": (None, "channels/receptive_field: also invert the whole code", bool),
    "values": ("V1,V2,...", "tv_sweep: λ_TV values; tv_beta: β values", str),
}


def _number_list(value: Any, name: str, minimum: float = 0.0) -> list[float]:
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",") if v.strip()]
    if isinstance(value, (int, float)):
        value = [value]
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ExperimentError(f"{name} must be a list of numbers, got {value!r}") from None
    if not numbers or any(not math.isfinite(v) or v < minimum for v in numbers):
        raise ExperimentError(f"{name} must be a non-empty list of finite numbers ≥ {minimum:g}, got {value!r}")
    return numbers


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ExperimentError(f"{name} must be an integer ≥ 1, got {value!r}") from None
    if number < 1 or number != float(value):
        raise ExperimentError(f"{name} must be an integer ≥ 1, got {value!r}")
    return number


def _plan_layer_sweep(ctx: PlanContext) -> list[Job]:
    return [Job(layer, layer, values={"layer": layer}) for layer in ctx.layers]


def _plan_restarts(ctx: PlanContext) -> list[Job]:
    k = _positive_int(ctx.params["restarts"], "restarts")
    return [Job(layer, layer, {"restarts": k}, {"restarts": k}, per_restart=True) for layer in ctx.layers]


def _plan_receptive_field(ctx: PlanContext) -> list[Job]:
    n = _positive_int(ctx.params["neighbourhood"], "neighbourhood")
    jobs = []
    for layer in ctx.layers:
        grid = ctx.code_grid(layer)
        if ctx.params.get("include_full"):
            jobs.append(Job(layer, f"{layer}: all units", values={"neighbourhood": None}))
        if grid is not None:
            ny, nx = min(n, grid[0]), min(n, grid[1])
            label = f"{layer}: central {ny}×{nx} of {grid[0]}×{grid[1]}"
        else:
            label = f"{layer}: all {ctx.code_shape(layer)[0]} units (no spatial extent)"
        jobs.append(Job(layer, label, {"mask": CodeMask(neighbourhood=n)}, {"neighbourhood": n}))
    return jobs


def parse_channels(value: Any) -> str | tuple[int, int]:
    """``"halves"`` or a ``(start, stop)`` range from ``"halves"``, ``"0:48"``, ``[0, 48]``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("halves", "half", "groups"):
            return "halves"
        parts = text.replace("-", ":").split(":")
        if len(parts) == 2:
            value = parts
    try:
        start, stop = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ExperimentError(f"channels must be 'halves' or a range 'START:STOP', got {value!r}") from None
    if start < 0 or stop <= start:
        raise ExperimentError(f"channel range must satisfy 0 ≤ start < stop, got {start}:{stop}")
    return start, stop


def _plan_channels(ctx: PlanContext) -> list[Job]:
    choice = parse_channels(ctx.params["channels"])
    jobs = []
    for layer in ctx.layers:
        count = ctx.code_shape(layer)[0]
        if choice == "halves":
            if count < 2:
                raise ExperimentError(f"layer {layer} has {count} channel: it cannot be split in halves")
            ranges = [(0, count // 2), (count // 2, count)]
        else:
            start, stop = choice
            if start >= count:
                raise ExperimentError(f"channel range {start}:{stop} is outside {layer}'s {count} channels")
            ranges = [(start, min(stop, count))]
        if ctx.params.get("include_full"):
            jobs.append(Job(layer, f"{layer}: all {count} channels", values={"channels": None}))
        for start, stop in ranges:
            jobs.append(
                Job(layer, f"{layer}: channels {start}–{stop - 1}", {"mask": CodeMask(channels=(start, stop))},
                    {"channels": [start, stop]})
            )  # fmt: skip
    return jobs


def _plan_tv_sweep(ctx: PlanContext) -> list[Job]:
    values = _number_list(ctx.params["values"], "values (λ_TV)")
    return [
        Job(layer, f"{layer}: λ_TV = {v:g}", {"lambda_tv": v}, {"lambda_tv": v})
        for layer in ctx.layers
        for v in values
    ]


def tv_lambda_for_beta(lambda_tv_beta2: float, beta: float) -> float:
    """Convert a β = 2 λ_TV to exponent ``beta`` so that an edge costs the same.

    IJCV normalises TV as ``λ_V = (6.5/B)^β`` on pixel units (B = 80): a gradient of
    B/6.5 pixel units costs 1 whatever β. The same rule in the CVPR units ``x/σ0`` is
    ``λ_β = λ_2 · g0^(2−β)`` with ``g0 = B/(6.5·σ0)`` (:data:`TV_REFERENCE_GRADIENT`).
    """
    return float(lambda_tv_beta2 * TV_REFERENCE_GRADIENT ** (2.0 - beta))


def _plan_tv_beta(ctx: PlanContext) -> list[Job]:
    betas = _number_list(ctx.params["values"], "values (β)")
    if any(b <= 0 for b in betas):
        raise ExperimentError(f"β values must be > 0, got {betas}")
    given = ctx.params.get("lambda_tv")
    lambdas = None if given is None else _number_list(given, "lambda_tv")
    if lambdas is not None and len(lambdas) not in (1, len(betas)):
        raise ExperimentError(f"lambda_tv needs 1 value or one per β ({len(betas)}), got {len(lambdas)}")
    jobs = []
    for layer in ctx.layers:
        base = float(ctx.config.get("lambda_tv") or ctx.preset(layer).lambda_tv)
        for i, beta in enumerate(betas):
            lam = tv_lambda_for_beta(base, beta) if lambdas is None else lambdas[i if len(lambdas) > 1 else 0]
            jobs.append(
                Job(layer, f"{layer}: β = {beta:g} (λ_TV {lam:.3g})", {"tv_beta": beta, "lambda_tv": lam},
                    {"tv_beta": beta, "lambda_tv": lam})
            )  # fmt: skip
    return jobs


def _plan_alpha_norm(ctx: PlanContext) -> list[Job]:
    jobs = []
    for layer in ctx.layers:
        on = float(ctx.params.get("lambda_alpha") or ctx.config.get("lambda_alpha") or ctx.preset(layer).lambda_alpha)
        jobs.append(Job(layer, f"{layer}: α-norm on (λ_α {on:.3g})", {"lambda_alpha": on}, {"lambda_alpha": on}))
        jobs.append(Job(layer, f"{layer}: α-norm off", {"lambda_alpha": 0.0}, {"lambda_alpha": 0.0}))
    return jobs


def _plan_visualisations(ctx: PlanContext) -> list[Job]:
    """IJCV 2016's summary figure: per layer, the inversion, the caricature, and the
    maximisation of the channel the image excites most."""
    jobs = []
    for layer in ctx.layers:
        channel = ctx.top_channel(layer)
        jobs += [
            Job(layer, f"{layer}: inversion", {"objective": "invert"}, {"objective": "invert"}),
            Job(layer, f"{layer}: caricature", {"objective": "caricature"}, {"objective": "caricature"}),
            Job(layer, f"{layer}: channel {channel} maximised", {"objective": "activation", "target": str(channel)},
                {"objective": "activation", "target": str(channel)}),
        ]  # fmt: skip
    return jobs


_DEEP = ("pool5", "relu6", "relu7", "fc8")
#: Layers of the visualisations experiment by default: 6 × 3 panels, within the app's 24 inversions
#: (every layer would be 48 on SqueezeNet 1.1).
VISUALISATION_LAYERS = 6
KINDS: dict[str, ExperimentKind] = {
    kind.name: kind
    for kind in (
        ExperimentKind("layer_sweep", "Layer sweep", "reconstructions from every layer (or the chosen ones) of a "
                       "network, with their errors", {}, _plan_layer_sweep, all_layers=True),
        ExperimentKind("restarts", "Restarts / diversity", "K random restarts at a layer side by side, the spread "
                       "of their errors and the best marked", {"restarts": 4}, _plan_restarts,
                       paper_layers=_DEEP, shadows=("restarts",)),
        ExperimentKind("receptive_field", "Receptive field", "reconstruction from only the central N×N code units "
                       "(the paper's receptive-field figure)", {"neighbourhood": 5, "include_full": False},
                       _plan_receptive_field, all_layers=True),
        ExperimentKind("channels", "Channel subsets", "reconstruction from a subset of channels: the two halves "
                       "(AlexNet's two filter groups) or a range",
                       {"channels": "halves", "include_full": True}, _plan_channels),
        ExperimentKind("tv_sweep", "λ_TV sweep", "the total-variation weight at one layer (the paper: fc8 with "
                       "λ_V 0.5, 5, 50)", {"values": [0.5, 5.0, 50.0]}, _plan_tv_sweep, paper_layers=("fc8",)),
        ExperimentKind("tv_beta", "TV exponent β", "β = 1 (sharper, spiky) against β = 2; λ_TV is converted "
                       "between exponents unless given", {"values": [1.0, 2.0], "lambda_tv": None},
                       _plan_tv_beta),
        ExperimentKind("alpha_norm", "α-norm on/off", "the α-norm (soft pixel box) regulariser on and off "
                       "(λ_α = 0)", {"lambda_alpha": None}, _plan_alpha_norm),
        ExperimentKind("visualisations", "Inversion, caricature, maximisation", "per layer, the three visualisations "
                       "of the IJCV 2016 paper on one prior: the inversion, the caricature, and the maximisation of "
                       "the channel the image excites most", {}, _plan_visualisations,
                       spread_layers=VISUALISATION_LAYERS),
    )
}  # fmt: skip


def list_experiments() -> dict[str, str]:
    """``{kind: "Title: description"}`` for every experiment."""
    return {name: f"{kind.title}: {kind.description}" for name, kind in KINDS.items()}


def get_kind(name: str) -> ExperimentKind:
    """The experiment called ``name``.

    Raises:
        UnknownNameError: no such experiment (the message lists the known ones).
    """
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownNameError(f"unknown experiment {name!r}; known: {', '.join(KINDS)}") from None


def merged_params(kind: ExperimentKind, params: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's defaults updated with ``params``; unknown names are an :class:`ExperimentError`."""
    unknown = set(params) - set(kind.defaults)
    if unknown:
        known = ", ".join(kind.defaults) or "none"
        raise ExperimentError(f"unknown parameters {sorted(unknown)} for experiment {kind.name!r}; known: {known}")
    return {**kind.defaults, **{k: v for k, v in params.items() if v is not None}}


def columns_of(jobs: Sequence[Job], panels_per_job: Sequence[int]) -> list[int]:
    """Panels per grid row: one row per run of consecutive jobs on the same layer."""
    rows: list[int] = []
    previous = None
    for job, count in zip(jobs, panels_per_job):
        if job.layer == previous:
            rows[-1] += count
        else:
            rows.append(count)
        previous = job.layer
    return rows
