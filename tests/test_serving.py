"""How the app serves: networks loaded once before launch, runs at once, the MCP switch, the cost
line on the page, and Stop on the Experiments tab."""
from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402
import torch  # noqa: E402

from conftest import TinyCNN  # noqa: E402
from serving import wait_until  # noqa: E402
from inverter.representations import register, registry  # noqa: E402
from inverter.representations.base import Family, LayerSpec, Preset  # noqa: E402
from inverter.ui import choices, mcp_enabled, zerogpu  # noqa: E402


# ------------------------------------------------------------------- load once, move once
@pytest.fixture
def loads(monkeypatch):
    """``load_representation`` as the app's cache calls it, counted; the cache emptied before and after."""
    calls: list[tuple[str, str, str]] = []
    real = choices.load_representation

    def counted(family, layer, weights=None, device=None):
        calls.append((family, layer, str(device)))
        return real(family, layer, weights=weights, device=device)

    monkeypatch.setattr(choices, "load_representation", counted)
    choices._cached.cache_clear()
    yield calls
    choices._cached.cache_clear()


def test_warm_up_loads_each_network_at_hand_once_on_the_serving_device(loads, monkeypatch, tmp_path):
    """HOG (no weights) and SqueezeNet (random weights) are at hand, AlexNet's named file is not:
    the first two are built once, on the serving device, and every later request gets that module."""
    monkeypatch.setattr(choices, "family_names", lambda: ["hog", "squeezenet1_1", "alexnet"])
    monkeypatch.setattr(zerogpu, "serving_device", lambda: "meta")  # a device no default would pick
    monkeypatch.delenv("INVERTER_RANDOM_WEIGHTS", raising=False)
    monkeypatch.setenv("INVERTER_WEIGHTS_SQUEEZENET1_1", "random")
    monkeypatch.setenv("INVERTER_WEIGHTS_ALEXNET", str(tmp_path / "missing.safetensors"))

    assert choices.warm_up() == ["hog", "squeezenet1_1:fire5"]
    assert [(family, device) for family, _, device in loads] == [("hog", "meta"), ("squeezenet1_1", "meta")]
    squeezenet = choices.get_representation("squeezenet1_1", None)
    assert {t.device.type for t in squeezenet.parameters()} == {"meta"}  # moved to the device, at load

    assert choices.warm_up() == ["hog", "squeezenet1_1:fire5"]  # a second warm-up loads nothing
    assert choices.get_representation("squeezenet1_1", None) is squeezenet  # nor does a run's request
    assert choices.get_representation("hog", "hog") is choices.get_representation("hog", None)
    assert len(loads) == 2


# ------------------------------------------------------------------- runs at once
def test_default_concurrency(monkeypatch):
    monkeypatch.delenv("INVERTER_CONCURRENCY", raising=False)
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: True)
    assert zerogpu.default_concurrency() == zerogpu.ZEROGPU_CONCURRENCY == 8  # a GPU each
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: False)
    assert zerogpu.default_concurrency() == 1  # one run already uses every core, or the one GPU
    monkeypatch.setenv("INVERTER_CONCURRENCY", "3")
    assert zerogpu.default_concurrency() == 3
    monkeypatch.setenv("INVERTER_CONCURRENCY", "0")
    assert zerogpu.default_concurrency() == 1  # at least one
    monkeypatch.setenv("INVERTER_CONCURRENCY", "many")
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: True)
    assert zerogpu.default_concurrency() == 8  # unreadable: the hardware's default


# ------------------------------------------------------------------- MCP
def test_mcp_is_on_in_a_space_and_off_locally_unless_asked(monkeypatch):
    monkeypatch.delenv("INVERTER_MCP", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert mcp_enabled() is False
    monkeypatch.setenv("SPACE_ID", "owner/inverter")
    assert mcp_enabled() is True
    monkeypatch.setenv("INVERTER_MCP", "0")
    assert mcp_enabled() is False  # switched off in a Space
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.setenv("INVERTER_MCP", "1")
    assert mcp_enabled() is True  # switched on locally


# ------------------------------------------------------------------- the cost line
def test_the_cost_line_says_what_zerogpu_will_reserve(monkeypatch):
    monkeypatch.delenv("INVERTER_MAX_RUN_SECONDS", raising=False)
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: True)
    monkeypatch.setattr(zerogpu, "duration_factor", lambda: 1.5)
    text = zerogpu.cost_text(39.3)
    assert "about 40 s of GPU time" in text and "reserved as 60 s" in text  # the 40 s request × 1.5
    assert "a 40 s request, which ZeroGPU counts ×1.5" in text and "daily ZeroGPU quota" in text
    assert "reserved as 15 s" in zerogpu.cost_text(2.0)  # the shortest request, 10 s, × 1.5
    monkeypatch.setattr(zerogpu, "duration_factor", lambda: 1.0)
    text = zerogpu.cost_text(39.3)
    assert "reserved as 40 s" in text and "counts" not in text


def test_the_cost_line_off_zerogpu_gives_the_time(monkeypatch):
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: False)
    monkeypatch.setattr(zerogpu, "serving_device", lambda: "cpu")
    assert zerogpu.cost_text(39.3) == "Estimated time: about 40 s on this CPU."
    monkeypatch.setattr(zerogpu, "serving_device", lambda: "cuda:0")
    assert zerogpu.cost_text(39.3) == "Estimated time: about 40 s on the GPU."


# ------------------------------------------------------------------- Stop on the Experiments tab
SLOW = "serving_slow"
PRESET = Preset(lambda_tv=0.5, phases=((1.0, 2000),))
FORWARDS = {"count": 0}


class Slow(TinyCNN):
    """TinyCNN taking 10 ms a pass, counted."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        FORWARDS["count"] += 1
        time.sleep(0.01)
        return super().forward(x)


def _slow(layer: str, weights=None) -> Slow:
    net = Slow(size=32)
    net.family, net.layer, net.preset = SLOW, layer, PRESET
    return net


@pytest.fixture
def slow_family():
    register(Family(SLOW, (LayerSpec("conv2", 4, PRESET),), _slow, description="slow test CNN", default_layer="conv2"))
    yield SLOW
    registry.unregister(SLOW)
    choices._cached.cache_clear()


def test_stop_on_the_experiments_tab_ends_the_run_and_says_stopped(slow_family, monkeypatch):
    """What the tab's Stop does: Gradio closes the running generator (the cancel), then the
    ``stopped`` handler, which waits for the session's experiment to end, shows "Stopped"."""
    from inverter.ui import experiments_tab

    monkeypatch.delenv("INVERTER_MAX_RUN_SECONDS", raising=False)
    monkeypatch.setattr(experiments_tab, "STREAM_EVERY_S", 0.0)
    outputs = experiments_tab._run({"kind": "restarts", "representation": SLOW, "example": "coffee", "restarts": 2,
                                    "iterations": 2000, "image_size": 32})  # fmt: skip
    assert "Starting" in next(outputs)[1]
    assert "**Running**" in next(outputs)[1] and experiments_tab.RUNS.active == 1
    result: list[str] = []
    stop = threading.Thread(target=lambda: result.append(experiments_tab.stopped(SimpleNamespace(session_hash=None))))
    stop.start()
    time.sleep(0.3)
    assert stop.is_alive() and not result  # Stop's status waits while the experiment runs
    outputs.close()  # the cancel
    stop.join(10)
    assert result and "Stopped" in result[0] and "Running" not in result[0] and "Done" not in result[0]
    assert experiments_tab.RUNS.active == 0
    stopped_at = FORWARDS["count"]
    time.sleep(0.3)
    assert FORWARDS["count"] == stopped_at < 2 * 2000  # the engine loop ended with the generator
    assert wait_until(lambda: experiments_tab.RUNS.active == 0, 1)
