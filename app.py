"""Start the inverter web app: ``python app.py`` (Hugging Face Spaces runs this file).

Gradio reads ``GRADIO_SERVER_NAME`` and ``GRADIO_SERVER_PORT`` (default 127.0.0.1:7860). The
``INVERTER_*`` variables (weights, device, concurrency, the run budget, MCP) are listed in
README.md, "The app".
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

try:  # on ZeroGPU, spaces must be imported before torch initialises CUDA
    import spaces  # noqa: F401
except ImportError:
    pass

from inverter.ui import build_demo, launch_options  # noqa: E402
from inverter.ui.choices import warm_up  # noqa: E402
from inverter.ui.zerogpu import on_gpu  # noqa: E402

if on_gpu():  # load and place the default networks before launch: ZeroGPU packs them once for every worker
    warm_up()
demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_options())
