"""Run one task, in whatever process the backend chose: the engine, then the codes and metrics.

:func:`run_task` never raises for a task's own failure (an unreadable image, a diverging
optimisation, a bug): it returns a failed :class:`TaskResult` with the message, so the
rest of the evaluation goes on. Each worker process keeps the last few networks it built
(:class:`NetworkCache`), so weights are loaded once per worker, not once per task.
"""
from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..devices import resolve_device
from ..engine import reconstruct
from ..errors import ImageError, InverterError, first_line
from ..images import load_image
from ..metrics import compare
from ..plugins import load_plugins
from ..representations.base import Representation
from ..settings import DESCRIPTIVE, resolve_settings
from .tasks import Task, load_network


class NetworkCache:
    """The last ``size`` networks built, by (name, weights, device); ``cache(name, weights, device)``.

    The device is resolved first (``None`` = automatic), so the planner's ``"cpu"`` and a
    worker's automatic choice on a CPU machine share an entry.
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._networks: OrderedDict[tuple[str, str | None, str], Representation] = OrderedDict()

    def __call__(self, name: str, weights: str | None, device: str | None) -> Representation:
        key = (name, weights, str(resolve_device(device)))
        if key in self._networks:
            self._networks.move_to_end(key)
        else:
            self._networks[key] = load_network(name, weights, key[2])
            while len(self._networks) > self.size:
                self._networks.popitem(last=False)
        return self._networks[key]


#: This process's networks.
NETWORKS = NetworkCache()


@dataclass
class TaskResult:
    """What one task gave.

    Attributes:
        key: the task's key.
        ok: whether it finished (else ``error`` says why).
        metrics: ``ijcv_error`` (√(‖y−y0‖²/‖y0‖²), unitless, float32 codes), ``squared_error``
            (‖y−y0‖²) and ``target_norm2`` (‖y0‖²) in code units², ``engine_error`` (the
            engine's relative error of the best restart, in Φ's precision), ``psnr_db``,
            ``ssim``, ``steps``, ``seconds`` (the whole task, s), ``inversion_seconds``,
            ``device``, ``best_restart``, ``settings`` (resolved, with the device).
        error: the failure's message, one line. traceback: the traceback of a failure that
            is a bug, or the rest of a longer message.
        reconstruction: ``[H, W, 3]`` uint8, the best restart (display mapping).
        reference: ``[H, W, 3]`` uint8, the input as Φ sees it.
        target: Φ(x0), float32, the code's shape (for the CVPR error of the set).
        pixels: ``[C, H, W]`` float32, the best pre-image in pixel units (mean subtracted).
        worker: ``host:pid`` of the process that ran it.
    """

    key: str
    ok: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    reconstruction: np.ndarray | None = None
    reference: np.ndarray | None = None
    target: np.ndarray | None = None
    pixels: np.ndarray | None = None
    worker: str = ""


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def prepare_worker(plugins: tuple[str, ...] = (), threads: int | None = None, ignore_interrupt: bool = False) -> None:
    """Set a worker process up: import the plug-ins, set torch's CPU threads.

    Args:
        plugins: :func:`inverter.plugins.load_plugins` names.
        threads: torch intra-op threads (``None``: leave torch's choice).
        ignore_interrupt: ignore Ctrl-C (local worker processes: the main process handles it).
    """
    if ignore_interrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    load_plugins(plugins)
    if threads:
        torch.set_num_threads(threads)


def read_image(task: Task, data: bytes | None = None) -> np.ndarray:
    """The task's image, ``[H, W, 3]`` float64 in ``[0, 1]``, exactly as :func:`inverter.images.load_image`
    reads its file: from ``data`` (its bytes, sent by the main process) or from its path.

    Raises:
        ImageError: missing, unreadable, not an image, or not the content the task was planned with.
        OSError: the file cannot be read.
    """
    content = Path(task.path).read_bytes() if data is None else data
    if hashlib.sha256(content).hexdigest() != task.image_sha256:
        raise ImageError(f"{task.image} changed since the evaluation was planned; run it again")
    if data is None:
        return load_image(task.path)
    with tempfile.TemporaryDirectory(prefix="inverter-") as folder:
        path = Path(folder) / Path(task.image).name  # the same suffix and name as the original
        path.write_bytes(data)
        return load_image(path)


def failed(task: Task, err: BaseException, start: float) -> TaskResult:
    """A failed result for ``err``: its first line; the traceback when it is a bug (not an :class:`InverterError`)."""
    if isinstance(err, (InverterError, OSError)):
        message, detail = first_line(err), str(err).strip()
        detail = detail if detail != message else None
    else:
        message, detail = f"internal error ({type(err).__name__}: {first_line(err)})", traceback.format_exc()
    return TaskResult(task.key, False, {"seconds": time.perf_counter() - start}, message, detail,
                      worker=worker_name())  # fmt: skip


def run_task(task: Task, data: bytes | None = None) -> TaskResult:
    """Invert ``task``'s image and measure the result (never raises for the task's own failure).

    Args:
        task: the task.
        data: the image file's bytes (``None``: read ``task.path``).
    """
    start = time.perf_counter()
    try:
        config = task.inversion_config()
        # family:layer, as the planner asked for it (``hog:hog``, where the table says ``hog``):
        # in this process the two share the network the planner built.
        network = NETWORKS(f"{task.family}:{task.layer}", task.weights, config.device)
        image = read_image(task, data)
        settings = resolve_settings(network, config)
        resolved = settings.to_dict()
        device = resolved.pop("device")
        # The pinned config names the method's preset where the plan says "default: …": a
        # description (settings.DESCRIPTIVE), not a setting, so it is not compared.
        differ = sorted(k for k in resolved if k not in DESCRIPTIVE and resolved[k] != task.settings.get(k))
        if differ:
            raise InverterError(f"this worker resolves other settings than the plan ({', '.join(differ)}): "
                                "is it running another version of inverter?")  # fmt: skip
        shot = reconstruct(network, image, config)
        best = shot.best
        size = tuple(shot.pixels.shape[-2:])
        with torch.no_grad():
            target = network(network.image_to_pixels(image, size).to(network.device))[0]
            code = network(torch.from_numpy(shot.pixels[best : best + 1]).to(network.device))[0]
        target64, code64 = target.double(), code.double()
        squared = float(torch.sum((code64 - target64) ** 2))
        norm2 = float(torch.sum(target64**2))
        quality = compare(shot.image, shot.reference)
        metrics = {
            "ijcv_error": float(np.sqrt(squared / max(norm2, 1e-300))),
            "squared_error": squared,
            "target_norm2": norm2,
            "engine_error": float(shot.relative_error[best]),
            "psnr_db": quality.psnr,
            "ssim": quality.ssim,
            "steps": shot.step,
            "seconds": time.perf_counter() - start,
            "inversion_seconds": shot.elapsed,
            "device": device,
            "best_restart": best,
            "settings": {**resolved, "device": device},
        }
        return TaskResult(task.key, True, metrics, reconstruction=shot.image, reference=shot.reference,
                          target=target.float().cpu().numpy(), pixels=shot.pixels[best].copy(),
                          worker=worker_name())  # fmt: skip
    except Exception as err:  # a failed task is recorded; the evaluation goes on
        return failed(task, err, start)


def run_remote(task: Task, data: bytes | None, plugins: tuple[str, ...], threads: int | None) -> TaskResult:
    """:func:`run_task` in a Ray worker: sets the worker up first (idempotent)."""
    prepare_worker(plugins, threads)
    return run_task(task, data)
