"""The "Invert" tab: components, their wiring, and the public ``/invert`` endpoint.

Two events share one handler (:func:`inverter.ui.invert_run.run_inversion`): the Run
button (browser only), whose knobs hold the layer's preset values, and a hidden trigger
published as ``/invert`` whose settings default to ``None`` = "the layer's preset", so that
a client naming only a representation gets that layer's paper settings. The knobs, the
endpoint's parameters and their documentation all come from the settings schema
(:mod:`inverter.ui.form`). Both events run with ``preprocess=False``: every raw value is
validated by the handler, which answers anything bad with a readable :class:`gradio.Error`.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ..settings import SETTINGS
from .choices import (
    METHOD, code_shape, default_family, default_layer, family_names, family_of, layer_names, method_choices,
    preset_knobs, target_choices, weights_note,
)
from .errors import user_errors
from .form import api_inputs, controls, endpoint, offered, parameter_docs, params_of, validator
from .invert_run import Outputs, cost_line, problems, run_inversion, stopped
from .uploads import DOWNSCALE_SIDE, MAX_UPLOAD_BYTES, MAX_UPLOAD_SIDE
from .zerogpu import max_run_seconds, on_gpu

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
#: Families of the example rows, in turn (those registered): a small CNN, the paper's network, HOG, DINOv2.
EXAMPLE_FAMILIES = ("squeezenet1_1", "alexnet", "hogb", "timm:vit_small_patch14_dinov2.lvd142m")
RECONSTRUCTION_ALT = ("The reconstruction: an image whose code under the chosen representation matches the input's, "
                      "found by gradient descent from random noise")  # fmt: skip
REFERENCE_ALT = "The input image as the representation sees it: cropped, resized and, for HOG and DSIFT, grey"
#: Knobs that a layer change refills with the layer's preset.
PRESET_KEYS = tuple(s.name for s in offered() if s.preset)
#: The knobs that choose or adapt the preset (the method, the objective): choosing one refills the others.
SELECTORS = tuple(s.name for s in offered() if s.selects_preset or hasattr(s.kind, "adjust_preset"))
#: The knobs whose choices follow the layer (activation maximisation's target).
TARGETS = tuple(s.name for s in offered() if s.widget == "unit_picker")
#: The endpoint's leading parameters, before the settings'.
LEADING = [
    (inspect.Parameter("image", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=dict),
     "the input image file (gradio_client.handle_file(path)); any mode, at most 8192 px a side."),
    (inspect.Parameter("representation", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
     f"family name: {', '.join(family_names())}, or any timm:<model>; /representations lists each one's layers."),
    (inspect.Parameter("layer", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str, default=""),
     "layer of that family (any family's, see /representations); '' = the family's default layer."),
]  # fmt: skip
RETURNS = ("Streams tuples (best reconstruction image, gallery of all restarts, relative-error curve, objective "
           "curve, status markdown, metrics dict, reference image, downloads); the last one has done=true in the "
           "metrics (relative_error, psnr_db, ssim against the reference) and the PNG, GIF and JSON downloads.")
invert = endpoint("invert", LEADING, "Reconstruct an image from its representation (Mahendran & Vedaldi): find an "
                  "image whose code under the representation matches the input's, with natural-image priors; streams "
                  "progress.", RETURNS, run_inversion)  # fmt: skip
#: Runs before a request is queued: a bad request is refused at once, each message on its input.
validate_invert = validator(invert, problems)
#: The settings whose knobs change what a run costs (steps, restarts, sizes): their changes refresh the estimate.
COST_WIDGETS = ("slider", "side")


@dataclass
class InvertTab:
    """Handles on the tab's components (tests and other tabs may use them)."""

    image: gr.Image
    representation: gr.Dropdown
    layer: gr.Dropdown
    knobs: dict[str, gr.components.Component]
    run: gr.Button
    stop: gr.Button
    outputs: list[gr.components.Component]
    run_event: Any
    api_event: Any


def example_images() -> list[str]:
    """Paths of the bundled example images (``examples/*.png|jpg``), sorted."""
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(str(p) for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))


def on_representation(family: str) -> tuple[Any, ...]:
    """New family: its layers (default selected), a note on its weights, its preset knobs and targets."""
    with user_errors("Unknown representation"):
        family = family_of(family).name
        layer = default_layer(family)
        return (gr.update(choices=layer_names(family), value=layer), weights_note(family), *on_layer(family, layer))


def target_info(family: str, layer: str | None) -> str:
    """The target control's help at a layer: the syntax, and the layer's valid classes or channels."""
    picker = next(s for s in offered() if s.widget == "unit_picker")
    shape = code_shape(family, layer)
    units = "classes" if len(shape) == 1 else "channels"
    return f"{picker.kind.describe()}; at {layer or default_layer(family)}: {units} 0…{shape[0] - 1}"


def on_layer(family: str, layer: str) -> tuple[Any, ...]:
    """New layer: its default preset's knobs (the method offering the layer's own presets), and
    what its activation maximisation can target (the choices, and the valid range in the info)."""
    with user_errors("Unknown layer"):
        knobs = preset_knobs(family, layer)
        targets = target_choices(family, layer)
        info = target_info(family, layer)
        methods = method_choices(family, layer)
    knobs[METHOD] = gr.update(choices=methods, value=knobs[METHOD])
    return (*(knobs[k] for k in PRESET_KEYS), *(gr.update(choices=targets, value=None, info=info) for _ in TARGETS))


def on_preset_choice(family: str, layer: str, *chosen: Any) -> tuple[Any, ...]:
    """A method or an objective chosen: the preset's knobs (the choosing controls keep their choice)."""
    with user_errors("Unknown method"):
        knobs = preset_knobs(family, layer, dict(zip(SELECTORS, chosen)))
    return tuple(knobs[k] for k in PRESET_KEYS if k not in SELECTORS)


def api_parameter_docs() -> dict[str, str]:
    """``{parameter: description}`` of the ``/invert`` endpoint, from its docstring."""
    from gradio.utils import get_function_description

    return get_function_description(invert)[1]


def _knobs(preset: dict[str, Any], choices: dict[str, list[str]],
           infos: dict[str, str] | None = None) -> dict[str, gr.components.Component]:  # fmt: skip
    """Every offered setting's control, main ones in rows, then the mask and the advanced ones in
    accordions; ``choices``: the controls whose choices follow the layer (method, target); ``infos``:
    the controls whose info does (the target's valid range)."""
    knobs: dict[str, gr.components.Component] = {}
    follow = {"choices": choices, "info": infos or {}}

    def layer_options(s: Any) -> dict[str, Any]:
        return {option: values[s.name] for option, values in follow.items() if s.name in values}

    main = [s for s in offered() if not s.advanced and s.widget != "mask_group"]
    for start in range(0, len(main), 3):
        with gr.Row():
            for s in main[start : start + 3]:
                knobs.update(controls(s, preset, **layer_options(s)))
    for s in offered():
        if s.widget == "mask_group":
            knobs.update(controls(s, preset))
    with gr.Accordion("Advanced", open=False):
        advanced = [s for s in offered() if s.advanced]
        for start in range(0, len(advanced), 2):
            with gr.Row():
                for s in advanced[start : start + 2]:
                    knobs.update(controls(s, preset, **layer_options(s)))
    return knobs


def example_rows() -> list[list[Any]]:
    """The Examples table: each bundled image with a family in turn, at its default layer and a small
    side (112 px for the transformers, a multiple of their patches; 128 px otherwise)."""
    families = [f for f in EXAMPLE_FAMILIES if f in family_names()]
    images = example_images()
    if not families:
        return []
    return [[path, families[i % len(families)], default_layer(families[i % len(families)]),
             112 if families[i % len(families)].startswith("timm:") else 128] for i, path in enumerate(images)]


def run_example(image: Any, representation: str, layer: str, size: Any) -> tuple[Any, ...]:
    """One example, run to the end with the layer's preset at a small side: the outputs Gradio caches
    (lazily: the first click on an example computes it, every later click shows it at once)."""
    side = next(s for s in offered() if s.widget == "side")
    last = None
    for last in run_inversion({"image": image, "representation": representation, "layer": layer, side.name: size}):
        pass
    assert last is not None
    best, gallery, _, _, status, metrics, reference, _ = last
    return best, gallery, status, metrics, reference


def build_invert_tab() -> InvertTab:
    """Lay out the tab inside the current ``gr.Blocks`` and wire its events."""
    family = default_family()
    layer = default_layer(family)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=360):
            image = gr.Image(label="Input image", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                             height=260, elem_id="input-image")
            examples_slot = gr.Column()
            with gr.Row():
                representation = gr.Dropdown(family_names(), value=family, allow_custom_value=True,
                                             label="Representation (or type timm:<model>)", elem_id="representation")
                layer_box = gr.Dropdown(layer_names(family), value=layer, label="Layer", elem_id="layer",
                                        allow_custom_value=True)  # checked before a run, with the known ones
            note = gr.Markdown(weights_note(family), elem_id="weights-note")
            knobs = _knobs(preset_knobs(family, layer), {**{t: target_choices(family, layer) for t in TARGETS},
                                                         METHOD: method_choices(family, layer)},
                           {t: target_info(family, layer) for t in TARGETS})
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="run")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
            cost = gr.Markdown(cost_line({"representation": family, "layer": layer, **preset_knobs(family, layer)}),
                               elem_id="cost")
            gr.Markdown(_limits_text(), elem_id="limits")
        with gr.Column(scale=7, min_width=420):
            status = gr.Markdown("Upload an image or pick an example, then press **Run**.", label="Status",
                                 elem_id="status")
            with gr.Row():
                best = gr.Image(label="Reconstruction (best restart)", format="png", interactive=False, height=300,
                                elem_id="reconstruction", alt_text=RECONSTRUCTION_ALT)
                reference = gr.Image(label="Reference: the input as Φ sees it", format="png", interactive=False,
                                     height=300, elem_id="reference", alt_text=REFERENCE_ALT)
            gallery = gr.Gallery(label="All restarts", columns=4, height=180, format="png", elem_id="gallery",
                                 object_fit="contain", allow_preview=True, fit_columns=False)
            with gr.Row():
                error_plot = gr.LinePlot(None, x="step", y="relative_error", color="restart", height=220,
                                         label="Relative error curve", title="Relative error ‖Φ(x)−Φ0‖/‖Φ0‖",
                                         elem_id="error-plot")  # fmt: skip
                objective_plot = gr.LinePlot(None, x="step", y="loss", color="restart", height=220,
                                             label="Objective curve", title="Objective E(x)", elem_id="objective-plot")
            with gr.Row():
                metrics = gr.JSON(label="Metrics", max_height=260, elem_id="metrics")
                files = gr.File(label="Downloads (PNG, progress GIF, JSON report, input)", file_count="multiple",
                                interactive=False, elem_id="downloads")
    outputs = [best, gallery, error_plot, objective_plot, status, metrics, reference, files]
    preset_outputs = [knobs[k] for k in PRESET_KEYS + TARGETS]
    representation.change(on_representation, [representation], [layer_box, note, *preset_outputs],
                          api_visibility="private", queue=False)
    layer_box.input(on_layer, [representation, layer_box], preset_outputs, api_visibility="private", queue=False)
    for name in SELECTORS:
        knobs[name].input(on_preset_choice, [representation, layer_box, *(knobs[k] for k in SELECTORS)],
                          [knobs[k] for k in PRESET_KEYS if k not in SELECTORS], api_visibility="private",
                          queue=False)  # fmt: skip
    inputs = [image, representation, layer_box, *(knobs[p] for s in offered() for p in params_of(s))]
    run_event = run.click(
        invert, inputs, outputs, api_name="invert_from_ui", api_visibility="private", preprocess=False,
        concurrency_id="inversion", show_progress="minimal", show_progress_on=[status], validator=validate_invert,
    )  # fmt: skip
    stop.click(None, cancels=[run_event])  # first: the page handles a trigger's listeners in order
    stop.click(stopped, None, [status], concurrency_limit=None, show_progress="hidden",
               api_visibility="private")  # queued: its line reaches the page after the run's last update
    _cost_events(cost, inputs, [representation, layer_box,
                                *(knobs[s.name] for s in offered() if s.widget in COST_WIDGETS)])
    side = next((knobs[s.name] for s in offered() if s.widget == "side"), None)
    rows = example_rows()
    if rows and side is not None:
        with examples_slot:
            gr.Examples(examples=rows, inputs=[image, representation, layer_box, side],
                        outputs=[best, gallery, status, metrics, reference], fn=run_example, cache_examples=True,
                        cache_mode="lazy", preprocess=False, label="Examples (click one: its result is kept for the "
                        "next visitor)", examples_per_page=8, elem_id="examples")  # fmt: skip
    api_event = _api_endpoint(image, outputs)
    return InvertTab(image, representation, layer_box, knobs, run, stop, outputs, run_event, api_event)


def _cost_events(cost: gr.Markdown, inputs: list[Any], triggers: list[Any]) -> None:
    """Refresh the cost estimate when the representation or a knob that changes the work changes."""
    names = [p.name for p in inspect.signature(invert).parameters.values() if p.name != "progress"]

    def estimate(*values: Any) -> str:
        return cost_line(dict(zip(names, values)))

    gr.on([t.change for t in triggers], estimate, inputs, [cost], queue=False, api_visibility="private",
          preprocess=False, show_progress="hidden")  # fmt: skip


def _limits_text() -> str:
    """The app's limits, from the schema's app ranges and the serving hardware's budget."""
    limits = [f"{s.name} ≤ {s.app_range[1]:g}" for s in SETTINGS if s.widget in ("slider", "side") and s.app_range
              and not s.advanced or s.widget == "side"]  # fmt: skip
    budget = max_run_seconds()
    run = f" A run may take at most {budget:g} s{' of GPU time' if on_gpu() else ''} (estimated before it starts)." \
        if budget else ""
    return (f"Limits: {', '.join(limits)}; uploads above {DOWNSCALE_SIDE} px are downscaled, above "
            f"{MAX_UPLOAD_SIDE} px rejected, files above {MAX_UPLOAD_BYTES // 2**20} MB refused.{run}")


def _api_endpoint(image: gr.Image, outputs: list[gr.components.Component]) -> Any:
    """The public ``/invert`` endpoint: hidden inputs whose defaults mean "the preset" (for API callers:
    free-text representation and layer, so that every family's names are valid)."""
    docs = parameter_docs()
    with gr.Row(visible=False):
        inputs = [image, gr.Textbox(default_family(), label="representation"), gr.Textbox("", label="layer")]
        for s in offered():
            inputs += list(api_inputs(s, docs).values())
        trigger = gr.Button("invert (API)")
    return trigger.click(invert, inputs, outputs, api_name="invert", preprocess=False, concurrency_id="inversion",
                         show_progress="hidden", validator=validate_invert)
