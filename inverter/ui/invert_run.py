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

import gradio as gr
import numpy as np
import pandas as pd

from ..devices import default_device
from ..representations import Representation
from ..engine import Snapshot, invert
from ..representations.registry import resolve_weights
from ..settings import InversionConfig
from ..weights import describe, weights_text
from .choices import family_of, get_representation
from .errors import guarded, user_errors
from .form import read_settings, resolve_masks
from .results import RunInfo, RunRecord
from .uploads import read_upload, upload_name, upload_path
from .zerogpu import gpu

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
        config: engine settings (``None`` fields = the layer's preset), the mask resolved
            against the code by :func:`with_mask`.
        raw: the request's raw values (the mask's are read again by :func:`with_mask`).
        note: one line describing the input image.
        upload, upload_name: the uploaded file on the server, and its name on the user's side.
    """

    family: str
    layer: str | None
    image: np.ndarray
    config: InversionConfig
    raw: dict[str, Any]
    note: str
    upload: Path
    upload_name: str


def build_request(values: dict[str, Any]) -> RunRequest:
    """Validate raw values (from the UI or a client: ``image``, ``representation``, ``layer``
    and the settings' parameters) into a :class:`RunRequest`.

    Blank/``None`` settings mean "the layer's preset". Reads the image but builds no
    representation.

    Raises:
        inverter.errors.InverterError: a readable message naming the bad value.
    """
    family = family_of(values.get("representation")).name
    layer_name = str(values.get("layer") or "").strip() or None
    family_of(family).layer(layer_name)  # checks the layer's name
    config = InversionConfig(**read_settings(values))
    pixels, note = read_upload(values.get("image"))
    image = values.get("image")
    return RunRequest(family, layer_name, pixels, config, dict(values), note, upload_path(image), upload_name(image))


def with_mask(request: RunRequest, rep: Representation) -> RunRequest:
    """``request`` with its mask resolved against ``rep``'s code (the halves need its channel count)."""
    return dataclasses.replace(request, config=resolve_masks(request.config, request.raw, rep))


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


def run_inversion(values: dict[str, Any], progress: gr.Progress | None = None) -> Iterator[Outputs]:
    """Validate, load, invert and stream the tab's outputs (see :func:`updates`).

    ``values``: ``image``, ``representation``, ``layer`` and the settings' parameters, raw.
    The first update carries only the status (loading may download weights); the others
    come from :func:`updates`.
    """
    global _ACTIVE
    with user_errors("Cannot run"):
        request = build_request(values)
    with _ACTIVE_LOCK:
        _ACTIVE += 1
    try:
        target = f"{request.family}:{request.layer}" if request.layer else request.family
        yield (gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"Loading **{target}** …", {"step": None, "done": False},
               gr.skip(), None)
        with user_errors("Cannot load the representation"):
            rep = get_representation(request.family, request.layer)
            request = with_mask(request, rep)
            chosen = resolve_weights(family_of(request.family))
        info = RunInfo(
            representation=rep.name,
            weights=weights_text(chosen.spec),
            weights_origin=describe(chosen),
            upload=request.upload,
            upload_name=request.upload_name,
            note=request.note,
        )
        yield from updates(guarded(stream_snapshots(request)), RunRecord(info), progress)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE -= 1


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
            yield (shot.image, gallery, record.curve("relative_error"), record.curve("loss"),
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
    figure = (f"relative error {shot.relative_error[shot.best]:.3f}" if shot.settings.objective == "invert" else
              f"{shot.settings.objective} score ×{shot.score[shot.best]:.2f}")  # fmt: skip
    return (f"`{bar}` {fraction:.0%}  \n{head}  \n{figure} "
            f"(best of {len(shot.relative_error)}) · {shot.settings.representation} at "
            f"{shot.settings.image_size[1]}×{shot.settings.image_size[0]} px on {shot.settings.device}")

