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
import inspect
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from .. import cost
from ..errors import InverterError, UserError
from ..experiments import (
    EXAMPLE_IMAGES, KINDS, ExperimentSpec, ExperimentUpdate, experiment_updates, plan_experiment, spec_from_json,
)  # fmt: skip
from ..experiments.kinds import PARAMETER_OPTIONS, parse_channels
from ..representations import get_family
from ..representations.registry import parse_name, resolve_weights
from ..settings import BY_NAME, EXPERIMENT_TAB, SETTINGS, Choice, Integer, resolve_settings
from ..weights import weights_text
from .choices import default_family, family_names, family_of, get_representation, layer_names, weights_note
from .errors import guarded, user_errors
from .form import api_inputs, controls, endpoint, parameter_docs, parameter_named, read_settings, string_list, validator
from .results import RUNS_ROOT
from .status import Runs, progress_bar
from .uploads import check_upload, read_upload
from .zerogpu import check_budget, cost_text, gpu, gpu_request, machine, serving_device

#: One update: grid image, status markdown, metrics, download paths (the outputs' order).
Outputs = tuple[Any, str, dict, Any]
#: Most inversions (layers × variants) one experiment may run in the app.
MAX_JOBS = 24
#: Most seconds between two streamed grids (the last one is always sent).
STREAM_EVERY_S = 0.3
MAX_NEIGHBOURHOOD = 32
#: The experiments under way, by session.
RUNS = Runs()
#: Shown when an experiment is stopped.
STOPPED = "**Stopped**: the panels shown are those finished before the stop."
#: Kinds' parameters that are inversion settings (the restarts view's K), offered with the setting's range.
SHADOWED = tuple(dict.fromkeys(name for kind in KINDS.values() for name in kind.shadows))
#: Every kind parameter the tab offers, in the endpoint's order.
PARAMETER_NAMES = SHADOWED + tuple(PARAMETER_OPTIONS)
#: Which parameter controls each experiment shows.
PARAMETERS = {name: tuple(p for p in PARAMETER_NAMES if p in kind.defaults) for name, kind in KINDS.items()}
#: The settings this tab offers, shared by every panel.
TAB_SETTINGS = tuple(BY_NAME[name] for name in EXPERIMENT_TAB)


def kind_help(kind: str) -> str:
    """Markdown: what the experiment shows and its parameters' defaults."""
    info = KINDS[kind]
    text = f"**{info.title}**: {info.description}."
    if info.paper_layers:
        text += f" The paper used AlexNet's {', '.join(info.paper_layers)}."
    return text + f" Layers left empty: {info.default_layers_text}."


def _values_default(kind: str) -> str:
    values = KINDS[kind].defaults.get("values")
    return ", ".join(f"{v:g}" for v in values) if values else ""


def _weights(family: str) -> str | None:
    """The weights the server uses for ``family`` (as the environment chooses), as text."""
    fam = family_of(family)
    return weights_text(resolve_weights(fam).spec) if fam.needs_weights else None


def _app_defaults() -> dict[str, Any]:
    """The app's own defaults of the settings this tab does not offer (the update interval)."""
    return {s.name: s.initial for s in SETTINGS if s.initial != s.default and s.name not in EXPERIMENT_TAB}


def build_spec(values: dict[str, Any]) -> ExperimentSpec:
    """Validate the controls' raw values (by parameter name) into a spec (the image is passed separately).

    Raises:
        inverter.errors.InverterError: a readable message naming the bad value.
    """
    kind = values.get("kind")
    if kind not in KINDS:
        raise UserError(f"kind (the experiment) must be one of {', '.join(KINDS)}; got {kind!r}")
    family = family_of(values.get("representation")).name
    known = layer_names(family)
    layers = values.get("layers")
    chosen = [layers] if isinstance(layers, str) else list(layers or [])
    for layer in chosen:
        if layer not in known:
            raise UserError(f"layers of {family} must be among {', '.join(known)}; got {layer!r}")
    example = values.get("example") or EXAMPLE_IMAGES[0]
    if example not in EXAMPLE_IMAGES:
        raise UserError(f"example image must be one of {', '.join(EXAMPLE_IMAGES)}; got {example!r}")
    params: dict[str, Any] = {}
    wanted = PARAMETERS[kind]
    for name in SHADOWED:
        if name in wanted:
            params[name] = BY_NAME[name].coerce(values.get(name), app=True)
    if "neighbourhood" in wanted:
        params["neighbourhood"] = Integer(1, MAX_NEIGHBOURHOOD).coerce(values.get("neighbourhood"), "neighbourhood")
    if "channels" in wanted:
        choice = parse_channels(values.get("channels") or "halves")
        params["channels"] = choice if choice == "halves" else list(choice)
    if "include_full" in wanted:
        params["include_full"] = bool(values.get("include_full"))
    if "values" in wanted and str(values.get("values") or "").strip():
        params["values"] = str(values["values"])
    config = _app_defaults() | {k: v for k, v in read_settings(values, TAB_SETTINGS).items() if v is not None}
    return ExperimentSpec(kind, family, tuple(chosen), f"example:{example}", config, params, _weights(family))


def _check_app_limits(spec: ExperimentSpec) -> ExperimentSpec:
    """Keep a spec (from an uploaded JSON) within what the app allows: the server's own
    weights, no device choice, every setting within the app's range."""
    config = {k: v for k, v in spec.config.items() if k not in BY_NAME or BY_NAME[k].pinned}
    for name, value in config.items():
        if name in BY_NAME:
            BY_NAME[name].coerce(value, app=True)
    for name in KINDS[spec.kind].shadows if spec.kind in KINDS else ():
        if name in spec.params:
            BY_NAME[name].coerce(spec.params[name], app=True)
    return dataclasses.replace(spec, config=config, weights=_weights(spec.representation.partition(":")[0]))


def estimate(spec: ExperimentSpec) -> float:
    """Seconds the experiment would take on the serving hardware, planned on ``meta``-device networks
    (no weights read); refuses one with more than :data:`MAX_JOBS` inversions.

    Raises:
        inverter.errors.InverterError: a bad spec, or too many inversions.
    """
    family = parse_name(spec.representation)[0]
    planned = plan_experiment(spec, lambda layer: cost.skeleton(family, layer))
    if len(planned.jobs) > MAX_JOBS:
        raise UserError(f"this experiment runs {len(planned.jobs)} inversions; the app allows {MAX_JOBS}: "
                        "choose fewer layers")  # fmt: skip
    seconds = 0.0
    for j, (layer, config) in enumerate(planned.configs()):
        rep = cost.skeleton(family, layer)
        settings = resolve_settings(rep, config.replace(device=serving_device()))
        seconds += cost.estimate_seconds(rep, settings, machine(), setup=j == 0)
    return seconds


def budget(spec: ExperimentSpec) -> tuple[float, int]:
    """``(estimated seconds, ZeroGPU seconds to ask for)`` of a spec within the app's budget.

    Raises:
        inverter.errors.InverterError: a bad spec, too many inversions, or over the budget.
    """
    seconds = estimate(spec)
    check_budget(seconds, "This experiment")
    return seconds, gpu_request(seconds)


def _load_networks(spec: ExperimentSpec) -> None:
    """Load the networks the experiment inverts into the app's cache, on the device, outside the GPU
    function (fails early, with the fix, when pretrained weights cannot be had)."""
    networks = _networks(spec)
    family = get_family(parse_name(spec.representation)[0])
    if networks is not None and family.needs_weights:
        for layer in dict.fromkeys(layer for layer, _ in plan_experiment(spec, networks).configs()):
            networks(layer)


def _networks(spec: ExperimentSpec) -> Any:
    """The app's cached networks for the spec's family (on the device already), or ``None`` (the
    runner's own, seeded) for random weights."""
    if spec.weights == "random":
        return None
    family = parse_name(spec.representation)[0]
    return lambda layer: get_representation(family, layer)


@gpu(duration=lambda spec, image, seconds: seconds)
def stream_updates(spec: ExperimentSpec, image: np.ndarray | None, seconds: int) -> Iterator[ExperimentUpdate]:
    """Run the experiment on the serving device (on the GPU under ZeroGPU: a forked worker, where
    only a :class:`gradio.Error` keeps its message, so every error becomes one here); ``seconds``
    is the GPU time asked for. Yields updates holding numpy data only."""
    yield from guarded(experiment_updates(spec, image, _networks(spec)), "The experiment failed")


def status_text(update: ExperimentUpdate) -> str:
    """Markdown: a progress bar, the step of the running inversion and the panels done."""
    head = "**Done**" if update.done else "**Running**"
    return (f"{progress_bar(update.progress, 'Experiment progress')}  \n{head}: {update.message}  \n"
            f"{len(update.panels)} of {update.total} panels")


def _metrics(update: ExperimentUpdate) -> dict[str, Any]:
    rows = [{"label": p.label, "relative_error": round(p.relative_error, 5), "seconds": round(p.seconds, 2)}
            for p in update.panels]  # fmt: skip
    summary = update.result.metrics if update.result is not None else {}
    return {"summary": summary, "panels": rows}


def _stream(spec: ExperimentSpec, image: np.ndarray | None) -> Iterator[Outputs]:
    """Turn the experiment's updates into the tab's outputs, throttled to one grid every
    :data:`STREAM_EVERY_S` seconds; the final update writes the downloads. The first says what
    the experiment will cost (checked against the budget before, by the caller)."""
    with user_errors("Cannot run"):
        seconds, request = budget(spec)
        _load_networks(spec)
    yield None, f"Starting **{KINDS[spec.kind].title}** on {spec.representation} …  \n{cost_text(seconds)}", {}, None
    with RUNS.running():
        yield from _updates(guarded(stream_updates(spec, image, request), "The experiment failed"))


def _updates(updates: Iterator[ExperimentUpdate]) -> Iterator[Outputs]:
    shown = 0.0
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
        updates.close()  # type: ignore[attr-defined]


def stopped(request: gr.Request) -> str:
    """The status after Stop, once the session's experiment has ended."""
    RUNS.wait_ended(str(request.session_hash or ""))
    return STOPPED


def _image(payload: Any) -> np.ndarray | None:
    if payload in (None, "", []):
        return None
    pixels, _ = read_upload(payload)
    return pixels


def _run(values: dict[str, Any], progress: Any = None) -> Iterator[Outputs]:
    """Run an experiment from the tab's raw values and stream ``(grid, status, metrics, files)``."""
    with user_errors("Cannot run"):
        spec = build_spec(values)
        pixels = _image(values.get("image"))
    yield from _stream(spec, pixels)


LEADING = [
    (inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind, default=None), doc)
    for name, kind, doc in (
        ("kind", str, "the experiment: " + "; ".join(f"{name} ({k.title})" for name, k in KINDS.items())),
        ("representation", str, f"family name: {', '.join(family_names())}, or any timm:<model>; /representations "
                                "lists each one's layers"),
        ("layers", list[str], "layers of that family (any family's, see /representations); empty = the experiment's "
                              "default: " + "; ".join(  # the kinds' own defaults, in words
                                  f"{t} for " + ", ".join(n for n, k in KINDS.items() if k.default_layers_text == t)
                                  for t in dict.fromkeys(k.default_layers_text for k in KINDS.values()))),
        ("image", dict, "an uploaded image file (gradio_client.handle_file); None = the example image"),
        ("example", str, f"the example image used when no image is uploaded: {', '.join(EXAMPLE_IMAGES)}"),
        *((name, int, f"{name} of the restarts view: panels per layer (1…{BY_NAME[name].app_range[1]:g})")
          for name in SHADOWED),
        *((name, option[2], option[1]) for name, option in PARAMETER_OPTIONS.items()),
    )
]  # fmt: skip
experiment = endpoint(
    "experiment", LEADING, "Run one of the paper's experiments (Mahendran & Vedaldi) on a representation: a labelled "
    "grid of reconstructions (one per layer, restart, λ or mask); streams the grid as it fills in.",
    "Streams tuples (grid image, status markdown, metrics dict, downloads: the grid PNG, the JSON and the input).",
    _run, TAB_SETTINGS,
)  # fmt: skip


def problems(values: dict[str, Any]) -> dict[str, str]:
    """What is wrong with an experiment request, by parameter (``{}``: nothing), before it is queued:
    without decoding an upload, reading weights or asking for a GPU."""
    found: dict[str, str] = {}
    if values.get("image") not in (None, "", []):
        try:
            check_upload(values["image"])
        except InverterError as err:
            found["image"] = str(err)
    try:
        budget(build_spec(values))
    except InverterError as err:
        found.setdefault(parameter_named(str(err), [n for n in values if n != "image"], default="kind"), str(err))
    return found


validate_experiment = validator(experiment, problems)


def experiment_from_json(files: Any) -> Iterator[Outputs]:
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
    yield from _stream(spec, pixels)


def _file_path(payload: Any) -> Path:
    if isinstance(payload, dict):
        payload = payload.get("path")
    if not isinstance(payload, (str, Path)) or not payload:
        raise UserError("an uploaded file arrived without a path")
    return Path(payload)


def on_kind(kind: str, family: str) -> tuple[Any, ...]:
    """New experiment: its help, which parameter controls show, their defaults, and the
    paper's layers when the family has them."""
    wanted = PARAMETERS.get(kind, ())
    info = KINDS[kind]
    known = layer_names(family) if family in family_names() else []
    suggested = [layer for layer in info.paper_layers if layer in known]
    return (
        kind_help(kind),
        gr.update(value=suggested),
        *(gr.update(visible=name in wanted, **_parameter_value(name, info)) for name in PARAMETER_NAMES),
    )


def _parameter_value(name: str, kind: Any) -> dict[str, Any]:
    """The value a parameter control takes when its kind is chosen (``{}``: leave it)."""
    if name == "values":
        return {"value": _values_default(kind.name)}
    if name in kind.defaults and isinstance(kind.defaults[name], bool):
        return {"value": kind.defaults[name]}
    return {}


def on_family(family: str, kind: str) -> tuple[Any, ...]:
    """New representation family: its layers (the paper's for this experiment if present) and weights note."""
    with user_errors("Unknown representation"):
        family = family_of(family).name
        known = layer_names(family)
    suggested = [layer for layer in KINDS[kind].paper_layers if layer in known] if kind in KINDS else []
    return gr.update(choices=known, value=suggested), weights_note(family)


def _parameter_controls() -> dict[str, gr.components.Component]:
    """The kinds' parameter controls, hidden until a kind that has them is chosen."""
    out: dict[str, gr.components.Component] = {}
    for name in SHADOWED:
        default = next(kind.defaults[name] for kind in KINDS.values() if name in kind.defaults)
        (out[name],) = controls(BY_NAME[name], value=default, prefix="exp-", visible=False).values()
    out["neighbourhood"] = gr.Slider(1, MAX_NEIGHBOURHOOD, value=5, step=1, label="Central N×N code units",
                                     visible=False)  # fmt: skip
    out["channels"] = gr.Textbox("halves", label="Channels: 'halves' or START:STOP (stop exclusive)", visible=False)
    out["include_full"] = gr.Checkbox(False, label="Also invert from the whole code", visible=False)
    out["values"] = gr.Textbox("", label="Values, comma-separated (λ_TV or β)", visible=False)
    return out


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
                c["representation"] = gr.Dropdown(family_names(), value=family, allow_custom_value=True,
                                                  label="Representation (or type timm:<model>)",
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
                c.update(_parameter_controls())
            with gr.Row():
                for s in TAB_SETTINGS:
                    c.update(controls(s, value=EXPERIMENT_TAB[s.name], prefix="exp-"))
            with gr.Row():
                c["run"] = gr.Button("Run experiment", variant="primary", elem_id="exp-run")
                c["stop"] = gr.Button("Stop", variant="stop", elem_id="exp-stop")
            with gr.Accordion("Repeat an experiment from its JSON", open=False):
                c["json_files"] = gr.File(label="experiment .json (+ its *_input.png)", file_count="multiple",
                                          file_types=[".json", "image"], elem_id="exp-json")  # fmt: skip
                c["rerun"] = gr.Button("Repeat", elem_id="exp-rerun")
        with gr.Column(scale=7, min_width=420):
            c["status"] = gr.Markdown("Choose an experiment and press **Run experiment**.", elem_id="exp-status")
            c["grid"] = gr.Image(label="Grid", show_label=False, format="png", interactive=False, elem_id="exp-grid",
                                 alt_text="The experiment's grid: the input, then one reconstruction per layer, "
                                          "restart or setting, each captioned with its relative error")  # fmt: skip
            with gr.Row():
                c["metrics"] = gr.JSON(label="Metrics", elem_id="exp-metrics")
                c["files"] = gr.File(label="Downloads (grid PNG, JSON, input)", file_count="multiple",
                                     interactive=False, elem_id="exp-downloads")  # fmt: skip
    outputs = [c["grid"], c["status"], c["metrics"], c["files"]]
    params = [c[k] for k in PARAMETER_NAMES]
    c["kind"].change(on_kind, [c["kind"], c["representation"]], [c["help"], c["layers"], *params],
                     api_visibility="private", queue=False)  # fmt: skip
    c["representation"].change(on_family, [c["representation"], c["kind"]], [c["layers"], c["note"]],
                               api_visibility="private", queue=False)  # fmt: skip
    inputs = [c[p.name] for p, _ in LEADING] + [c[name] for s in TAB_SETTINGS for name in (s.name,)]
    c["run_event"] = c["run"].click(
        experiment, inputs, outputs, api_name="experiment_from_ui", api_visibility="private", preprocess=False,
        concurrency_id="inversion", show_progress="minimal", show_progress_on=[c["status"]],
        validator=validate_experiment,
    )  # fmt: skip
    c["api_event"] = _api_endpoint(c, outputs)
    c["json_event"] = c["rerun"].click(
        experiment_from_json, [c["json_files"]], outputs, api_name="experiment_from_json", preprocess=False,
        concurrency_id="inversion", show_progress="minimal", show_progress_on=[c["status"]],
    )  # fmt: skip
    c["stop"].click(None, cancels=[c["run_event"], c["json_event"]])  # first: listeners run in order
    c["stop"].click(stopped, None, [c["status"]], concurrency_limit=None, show_progress="hidden",
                    api_visibility="private")  # fmt: skip
    return c


def _api_endpoint(c: dict[str, Any], outputs: list[Any]) -> Any:
    """The public ``/experiment`` endpoint: hidden inputs typed for API and MCP callers — a free-text
    representation, any list of layers (every family's are valid), whole numbers as integers —
    with the visible controls' defaults; the uploaded image is the tab's own input."""
    docs = dict((p.name, doc) for p, doc in LEADING) | parameter_docs(TAB_SETTINGS)
    inputs: list[Any] = []
    with gr.Row(visible=False):
        for p, _ in LEADING:
            shown, label = c[p.name], f"{p.name}: {docs[p.name]}"
            if p.name == "image":
                inputs.append(shown)
            elif p.annotation == list[str]:
                inputs.append(string_list(label))
            elif isinstance(shown, (gr.Dropdown, gr.Radio)) and p.name != "representation":
                inputs.append(gr.Dropdown(shown.choices, value=shown.value, label=label))
            elif p.annotation is int:
                inputs.append(gr.Number(shown.value, precision=0, label=label))
            elif p.annotation is bool:
                inputs.append(gr.Checkbox(shown.value, label=label))
            else:
                inputs.append(gr.Textbox(shown.value, label=label))
        for s in TAB_SETTINGS:
            inputs += list(api_inputs(s, docs, value=EXPERIMENT_TAB[s.name]).values())
        trigger = gr.Button("experiment (API)")
    return trigger.click(experiment, inputs, outputs, api_name="experiment", preprocess=False,
                         concurrency_id="inversion", show_progress="hidden", validator=validate_experiment)
