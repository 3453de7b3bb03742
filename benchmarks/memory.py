"""Peak memory of one configuration: an inversion, or bare forward + backward passes.

One configuration per process (on the CPU the figure is the process's own peak)::

    python benchmarks/memory.py alexnet:conv5 --mode engine --restarts 8 --steps 20 --device cpu

Loads the representation (CNNs: random weights) and the astronaut (227×227 for one-channel
representations), then runs ``--steps`` steps of :func:`inverter.invert` with ``--restarts``
restarts and one snapshot (``engine``), or bare ``Φ(x)`` + ``autograd.grad`` to the input at
batch ``--restarts`` (``bare``). Prints one JSON line in MiB: ``start_mib`` after loading,
``peak_mib`` the run's peak, ``extra_mib`` their difference. CPU: resident set (``VmRSS``)
after freed heap is returned to the OS, peak resident set (``VmHWM``) reset through
``/proc/self/clear_refs``; CUDA: ``torch.cuda.memory_allocated`` / ``max_memory_allocated``.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)

from inverter import invert  # noqa: E402


def proc_status(field_name: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field_name)


def release_free_heap() -> None:
    """Give freed heap pages back to the OS (glibc ``malloc_trim``), so that later allocations
    show in the resident set instead of silently reusing memory freed while loading."""
    gc.collect()  # e.g. the full model a truncated network was cut from
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_memory(name: str, mode: str, restarts: int, steps: int, device: torch.device) -> dict[str, float]:
    """Run ``steps`` steps of ``mode`` (``engine`` or ``bare``); memory after loading, peak and extra, in MiB."""
    image = harness.sample_photo("astronaut")
    rep = harness.representation(name, device)
    size = harness.SHALLOW_SIZE if rep.channels == 1 else None
    if device.type == "cuda":
        harness.synchronise(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        release_free_heap()
        start = proc_status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
    if mode == "engine":
        for _ in invert(rep, image, iterations=steps, snapshot_every=steps, restarts=restarts,
                        device=str(device), image_size=size, **harness.engine_options()):
            pass
    else:
        blocks, _ = harness.baseline_blocks(rep, image, steps, restarts, device, size)
        next(blocks)
    harness.synchronise(device)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else proc_status("VmHWM")
    mib = 2.0**20
    return {"start_mib": start / mib, "peak_mib": peak / mib, "extra_mib": (peak - start) / mib}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="representation, e.g. alexnet:conv5 or hog")
    parser.add_argument("--mode", choices=("engine", "bare"), default="engine",
                        help="invert(), or bare forward + backward passes to the input")
    parser.add_argument("--restarts", type=int, default=1, help="restarts in one batch (bare: the batch size)")
    parser.add_argument("--steps", type=int, default=3, help="steps to run")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32", help="arithmetic of Φ")
    args = parser.parse_args(argv)
    harness.PRECISION = args.precision
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(peak_memory(args.name, args.mode, args.restarts, args.steps, torch.device(args.device))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
