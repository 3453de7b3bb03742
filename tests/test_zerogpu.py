"""The app under ZeroGPU's own wrapper: ``spaces.GPU``'s generator wrapping, run for real.

``spaces`` wraps a decorated generator so that it runs in a forked worker process holding the
GPU: arguments and every yielded value are pickled across, and an exception raised in the
worker reaches the caller with its message only if it is a :class:`gradio.Error` (anything else
becomes "ZeroGPU worker error: ClassName"). Here the installed ``spaces`` package's wrapper
(``spaces.zero.wrappers.generator_function_wrapper``) wraps the app's decorated generators —
fork, pickling, worker loop and error transport as on a Space — with only what needs the
ZeroGPU service replaced: scheduling and releasing a GPU, and the worker's CUDA set-up.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import pytest  # noqa: E402
import torch  # noqa: E402

from conftest import TinyCNN  # noqa: E402
from serving import free_port  # noqa: E402
from inverter.errors import DivergenceError  # noqa: E402
from inverter.representations import register, registry  # noqa: E402
from inverter.representations.base import Family, LayerSpec, Preset  # noqa: E402

wrappers = pytest.importorskip("spaces.zero.wrappers")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chelsea.png"
FAMILY = "zerogpu_tiny"
PID_FILE = Path(tempfile.mkdtemp(prefix="zerogpu-test-")) / "pid"
PRESET = Preset(lambda_tv=0.5, phases=((1.0, 30),))
MESSAGE = "the optimisation diverged (a message meant for the user)"


class Diverging(TinyCNN):
    """Raises an :class:`~inverter.errors.InverterError` (a user's error) once the run is under way."""

    def __init__(self):
        super().__init__(size=32)
        self.family, self.preset, self.calls = FAMILY, PRESET, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls > 4:
            raise DivergenceError(MESSAGE)
        return super().forward(x)


class Recording(TinyCNN):
    """Writes the id of the process it runs in."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        PID_FILE.write_text(str(os.getpid()))
        return super().forward(x)


def _build(layer: str, weights=None) -> TinyCNN:
    net = Diverging() if layer == "diverges" else Recording(size=32)
    net.family, net.layer, net.preset = FAMILY, layer, PRESET
    return net


class Scheduled:
    """What ZeroGPU's scheduler answers: a GPU is free."""

    idle, nvidiaIndex, nvidiaUUID, allowToken = False, 0, "GPU-test", "token"


#: The arguments the app's own duration callables were called with, latest last.
DURATION_CALLS: list[tuple] = []


def app_duration(fn):
    """The duration callable the app decorated ``fn`` with (kept by :func:`inverter.ui.zerogpu.gpu`),
    recording its arguments."""
    duration = fn.gpu_duration

    def recorded(*args, **kwargs):
        DURATION_CALLS.append(args)
        return duration(*args, **kwargs)

    return recorded


@pytest.fixture(scope="module")
def zerogpu():
    """Every decorated generator of the app wrapped by spaces' own generator wrapper, with the
    app's own duration callables; the durations asked for are recorded."""
    import spaces.zero.torch as zero_torch

    from inverter.ui import experiments_tab, invert_run

    asked: list[float] = []
    saved = {}

    def schedule(task_id, request=None, duration=None, gpu_size=None, **_):
        asked.append(duration.total_seconds())
        return Scheduled()

    patches = [
        (wrappers.client, "schedule", schedule), (wrappers.client, "release", lambda *a, **k: None),
        (wrappers.client, "allow", lambda *a, **k: None), (zero_torch, "unpatch", lambda: None),
        (zero_torch, "init", lambda uuid: None), (zero_torch, "move", lambda callback=None: None),
        (zero_torch, "size", lambda: 0),
        (invert_run, "stream_snapshots", wrappers.generator_function_wrapper(
            invert_run.stream_snapshots, app_duration(invert_run.stream_snapshots), None)),
        (experiments_tab, "stream_updates", wrappers.generator_function_wrapper(
            experiments_tab.stream_updates, app_duration(experiments_tab.stream_updates), None)),
    ]  # fmt: skip
    for owner, name, value in patches:
        saved[(owner, name)] = getattr(owner, name)
        setattr(owner, name, value)
    register(Family(FAMILY, tuple(LayerSpec(n, 4, PRESET) for n in ("conv2", "diverges")), _build,
                    description="test CNN", default_layer="conv2"))  # fmt: skip
    try:
        yield asked
    finally:
        for (owner, name), value in saved.items():
            setattr(owner, name, value)
        registry.unregister(FAMILY)


@pytest.fixture(scope="module")
def client(zerogpu):
    from inverter.ui import build_demo

    demo = build_demo()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False, analytics_enabled=False, download_files=False)
    demo.close()


def run(client, layer: str):
    return client.predict(handle_file(str(EXAMPLE)), representation=FAMILY, layer=layer, iterations=30,
                          image_size=32, snapshot_every=10, api_name="/invert")  # fmt: skip


def test_the_app_asks_for_its_sized_request(monkeypatch):
    """The decorated generators' own duration callables ask ZeroGPU for what the sizing function
    gives the estimate: here for a concrete inversion and a concrete experiment, on ZeroGPU."""
    from inverter.ui import experiments_tab, invert_run, zerogpu
    from inverter.ui.invert_run import build_request, plan_run

    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: True)
    monkeypatch.setattr(zerogpu, "duration_factor", lambda: 1.5)
    monkeypatch.delenv("INVERTER_MAX_RUN_SECONDS", raising=False)
    register(Family(FAMILY + "_sized", (LayerSpec("conv2", 4, PRESET),), _build, description="test CNN"))
    try:
        request = plan_run(build_request({"image": str(EXAMPLE), "representation": "vgg16", "iterations": 400,
                                          "image_size": 224}))  # fmt: skip
        asked = invert_run.stream_snapshots.gpu_duration(request)
        assert asked == zerogpu.gpu_request(request.estimate_s) and 10 < asked < 80
        assert request.estimate_s <= asked < request.estimate_s + 1  # the estimate, rounded up
        spec = experiments_tab.build_spec({"kind": "restarts", "representation": FAMILY + "_sized",
                                           "example": "coffee", "restarts": 2, "iterations": 4, "image_size": 32})
        seconds, sized = experiments_tab.budget(spec)
        assert experiments_tab.stream_updates.gpu_duration(spec, None, sized) == sized == zerogpu.gpu_request(seconds)
    finally:
        registry.unregister(FAMILY + "_sized")


def test_an_inversion_runs_in_the_worker_and_asks_for_its_estimate(client, zerogpu):
    from inverter.ui.invert_run import active_runs
    from inverter.ui.zerogpu import gpu_request

    metrics = run(client, "conv2")[5]
    assert metrics["done"] and metrics["step"] == 30
    assert int(PID_FILE.read_text()) != os.getpid()  # Φ ran in the forked worker
    (request,) = DURATION_CALLS[-1]  # what the app's duration callable was given: the planned run
    assert request.family == FAMILY and request.estimate_s > 0
    assert zerogpu[-1] == gpu_request(request.estimate_s) >= 10  # the sized estimate, ≥ ZeroGPU's shortest
    assert active_runs() == 0


def test_a_user_error_raised_inside_the_worker_keeps_its_message(client):
    with pytest.raises(AppError) as info:
        run(client, "diverges")
    assert MESSAGE in str(info.value)
    assert "ZeroGPU worker error" not in str(info.value)
    assert run(client, "conv2")[5]["done"]  # the worker and the server keep serving


def test_the_wrapper_is_the_real_one_a_plain_error_loses_its_message(zerogpu):
    """The stand-in is faithful: a non-Gradio error from an undecorated body arrives as ZeroGPU reports it."""
    import gradio as gr

    def body():
        yield 1
        raise DivergenceError(MESSAGE)

    wrapped = wrappers.generator_function_wrapper(body, 10, None)
    items = wrapped()
    assert next(items) == 1
    with pytest.raises(gr.Error) as info:
        next(items)
    assert info.value.message == "DivergenceError" and MESSAGE not in str(info.value)


def test_an_experiment_runs_in_the_worker(client, zerogpu):
    grid, status, metrics, files = client.predict(kind="restarts", representation=FAMILY, example="coffee",
                                                  restarts=2, iterations=4, image_size=32,
                                                  api_name="/experiment")  # fmt: skip
    assert "**Done**" in status and len(metrics["panels"]) == 2
    from inverter.ui.experiments_tab import estimate
    from inverter.ui.zerogpu import gpu_request

    spec, _, _ = DURATION_CALLS[-1]
    assert spec.representation == FAMILY
    assert zerogpu[-1] == gpu_request(estimate(spec)) >= 10
