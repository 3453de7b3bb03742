"""The "Invert" tab: components, their wiring, and the public ``/invert`` endpoint.

Two events share one handler (:func:`inverter.ui.invert_run.run_inversion`): the Run
button (browser only), whose knobs hold the layer's preset values, and a hidden trigger
published as ``/invert`` whose hyper-parameters default to ``None`` = "the layer's
preset", so that a client naming only a representation gets that layer's paper settings.
Both run with ``preprocess=False``: every raw value is validated by the handler, which
answers anything bad with a readable :class:`gradio.Error`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ..engine import DISPLAY_MODES, INIT_MODES, PRECISIONS
from .common import (
    MASK_GROUPS, MAX_IMAGE_SIZE, MAX_ITERATIONS, MAX_RESTARTS, default_family, default_layer, family_names,
    layer_names, preset_knobs, user_errors, weights_note,
)
from .invert_run import Outputs, run_inversion
from .uploads import DOWNSCALE_SIDE, MAX_UPLOAD_SIDE

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
#: Knobs that a layer change refills with the layer's preset, in :func:`preset_knobs` keys.
PRESET_KEYS = ("iterations", "lambda_tv", "tv_beta", "alpha", "lambda_alpha", "data_weight", "learning_rate",
               "jitter", "momentum", "clip")
DEFAULT_SNAPSHOT_EVERY = 10


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
    """New family: its layers (default selected), a note on its weights, its preset knobs."""
    with user_errors("Unknown representation"):
        layer = default_layer(family)
        knobs = preset_knobs(family, layer)
        return (gr.update(choices=layer_names(family), value=layer), weights_note(family),
                *(knobs[k] for k in PRESET_KEYS))


def on_layer(family: str, layer: str) -> tuple[Any, ...]:
    """New layer: its preset knobs."""
    with user_errors("Unknown layer"):
        knobs = preset_knobs(family, layer)
    return tuple(knobs[k] for k in PRESET_KEYS)


def invert(
    image: dict,
    representation: str,
    layer: str = "",
    iterations: float | None = None,
    lambda_tv: float | None = None,
    tv_beta: float | None = None,
    alpha: float | None = None,
    lambda_alpha: float | None = None,
    data_weight: float | None = None,
    learning_rate: float | None = None,
    jitter: float | None = None,
    restarts: float = 1,
    seed: float = 0,
    momentum: float | None = None,
    clip: float | None = None,
    init: str = "gaussian",
    display: str = "minmax",
    snapshot_every: float = DEFAULT_SNAPSHOT_EVERY,
    image_size: float = 0,
    mask_channels: str = "all",
    channel_start: float = 0,
    channel_stop: float = 0,
    neighbourhood: float = 0,
    precision: str = "float32",
    progress: gr.Progress = gr.Progress(),
) -> Iterator[Outputs]:
    """Reconstruct an image from its representation (Mahendran & Vedaldi); streams progress.

    Args:
        image: the input image file (gradio_client.handle_file(path)); any mode, at most 8192 px a side.
        representation: family name, see /representations (e.g. "hog", "squeezenet1_1").
        layer: layer of the family; "" = the family's default layer.
        iterations: optimisation steps, 1…2000; None = the layer's preset (its schedule is stretched to fit).
        lambda_tv: λ_TV, weight of the total-variation prior (CVPR units); None = preset.
        tv_beta: β of the TV prior, 0.5…4 (paper: 1 or 2); None = preset.
        alpha: α of the α-norm prior, 1…20 (paper: 6); None = preset.
        lambda_alpha: λ_α, weight of the α-norm prior (CVPR units, 2.16e8); None = preset.
        data_weight: C, weight of the normalised data term; None = preset.
        learning_rate: base rate η of the momentum schedule (in x/σ units, 0.004); None = preset.
        jitter: pixels of random shift per step, 1 = off, 0 = IJCV's max(round(stride/4), 1); None = preset.
        restarts: random restarts optimised together, 1…8; the best is the main output.
        seed: seed of the initial noise and of the jitter.
        momentum: heavy-ball momentum, 0…0.999; None = preset (0.9).
        clip: clip each pixel's colour vector to this norm after every step (0–255 units), 0 = off; None = preset.
        init: initial noise, "gaussian" (CVPR) or "uniform" (IJCV).
        display: "minmax" (the paper: stretch to [0, 1]) or "clip".
        snapshot_every: stream an update every this many steps (a Stop takes effect at the next one).
        image_size: side of the square pre-image in pixels, 16…512; 0 = the representation's own (227 for AlexNet).
        mask_channels: which code channels the data term sees: "all", "first half", "second half", "custom range".
        channel_start: first channel of a "custom range".
        channel_stop: channel after the last of a "custom range".
        neighbourhood: keep only the central N×N units of the code; 0 = all.
        precision: arithmetic of the representation, "float32" or "bfloat16" (faster on GPUs and AMX CPUs).

    Returns:
        Streams tuples (best reconstruction image, gallery of all restarts, relative-error curve, objective curve,
        status markdown, metrics dict, reference image, downloads); the last one has done=true in the metrics
        (relative_error, psnr_db, ssim against the reference) and the PNG, GIF and JSON downloads.
    """
    yield from run_inversion(
        image, representation, layer, iterations, lambda_tv, tv_beta, alpha, lambda_alpha, data_weight,
        learning_rate, jitter, restarts, seed, momentum, clip, init, display, snapshot_every, image_size,
        mask_channels, channel_start, channel_stop, neighbourhood, precision, progress,
    )


def api_parameter_docs() -> dict[str, str]:
    """``{parameter: description}`` of the ``/invert`` endpoint, from :func:`invert`'s docstring."""
    from gradio.utils import get_function_description

    return get_function_description(invert)[1]


def _run_from_ui(*values: Any, progress: gr.Progress = gr.Progress()) -> Iterator[Outputs]:
    yield from run_inversion(*values, progress)


def build_invert_tab() -> InvertTab:
    """Lay out the tab inside the current ``gr.Blocks`` and wire its events."""
    family = default_family()
    layer = default_layer(family)
    preset = preset_knobs(family, layer)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=360):
            image = gr.Image(label="Input image", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                             height=260, elem_id="input-image")
            examples = example_images()
            if examples:
                gr.Examples(examples=[[p] for p in examples], inputs=[image], label="Examples", examples_per_page=8)
            with gr.Row():
                representation = gr.Dropdown(family_names(), value=family, label="Representation",
                                             elem_id="representation")
                layer_box = gr.Dropdown(layer_names(family), value=layer, label="Layer", elem_id="layer")
            note = gr.Markdown(weights_note(family), elem_id="weights-note")
            knobs: dict[str, gr.components.Component] = {}
            with gr.Row():
                knobs["iterations"] = gr.Slider(1, MAX_ITERATIONS, value=preset["iterations"], step=1,
                                                label=f"Iterations (≤ {MAX_ITERATIONS})", elem_id="iterations")
                knobs["restarts"] = gr.Slider(1, MAX_RESTARTS, value=1, step=1,
                                              label=f"Restarts (≤ {MAX_RESTARTS})", elem_id="restarts")
            with gr.Row():
                knobs["lambda_tv"] = gr.Number(preset["lambda_tv"], label="λ_TV", minimum=0, elem_id="lambda_tv")
                knobs["tv_beta"] = gr.Number(preset["tv_beta"], label="β (TV exponent)", minimum=0.5, maximum=4)
                knobs["data_weight"] = gr.Number(preset["data_weight"], label="C (data weight)", minimum=0)
            with gr.Row():
                knobs["lambda_alpha"] = gr.Number(preset["lambda_alpha"], label="λ_α", minimum=0)
                knobs["alpha"] = gr.Number(preset["alpha"], label="α (norm exponent)", minimum=1, maximum=20)
                knobs["learning_rate"] = gr.Number(preset["learning_rate"], label="Learning rate η", minimum=0)
            with gr.Row():
                knobs["jitter"] = gr.Number(preset["jitter"], label="Jitter (px; 1 = off, 0 = auto)", precision=0,
                                            minimum=0, maximum=64)
                knobs["seed"] = gr.Number(0, label="Seed", precision=0, minimum=0)
            with gr.Accordion("Mask: invert from part of the code", open=False):
                knobs["mask_channels"] = gr.Radio(list(MASK_GROUPS), value="all", label="Channels")
                with gr.Row():
                    knobs["channel_start"] = gr.Number(0, label="First channel (custom range)", precision=0, minimum=0)
                    knobs["channel_stop"] = gr.Number(0, label="Stop channel, exclusive (custom range)", precision=0,
                                                      minimum=0)
                knobs["neighbourhood"] = gr.Number(0, label="Central N×N units only (0 = all)", precision=0, minimum=0)
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    knobs["momentum"] = gr.Number(preset["momentum"], label="Momentum", minimum=0, maximum=0.999)
                    knobs["clip"] = gr.Number(preset["clip"], label="Pixel clip (0–255 units, 0 = off)", minimum=0)
                with gr.Row():
                    knobs["init"] = gr.Radio(list(INIT_MODES), value="gaussian", label="Initial noise")
                    knobs["display"] = gr.Radio(list(DISPLAY_MODES), value="minmax", label="Display")
                knobs["precision"] = gr.Radio(list(PRECISIONS), value="float32", elem_id="precision",
                                              label="Arithmetic of Φ (bfloat16: faster on GPUs and AMX CPUs)")
                with gr.Row():
                    knobs["snapshot_every"] = gr.Slider(1, 100, value=DEFAULT_SNAPSHOT_EVERY, step=1,
                                                        label="Update every N steps", elem_id="snapshot_every")
                    knobs["image_size"] = gr.Slider(0, MAX_IMAGE_SIZE, value=0, step=1,
                                                    label=f"Image side, px (0 = the representation's; ≤ {MAX_IMAGE_SIZE})",
                                                    elem_id="image_size")
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="run")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
            gr.Markdown(
                f"Limits: ≤ {MAX_ITERATIONS} iterations, ≤ {MAX_RESTARTS} restarts, pre-image ≤ {MAX_IMAGE_SIZE} px; "
                f"uploads above {DOWNSCALE_SIDE} px are downscaled, above {MAX_UPLOAD_SIDE} px rejected.",
                elem_id="limits",
            )
        with gr.Column(scale=7, min_width=420):
            status = gr.Markdown("Upload an image or pick an example, then press **Run**.", label="Status",
                                 elem_id="status")
            with gr.Row():
                best = gr.Image(label="Reconstruction (best restart)", format="png", interactive=False, height=300,
                                elem_id="reconstruction")
                reference = gr.Image(label="Reference: the input as Φ sees it", format="png", interactive=False,
                                     height=300, elem_id="reference")
            gallery = gr.Gallery(label="All restarts", columns=4, height=180, format="png", elem_id="restarts",
                                 object_fit="contain", allow_preview=True, fit_columns=False)
            with gr.Row():
                error_plot = gr.LinePlot(None, x="step", y="relative_error", color="restart",
                                         label="Relative error curve", title="Relative error ‖Φ(x)−Φ0‖/‖Φ0‖", height=220, elem_id="error-plot")
                objective_plot = gr.LinePlot(None, x="step", y="objective", color="restart",
                                             label="Objective curve", title="Objective E(x)", height=220, elem_id="objective-plot")
            with gr.Row():
                metrics = gr.JSON(label="Metrics", max_height=260, elem_id="metrics")
                files = gr.File(label="Downloads (PNG, progress GIF, JSON report, input)", file_count="multiple",
                                interactive=False, elem_id="downloads")
    outputs = [best, gallery, error_plot, objective_plot, status, metrics, reference, files]
    order = ["iterations", "lambda_tv", "tv_beta", "alpha", "lambda_alpha", "data_weight", "learning_rate", "jitter",
             "restarts", "seed", "momentum", "clip", "init", "display", "snapshot_every", "image_size",
             "mask_channels", "channel_start", "channel_stop", "neighbourhood", "precision"]
    preset_outputs = [knobs[k] for k in PRESET_KEYS]
    representation.change(on_representation, [representation], [layer_box, note, *preset_outputs],
                          api_visibility="private", queue=False)
    layer_box.input(on_layer, [representation, layer_box], preset_outputs, api_visibility="private", queue=False)
    run_event = run.click(
        _run_from_ui, [image, representation, layer_box, *(knobs[k] for k in order)], outputs,
        api_visibility="private", preprocess=False, concurrency_id="inversion", show_progress="minimal",
        show_progress_on=[status],
    )
    stop.click(None, cancels=[run_event])
    api_event = _api_endpoint(image, outputs)
    return InvertTab(image, representation, layer_box, knobs, run, stop, outputs, run_event, api_event)


def _api_endpoint(image: gr.Image, outputs: list[gr.components.Component]) -> Any:
    """The public ``/invert`` endpoint: hidden inputs whose defaults mean "the preset"."""
    family = default_family()
    docs = api_parameter_docs()

    def number(name: str, value: float | None, **kw: Any) -> gr.Number:
        return gr.Number(value, label=f"{name}: {docs[name]}", **kw)

    def dropdown(name: str, choices: list[str], value: str) -> gr.Dropdown:
        return gr.Dropdown(choices, value=value, label=f"{name}: {docs[name]}")

    with gr.Row(visible=False):
        inputs = [
            image,
            dropdown("representation", family_names(), family),
            gr.Textbox("", label=f"layer: {docs['layer']}"),
            *(number(name, None) for name in (
                "iterations", "lambda_tv", "tv_beta", "alpha", "lambda_alpha", "data_weight", "learning_rate",
                "jitter")),
            number("restarts", 1, precision=0),
            number("seed", 0, precision=0),
            number("momentum", None),
            number("clip", None),
            dropdown("init", list(INIT_MODES), "gaussian"),
            dropdown("display", list(DISPLAY_MODES), "minmax"),
            number("snapshot_every", DEFAULT_SNAPSHOT_EVERY, precision=0),
            number("image_size", 0, precision=0),
            dropdown("mask_channels", list(MASK_GROUPS), "all"),
            number("channel_start", 0, precision=0),
            number("channel_stop", 0, precision=0),
            number("neighbourhood", 0, precision=0),
            dropdown("precision", list(PRECISIONS), "float32"),
        ]
        trigger = gr.Button("invert (API)")
    return trigger.click(invert, inputs, outputs, api_name="invert", preprocess=False, concurrency_id="inversion",
                         show_progress="hidden")
