"""Run an experiment: plan its inversions, run them with the engine, stream updates.

Layers run one after another, not batched: every layer inverts its own pre-image, so a
batch over layers would push each image through the deepest layer's network (more
work, not less), and layers differ in presets and jitter. Restarts of one layer do run
as one batch (the engine's ``restarts``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine import InversionConfig, invert
from ..representations.base import Family, Representation
from ..representations.registry import get_family, load_representation, parse_name
from .kinds import ExperimentKind, Job, PlanContext, columns_of, get_kind, merged_params
from .result import ExperimentResult, ExperimentUpdate, summarise
from .spec import ARRAY_IMAGE, ExperimentError, ExperimentSpec, Panel, as_picture, load_source_image

class _Networks:
    """Loads each layer once per run.

    ``weights="random"`` networks are built with the torch RNG seeded by ``seed`` (the
    run's seed, as the single-inversion CLI does) inside a forked RNG, so the same spec
    gives the same network and the caller's RNG state is left alone.
    """

    def __init__(self, family: Family, weights: str | None, device: str | None, seed: int = 0):
        self.family, self.weights, self.device, self.seed = family, weights, device, seed
        self._cache: dict[str, Representation] = {}

    def __call__(self, layer: str) -> Representation:
        if layer not in self._cache:
            seed = self.seed if self.weights == "random" else None
            self._cache[layer] = load_representation(self.family.name, layer, weights=self.weights,
                                                     device=self.device, seed=seed)  # fmt: skip
        return self._cache[layer]


def top_channel(representation: Representation, image: np.ndarray, size: tuple[int, int] | None) -> int:
    """The channel (or class) of ``representation``'s code that the image excites most: the
    largest value anywhere in it."""
    with torch.no_grad():
        code = representation(representation.image_to_pixels(image, size).to(representation.device))[0]
    return int(code.reshape(code.shape[0], -1).max(dim=1).values.argmax())


def resolve_layers(spec: ExperimentSpec, kind: ExperimentKind, family: Family) -> tuple[str, ...]:
    """The layers the experiment uses (see :attr:`ExperimentSpec.layers`), validated."""
    _, name_layer = parse_name(spec.representation)
    layers = tuple(spec.layers) or ((name_layer,) if name_layer else ())
    if not layers:
        layers = kind.default_layers([s.name for s in family.layers], family.layer(None).name)
    known = [s.name for s in family.layers]
    unknown = [layer for layer in layers if layer not in known]
    if unknown:
        raise ExperimentError(f"unknown layers {unknown} of {family.name!r}; known: {', '.join(known)}")
    return layers


def _title(spec: ExperimentSpec, kind: ExperimentKind, family: Family, settings: dict[str, Any] | None) -> str:
    image = spec.image if spec.image and spec.image != ARRAY_IMAGE else "uploaded image"
    image = Path(image).name if not image.startswith("example:") else image.split(":", 1)[1]
    extra = ""
    if settings:
        extra = f" · {settings['iterations']} steps · {settings['image_size'][0]}×{settings['image_size'][1]} px"
    weights = " · random weights" if spec.weights == "random" else ""
    return f"{kind.title} · {family.name}{weights} · {image}{extra} · seed {settings['seed'] if settings else ''}"


@dataclass(frozen=True)
class Plan:
    """What an experiment will run, before it runs.

    Attributes:
        kind, family: the experiment and the representation family.
        base: the shared config; each job's config is ``base.replace(**job.changes)``.
        jobs: the inversions, in order.
    """

    kind: ExperimentKind
    family: Family
    base: InversionConfig
    jobs: tuple[Job, ...]

    def configs(self) -> list[tuple[str, InversionConfig]]:
        """``(layer, config)`` of every inversion, in order."""
        return [(job.layer, self.base.replace(**job.changes)) for job in self.jobs]


def plan_experiment(spec: ExperimentSpec, networks: Callable[[str], Representation] | None = None,
                    source: Callable[[], np.ndarray] | None = None) -> Plan:  # fmt: skip
    """Plan ``spec``'s inversions without running them.

    Args:
        networks: ``networks(layer)`` → the layer's representation, asked for its code's shape
            by the kinds that mask the code (a ``meta``-device one does: :func:`inverter.cost.skeleton`);
            default: loaded with the spec's weights.
        source: ``source()`` → the image, for the kinds that choose a channel from it (the
            visualisations' maximised channel); without it, channel 0 stands in (a plan made to
            count its inversions or their cost, which do not depend on the channel).

    Raises:
        inverter.errors.InverterError: bad kind, layers, parameters or settings.
    """
    kind = get_kind(spec.kind)
    params = merged_params(kind, spec.params)
    base = spec.base_config()
    family_name, _ = parse_name(spec.representation)
    family = get_family(family_name)
    layers = resolve_layers(spec, kind, family)
    nets = networks or _Networks(family, spec.weights, base.device, base.seed)
    context = PlanContext(
        layers=layers,
        params=params,
        preset=lambda layer: family.layer(layer).preset,
        code_shape=lambda layer: nets(layer).code_shape(base.image_size),
        code_grid=lambda layer: nets(layer).code_grid(base.image_size),
        top_channel=lambda layer: top_channel(nets(layer), source(), base.image_size) if source else 0,
        config=dict(spec.config),
    )
    jobs = tuple(kind.plan(context))
    if not jobs:
        raise ExperimentError("the experiment has nothing to run")
    return Plan(kind, family, base, jobs)


def experiment_updates(
    spec: ExperimentSpec,
    image: np.ndarray | None = None,
    networks: Callable[[str], Representation] | None = None,
) -> Iterator[ExperimentUpdate]:
    """Run ``spec`` and yield progress updates; the last has ``done=True`` and the result.

    Args:
        spec: the experiment.
        image: an image array (``[H, W]``/``[H, W, 3|4]``, uint8 or float in ``[0, 1]``)
            to use instead of ``spec.image``; the spec then records ``"<array>"``.
        networks: ``networks(layer)`` → the representation to invert at ``layer`` (the app passes
            its cache, whose networks are on the device already); default: each layer loaded
            once per run with the spec's weights.

    Yields:
        :class:`ExperimentUpdate` at every engine snapshot (``config.snapshot_every``).

    Raises:
        inverter.errors.InverterError: bad kind, layers, parameters, settings, image or
            weights (an :class:`~inverter.errors.ExperimentError`, ``UnknownNameError``,
            ``SettingError``, ``ImageError`` or ``WeightsError``).
    """
    start = time.perf_counter()
    base = spec.base_config()
    family_name, _ = parse_name(spec.representation)
    nets = networks or _Networks(get_family(family_name), spec.weights, base.device, base.seed)
    if image is not None:
        picture: np.ndarray | None = as_picture(image)
        spec = ExperimentSpec(**{**spec.__dict__, "image": ARRAY_IMAGE})
    else:
        picture = None
    loaded: list[np.ndarray] = []

    def load() -> np.ndarray:  # loaded when the plan needs it or before the first inversion
        if not loaded:
            loaded.append(picture if picture is not None else load_source_image(spec.image))
        return loaded[0]

    planned = plan_experiment(spec, nets, load)
    kind, family, jobs = planned.kind, planned.family, planned.jobs
    source = load()
    counts = [int(job.changes.get("restarts", base.restarts)) if job.per_restart else 1 for job in jobs]
    rows, total = columns_of(jobs, counts), sum(counts)
    labels = [
        f"{job.label} #{k + 1}" if job.per_restart else job.label for job, n in zip(jobs, counts) for k in range(n)
    ]
    panels: list[Panel] = []
    groups: list[list[int]] = []
    reference = None
    title = _title(spec, kind, family, None)
    for j, job in enumerate(jobs):
        config = base.replace(**job.changes)
        job_start = time.perf_counter()
        for shot in invert(nets(job.layer), source, config):
            reference = shot.reference
            settings = shot.settings.to_dict()
            title = _title(spec, kind, family, settings)
            new = _panels(job, shot, settings, time.perf_counter() - job_start)
            fraction = shot.step / shot.total_steps if shot.total_steps else 1.0
            if shot.done:
                groups.append(list(range(len(panels), len(panels) + len(new))))
                panels.extend(new)
                if j == len(jobs) - 1:
                    break
            message = (
                f"{job.label} ({j + 1}/{len(jobs)}): step {shot.step}/{shot.total_steps}, "
                f"error {100 * min(p.relative_error for p in new):.1f}%"
            )
            yield ExperimentUpdate(
                panels=list(panels), running=[] if shot.done else new, total=total, rows=rows, labels=labels,
                inversions=len(jobs), progress=(j + fraction) / len(jobs), done=False, message=message,
                reference=reference, title=title,
            )  # fmt: skip
    assert reference is not None
    result = ExperimentResult(
        spec=spec, panels=panels, rows=rows, reference=reference, metrics=summarise(panels, groups),
        elapsed=time.perf_counter() - start, picture=picture, title=title,
    )  # fmt: skip
    stats = result.metrics["relative_error"]
    message = (
        f"done: {len(panels)} panels in {result.elapsed:.1f} s; error {100 * stats['mean']:.1f}% ± "
        f"{100 * stats['std']:.1f}% (min {100 * stats['min']:.1f}%, max {100 * stats['max']:.1f}%)"
    )
    yield ExperimentUpdate(
        panels=list(panels), running=[], total=total, rows=rows, labels=labels, inversions=len(jobs), progress=1.0,
        done=True, message=message, reference=reference, result=result, title=title,
    )  # fmt: skip


def _panels(job: Job, shot: Any, settings: dict[str, Any], seconds: float) -> list[Panel]:
    errors = [float(e) for e in shot.relative_error]
    scores = [float(v) for v in shot.score] if settings["objective"] != "invert" else [None] * len(errors)
    if not job.per_restart:
        b = shot.best
        return [Panel(job.label, shot.images[b], errors[b], job.layer, dict(job.values), settings, b, False, seconds,
                      scores[b])]  # fmt: skip
    return [
        Panel(f"{job.label} #{k + 1}", shot.images[k], errors[k], job.layer, dict(job.values), settings, k,
              k == shot.best, seconds, scores[k])
        for k in range(len(errors))
    ]  # fmt: skip


def run_experiment(spec: ExperimentSpec, image: np.ndarray | None = None) -> ExperimentResult:
    """Run ``spec`` to the end (see :func:`experiment_updates`) and return its result."""
    last = None
    for last in experiment_updates(spec, image):
        pass
    assert last is not None and last.result is not None
    return last.result
