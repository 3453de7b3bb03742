"""Start the inverter web app: ``python app.py`` (Hugging Face Spaces runs this file).

Gradio reads ``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT`` (default 127.0.0.1:7860).
See ``inverter/ui/common.py`` for the ``INVERTER_*`` variables (weights, concurrency).
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

try:  # on ZeroGPU, spaces must be imported before torch initialises CUDA
    import spaces  # noqa: F401
except ImportError:
    pass

from inverter.ui import build_demo, launch_options  # noqa: E402

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_options())
