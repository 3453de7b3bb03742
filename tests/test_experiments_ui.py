"""The Experiments tab through gradio_client, on a tiny network (a Blocks holding only this tab)."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

gr = pytest.importorskip("gradio")
client_module = pytest.importorskip("gradio_client")

from conftest import TinyCNN  # noqa: E402

from inverter.representations import Family, LayerSpec, register  # noqa: E402

register(Family("tinyui", (LayerSpec("conv2", 4, TinyCNN().preset),), lambda layer, weights=None: TinyCNN(),
                "tiny test net", default_layer="conv2"))  # fmt: skip

# kind, representation, layers, image, example, restarts, neighbourhood, channels, include_full, values,
# iterations, image_size, seed
REQUEST = ["restarts", "tinyui", [], None, "coffee", 3, 5, "halves", False, "", 6, 32, 1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    from gradio_client import Client

    from inverter.ui.experiments_tab import build_experiments_tab

    with gr.Blocks() as demo:
        with gr.Tab("Experiments"):
            build_experiments_tab()
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False, analytics_enabled=False)
    finally:
        demo.close()


def test_endpoints_are_public(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/experiment" in named and "/experiment_from_json" in named
    parameters = named["/experiment"]["parameters"]
    # method came later, last and with a default: the 13-argument calls of older clients (REQUEST,
    # used by the next tests) still work
    assert len(parameters) == len(REQUEST) + 1 and parameters[-1]["parameter_name"] == "method"
    assert parameters[-1]["parameter_has_default"] and parameters[-1]["parameter_default"] is None


def test_an_experiment_runs_the_method_asked_for(client):
    *_, files = client.predict(*REQUEST, "ijcv", api_name="/experiment")
    document = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert document["spec"]["config"]["method"] == "ijcv"


def test_experiment_streams_the_grid_and_offers_png_and_json(client, tmp_path):
    job = client.submit(*REQUEST, api_name="/experiment")
    outputs = list(job)
    assert len(outputs) >= 2, "the grid streams before the end"
    grid, status, metrics, files = outputs[-1]
    assert status.count("**Done**") == 1 and len(metrics["panels"]) == 3
    assert metrics["summary"]["relative_error"]["count"] == 3
    names = sorted(Path(f).name for f in files)
    assert names == ["restarts.json", "restarts.png"]
    png = next(f for f in files if f.endswith(".png"))
    assert np.asarray(Image.open(png)).shape == np.asarray(Image.open(grid)).shape
    document = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert document["spec"]["image"] == "example:coffee" and document["spec"]["params"]["restarts"] == 3

    again = client.predict([client_module.handle_file(next(f for f in files if f.endswith(".json")))],
                           api_name="/experiment_from_json")  # fmt: skip
    assert [p["relative_error"] for p in again[2]["panels"]] == [p["relative_error"] for p in metrics["panels"]]


def test_uploaded_image_and_bad_values_give_readable_errors(client, tmp_path):
    from gradio_client.exceptions import ValidationError

    path = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)).save(path)
    request = list(REQUEST)
    request[0], request[3], request[5] = "channels", client_module.handle_file(str(path)), 1
    _, _, metrics, files = client.predict(*request, api_name="/experiment")
    assert len(metrics["panels"]) == 2 and any(f.endswith("_input.png") for f in files)
    bad = list(REQUEST)
    bad[10] = 0
    with pytest.raises(ValidationError, match="iterations must be between 1 and"):
        client.predict(*bad, api_name="/experiment")
    bad = list(REQUEST)
    bad[2] = ["conv9"]
    with pytest.raises(ValidationError, match="layers of tinyui must be among conv2"):
        client.predict(*bad, api_name="/experiment")
