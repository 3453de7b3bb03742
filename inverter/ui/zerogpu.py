"""The hardware the app serves on, what a run may cost there, and Hugging Face ZeroGPU.

Three kinds of hardware: **ZeroGPU** (``SPACES_ZERO_GPU`` set by Spaces: every run asks for a
GPU for a stated number of seconds, counted against the visitor's daily quota), a
**dedicated GPU** (CUDA present) and the **CPU**. Before any GPU is asked for, a run's cost is
estimated from the work itself (:mod:`inverter.cost`: Φ's operations counted on the meta
device × steps × restarts, at the device's rates) and a run whose estimate exceeds
:func:`max_run_seconds` is refused with a message saying what to change.

ZeroGPU multiplies every duration it is asked for by its hardware's ``duration_factor`` (in the
``spaces`` package's GPU configs: 1.5 on the RTX PRO 6000 half-GPUs, 1.0 on the H200 slices) and
reserves and charges the product: :func:`gpu_request` asks for at most
:data:`ZEROGPU_MAX_SECONDS` / :func:`duration_factor`, so that a visitor is never charged more than
:data:`ZEROGPU_MAX_SECONDS` for one run.

ZeroGPU's ``spaces.GPU`` runs the decorated generator in a forked worker; only a
:class:`gradio.Error` keeps its message across (anything else arrives as "ZeroGPU worker
error: ClassName"), so the decorated generators turn every error into one inside the worker.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TypeVar

import torch

from .. import cost
from ..errors import UserError

T = TypeVar("T")

#: Most GPU seconds one run may cost a visitor on ZeroGPU (the request × :func:`duration_factor`):
#: an anonymous visitor's whole daily quota (2 minutes; 5 for a free account). A request above what
#: the visitor has left is refused by ZeroGPU outright, and shorter requests are queued first.
ZEROGPU_MAX_SECONDS = 120
#: ZeroGPU's duration factor where the ``spaces`` package cannot say (off ZeroGPU, or ``spaces``
#: missing): that of the RTX PRO 6000 half-GPUs ZeroGPU serves on, the larger of the two in
#: ``spaces``' configs (``spaces/zero/configs.json``), so that the cap holds on either.
ZEROGPU_DURATION_FACTOR = 1.5
#: Shortest GPU request (ZeroGPU's default is 60 s).
ZEROGPU_MIN_SECONDS = 10
#: Inversions at once on ZeroGPU (each gets a GPU of its own; this process only streams).
ZEROGPU_CONCURRENCY = 8


def on_zerogpu() -> bool:
    """Whether the app runs on ZeroGPU hardware (Spaces sets ``SPACES_ZERO_GPU``)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def serving_device() -> str:
    """Where runs happen: :func:`inverter.devices.default_device` (CUDA on GPU hardware and on ZeroGPU,
    whose ``spaces`` package emulates CUDA outside the GPU workers; ``$INVERTER_DEVICE`` overrides)."""
    from ..devices import default_device

    return str(default_device())


def on_gpu() -> bool:
    """Whether runs happen on a GPU (ZeroGPU's or a dedicated one)."""
    return on_zerogpu() or serving_device().startswith("cuda")


def machine() -> cost.Machine:
    """The rates the estimates use for the serving hardware."""
    return cost.GPU_ASSUMED if on_gpu() else cost.CPU_THREAD.scaled(torch.get_num_threads())


def duration_factor() -> float:
    """What ZeroGPU multiplies a duration request by before reserving it and charging it to the
    visitor (``spaces.zero.client.get_duration_seconds``): on ZeroGPU the ``duration_factor`` of
    ``spaces``' own config for the GPU there (``spaces.zero.config.get_config``, what it uses
    itself), else :data:`ZEROGPU_DURATION_FACTOR`. (``spaces`` skips the factor for ``xlarge``
    GPUs, which the app never asks for: there the charge is only smaller.)"""
    if on_zerogpu():
        try:
            from spaces.zero.config import get_config

            return float(get_config()["duration_factor"])
        except Exception:  # noqa: BLE001 - no spaces, or a config without the key: assume
            pass
    return ZEROGPU_DURATION_FACTOR


def charged_seconds(request: int) -> int:
    """The seconds of ZeroGPU quota a request of ``request`` seconds reserves (× :func:`duration_factor`,
    rounded as ``spaces`` rounds it)."""
    return round(request * duration_factor())


def max_run_seconds() -> float | None:
    """The longest estimated run the app accepts (and the most a run asks ZeroGPU for):
    ``$INVERTER_MAX_RUN_SECONDS``, else on ZeroGPU :data:`ZEROGPU_MAX_SECONDS` / :func:`duration_factor`
    (80 s at 1.5: ZeroGPU then reserves and charges at most 120 s), and no limit elsewhere."""
    value = os.environ.get("INVERTER_MAX_RUN_SECONDS", "").strip()
    if value:
        try:
            return float(value)
        except ValueError:
            pass
    return float(math.floor(ZEROGPU_MAX_SECONDS / duration_factor())) if on_zerogpu() else None


def default_concurrency() -> int:
    """Runs at once: ``$INVERTER_CONCURRENCY``, else :data:`ZEROGPU_CONCURRENCY` on ZeroGPU and 1
    elsewhere (one run already uses every CPU core, or the one GPU)."""
    try:
        return max(1, int(os.environ["INVERTER_CONCURRENCY"]))
    except (KeyError, ValueError):
        return ZEROGPU_CONCURRENCY if on_zerogpu() else 1


def check_budget(seconds: float, what: str = "This run") -> None:
    """Refuse an estimate above :func:`max_run_seconds`, before any GPU is asked for.

    Raises:
        UserError: the message gives the estimate, the limit and what to change.
    """
    limit = max_run_seconds()
    if limit is not None and seconds > limit:
        where = "of GPU time" if on_gpu() else "here"
        factor = duration_factor() if on_zerogpu() else 1.0
        counted = f" (ZeroGPU counts it ×{factor:g} against your daily quota)" if factor != 1.0 else ""
        raise UserError(f"{what} would take about {cost.whole_seconds(seconds)} s {where}; one run may take at most "
                        f"{limit:g} s{counted}. Choose fewer iterations, fewer restarts, a smaller image or a "
                        "shallower layer.")  # fmt: skip


def gpu_request(seconds: float) -> int:
    """The ZeroGPU duration to ask for a run estimated at ``seconds``: at least :data:`ZEROGPU_MIN_SECONDS`,
    at most :func:`max_run_seconds` (runs above it are refused before, by :func:`check_budget`). ZeroGPU
    reserves and charges :func:`charged_seconds` of it: at most :data:`ZEROGPU_MAX_SECONDS`."""
    limit = max_run_seconds() or math.floor(ZEROGPU_MAX_SECONDS / duration_factor())
    return int(min(max(cost.whole_seconds(seconds), ZEROGPU_MIN_SECONDS), limit))


def cost_text(seconds: float) -> str:
    """One line for the page: what the run will cost."""
    rounded = cost.whole_seconds(seconds)
    if on_zerogpu():
        request, factor = gpu_request(seconds), duration_factor()
        counted = f"a {request} s request, which ZeroGPU counts ×{factor:g}; " if factor != 1.0 else ""
        return (f"Estimated cost: about {rounded} s of GPU time, reserved as {charged_seconds(request)} s from your "
                f"daily ZeroGPU quota ({counted}2 min a day without an account, 5 min signed in, 40 min with "
                "PRO).")  # fmt: skip
    where = "the GPU" if on_gpu() else "this CPU"
    return f"Estimated time: about {rounded} s on {where}."


def gpu(duration: int | Callable[..., int] = 60) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``spaces.GPU(duration=...)`` where the ``spaces`` package is installed; a no-op
    otherwise. ``spaces.GPU`` itself is a no-op unless ``SPACES_ZERO_GPU`` is set (Spaces).

    The decorated function keeps ``duration`` as its ``gpu_duration`` attribute (what ZeroGPU is
    asked for, called with the function's arguments), for tests and callers to use as is."""
    try:
        import spaces
    except ImportError:
        decorate: Callable[[Callable[..., T]], Callable[..., T]] = lambda fn: fn  # noqa: E731
    else:
        decorate = spaces.GPU(duration=duration)

    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        wrapped = decorate(fn)
        wrapped.gpu_duration = duration  # type: ignore[attr-defined]
        return wrapped

    return wrap
