"""The Gradio app end to end through gradio_client: streaming, results, Stop, bad input.

The app runs in-process on 127.0.0.1 at a free port. A tiny CNN family registered here
keeps the runs fast; its forward passes are counted so that a Stop can be shown to halt
the engine loop itself, not only the stream.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from conftest import SQUEEZENET_FILE, TinyCNN  # noqa: E402
from serving import free_port, wait_until  # noqa: E402
from inverter.representations import families, list_representations, register, suggested_names  # noqa: E402
from inverter.representations import registry  # noqa: E402
from inverter.representations.base import Family, LayerSpec, Preset  # noqa: E402

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError, ValidationError  # noqa: E402

#: A bad request is refused before it is queued (ValidationError, by the validator) or while it runs (AppError).
REFUSED = (AppError, ValidationError)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "chelsea.png"
FAMILY = "apptest_tiny"
#: A preset unlike any real one, so that "None = the preset" can be told from defaults.
TINY_PRESET = Preset(lambda_tv=0.7, learning_rate=0.003, phases=((1.0, 40), (0.1, 20)))

FORWARDS = {"count": 0}
_COUNT_LOCK = threading.Lock()


class CountingCNN(TinyCNN):
    """TinyCNN that counts its forward passes; ``delay`` seconds each, ``fail_after`` raises."""

    def __init__(self, delay: float = 0.0, fail_after: int | None = None):
        super().__init__(size=32)
        self.family, self.preset = FAMILY, TINY_PRESET
        self.delay, self.fail_after, self.calls = delay, fail_after, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with _COUNT_LOCK:
            FORWARDS["count"] += 1
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("boom inside the representation")
        if self.delay:
            time.sleep(self.delay)
        return super().forward(x)


def _build(layer: str, weights=None) -> CountingCNN:
    rep = {"conv2": CountingCNN, "slow": lambda: CountingCNN(delay=0.01), "boom": lambda: CountingCNN(fail_after=6)}
    net = rep[layer]()
    net.layer = layer
    return net


@pytest.fixture(scope="module")
def tiny_family():
    layers = tuple(LayerSpec(name, 4, TINY_PRESET) for name in ("conv2", "slow", "boom"))
    register(Family(FAMILY, layers, _build, description="two-layer test CNN", default_layer="conv2"))
    yield FAMILY
    registry.unregister(FAMILY)  # keep other test modules' registry clean


@pytest.fixture(scope="module")
def server(tiny_family):
    """The app as ``app.py`` launches it (upload limit, MCP server on, as in a Space)."""
    from inverter.ui import build_demo, launch_options

    saved = os.environ.get("INVERTER_MCP")
    os.environ["INVERTER_MCP"] = "1"
    try:
        demo = build_demo()
        options = launch_options()
    finally:
        os.environ.pop("INVERTER_MCP") if saved is None else os.environ.__setitem__("INVERTER_MCP", saved)
    assert options["mcp_server"] is True
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                            **options)  # fmt: skip
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(server) -> Client:
    """Downloads every output file, as a remote user's client would."""
    return Client(server, verbose=False, analytics_enabled=False)


@pytest.fixture(scope="module")
def fast(server) -> Client:
    """Leaves output files on the (in-process) server: 4× faster on a busy machine."""
    return Client(server, verbose=False, analytics_enabled=False, download_files=False)


def local(file) -> str:
    """The local path of an output file, downloaded (a path) or not (a FileData dict)."""
    return file["path"] if isinstance(file, dict) else file


def run_tiny(client: Client, image=EXAMPLE, **kw):
    args = dict(representation=FAMILY, iterations=2, image_size=16, snapshot_every=2)
    args.update(kw)
    return client.predict(handle_file(str(image)) if image is not None else None, api_name="/invert", **args)


def read_png(file) -> np.ndarray:
    return np.asarray(Image.open(local(file)).convert("RGB"))


def test_api_lists_endpoints_and_representations(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert set(info["named_endpoints"]) >= {"/invert", "/representations"}
    names = [p["parameter_name"] for p in info["named_endpoints"]["/invert"]["parameters"]]
    assert names[:4] == ["image", "representation", "layer", "iterations"]
    assert "restarts" in names and "neighbourhood" in names
    # settings added later come last, with defaults: older positional calls keep their meaning
    assert names[-4:] == ["step_boost", "init_scale", "spectrum_decay", "step_boost_share"]
    assert all(p["parameter_has_default"] for p in info["named_endpoints"]["/invert"]["parameters"][-4:])
    catalogue = client.predict(api_name="/representations")
    assert set(catalogue) == set(suggested_names()) >= set(families()) | {"timm:resnet50.a1_in1k"}
    for name, layers in list_representations().items():
        assert [layer["name"] for layer in catalogue[name]["layers"]] == layers
        assert catalogue[name]["default_layer"] in layers
    assert [layer["name"] for layer in catalogue["timm:resnet50.a1_in1k"]["layers"]][-2:] == ["pre_logits", "logits"]
    assert catalogue[FAMILY]["layers"][0]["preset"]["lambda_tv"] == pytest.approx(0.7)


def test_tiny_cnn_streams_progress_then_results(client):
    job = client.submit(handle_file(str(EXAMPLE)), representation=FAMILY, iterations=20, image_size=32, restarts=2,
                        snapshot_every=5, api_name="/invert")
    outputs = list(job)
    final = job.result()
    steps = [o[5].get("step") for o in outputs if isinstance(o[5], dict)]
    assert len([s for s in steps if s is not None]) >= 5, steps  # 0, 5, 10, 15 and the final 20
    assert [s for s in steps if s is not None] == sorted(s for s in steps if s is not None)
    best, gallery, error_curve, objective_curve, status, metrics, reference, files = final
    assert metrics["done"] is True and metrics["step"] == 20 and "Done" in status
    image, ref = read_png(best), read_png(reference)
    assert image.shape == ref.shape == (32, 32, 3)
    assert len(gallery) == 2
    errors = metrics["relative_error_per_restart"]
    assert metrics["relative_error"] == pytest.approx(min(errors))
    first = [row for row in error_curve["data"] if row[0] == 0]
    assert min(errors) < min(row[2] for row in first)  # the optimisation lowered the error
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    assert metrics["psnr_db"] == pytest.approx(peak_signal_noise_ratio(ref, image, data_range=255), rel=1e-6)
    assert metrics["ssim"] == pytest.approx(
        structural_similarity(ref, image, data_range=255, channel_axis=-1), rel=1e-6)
    by_name = {Path(f).name: f for f in files}
    assert set(by_name) == {"reconstruction.png", "progress.gif", "result.json", "input.png"}
    np.testing.assert_array_equal(read_png(by_name["reconstruction.png"]), image)
    with Image.open(by_name["progress.gif"]) as gif:
        assert gif.n_frames >= 5
    report = json.loads(Path(by_name["result.json"]).read_text())
    assert report["settings"]["iterations"] == 20 and report["settings"]["restarts"] == 2
    assert report["settings"]["lambda_tv"] == pytest.approx(0.7)  # omitted → the layer's preset
    assert report["settings"]["learning_rate"] == pytest.approx(0.003)
    assert report["result"]["relative_error"] == pytest.approx(metrics["relative_error"])
    assert report["run"]["representation"] == f"{FAMILY}:conv2" and report["run"]["image"] == "input.png"
    assert read_png(by_name["input.png"]).shape == read_png(str(EXAMPLE)).shape
    from inverter import reconstruct
    from inverter.report import load_run

    run, _ = load_run(by_name["result.json"])  # the JSON re-runs to the same result
    again = reconstruct(run.representation, by_name["input.png"], run.config)
    assert again.relative_error.tolist() == pytest.approx(errors, rel=1e-4)


def test_explicit_settings_override_the_preset(fast):
    *_, files = run_tiny(fast, lambda_tv=2.5, tv_beta=1, seed=3, mask_channels="first half", neighbourhood=3,
                         precision="bfloat16")
    report = json.loads(Path([local(f) for f in files if local(f).endswith(".json")][0]).read_text())
    settings = report["settings"]
    assert settings["lambda_tv"] == 2.5 and settings["tv_beta"] == 1 and settings["seed"] == 3
    assert settings["precision"] == "bfloat16"
    assert settings["mask"] == {"channels": [0, 8], "neighbourhood": 3, "tokens": None}  # TinyCNN has 16 channels


def test_hog_on_a_small_image(client):
    if "hog" not in families():  # the app imports inverter.representations.hog where it exists
        pytest.skip("HOG is not registered yet (inverter/representations/hog.py)")
    result = client.predict(handle_file(str(EXAMPLE)), representation="hog", iterations=8, image_size=32,
                            snapshot_every=4, api_name="/invert")
    image, reference, metrics = read_png(result[0]), read_png(result[6]), result[5]
    assert metrics["done"] and 0 < metrics["relative_error"] < 1.5
    for picture in (image, reference):  # HOG sees grey; the app shows grey as grey RGB
        assert picture.shape == (32, 32, 3)
        assert np.array_equal(picture[..., 0], picture[..., 1]) and np.array_equal(picture[..., 1], picture[..., 2])
    assert reference.std() > 10  # the cat, not a flat image


def test_stop_closes_the_generator_and_the_engine_loop(fast):
    from inverter.ui.invert_run import active_runs

    job = fast.submit(handle_file(str(EXAMPLE)), representation=FAMILY, layer="slow", iterations=2000,
                        image_size=32, snapshot_every=5, api_name="/invert")
    assert wait_until(lambda: len(job.outputs()) >= 3, 30), "no progress before the cancel"
    job.cancel()
    assert wait_until(lambda: active_runs() == 0, 10), "the inversion is still running after the cancel"
    stopped_at = FORWARDS["count"]
    time.sleep(0.5)  # ≥ 50 steps' worth of time at 10 ms a step
    assert FORWARDS["count"] == stopped_at, "the engine loop kept stepping after the cancel"
    assert stopped_at < 2000
    assert run_tiny(fast)[5]["done"]  # and the server still serves


def test_random_weights_from_the_environment(fast, monkeypatch):
    monkeypatch.setenv("INVERTER_RANDOM_WEIGHTS", "1")
    monkeypatch.delenv("INVERTER_WEIGHTS_SQUEEZENET1_1", raising=False)
    *_, metrics, _, files = fast.predict(handle_file(str(EXAMPLE)), representation="squeezenet1_1", layer="conv1",
                                           iterations=6, image_size=32, api_name="/invert")
    report = json.loads(Path([local(f) for f in files if local(f).endswith(".json")][0]).read_text())
    assert report["run"]["weights"] == "random"
    assert report["weights_origin"] == "random (untrained) weights, from $INVERTER_RANDOM_WEIGHTS"
    assert report["run"]["representation"] == "squeezenet1_1:conv1" and metrics["done"]


def test_a_timm_model_typed_by_name_inverts_and_a_misspelt_one_gets_close_matches(fast, monkeypatch):
    monkeypatch.setenv("INVERTER_RANDOM_WEIGHTS", "1")
    *_, metrics, _, files = fast.predict(handle_file(str(EXAMPLE)), representation="timm:test_vit.r160_in1k",
                                         layer="blocks.1", iterations=20, image_size=32, api_name="/invert")
    report = json.loads(Path([local(f) for f in files if local(f).endswith(".json")][0]).read_text())
    assert metrics["done"] and report["run"]["representation"] == "timm:test_vit.r160_in1k:blocks.1"
    assert report["result"]["relative_error"] < report["result"]["initial_relative_error"]
    with pytest.raises(ValidationError, match="unknown timm model 'resnet5'; close matches: resnet50"):
        fast.predict(handle_file(str(EXAMPLE)), representation="timm:resnet5", iterations=2, api_name="/invert")


def test_weights_are_chosen_from_the_environment(tiny_family, monkeypatch):
    from inverter.representations import get_family
    from inverter.representations.registry import resolve_weights
    from inverter.ui.choices import weights_note
    from inverter.weights import LocalFile, RandomInit, env_name

    monkeypatch.delenv("INVERTER_RANDOM_WEIGHTS", raising=False)
    monkeypatch.delenv("INVERTER_WEIGHTS_SQUEEZENET1_1", raising=False)
    squeezenet = get_family("squeezenet1_1")
    assert env_name("squeezenet1_1") == "INVERTER_WEIGHTS_SQUEEZENET1_1"
    assert resolve_weights(squeezenet).spec == squeezenet.weights  # the Hub source
    assert squeezenet.weights.repo_id in weights_note("squeezenet1_1")
    monkeypatch.setenv("INVERTER_RANDOM_WEIGHTS", "1")
    assert resolve_weights(squeezenet).spec == RandomInit() and "Random" in weights_note("squeezenet1_1")
    monkeypatch.setenv("INVERTER_WEIGHTS_SQUEEZENET1_1", "/data/squeeze.safetensors")
    # the family's own variable wins
    assert resolve_weights(squeezenet).spec == LocalFile(Path("/data/squeeze.safetensors"))
    assert resolve_weights(get_family(tiny_family)).spec == parse_default()  # a family without weights ignores both


def parse_default():
    from inverter.weights import FamilyDefault

    return FamilyDefault()


def test_missing_weights_give_a_readable_error(fast, monkeypatch, tmp_path):
    missing = tmp_path / "nowhere.safetensors"
    monkeypatch.setenv("INVERTER_WEIGHTS_ALEXNET", str(missing))
    with pytest.raises(AppError) as info:
        fast.predict(handle_file(str(EXAMPLE)), representation="alexnet", layer="conv1", iterations=2,
                       image_size=32, api_name="/invert")
    message = str(info.value)
    assert "weights file not found" in message and "INVERTER_WEIGHTS_ALEXNET" in message
    assert run_tiny(fast)[5]["done"]


@pytest.mark.skipif(not SQUEEZENET_FILE.is_file(), reason=f"real weights not found at {SQUEEZENET_FILE}")
def test_real_squeezenet_weights_from_the_environment(fast, monkeypatch):
    monkeypatch.setenv("INVERTER_WEIGHTS_SQUEEZENET1_1", str(SQUEEZENET_FILE))
    result = fast.predict(handle_file(str(EXAMPLE)), representation="squeezenet1_1", layer="fire2", iterations=15,
                            image_size=64, snapshot_every=5, api_name="/invert")
    metrics, curve = result[5], result[2]["data"]
    assert metrics["done"] and read_png(result[0]).shape == (64, 64, 3)
    assert metrics["relative_error"] < curve[0][2]


# ------------------------------------------------------------------- input images
def _save(path: Path, image: Image.Image, **kw) -> Path:
    image.save(path, **kw)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("uploads")
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20] = (200, 30, 30)
    rgba = np.dstack([rgb, np.full((40, 40), 255, np.uint8)])
    rgba[:, 20:, 3] = 0  # right half transparent: composited on white
    ramp16 = np.tile(np.linspace(0, 65535, 40), (40, 1)).astype(np.uint16)
    good_png = _save(d / "good.png", Image.fromarray(rgb))
    out = {
        "rgba": _save(d / "rgba.png", Image.fromarray(rgba, "RGBA")),
        "grey16": _save(d / "grey16.png", Image.fromarray(ramp16)),
        "grey": _save(d / "grey.png", Image.fromarray(rgb[..., 0])),
        "palette": _save(d / "palette.png", Image.fromarray(rgb).convert("P")),
        "text": d / "notes.png",
        "empty": d / "empty.png",
        "truncated": d / "truncated.png",
        "too_wide": _save(d / "wide.png", Image.new("L", (9000, 8))),
        "too_many_pixels": _save(d / "big.png", Image.new("L", (7000, 7000))),
    }
    red, blue = Image.new("RGB", (40, 40), (220, 0, 0)), Image.new("RGB", (40, 40), (0, 0, 220))
    out["animated"] = _save(d / "anim.gif", red, save_all=True, append_images=[blue], duration=100, loop=0)
    out["text"].write_text("this is not an image\n")
    out["empty"].write_bytes(b"")
    out["truncated"].write_bytes(good_png.read_bytes()[:60])
    return out


def test_odd_but_valid_images_are_converted(fast, images):
    def reference(name: str) -> np.ndarray:
        return read_png(run_tiny(fast, images[name], iterations=1, image_size=32, display="clip")[6]).astype(int)

    rgba = reference("rgba")
    assert rgba[:, :12].mean(axis=(0, 1)) == pytest.approx([200, 30, 30], abs=12)
    assert rgba[:, 20:].min() >= 250  # transparent → white, not black
    ramp = reference("grey16")
    assert ramp[:, 0].mean() < 20 and ramp[:, -1].mean() > 235  # 16-bit kept its range (no saturation)
    assert 100 < ramp.mean() < 155
    grey = reference("grey")
    assert np.array_equal(grey[..., 0], grey[..., 2]) and grey[:, :12].mean() > 150
    assert reference("palette")[:, :12, 0].mean() > 180
    first_frame = reference("animated")
    assert first_frame[..., 0].mean() > 200 and first_frame[..., 2].mean() < 30  # the red first frame


BAD_INPUTS = {
    "no image": (dict(image=None), "No image"),
    "text file": (dict(image="text"), "not an image that can be read"),
    "empty file": (dict(image="empty"), "not an image that can be read"),
    "truncated png": (dict(image="truncated"), "not an image that can be read"),
    "too wide": (dict(image="too_wide"), "limit is 8192"),
    "too many pixels": (dict(image="too_many_pixels"), "megapixels"),
    "iterations too many": (dict(iterations=5000), "iterations must be between 1 and 2000"),
    "iterations not a number": (dict(iterations="many"), "iterations must be a number"),
    "iterations fractional": (dict(iterations=2.5), "whole number"),
    "restarts too many": (dict(restarts=9), "restarts must be between 1 and 8"),
    "image too small": (dict(image_size=4), "image_size"),
    "negative lambda": (dict(lambda_tv=-1), "lambda_tv"),
    "infinite rate": (dict(learning_rate="inf"), "learning_rate must be a finite number"),
    "unknown representation": (dict(representation="nope"), "representation must be one of"),
    "unknown layer": (dict(layer="conv9"), "unknown layer"),
    "unknown init": (dict(init="zeros"), "init must be one of"),
    "unknown precision": (dict(precision="float16"), "precision must be one of"),
    "channel range outside the code": (dict(mask_channels="custom range", channel_start=40, channel_stop=50),
                                       "first channel must be between 0 and 15"),
    "engine fails mid-run": (dict(layer="boom", iterations=20), "Internal error, a bug in inverter."),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_an_error_and_the_server_keeps_serving(fast, images, case):
    changes, expected = BAD_INPUTS[case]
    changes = dict(changes)
    image = changes.pop("image", "good")
    path = images[image] if image in images else (EXAMPLE if image == "good" else None)
    with pytest.raises(REFUSED) as info:
        run_tiny(fast, path, **changes)
    assert expected in str(info.value)
    assert "/tmp/" not in str(info.value)  # no server paths in messages
    assert run_tiny(fast)[5]["done"]


def test_the_run_button_passes_each_knob_to_its_own_parameter():
    """The browser's Run event feeds the endpoint's parameters in order: each knob is the
    control whose elem_id is the parameter's name (a shuffled order reads one knob as another)."""
    import inspect

    from inverter.ui import build_demo
    from inverter.ui.invert_tab import invert

    demo = build_demo()
    (run,) = [fn for fn in demo.fns.values() if fn.api_name == "invert_from_ui"]
    names = list(inspect.signature(invert).parameters)
    settings = [(name, block) for name, block in zip(names, run.inputs) if name not in ("image", "representation", "layer")]
    assert len(settings) == len(names) - 4  # every parameter but image, representation, layer and progress
    assert all(block.elem_id == name for name, block in settings), [(n, b.elem_id) for n, b in settings]


# ------------------------------------------------------------------- before the queue, and the API's shape
def test_a_request_without_an_image_is_refused_before_any_inversion_starts(fast):
    from inverter.ui.invert_run import started_runs

    started, forwards = started_runs(), FORWARDS["count"]
    with pytest.raises(ValidationError, match="image: No image: upload one or pick an example"):
        run_tiny(fast, None)
    with pytest.raises(ValidationError, match="iterations must be between 1 and 2000"):
        run_tiny(fast, iterations=0)
    assert started_runs() == started and FORWARDS["count"] == forwards  # refused before the queue: nothing ran


def test_an_over_size_upload_is_refused_by_the_server(server, tmp_path):
    import httpx

    from inverter.ui.uploads import MAX_UPLOAD_BYTES

    big = tmp_path / "big.png"
    with big.open("wb") as handle:
        handle.truncate(MAX_UPLOAD_BYTES + 1)
    with big.open("rb") as handle:
        response = httpx.post(f"{server}gradio_api/upload", files={"files": ("big.png", handle, "image/png")},
                              timeout=60)  # fmt: skip
    assert response.status_code == 413, response.text
    small = tmp_path / "small.png"
    small.write_bytes(EXAMPLE.read_bytes())
    with small.open("rb") as handle:
        assert httpx.post(f"{server}gradio_api/upload", files={"files": handle}, timeout=60).status_code == 200


def test_the_first_streamed_update_carries_values_and_api_callers_get_fewer_updates(fast):
    job = fast.submit(handle_file(str(EXAMPLE)), representation=FAMILY, iterations=200, image_size=16,
                      api_name="/invert")  # snapshot_every left out: the API's default
    outputs = list(job)
    first = outputs[0]
    assert not any(isinstance(o, dict) and o.get("__type__") == "update" for o in first), first
    assert "Loading" in first[4] and "Estimated" in first[4] and first[5] == {"step": None, "done": False}
    steps = [o[5]["step"] for o in outputs if o[5].get("step") is not None]
    assert steps[0] == 0 and steps[-1] == 200 and len(steps) <= 4  # every 100 steps, not every 10


def test_the_api_schema_types_whole_numbers_as_integers_and_takes_any_family(client):
    import inspect

    from inverter.ui.experiments_tab import experiment
    from inverter.ui.invert_tab import invert

    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for endpoint, fn in (("/invert", invert), ("/experiment", experiment)):
        types = {p["parameter_name"]: p["type"] for p in info[endpoint]["parameters"]}
        for name, parameter in inspect.signature(fn).parameters.items():
            if parameter.annotation in (int, int | None):
                assert types[name].get("type") == "integer", (endpoint, name, types[name])
        assert types["representation"] == {"type": "string"}  # any family, timm:<model> included
    layers = {p["parameter_name"]: p for p in info["/experiment"]["parameters"]}["layers"]
    assert layers["type"] == {"type": "array", "items": {"type": "string"}}  # every family's layers


def test_an_experiment_needs_no_image_when_an_example_is_named_and_takes_any_familys_layers(fast):
    grid, status, metrics, _ = fast.predict(kind="restarts", representation=FAMILY, example="coffee", restarts=2,
                                            iterations=3, image_size=16, api_name="/experiment")  # fmt: skip
    assert "**Done**" in status and len(metrics["panels"]) == 2
    if "hog" in families():
        *_, metrics, _ = fast.predict(kind="tv_beta", representation="hog", layers=["hog"], example="camera",
                                      iterations=2, image_size=32, api_name="/experiment")  # fmt: skip
        assert len(metrics["panels"]) == 2


# ------------------------------------------------------------------- MCP
def test_the_mcp_tools_list_inversion_with_its_documented_parameters(server):
    import httpx

    from inverter.ui.invert_tab import api_parameter_docs

    tools = {tool["name"]: tool for tool in httpx.get(f"{server}gradio_api/mcp/schema", timeout=30).json()}
    assert {"invert", "experiment", "experiment_from_json", "representations"} <= set(tools)  # as README.md says
    schema = tools["invert"]["inputSchema"]
    assert set(schema["properties"]) == set(api_parameter_docs()) - {"progress"}
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name  # every parameter documented
    assert schema["properties"]["iterations"]["type"] == "integer" and schema["required"] == ["image"]
    assert "alexnet" in schema["properties"]["representation"]["description"]
    assert "Reconstruct an image" in tools["invert"]["description"]
    experiment = tools["experiment"]["inputSchema"]
    assert experiment["properties"]["layers"]["type"] == "array" and "image" not in experiment.get("required", [])


def test_an_mcp_client_calls_a_tool(server):
    import asyncio
    import base64

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def call():
        async with streamable_http_client(f"{server}gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                names = {tool.name for tool in (await session.list_tools()).tools}
                image = "data:image/png;base64," + base64.b64encode(EXAMPLE.read_bytes()).decode()
                arguments = {"image": image, "representation": FAMILY, "iterations": 4, "image_size": 16}
                plain = await session.call_tool("invert", arguments)
                progress: list[float] = []
                streamed = await session.call_tool("invert", arguments,
                                                   progress_callback=lambda p, total, message: progress.append(p))
                listing = await session.call_tool("representations", {})
                return names, plain, streamed, progress, listing

    names, plain, streamed, progress, listing = asyncio.run(call())
    assert {"invert", "experiment", "representations"} <= names
    assert not plain.isError and "reconstruction.png" in plain.content[0].text  # the outputs, files as URLs
    assert not streamed.isError and progress  # a client asking for progress gets it, and every output apart
    assert [item.type for item in streamed.content].count("image") >= 2  # the reconstruction and the reference
    assert any(FAMILY in getattr(item, "text", "") for item in listing.content)


def test_activation_maximisation_and_caricatures_through_the_endpoint(fast):
    *_, status, metrics, _, files = run_tiny(fast, objective="activation", target="3", iterations=8, method="ijcv")
    report = json.loads(Path([local(f) for f in files if local(f).endswith(".json")][0]).read_text())
    assert report["settings"]["objective"] == "activation" and report["settings"]["target"] == "3"
    assert "activation score" in status and metrics["score"] == pytest.approx(report["result"]["score"])
    *_, metrics, _, files = run_tiny(fast, objective="caricature", iterations=4)
    report = json.loads(Path([local(f) for f in files if local(f).endswith(".json")][0]).read_text())
    assert report["settings"]["init"] == "image"  # the caricature's preset: from the image
    with pytest.raises(REFUSED, match=r"target 99 is outside .*channels are 0…15"):
        run_tiny(fast, objective="activation", target="99")


def test_the_target_picker_offers_imagenet_classes_at_logits():
    from inverter.ui.choices import target_choices
    from inverter.ui.form import read_settings

    classes = target_choices("squeezenet1_1", "logits")
    assert len(classes) == 1000 and classes[285] == "285: Egyptian cat"
    assert target_choices("squeezenet1_1", "fire5") == []  # a channel number is typed in
    assert read_settings({"target": "285: Egyptian cat"})["target"] == "285"


def test_the_method_choices_follow_the_layer():
    from inverter.ui.invert_tab import PRESET_KEYS, on_layer

    def method_update(family: str, layer: str) -> dict:
        return on_layer(family, layer)[PRESET_KEYS.index("method")]

    hog, cnn = method_update("hog", ""), method_update("squeezenet1_1", "conv1")
    assert [c[0] if isinstance(c, tuple) else c for c in hog["choices"]] == ["cvpr", "ijcv", "fast"]
    assert [c[0] if isinstance(c, tuple) else c for c in cnn["choices"]] == ["cvpr", "ijcv", "fast"]
    alexnet = method_update("alexnet", "conv1")  # no measured presets: no fast one
    assert [c[0] if isinstance(c, tuple) else c for c in alexnet["choices"]] == ["cvpr", "ijcv"]
    assert cnn["value"] == "ijcv" and hog["value"] == "cvpr"  # each layer's default preset's step rule


def test_a_bug_is_logged_with_its_traceback_and_the_page_says_so_in_general_words(caplog):
    """Anything but an InverterError is a bug: its traceback goes to the server log, and the
    page gets a general message with none of the exception's text (no server internals)."""
    import logging

    import gradio as gr

    from inverter.ui.errors import INTERNAL_ERROR, user_errors

    with caplog.at_level(logging.ERROR, logger="inverter.ui.errors"):
        with pytest.raises(gr.Error) as info:
            with user_errors():
                raise RuntimeError("detail from /srv/inverter/secret.py")
    assert info.value.message == INTERNAL_ERROR and "secret" not in str(info.value)
    (record,) = [r for r in caplog.records if r.name == "inverter.ui.errors"]
    assert record.exc_info is not None and "detail from /srv/inverter/secret.py" in caplog.text
    assert "Traceback" in caplog.text and "RuntimeError" in caplog.text
