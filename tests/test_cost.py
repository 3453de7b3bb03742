"""What a run costs before it runs (inverter.cost) and the GPU time the app asks ZeroGPU for."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from conftest import TinyCNN
from inverter import cost
from inverter.errors import UserError
from inverter.representations import suggested_names
from inverter.settings import BY_NAME, InversionConfig, resolve_settings
from inverter.ui import zerogpu


def settings_for(rep, **config):
    return resolve_settings(rep, InversionConfig(device="cpu", **config))


def test_census_counts_a_linear_layer_exactly():
    class Linear(TinyCNN):
        def __init__(self):
            super().__init__(size=4)
            self.fc = nn.Linear(3 * 4 * 4, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))

    rep = Linear().freeze()
    work = cost.census(rep, (4, 4), batch=2)
    assert work.flops == 2 * (2 * 2 * 48 * 10)  # the forward product, and the backward one to the input
    assert work.weight_bytes == 4 * sum(p.numel() for p in rep.parameters()) + 4 * rep.inv_std.numel()
    assert work.ops >= 2 and work.bytes > 4 * 48 * 10


def test_the_skeleton_reads_no_weights(offline_cache):
    rep = cost.skeleton("alexnet", "conv5")  # the Hub cache is empty and offline: any read would fail
    assert rep.device.type == "meta" and rep.code_shape((227, 227)) == (256, 13, 13)
    assert cost.skeleton("alexnet", "conv5") is rep  # built once


def test_the_estimate_grows_with_every_kind_of_work():
    rep = cost.skeleton("alexnet", "conv5")

    def seconds(**config):
        return cost.estimate_seconds(rep, settings_for(rep, **config), cost.GPU_ASSUMED)

    base = seconds(iterations=100, restarts=1, image_size=(128, 128))
    assert seconds(iterations=400, restarts=1, image_size=(128, 128)) > base
    assert seconds(iterations=100, restarts=4, image_size=(128, 128)) > base
    assert seconds(iterations=100, restarts=1, image_size=(227, 227)) > base
    deeper = cost.skeleton("alexnet", "fc8")
    assert cost.estimate_seconds(deeper, settings_for(deeper, iterations=100, image_size=(128, 128)),
                                 cost.GPU_ASSUMED) > base  # fmt: skip
    # the fixed costs: ZeroGPU's worker start and moving the weights
    assert base > cost.GPU_ASSUMED.setup_s
    # steps on Fourier coefficients add their transforms
    assert seconds(iterations=100, restarts=1, image_size=(128, 128), parameterisation="fourier") > base


#: What a step on Fourier coefficients adds (ms), one CPU thread, 227 px, from
#: benchmarks/results/speed_methods_cpu.md: the `…+fourier` candidate's ms/step less its pixel twin's
#: (cvpr and ijcv), at AlexNet conv1, SqueezeNet fire3 and fire9 (colour), and HOG (grey).
MEASURED_FOURIER_EXTRA_MS = {3: (2.1, 2.2, 2.1, 1.9, 3.0, 2.0), 1: (1.3, 0.8)}


@pytest.mark.parametrize("channels", list(MEASURED_FOURIER_EXTRA_MS))
def test_the_fourier_transforms_cost_what_the_speed_benchmark_measured(channels):
    extra = cost.parameterisation_census((1, channels, 227, 227), "fourier")
    machine = cost.CPU_THREAD
    predicted = extra.flops / machine.flops_per_s + extra.bytes / machine.bytes_per_s + extra.ops * machine.op_s
    measured = MEASURED_FOURIER_EXTRA_MS[channels]
    ratio = predicted / (sum(measured) / len(measured) / 1000)
    # measured: 1.05 (colour), 1.23 (grey). The figures are the engine's of the time, which still transformed
    # clipped images back (up to an FFT a step more than the census now counts), on the host the CPU rates
    # were fitted to; today's engine, on a 1.2–1.6× slower host: 1.8 / 2.5 / 2.9 and 1.0 ms
    # (benchmarks/results/speed_fourier_extra_cpu.md).
    assert 0.7 < ratio < 1.6, ratio
    assert cost.parameterisation_census((1, channels, 227, 227), "pixels") == cost.Census(0.0, 0.0, 0, 0)


#: Bare forward + backward per step (ms), one CPU thread, batch 1, from benchmarks/results/speed_cpu.md and
#: speed_timm_cpu.md: the figures the CPU rates were fitted to.
MEASURED_CPU_MS = {
    ("alexnet", "conv1"): 6.0, ("alexnet", "conv5"): 20.8, ("alexnet", "fc8"): 53.4, ("vgg16", "conv3_3"): 246.6,
    ("vgg16", "relu5_3"): 402.8, ("hog", None): 15.3, ("hogb", None): 17.2, ("dsift", None): 33.0,
    ("timm:resnet50.a1_in1k", "layer3"): 131.8, ("timm:vit_small_patch16_224.augreg_in21k_ft_in1k", "blocks.8"): 125.7,
}  # fmt: skip


@pytest.mark.parametrize("name", list(MEASURED_CPU_MS), ids=[f"{f}:{l}" for f, l in MEASURED_CPU_MS])
def test_the_cpu_rates_reproduce_the_speed_benchmark(name):
    rep = cost.skeleton(*name)
    work = cost.census(rep, rep.input_size)
    machine = cost.CPU_THREAD
    predicted = work.flops / machine.flops_per_s + work.bytes / machine.bytes_per_s + work.ops * machine.op_s
    ratio = predicted / (MEASURED_CPU_MS[name] / 1000)
    assert 0.4 < ratio < 1.3, ratio  # AlexNet conv1 is the low one (0.5): its 11×11 stride-4 convolution


def test_the_assumed_gpu_is_a_stated_factor_above_the_cpu():
    gpu, cpu = cost.GPU_ASSUMED, cost.CPU_THREAD
    assert 20 <= gpu.flops_per_s / cpu.flops_per_s <= 60 and 20 <= gpu.bytes_per_s / cpu.bytes_per_s <= 60
    assert "assumed" in gpu.source and "fitted" in cpu.source


def _app_limit(name: str) -> float:
    return BY_NAME[name].app_range[1]


@pytest.mark.parametrize("factor", [1.0, 1.5])
def test_the_gpu_request_grows_with_the_work_and_stays_under_the_cap(monkeypatch, factor):
    """Every listed family's default layer over a grid up to the app's limits: each run is either
    refused before a GPU is asked for, or asks for at most the cap — and more for more work; what
    ZeroGPU charges (the request × its duration factor: 1.0 on H200 slices, 1.5 on RTX PRO 6000
    halves) never exceeds an anonymous visitor's daily quota."""
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: True)
    monkeypatch.setattr(zerogpu, "duration_factor", lambda: factor)
    monkeypatch.delenv("INVERTER_MAX_RUN_SECONDS", raising=False)
    cap = zerogpu.max_run_seconds()
    assert zerogpu.ZEROGPU_MAX_SECONDS == 120  # an anonymous visitor's daily quota
    assert cap == 120 / factor and zerogpu.charged_seconds(int(cap)) == 120
    steps, restarts, side = _app_limit("iterations"), _app_limit("restarts"), _app_limit("image_size")
    refused = accepted = 0
    for family in suggested_names():
        rep = cost.skeleton(family, None)
        patch = 112 if family.startswith("timm:vit") else 128  # a multiple of every transformer's patch
        requests = []
        sides = (patch, int(side) // patch * patch)
        for iterations, k, size in itertools.product((50, 400, int(steps)), (1, int(restarts)), sides):
            seconds = cost.estimate_seconds(rep, settings_for(rep, iterations=iterations, restarts=k,
                                                              image_size=(size, size)), zerogpu.machine())  # fmt: skip
            try:
                zerogpu.check_budget(seconds)
            except UserError as err:
                assert f"at most {cap:g} s" in str(err) and seconds > cap
                refused += 1
                continue
            accepted += 1
            request = zerogpu.gpu_request(seconds)
            assert zerogpu.ZEROGPU_MIN_SECONDS <= request <= cap and request >= seconds
            assert zerogpu.charged_seconds(request) <= zerogpu.ZEROGPU_MAX_SECONDS
            requests.append(((iterations, k, size), request))
        for (a, ra), (b, rb) in itertools.combinations(requests, 2):  # more of everything never asks for less
            if all(x <= y for x, y in zip(a, b)):
                assert ra <= rb, (family, a, ra, b, rb)
    assert refused and accepted  # the largest runs are refused, the paper's are not
    rep = cost.skeleton("alexnet", None)
    paper = cost.estimate_seconds(rep, settings_for(rep), zerogpu.machine())  # 400 steps at 227 px, one restart
    assert zerogpu.gpu_request(paper) <= 30


def test_the_duration_factor_is_the_spaces_configs_on_zerogpu_else_assumed(monkeypatch):
    """What ZeroGPU multiplies a request by: the ``spaces`` package's config for the GPU on ZeroGPU
    (what ``spaces.zero.client`` uses itself), else the stated assumption, 1.5."""
    config = pytest.importorskip("spaces.zero.config")
    monkeypatch.setattr(config, "get_config", lambda: {"duration_factor": 2.0})
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: False)
    assert zerogpu.duration_factor() == zerogpu.ZEROGPU_DURATION_FACTOR == 1.5
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: True)
    monkeypatch.delenv("INVERTER_MAX_RUN_SECONDS", raising=False)
    assert zerogpu.duration_factor() == 2.0 and zerogpu.max_run_seconds() == 60
    assert zerogpu.gpu_request(500) == 60 and zerogpu.charged_seconds(60) == 120
    monkeypatch.setattr(config, "get_config", lambda: {})  # a spaces release without the key
    assert zerogpu.duration_factor() == 1.5 and zerogpu.max_run_seconds() == 80
    with pytest.raises(UserError, match=r"at most 80 s \(ZeroGPU counts it ×1.5"):
        zerogpu.check_budget(81)


def test_the_factor_read_is_the_one_spaces_charges(monkeypatch):
    """The request the app asks for, scaled as ``spaces.zero.client`` scales it, is at most the cap."""
    client = pytest.importorskip("spaces.zero.client")
    from datetime import timedelta

    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: True)
    monkeypatch.delenv("INVERTER_MAX_RUN_SECONDS", raising=False)
    for factor in (1.0, 1.5):
        monkeypatch.setattr(client.config, "get_config", lambda factor=factor: {"duration_factor": factor})  # both read it
        monkeypatch.setattr(client, "default_gpu_size", lambda: None)
        request = zerogpu.gpu_request(10_000)
        charged = round(client.get_duration_seconds(timedelta(seconds=request), None))
        assert charged == zerogpu.charged_seconds(request) <= zerogpu.ZEROGPU_MAX_SECONDS, factor
        assert charged > zerogpu.ZEROGPU_MAX_SECONDS - factor  # the cap is used, not undershot


def test_off_zerogpu_there_is_no_cap_unless_one_is_set(monkeypatch):
    monkeypatch.setattr(zerogpu, "on_zerogpu", lambda: False)
    monkeypatch.delenv("INVERTER_MAX_RUN_SECONDS", raising=False)
    zerogpu.check_budget(10_000.0)
    monkeypatch.setenv("INVERTER_MAX_RUN_SECONDS", "60")
    with pytest.raises(UserError, match="about 61 s here; one run may take at most 60 s"):
        zerogpu.check_budget(60.5)
    assert zerogpu.machine().flops_per_s >= cost.CPU_THREAD.flops_per_s
    assert torch.get_num_threads() >= 1


def test_a_census_leaves_inversions_in_other_threads_alone(tiny_cnn, photo):
    """The app counts a run's cost while other visitors' inversions run: the flop counter must not
    reach into their passes (torch's module tracker hooks every module of the process)."""
    import threading

    from inverter import reconstruct

    errors: list[BaseException] = []

    def invert_elsewhere() -> None:
        try:
            reconstruct(tiny_cnn, photo, image_size=(16, 16), iterations=3, device="cpu")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    with cost._flop_counter():
        worker = threading.Thread(target=invert_elsewhere)
        worker.start()
        worker.join()
    assert not errors, errors
