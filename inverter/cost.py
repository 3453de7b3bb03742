"""What an inversion costs, before it runs: Φ's work counted on the ``meta`` device, and a time estimate.

:func:`census` runs one forward pass of a representation *and its backward pass to the
input* (what one optimisation step runs) on ``meta`` tensors — shapes only, no arithmetic,
no memory, no weights — and counts what it would do: floating-point operations (torch's
``FlopCounterMode``: convolutions, matrix products, attention), the bytes every operation
reads and writes (views excluded), and the number of operations. :func:`estimate_seconds`
turns that into seconds on a :class:`Machine`:

    seconds = setup + weights / load rate
              + steps × (FLOPs / compute + bytes / bandwidth + operations × per-op cost)
              + snapshots × per-snapshot cost

where a step's work is Φ's, the engine's update and, for steps on Fourier coefficients, the
transforms of :mod:`inverter.parameterisation` (:func:`parameterisation_census`).

The three rates of :data:`CPU_THREAD` are fitted (non-negative least squares, relative
error) to the one-thread per-step times of ``benchmarks/results/speed_cpu.md`` and
``speed_timm_cpu.md`` (AlexNet conv1/conv5/fc8, VGG-16 conv3_3/relu5_3, HOG, HOGb, DSIFT,
ResNet-50 layer3, ViT-S/16 blocks.8, AlexNet at batch 4 and 8): within 0.9–1.2× of every
measurement but AlexNet conv1 (0.45–0.5×: its 11×11 stride-4 convolution runs at a third
of the fitted rate). No GPU has been measured for this project: :data:`GPU_ASSUMED` is a
stated, conservative guess (see its comment), to be replaced by a fit to
``benchmarks/speed.py --device cuda`` once a GPU run exists.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from .parameterisation import FourierBasis
from .representations.base import Representation

#: Elementwise operations of one engine step besides Φ (regularisers, momentum, clip:
#: ``inverter/descent.py``), and how many of them sweep the whole canvas (3 tensors each).
ENGINE_OPS, ENGINE_SWEEPS = 19, 11


@dataclass(frozen=True)
class Census:
    """What one step's forward + backward pass of Φ does, for one batch and image size.

    Attributes:
        flops: floating-point operations (multiply-adds count 2).
        bytes: bytes read and written by the operations (views excluded).
        ops: operations dispatched (views excluded).
        weight_bytes: bytes of Φ's parameters and buffers (what moves to the device).
    """

    flops: float
    bytes: float
    ops: int
    weight_bytes: int


@dataclass(frozen=True)
class Machine:
    """Effective rates of a device for the estimate.

    Attributes:
        name: for messages (``"GPU"``, ``"this CPU"``).
        flops_per_s: arithmetic rate reached on Φ's convolutions and matrix products.
        bytes_per_s: memory traffic rate.
        op_s: fixed cost of one operation (dispatch, kernel launch, autograd bookkeeping).
        setup_s: fixed cost of one run (target pass, first snapshot; on ZeroGPU the worker start).
        load_bytes_per_s: rate of moving the weights to the device at the start of a run.
        snapshot_s: cost of one snapshot (device→host copy, display mapping, objective terms).
        source: where the figures come from.
    """

    name: str
    flops_per_s: float
    bytes_per_s: float
    op_s: float
    setup_s: float
    load_bytes_per_s: float
    snapshot_s: float
    source: str

    def scaled(self, threads: int) -> "Machine":
        """The same CPU with ``threads`` intra-op threads: compute scales at 75 % per thread, the rest does not."""
        factor = 1 + 0.75 * (max(threads, 1) - 1)
        return Machine(f"{self.name} ({threads} threads)", self.flops_per_s * factor, self.bytes_per_s, self.op_s,
                       self.setup_s, self.load_bytes_per_s, self.snapshot_s, self.source)  # fmt: skip


#: One thread of this project's CPU (Intel Xeon, AVX-512), fitted to the speed benchmark.
CPU_THREAD = Machine(
    "this CPU", flops_per_s=165e9, bytes_per_s=15.7e9, op_s=74e-6, setup_s=1.0, load_bytes_per_s=2e9,
    snapshot_s=2e-3, source="fitted to benchmarks/results/speed_cpu.md and speed_timm_cpu.md (1 thread)",
)
#: ZeroGPU's device, not measured. Assumed: 8 TFLOP/s on Φ (FP32 without TF32, about a quarter of the
#: peak of the H200 MIG 3g slice ``spaces`` reports, 48× the fitted CPU thread), 400 GB/s (a fifth of the
#: slice's bandwidth, 25×) and 40 µs per operation (host-side dispatch of eager PyTorch on a shared
#: host; the CPU thread's 74 µs includes small arithmetic): measured GPU speed-ups over one CPU core
#: are usually larger, so these overstate the time. ``spaces`` itself scales a request by its
#: ``duration_factor`` on slower slices (1.5 on half an RTX Pro 6000) and charges the product:
#: :func:`inverter.ui.zerogpu.gpu_request` asks for at most the cap ÷ that factor. Setup: the ZeroGPU
#: worker's start and CUDA context (8 s), weights moved at 1 GB/s.
GPU_ASSUMED = Machine(
    "GPU", flops_per_s=8e12, bytes_per_s=400e9, op_s=40e-6, setup_s=8.0, load_bytes_per_s=1e9, snapshot_s=5e-3,
    source="assumed (no GPU measured): 48× the CPU thread's arithmetic, 25× its bandwidth, 40 µs per operation",
)


class _GlobalOnly:
    """Stands in for :class:`FlopCounterMode`'s module tracker, which attributes counts to modules
    by process-wide module hooks: while it is on they reach the forward passes of inversions running
    in other threads (the app's) and break their backward ("A leaf node was passed to
    _will_engine_execute_node…"). The census needs the total only, which the tracker files under
    ``"Global"``; the counting itself (a dispatch mode) stays in its own thread."""

    parents = ("Global",)

    def __enter__(self) -> "_GlobalOnly":
        return self

    def __exit__(self, *args: Any) -> None:
        return None


def _flop_counter() -> FlopCounterMode:
    """torch's flop counter, without its module tracker (:class:`_GlobalOnly`)."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    return counter


class _Counter(TorchDispatchMode):
    """Counts operations and the bytes they touch (views excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self.bytes = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if not getattr(func, "is_view", False):
            self.ops += 1
            self.bytes += sum(t.numel() * t.element_size() for t in tree_flatten((args, kwargs, out))[0]
                              if isinstance(t, torch.Tensor))  # fmt: skip
        return out


def census(representation: Representation, size: tuple[int, int], batch: int = 1) -> Census:
    """Count one step of Φ (forward, then backward to the input) for ``batch`` images of ``size = (H, W)``.

    Runs on ``meta`` copies of the weights: no arithmetic, no memory; cached per representation,
    size and batch.
    """
    key = (tuple(int(s) for s in size), int(batch))
    cache = representation.__dict__.setdefault("_census", {})
    if key not in cache:
        tensors = dict(itertools.chain(representation.named_parameters(), representation.named_buffers()))
        meta = {name: torch.empty_like(t, device="meta") for name, t in tensors.items()}
        pixels = torch.empty((key[1], representation.channels, *key[0]), device="meta", requires_grad=True)
        flops, counter = _flop_counter(), _Counter()
        with flops, counter, torch.enable_grad():
            code = torch.func.functional_call(representation, meta, (pixels,))
            code.backward(torch.empty_like(code))
        weights = sum(t.numel() * t.element_size() for t in tensors.values())
        cache[key] = Census(float(flops.get_total_flops()), float(counter.bytes), counter.ops, weights)
    return cache[key]


_PARAMETERISATION_CENSUS: dict[tuple[tuple[int, ...], str], Census] = {}


def parameterisation_census(shape: tuple[int, int, int, int], parameterisation: str) -> Census:
    """What taking the step on ``parameterisation`` adds to one step, for a canvas of ``shape``
    ``(K, C, H', W')``, counted on ``meta`` tensors like :func:`census`: nothing for pixels; for
    Fourier coefficients the map ``T`` to the image, its adjoint ``Tᵀ`` and the two passes that
    keep what the clip took off (:class:`inverter.descent.Descent`), each real FFT of ``N``
    values counted as ``2.5·N·log2(N)`` flops (torch's flop counter does not count FFTs)."""
    key = (tuple(int(s) for s in shape), parameterisation)
    if parameterisation == "pixels":
        return Census(0.0, 0.0, 0, 0)
    if key not in _PARAMETERISATION_CENSUS:
        basis = FourierBasis(key[0], "meta")
        counter = _Counter()
        with counter:
            image = basis.image(torch.empty(basis.coefficient_shape, device="meta"))
            basis.adjoint(torch.empty_like(image))
            clipped = torch.empty_like(image)
            clipped.sub_(image).add_(image)
        values = key[0][0] * key[0][1] * basis.canvas[0] * basis.canvas[1]
        flops = 2 * 2.5 * values * math.log2(basis.canvas[0] * basis.canvas[1])
        _PARAMETERISATION_CENSUS[key] = Census(flops, float(counter.bytes), counter.ops, 0)
    return _PARAMETERISATION_CENSUS[key]


def step_seconds(representation: Representation, settings: Any, machine: Machine) -> float:
    """Seconds of one optimisation step (Φ's forward and backward for every restart, the engine's
    update, and the parameterisation's transforms)."""
    height, width = settings.image_size
    work = census(representation, (height, width), settings.restarts)
    canvas = 4.0 * settings.restarts * representation.channels * height * width
    shape = (settings.restarts, representation.channels, height + settings.jitter - 1, width + settings.jitter - 1)
    extra = parameterisation_census(shape, settings.parameterisation)
    return ((work.flops + extra.flops) / machine.flops_per_s
            + (work.bytes + extra.bytes + 3 * ENGINE_SWEEPS * canvas) / machine.bytes_per_s
            + (work.ops + extra.ops + ENGINE_OPS) * machine.op_s)  # fmt: skip


def estimate_seconds(representation: Representation, settings: Any, machine: Machine, *, setup: bool = True) -> float:
    """Seconds an inversion with the resolved ``settings`` takes on ``machine``.

    Args:
        representation: Φ (any device, ``meta`` included: only shapes are used).
        settings: the resolved :class:`inverter.settings.Settings` of the run.
        setup: include the fixed cost of a run and of moving the weights (``False``: the
            second and later inversions of one experiment).
    """
    steps = settings.iterations
    snapshots = steps // settings.snapshot_every + 2
    seconds = steps * step_seconds(representation, settings, machine) + snapshots * machine.snapshot_s
    if setup:
        weights = census(representation, tuple(settings.image_size), settings.restarts).weight_bytes
        seconds += machine.setup_s + weights / machine.load_bytes_per_s
    return seconds


def whole_seconds(seconds: float) -> int:
    """``seconds`` rounded up to a whole second."""
    return max(int(math.ceil(seconds)), 1)


_SKELETONS: dict[tuple[str, str], tuple[Any, Representation]] = {}


def skeleton(family: str, layer: str | None) -> Representation:
    """The representation ``family:layer`` built on the ``meta`` device: its modules and shapes, no
    weights read, no memory — enough to validate settings against it and count its cost. Built
    once per family and layer (again if the family is registered anew).

    Raises:
        inverter.errors.UnknownNameError: an unknown family or layer.
    """
    from .representations import get_family
    from .weights import RandomInit

    fam = get_family(family)
    spec = fam.layer(layer)
    known = _SKELETONS.get((fam.name, spec.name))
    if known is None or known[0] is not fam:
        with torch.device("meta"):
            rep = fam.build(spec.name, RandomInit() if fam.needs_weights else None).freeze()
        known = _SKELETONS[(fam.name, spec.name)] = (fam, rep)
    return known[1]
