"""The Gradio app: a thin layer over :func:`inverter.invert` (see ``app.py``).

:func:`build_demo` returns the ``gr.Blocks`` with its queue configured; nothing is
downloaded or built until a run asks for it, so the app starts offline.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .choices import catalogue  # noqa: E402
from .experiments_tab import build_experiments_tab  # noqa: E402
from .invert_tab import InvertTab, build_invert_tab  # noqa: E402
from .uploads import MAX_UPLOAD_BYTES  # noqa: E402
from .zerogpu import default_concurrency  # noqa: E402

#: Requests waiting at most (beyond those running).
QUEUE_SIZE = 32

TITLE = "inverter: what does a representation keep of an image?"
INTRO = (
    "Reconstruct an image from its code Φ0 = Φ(x0) by gradient descent on "
    "‖Φ(x) − Φ0‖²/‖Φ0‖² plus natural-image priors (α-norm, total variation), as in Mahendran & Vedaldi, "
    "*Understanding Deep Image Representations by Inverting Them* (CVPR 2015) and *Visualizing Deep Convolutional "
    "Neural Networks Using Natural Pre-Images* (IJCV 2016). Choose a representation and a layer: the paper's "
    "hyper-parameters for that layer fill the knobs."
)


#: Small pre-images (32–64 px) are shown enlarged, with crisp pixels.
CSS = """
#reconstruction img, #reference img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
#gallery img { image-rendering: pixelated; }
"""


def mcp_enabled() -> bool:
    """Whether ``launch`` serves the MCP server: ``$INVERTER_MCP`` (``1``/``0``), else on in a Space
    (``SPACE_ID`` is set there) and off locally (it costs start-up time)."""
    value = os.environ.get("INVERTER_MCP", "").strip().lower()
    if value:
        return value in ("1", "true", "yes", "on")
    return bool(os.environ.get("SPACE_ID"))


def launch_options() -> dict:
    """Keyword arguments for ``demo.launch``: the CSS (Gradio 6 takes it there), the upload limit
    (Gradio refuses larger files before storing them) and the MCP server (:func:`mcp_enabled`)."""
    return {"css": CSS, "max_file_size": MAX_UPLOAD_BYTES, "mcp_server": mcp_enabled()}


def representations() -> dict:
    """Every representation family with its layers, their receptive-field strides and paper presets, and where
    its weights come from.

    Returns:
        {family: {"description", "needs_weights", "default_layer", "weights", "layers": [{"name", "stride", "preset"}]}}
    """
    return catalogue()


def build_demo() -> gr.Blocks:
    """The whole app, queued; call ``.launch()`` on it."""
    with gr.Blocks(title="inverter", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Tab("Invert"):
            demo.invert_tab = build_invert_tab()  # type: ignore[attr-defined]
        with gr.Tab("Experiments"):
            demo.experiments_tab = build_experiments_tab()  # type: ignore[attr-defined]
        gr.api(representations, api_name="representations")
    demo.queue(default_concurrency_limit=default_concurrency(), max_size=QUEUE_SIZE)
    return demo


__all__ = ["InvertTab", "build_demo", "default_concurrency", "launch_options", "mcp_enabled", "representations"]
