"""The "Experiments" tab: the paper's experiments as one-click views, and the public
``/experiment`` and ``/experiment_from_json`` endpoints.

The handler builds an :class:`inverter.experiments.ExperimentSpec` from the controls,
streams :func:`inverter.experiments.experiment_updates` as a labelled grid that fills in,
and at the end offers the grid PNG, the JSON (spec + metrics) and the input image; the
JSON (with its input image) can be uploaded again to repeat the run. Events run with
``preprocess=False``: every raw value is validated here and anything bad becomes a
readable :class:`gradio.Error`.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..experiments import EXAMPLE_IMAGES, KINDS, ExperimentSpec, ExperimentUpdate, experiment_updates, spec_from_json
from ..experiments.kinds import parse_channels
from ..hub import WeightsError
from .common import (
    MAX_IMAGE_SIZE, MAX_ITERATIONS, MAX_RESTARTS, MIN_IMAGE_SIZE, UserError, default_family, family_names, gpu,
    guarded, layer_names, parse_choice, parse_int, user_errors, weights_choice, weights_env_name, weights_note,
)  # fmt: skip
from .results import RUNS_ROOT
from .uploads import read_upload

#: One update: grid image, status markdown, metrics, download paths (the outputs' order).
Outputs = tuple[Any, str, dict, Any]
#: Most inversions (layers × variants) one experiment may run in the app.
MAX_JOBS = 24
#: Most seconds between two streamed grids (the last one is always sent).
STREAM_EVERY_S = 0.3
DEFAULT_ITERATIONS, DEFAULT_SIZE = 100, 96
MAX_NEIGHBOURHOOD = 32
#: Which parameter controls each experiment shows.
PARAMETERS = {
    "layer_sweep": (), "restarts": ("restarts",), "receptive_field": ("neighbourhood", "include_full"),
    "channels": ("channels", "include_full"), "tv_sweep": ("values",), "tv_beta": ("values",), "alpha_norm": (),
}  # fmt: skip


def kind_help(kind: str) -> str:
    """Markdown: what the experiment shows and its parameters' defaults."""
    info = KINDS[kind]
    text = f"**{info.title}**: {info.description}."
    if info.paper_layers:
        text += f" The paper used AlexNet's {', '.join(info.paper_layers)}."
    layers = "every layer" if info.all_layers else "the family's default layer"
    return text + f" Layers left empty: {layers}."


def _values_default(kind: str) -> str:
    values = KINDS[kind].defaults.get("values")
    return ", ".join(f"{v:g}" for v in values) if values else ""


def _weights(family: str) -> str | None:
    return weights_choice(family)


def build_spec(
    kind: Any, representation: Any, layers: Any, example: Any, restarts: Any, neighbourhood: Any, channels: Any,
    include_full: Any, values: Any, iterations: Any, image_size: Any, seed: Any,
) -> ExperimentSpec:
    """Validate the controls' raw values into a spec (the image is passed separately).

    Raises:
        UserError: a readable message naming the bad value.
    """
    kind = parse_choice(kind, "experiment", list(KINDS))
    family = parse_choice(representation, "representation", family_names())
    known = layer_names(family)
    chosen = [layers] if isinstance(layers, str) else list(layers or [])
    for layer in chosen:
        parse_choice(layer, f"layer of {family}", known)
    example = parse_choice(example or EXAMPLE_IMAGES[0], "example image", list(EXAMPLE_IMAGES))
    params: dict[str, Any] = {}
    wanted = PARAMETERS[kind]
    if "restarts" in wanted:
        params["restarts"] = parse_int(restarts, "restarts", 1, MAX_RESTARTS)
    if "neighbourhood" in wanted:
        params["neighbourhood"] = parse_int(neighbourhood, "neighbourhood", 1, MAX_NEIGHBOURHOOD)
    if "channels" in wanted:
        try:
            choice = parse_channels(channels or "halves")
        except ValueError as err:
            raise UserError(str(err)) from None
        params["channels"] = choice if choice == "halves" else list(choice)
    if "include_full" in wanted:
        params["include_full"] = bool(include_full)
    if "values" in wanted and str(values or "").strip():
        params["values"] = str(values)
    config = {
        "iterations": parse_int(iterations, "iterations", 1, MAX_ITERATIONS),
        "seed": parse_int(seed if seed not in (None, "") else 0, "seed", 0, 2**31 - 1),
        "image_size": [parse_int(image_size, "image size", MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)] * 2,
        "snapshot_every": 10,
    }
    return ExperimentSpec(kind, family, tuple(chosen), f"example:{example}", config, params, _weights(family))


def _check_app_limits(spec: ExperimentSpec) -> ExperimentSpec:
    """Keep a spec (from the controls or an uploaded JSON) within what the app allows: the
    server's own weights, no device choice, bounded iterations, size and restarts."""
    config = dict(spec.config)
    config.pop("device", None)
    parse_int(config.get("iterations", 400), "iterations", 1, MAX_ITERATIONS)
    parse_int(config.get("restarts", 1), "restarts", 1, MAX_RESTARTS)
    size = config.get("image_size")
    for side in ([size] * 2 if isinstance(size, (int, float)) else size or []):
        parse_int(side, "image size", MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
    if "restarts" in spec.params:
        parse_int(spec.params["restarts"], "restarts", 1, MAX_RESTARTS)
    family = spec.representation.partition(":")[0]
    parse_choice(family, "representation", family_names())
    return dataclasses.replace(spec, config=config, weights=_weights(family))


def _gpu_seconds(spec: ExperimentSpec, image: np.ndarray | None = None) -> int:
    """ZeroGPU time to reserve: generous for the largest experiment the app allows."""
    steps = int(spec.config.get("iterations") or 400)
    return int(min(600, 30 + steps * MAX_JOBS * 0.01))


@gpu(duration=_gpu_seconds)
def stream_updates(spec: ExperimentSpec, image: np.ndarray | None = None) -> Iterator[ExperimentUpdate]:
    """Run the experiment on the default device, refusing ones with more than
    :data:`MAX_JOBS` inversions; yields updates holding numpy data only."""
    updates = experiment_updates(spec, image)
    first = next(updates)
    jobs = first.inversions
    if jobs > MAX_JOBS:
        updates.close()
        raise UserError(f"this experiment runs {jobs} inversions; the app allows {MAX_JOBS}: choose fewer layers")
    yield first
    yield from updates


def status_text(update: ExperimentUpdate) -> str:
    """Markdown: a progress bar, the step of the running inversion and the panels done."""
    bar = "█" * round(20 * update.progress) + "░" * (20 - round(20 * update.progress))
    head = "**Done**" if update.done else "**Running**"
    return f"`{bar}` {update.progress:.0%}  \n{head}: {update.message}  \n{len(update.panels)} of {update.total} panels"


def _metrics(update: ExperimentUpdate) -> dict[str, Any]:
    rows = [{"label": p.label, "relative_error": round(p.relative_error, 5), "seconds": round(p.seconds, 2)}
            for p in update.panels]  # fmt: skip
    summary = update.result.metrics if update.result is not None else {}
    return {"summary": summary, "panels": rows}


def _stream(spec: ExperimentSpec, image: np.ndarray | None) -> Iterator[Outputs]:
    """Turn the experiment's updates into the tab's outputs, throttled to one grid every
    :data:`STREAM_EVERY_S` seconds; the final update writes the downloads."""
    shown = 0.0
    updates = guarded(stream_updates(spec, image), "The experiment failed")
    try:
        for update in updates:
            if not update.done and time.monotonic() - shown < STREAM_EVERY_S:
                continue
            shown = time.monotonic()
            files = None
            if update.done and update.result is not None:
                with user_errors("Could not write the results"):
                    RUNS_ROOT.mkdir(parents=True, exist_ok=True)
                    folder = Path(tempfile.mkdtemp(prefix="experiment-", dir=RUNS_ROOT))
                    files = [str(p) for p in update.result.save(folder).values()]
            yield update.grid(), status_text(update), _metrics(update), files
    finally:
        updates.close()


def _image(payload: Any) -> np.ndarray | None:
    if payload in (None, "", []):
        return None
    pixels, _ = read_upload(payload)
    return pixels


def run_experiment_ui(
    kind: Any, representation: Any, layers: Any, image: Any, example: Any, restarts: Any, neighbourhood: Any,
    channels: Any, include_full: Any, values: Any, iterations: Any, image_size: Any, seed: Any,
) -> Iterator[Outputs]:
    """Run an experiment from the tab's controls and stream ``(grid, status, metrics, files)``.

    ``image``: an uploaded image file (``None`` = the example image ``example``).
    """
    with user_errors("Cannot run"):
        spec = build_spec(kind, representation, layers, example, restarts, neighbourhood, channels, include_full,
                          values, iterations, image_size, seed)  # fmt: skip
        pixels = _image(image)
        _check_weights(spec)
    yield from _stream(spec, pixels)


def run_from_json_ui(files: Any) -> Iterator[Outputs]:
    """Repeat an experiment from its JSON (and, for uploaded images, the ``*_input.png``
    saved with it), within the app's limits and with the server's weights."""
    with user_errors("Cannot repeat"):
        paths = [_file_path(f) for f in (files if isinstance(files, list) else [files]) if f not in (None, "")]
        documents = [p for p in paths if p.suffix.lower() == ".json"]
        if len(documents) != 1:
            raise UserError("upload one experiment .json (and the *_input.png saved with it, if any)")
        spec = spec_from_json(documents[0])
        pixels = None
        image = spec.image or ""
        if not image.startswith("example:"):
            by_name = {p.name: p for p in paths}
            if Path(image).name not in by_name:
                raise UserError(f"the experiment's image {Path(image).name!r} was not uploaded with the JSON")
            pixels = _image(str(by_name[Path(image).name]))
            spec = dataclasses.replace(spec, image=None)
        spec = _check_app_limits(spec)
        _check_weights(spec)
    yield from _stream(spec, pixels)


def _file_path(payload: Any) -> Path:
    if isinstance(payload, dict):
        payload = payload.get("path")
    if not isinstance(payload, (str, Path)) or not payload:
        raise UserError("an uploaded file arrived without a path")
    return Path(payload)


def _check_weights(spec: ExperimentSpec) -> None:
    """Fail early, with the fix, when a CNN family's pretrained weights cannot be had."""
    from ..representations import get_family, load_representation

    family = get_family(spec.representation.partition(":")[0])
    if not family.needs_weights or spec.weights == "random":
        return
    try:
        load_representation(family.name, family.layers[0].name, weights=spec.weights, device="cpu")
    except WeightsError as err:
        raise UserError(
            f"Cannot load the weights of {family.name}: {err} Set {weights_env_name(family.name)}="
            "/path/to/weights.safetensors (or INVERTER_RANDOM_WEIGHTS=1 for an untrained network)."
        ) from None


def on_kind(kind: str, family: str) -> tuple[Any, ...]:
    """New experiment: its help, which parameter controls show, their defaults, and the
    paper's layers when the family has them."""
    wanted = PARAMETERS.get(kind, ())
    info = KINDS[kind]
    known = layer_names(family) if family in family_names() else []
    suggested = [layer for layer in info.paper_layers if layer in known]
    include = bool(info.defaults.get("include_full", False))
    return (
        kind_help(kind),
        gr.update(value=suggested),
        gr.update(visible="restarts" in wanted),
        gr.update(visible="neighbourhood" in wanted),
        gr.update(visible="channels" in wanted),
        gr.update(visible="include_full" in wanted, value=include),
        gr.update(visible="values" in wanted, value=_values_default(kind)),
    )


def on_family(family: str, kind: str) -> tuple[Any, ...]:
    """New representation family: its layers (the paper's for this experiment if present) and weights note."""
    with user_errors("Unknown representation"):
        known = layer_names(family)
    suggested = [layer for layer in KINDS[kind].paper_layers if layer in known] if kind in KINDS else []
    return gr.update(choices=known, value=suggested), weights_note(family)


def build_experiments_tab() -> dict[str, Any]:
    """Lay out the tab inside the current ``gr.Tab``/``gr.Blocks`` and wire its events.

    Returns:
        The components by name and the two events (``"run_event"``, ``"json_event"``).
    """
    family = default_family()
    kind = "layer_sweep"
    c: dict[str, Any] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=360):
            c["kind"] = gr.Dropdown([(k.title, name) for name, k in KINDS.items()], value=kind, label="Experiment",
                                    elem_id="exp-kind")  # fmt: skip
            c["help"] = gr.Markdown(kind_help(kind), elem_id="exp-help")
            with gr.Row():
                c["representation"] = gr.Dropdown(family_names(), value=family, label="Representation",
                                                  elem_id="exp-representation")  # fmt: skip
                c["layers"] = gr.Dropdown(layer_names(family), value=[], multiselect=True,
                                          label="Layers (empty = the experiment's default)", elem_id="exp-layers")
            c["note"] = gr.Markdown(weights_note(family), elem_id="exp-weights-note")
            with gr.Row():
                c["image"] = gr.Image(label="Image (optional upload)", type="filepath", image_mode=None,
                                      sources=["upload", "clipboard"], height=200, elem_id="exp-image")
                c["example"] = gr.Radio(list(EXAMPLE_IMAGES), value=EXAMPLE_IMAGES[0],
                                        label="…or an example image", elem_id="exp-example")  # fmt: skip
            with gr.Group():
                c["restarts"] = gr.Slider(1, MAX_RESTARTS, value=4, step=1, label="Restarts K", visible=False)
                c["neighbourhood"] = gr.Slider(1, MAX_NEIGHBOURHOOD, value=5, step=1,
                                               label="Central N×N code units", visible=False)  # fmt: skip
                c["channels"] = gr.Textbox("halves", label="Channels: 'halves' or START:STOP (stop exclusive)",
                                           visible=False)  # fmt: skip
                c["include_full"] = gr.Checkbox(False, label="Also invert from the whole code", visible=False)
                c["values"] = gr.Textbox("", label="Values, comma-separated (λ_TV or β)", visible=False)
            with gr.Row():
                c["iterations"] = gr.Slider(1, MAX_ITERATIONS, value=DEFAULT_ITERATIONS, step=1,
                                            label="Iterations per panel", elem_id="exp-iterations")  # fmt: skip
                c["image_size"] = gr.Slider(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE, value=DEFAULT_SIZE, step=1,
                                            label="Image side, px", elem_id="exp-size")  # fmt: skip
                c["seed"] = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="exp-seed")
            with gr.Row():
                c["run"] = gr.Button("Run experiment", variant="primary", elem_id="exp-run")
                c["stop"] = gr.Button("Stop", variant="stop", elem_id="exp-stop")
            with gr.Accordion("Repeat an experiment from its JSON", open=False):
                c["json_files"] = gr.File(label="experiment .json (+ its *_input.png)", file_count="multiple",
                                          file_types=[".json", "image"], elem_id="exp-json")  # fmt: skip
                c["rerun"] = gr.Button("Repeat", elem_id="exp-rerun")
        with gr.Column(scale=7, min_width=420):
            c["status"] = gr.Markdown("Choose an experiment and press **Run experiment**.", elem_id="exp-status")
            c["grid"] = gr.Image(label="Grid", show_label=False, format="png", interactive=False, elem_id="exp-grid")
            with gr.Row():
                c["metrics"] = gr.JSON(label="Metrics", elem_id="exp-metrics")
                c["files"] = gr.File(label="Downloads (grid PNG, JSON, input)", file_count="multiple",
                                     interactive=False, elem_id="exp-downloads")  # fmt: skip
    outputs = [c["grid"], c["status"], c["metrics"], c["files"]]
    params = [c[k] for k in ("restarts", "neighbourhood", "channels", "include_full", "values")]
    c["kind"].change(on_kind, [c["kind"], c["representation"]], [c["help"], c["layers"], *params],
                     api_visibility="private", queue=False)  # fmt: skip
    c["representation"].change(on_family, [c["representation"], c["kind"]], [c["layers"], c["note"]],
                               api_visibility="private", queue=False)  # fmt: skip
    inputs = [c[k] for k in ("kind", "representation", "layers", "image", "example", "restarts", "neighbourhood",
                             "channels", "include_full", "values", "iterations", "image_size", "seed")]  # fmt: skip
    c["run_event"] = c["run"].click(
        run_experiment_ui, inputs, outputs, api_name="experiment", preprocess=False, concurrency_id="inversion",
        show_progress="minimal", show_progress_on=[c["status"]],
    )  # fmt: skip
    c["json_event"] = c["rerun"].click(
        run_from_json_ui, [c["json_files"]], outputs, api_name="experiment_from_json", preprocess=False,
        concurrency_id="inversion", show_progress="minimal", show_progress_on=[c["status"]],
    )  # fmt: skip
    c["stop"].click(None, cancels=[c["run_event"], c["json_event"]])
    return c
