"""The handler behind the "Invert" tab and the ``/invert`` API endpoint.

It validates the request, runs :func:`inverter.invert` (on the GPU under ZeroGPU, where
only CPU/numpy data leaves the GPU function) and turns each snapshot into the tab's
outputs. Closing the handler's generator (Stop, a cancelled client job, a closed tab)
closes the engine's generator, so the optimisation stops at its next snapshot.
"""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import gradio as gr

from ..devices import default_device
from ..engine import DISPLAY_MODES, INIT_MODES, PRECISIONS, InversionConfig, Snapshot, invert
from ..representations import Representation
from .common import (
    MAX_IMAGE_SIZE, MAX_ITERATIONS, MAX_RESTARTS, MIN_IMAGE_SIZE, UserError, family_names, get_representation, gpu,
    guarded, make_mask, optional_float, parse_choice, parse_int, preset_knobs, user_errors, weights_choice,
    weights_origin,
)
from .results import RunInfo, RunRecord
from .uploads import read_upload, upload_name, upload_path

#: One update: best image, gallery, error curve, objective curve, status, metrics,
#: reference image, downloads (the order of the tab's output components).
Outputs = tuple[Any, Any, pd.DataFrame, pd.DataFrame, str, dict, Any, Any]

_ACTIVE = 0
_ACTIVE_LOCK = threading.Lock()


def active_runs() -> int:
    """How many inversions are running in this process now (for tests and monitoring)."""
    return _ACTIVE


@dataclass(frozen=True)
class RunRequest:
    """A validated request: what to invert, with which representation and settings.

    Attributes:
        family, layer: registry names (``layer`` ``None`` = the family's default).
        image: ``[H, W, 3]`` float64 RGB in ``[0, 1]``.
        config: engine settings (``None`` fields = the layer's preset), without the mask.
        mask: the raw mask controls ``(group, start, stop, neighbourhood)``, resolved
            against the code by :func:`with_mask`.
        note: one line describing the input image.
        upload, upload_name: the uploaded file on the server, and its name on the user's side.
    """

    family: str
    layer: str | None
    image: np.ndarray
    config: InversionConfig
    mask: tuple[Any, Any, Any, Any]
    note: str
    upload: Path
    upload_name: str


def build_request(
    image: Any, representation: Any, layer: Any, iterations: Any, lambda_tv: Any, tv_beta: Any, alpha: Any,
    lambda_alpha: Any, data_weight: Any, learning_rate: Any, jitter: Any, restarts: Any, seed: Any, momentum: Any,
    clip: Any, init: Any, display: Any, snapshot_every: Any, image_size: Any, mask_channels: Any,
    channel_start: Any, channel_stop: Any, neighbourhood: Any, precision: Any = "float32",
) -> RunRequest:
    """Validate raw values (from the UI or a client) into a :class:`RunRequest`.

    Blank/``None`` hyper-parameters mean "the layer's preset". Reads the image but
    builds no representation.

    Raises:
        UserError, inverter.images.ImageError: a readable message naming the bad value.
    """
    family = parse_choice(representation, "representation", family_names())
    layer_name = str(layer or "").strip() or None
    preset = preset_knobs(family, layer_name)  # also checks the layer name
    steps = iterations if iterations not in (None, "") else preset["iterations"]
    jitter_px = optional_float(jitter, "jitter", 0, 64)
    if jitter_px is not None and jitter_px != int(jitter_px):
        raise UserError(f"jitter must be a whole number of pixels, got {jitter_px:g}")
    size = parse_int(image_size if image_size not in (None, "") else 0, "image_size", 0, MAX_IMAGE_SIZE)
    if 0 < size < MIN_IMAGE_SIZE:
        raise UserError(f"image_size must be 0 (the representation's own) or {MIN_IMAGE_SIZE}…{MAX_IMAGE_SIZE}")
    config = InversionConfig(
        iterations=parse_int(steps, "iterations", 1, MAX_ITERATIONS),
        restarts=parse_int(restarts, "restarts", 1, MAX_RESTARTS),
        seed=parse_int(seed, "seed", 0, 2**31 - 1),
        data_weight=optional_float(data_weight, "data_weight (C)", 0, 1e9),
        lambda_tv=optional_float(lambda_tv, "lambda_tv", 0, 1e12),
        tv_beta=optional_float(tv_beta, "tv_beta (β)", 0.5, 4),
        lambda_alpha=optional_float(lambda_alpha, "lambda_alpha", 0, 1e15),
        alpha=optional_float(alpha, "alpha (α)", 1, 20),
        learning_rate=optional_float(learning_rate, "learning_rate", 0, 10),
        momentum=optional_float(momentum, "momentum", 0, 0.999),
        jitter=None if jitter_px is None else ("auto" if jitter_px == 0 else int(jitter_px)),
        clip=optional_float(clip, "clip", 0, 1e4),
        init=parse_choice(init or "gaussian", "init", INIT_MODES),
        display=parse_choice(display or "minmax", "display", DISPLAY_MODES),
        snapshot_every=parse_int(snapshot_every if snapshot_every not in (None, "") else 10, "snapshot_every", 1,
                                 MAX_ITERATIONS),
        image_size=(size, size) if size else None,
        precision=parse_choice(precision or "float32", "precision", PRECISIONS),
    )
    make_mask(mask_channels, channel_start, channel_stop, neighbourhood, lambda: 1_000_000)  # syntax only
    pixels, note = read_upload(image)
    return RunRequest(family, layer_name, pixels, config, (mask_channels, channel_start, channel_stop, neighbourhood),
                      note, upload_path(image), upload_name(image))


def with_mask(request: RunRequest, rep: Representation) -> RunRequest:
    """``request`` with its mask controls resolved against ``rep``'s code (channel halves
    need the channel count)."""
    mask = make_mask(*request.mask, lambda: _code_channels(rep, request.config.image_size))
    return dataclasses.replace(request, config=request.config.replace(mask=mask))


def _code_channels(rep: Representation, size: tuple[int, int] | None) -> int:
    """Channels of ``rep``'s code for an input of ``size`` (one forward pass of zeros)."""
    device = next((t.device for t in list(rep.parameters()) + list(rep.buffers())), torch.device("cpu"))
    height, width = size or rep.input_size
    with torch.no_grad():
        code = rep(torch.zeros(1, rep.channels, height, width, device=device))
    return int(code.shape[1])


def _gpu_seconds(request: RunRequest) -> int:
    """ZeroGPU time to reserve: generous for the largest settings the app allows."""
    steps = request.config.iterations or 400
    return int(min(300, 20 + steps * request.config.restarts * 0.02))


@gpu(duration=_gpu_seconds)
def stream_snapshots(request: RunRequest) -> Iterator[Snapshot]:
    """Run the inversion on the default device; yields snapshots holding numpy data only
    (their ``pixels`` dropped), so that ZeroGPU can hand them across processes."""
    rep = get_representation(request.family, request.layer)  # cached: built by the caller
    config = request.config.replace(device=str(default_device()))
    for shot in invert(rep, request.image, config):
        yield dataclasses.replace(shot, pixels=np.empty(0, np.float32))


def run_inversion(
    image: Any, representation: Any, layer: Any, iterations: Any, lambda_tv: Any, tv_beta: Any, alpha: Any,
    lambda_alpha: Any, data_weight: Any, learning_rate: Any, jitter: Any, restarts: Any, seed: Any, momentum: Any,
    clip: Any, init: Any, display: Any, snapshot_every: Any, image_size: Any, mask_channels: Any,
    channel_start: Any, channel_stop: Any, neighbourhood: Any, precision: Any = "float32",
    progress: gr.Progress | None = None,
) -> Iterator[Outputs]:
    """Validate, load, invert and stream the tab's outputs (see :func:`updates`).

    The first update carries only the status (loading may download weights); the others
    come from :func:`updates`.
    """
    global _ACTIVE
    with user_errors("Cannot run"):
        request = build_request(
            image, representation, layer, iterations, lambda_tv, tv_beta, alpha, lambda_alpha, data_weight,
            learning_rate, jitter, restarts, seed, momentum, clip, init, display, snapshot_every, image_size,
            mask_channels, channel_start, channel_stop, neighbourhood, precision,
        )
    with _ACTIVE_LOCK:
        _ACTIVE += 1
    try:
        target = f"{request.family}:{request.layer}" if request.layer else request.family
        yield (gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"Loading **{target}** …", {"step": None, "done": False},
               gr.skip(), None)
        with user_errors("Cannot load the representation"):
            rep = get_representation(request.family, request.layer)
            request = with_mask(request, rep)
        info = RunInfo(
            representation=rep.name,
            weights=weights_choice(request.family),
            weights_origin=weights_origin(request.family) if _needs_weights(request.family) else "none",
            upload=request.upload,
            upload_name=request.upload_name,
            note=request.note,
        )
        yield from updates(guarded(stream_snapshots(request)), RunRecord(info), progress)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE -= 1


def _needs_weights(family: str) -> bool:
    from ..representations import get_family

    return bool(get_family(family).needs_weights)


def updates(shots: Iterator[Snapshot], record: RunRecord, progress: gr.Progress | None = None) -> Iterator[Outputs]:
    """Turn snapshots into outputs: ``(best image, gallery of restarts, relative-error
    curve, objective curve, status markdown, metrics dict, reference image, download
    paths or None)``; images ``[H, W, 3]`` uint8.

    Closing this generator closes ``shots``.
    """
    try:
        for shot in shots:
            record.add(shot)
            if progress is not None:
                progress((shot.step, shot.total_steps), desc="optimising", unit="steps")
            metrics = record.summary(shot)
            files = None
            if shot.done:
                with user_errors("Could not write the results"):
                    files = record.write_downloads(shot)
            gallery = [
                (img, f"restart {k + 1}: error {err:.3f}" + (" (best)" if k == shot.best else ""))
                for k, (img, err) in enumerate(zip(shot.images, shot.relative_error))
            ]
            yield (shot.image, gallery, record.curve("relative_error"), record.curve("objective"),
                   status_text(shot), metrics, shot.reference, files)
    finally:
        shots.close()  # type: ignore[attr-defined]


def status_text(shot: Snapshot) -> str:
    """Markdown progress line: a bar, step, elapsed time, ETA and the current error."""
    total = max(shot.total_steps, 1)
    fraction = min(shot.step / total, 1.0)
    bar = "█" * round(20 * fraction) + "░" * (20 - round(20 * fraction))
    if shot.done:
        head = f"**Done** in {shot.elapsed:.1f} s"
    else:
        eta = shot.elapsed / shot.step * (total - shot.step) if shot.step else float("nan")
        head = f"**Running**: step {shot.step} / {total} · {shot.elapsed:.1f} s elapsed · " + (
            f"ETA {eta:.0f} s" if np.isfinite(eta) else "ETA …")
    err = shot.relative_error[shot.best]
    return (f"`{bar}` {fraction:.0%}  \n{head}  \nrelative error {err:.3f} "
            f"(best of {len(shot.relative_error)}) · {shot.settings.representation} at "
            f"{shot.settings.image_size[1]}×{shot.settings.image_size[0]} px on {shot.settings.device}")

