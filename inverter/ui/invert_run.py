"""The handler behind the "Invert" tab and the ``/invert`` API endpoint.

It validates the request, runs :func:`inverter.invert` (on the GPU under ZeroGPU, where
only CPU/numpy data leaves the GPU function) and turns each snapshot into the tab's
outputs. Closing the handler's generator (Stop, a cancelled client job, a closed tab)
closes the engine's generator, so the optimisation stops at its next snapshot.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from .. import cost
from ..engine import Snapshot, invert
from ..errors import InverterError, UserError
from ..representations.registry import resolve_weights
from ..settings import InversionConfig, resolve_settings
from ..weights import describe, weights_text
from .choices import family_of, get_representation
from .errors import guarded, user_errors
from .form import offered, parameter_named, params_of, read_settings, resolve_masks
from .results import RunInfo, RunRecord, empty_curve
from .status import Runs, progress_bar
from .uploads import check_upload, read_upload, upload_name, upload_path
from .zerogpu import check_budget, cost_text, gpu, gpu_request, machine, serving_device

#: One update: best image, gallery, error curve, objective curve, status, metrics,
#: reference image, downloads (the order of the tab's output components).
Outputs = tuple[Any, Any, pd.DataFrame, pd.DataFrame, str, dict, Any, Any]

#: The inversions under way, by session.
RUNS = Runs()
#: Shown when a run is stopped (the Stop button; a client's cancel shows nothing).
STOPPED = "**Stopped**: the last picture shown is where the optimisation had got to."


def active_runs() -> int:
    """How many inversions are running in this process now (for tests and monitoring)."""
    return RUNS.active


def started_runs() -> int:
    """How many inversions this process has started (a cached example starts none)."""
    return RUNS.started


def stopped(request: gr.Request) -> str:
    """The status after Stop, once the session's inversion has ended (see :class:`~inverter.ui.status.Runs`)."""
    RUNS.wait_ended(str(request.session_hash or ""))
    return STOPPED


@dataclass(frozen=True)
class RunRequest:
    """A validated request: what to invert, with which representation and settings.

    Attributes:
        family, layer: registry names (``layer`` ``None`` = the family's default).
        image: ``[H, W, 3]`` float64 RGB in ``[0, 1]`` (``None`` until decoded).
        config: engine settings (``None`` fields = the layer's preset), the mask resolved
            against the code by :func:`plan_run`.
        raw: the request's raw values (the mask's are read again by :func:`plan_run`).
        note: one line describing the input image.
        upload, upload_name: the uploaded file on the server, and its name on the user's side.
        estimate_s: the run's estimated seconds on the serving hardware (:func:`plan_run`).
        gpu_seconds: the ZeroGPU duration the run asks for.
    """

    family: str
    layer: str | None
    image: np.ndarray | None
    config: InversionConfig
    raw: dict[str, Any]
    note: str
    upload: Path
    upload_name: str
    estimate_s: float = 0.0
    gpu_seconds: int = 0


def _layer(values: dict[str, Any]) -> str | None:
    return str(values.get("layer") or "").strip() or None


def build_request(values: dict[str, Any], decode: bool = True) -> RunRequest:
    """Validate raw values (from the UI or a client: ``image``, ``representation``, ``layer``
    and the settings' parameters) into a :class:`RunRequest`.

    Blank/``None`` settings mean "the layer's preset". Reads the image (only its header
    unless ``decode``) but builds no representation.

    Raises:
        inverter.errors.InverterError: a readable message naming the bad value.
    """
    family = family_of(values.get("representation")).name
    layer_name = _layer(values)
    family_of(family).layer(layer_name)  # checks the layer's name
    config = InversionConfig(**read_settings(values))
    image = values.get("image")
    if decode:
        pixels, note = read_upload(image)
    else:
        pixels, (_, note, _, _) = None, check_upload(image)
    return RunRequest(family, layer_name, pixels, config, dict(values), note, upload_path(image), upload_name(image))


def plan(family: str, layer: str | None, config: InversionConfig, raw: dict[str, Any]) -> tuple[InversionConfig, float]:
    """Check ``config`` against the representation before any weights are read: the mask resolved
    against its code, every setting resolved (a size the network cannot take is refused here),
    and the run's cost estimated (:mod:`inverter.cost`, on the representation built on the
    ``meta`` device). Returns the config with its mask and the estimate in seconds.

    Raises:
        inverter.errors.InverterError: a setting that does not fit the representation.
    """
    rep = cost.skeleton(family, layer)
    config = resolve_masks(config, raw, rep)
    settings = resolve_settings(rep, config.replace(device=serving_device()))
    return config, cost.estimate_seconds(rep, settings, machine())


def plan_run(request: RunRequest) -> RunRequest:
    """``request`` checked by :func:`plan` and against the app's budget
    (:func:`inverter.ui.zerogpu.max_run_seconds`), before any GPU is asked for.

    Raises:
        inverter.errors.InverterError: a setting that does not fit, or a run over the budget.
    """
    config, seconds = plan(request.family, request.layer, request.config, request.raw)
    check_budget(seconds)
    return dataclasses.replace(request, config=config, estimate_s=seconds, gpu_seconds=gpu_request(seconds))


def cost_line(values: dict[str, Any]) -> str:
    """Markdown for the page: what a run of these values would cost, or why it cannot run."""
    try:
        family = family_of(values.get("representation")).name
        config, seconds = plan(family, _layer(values), InversionConfig(**read_settings(values)), values)
        check_budget(seconds)
    except UserError as err:
        return f"⚠️ {err}"
    except InverterError as err:
        return f"Cannot estimate the cost yet: {err}"
    return cost_text(seconds)


def problems(values: dict[str, Any]) -> dict[str, str]:
    """What is wrong with a request, by parameter (``{}``: nothing), without decoding the image,
    reading weights or asking for a GPU: for the validator that runs before a request is queued."""
    found: dict[str, str] = {}

    def attempt(parameter: str, check: Any) -> Any:
        try:
            return check()
        except InverterError as err:
            found.setdefault(parameter, str(err))
            return None

    attempt("image", lambda: check_upload(values.get("image")))
    family = attempt("representation", lambda: family_of(values.get("representation")))
    if family is not None:
        attempt("layer", lambda: family.layer(_layer(values)))
    for s in offered():
        attempt(params_of(s)[0], lambda s=s: read_settings(values, [s]))
    if not found:
        try:
            plan_run(build_request(values, decode=False))
        except InverterError as err:
            found[parameter_named(str(err), list(values), default="representation")] = str(err)
    return found


@gpu(duration=lambda request: request.gpu_seconds)
def stream_snapshots(request: RunRequest) -> Iterator[Snapshot]:
    """The inversion, on the GPU under ZeroGPU (a forked worker: only a :class:`gradio.Error` keeps
    its message across, so every error becomes one here); yields snapshots holding numpy data
    only (their ``pixels`` dropped)."""
    yield from guarded(snapshots(request))


def snapshots(request: RunRequest) -> Iterator[Snapshot]:
    """Run the inversion on the serving device (the representation is there already)."""
    rep = get_representation(request.family, request.layer)  # cached: built by the caller
    config = request.config.replace(device=serving_device())
    for shot in invert(rep, request.image, config):
        yield dataclasses.replace(shot, pixels=np.empty(0, np.float32))


def run_inversion(values: dict[str, Any], progress: gr.Progress | None = None) -> Iterator[Outputs]:
    """Validate, load, invert and stream the tab's outputs (see :func:`updates`).

    ``values``: ``image``, ``representation``, ``layer`` and the settings' parameters, raw.
    The first update clears the outputs and says what is loading and what the run will cost
    (loading may read weights); the others come from :func:`updates`.
    """
    with user_errors("Cannot run"):
        request = plan_run(build_request(values))
    with RUNS.running():
        target = f"{request.family}:{request.layer}" if request.layer else request.family
        yield (None, [], empty_curve("relative_error"), empty_curve("loss"),
               f"Loading **{target}** …  \n{cost_text(request.estimate_s)}", {"step": None, "done": False}, None,
               None)  # fmt: skip
        with user_errors("Cannot load the representation"):
            rep = get_representation(request.family, request.layer)
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
    if shot.done:
        head = f"**Done** in {shot.elapsed:.1f} s"
    else:
        eta = shot.elapsed / shot.step * (total - shot.step) if shot.step else float("nan")
        head = f"**Running**: step {shot.step} / {total} · {shot.elapsed:.1f} s elapsed · " + (
            f"ETA {eta:.0f} s" if np.isfinite(eta) else "ETA …")
    figure = (f"relative error {shot.relative_error[shot.best]:.3f}" if shot.settings.objective == "invert" else
              f"{shot.settings.objective} score ×{shot.score[shot.best]:.2f}")  # fmt: skip
    height, width = shot.images.shape[1:3]
    return (f"{progress_bar(fraction, 'Optimisation progress')}  \n{head}  \n{figure} "
            f"(best of {len(shot.relative_error)}) · {shot.settings.representation} at {width}×{height} px on "
            f"{shot.settings.device}")
