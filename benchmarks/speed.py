"""How close is one inversion step to one forward + backward pass of the network? (issue 5)

Run from the repository root::

    python benchmarks/speed.py                 # full run, default device, prints Markdown
    python benchmarks/speed.py --quick         # smoke run: fewer configurations and steps
    python benchmarks/speed.py --device cuda --threads 2
    python benchmarks/speed.py --precision bfloat16   # Φ under bfloat16 autocast, engine and baseline alike

Everything is measured in one run, and every comparison is *interleaved*: the engine
and its baseline (or the batch sizes being compared) advance one block of steps each
in turn, round after round (the order flips every round), and a ratio is formed per
round; tables give medians over rounds. This is what makes the ratios meaningful on a
shared, loaded machine, where absolute times drift by large factors from minute to
minute — the load average is printed before and after every section.

Sections (all with random weights: speed does not depend on the values):

1. CNNs: per-step time of :func:`inverter.invert` (one block = ``n`` steps and one
   snapshot, as with ``snapshot_every=n``) against a bare ``Φ(x)`` + ``autograd.grad``
   to the input, at batch 1, same network object, same image; and against the same
   network in torchvision's default NCHW layout (the engine's networks run channels-last).
2. HOG, HOGb, DSIFT at 227×227 the same way (rows appear once those families are
   registered), and their forward pass next to ``skimage.feature.hog`` on the same image.
3. Restarts: ``B`` = 1, 2, 4, 8 restarts in one batch, per-step cost relative to ``B`` = 1,
   with the bare network's own batch scaling alongside.
4. Peak memory per configuration: CUDA ``torch.cuda.max_memory_allocated``; CPU the peak
   resident set (``VmHWM``) of a fresh subprocess per configuration, reset through
   ``/proc/self/clear_refs`` once the network is loaded, so the figure is the run's own peak.
5. Time from calling :func:`inverter.invert` to receiving its first snapshot, weights
   already loaded: the first call after loading (cold) and the median of the next calls;
   and what one more snapshot costs, in milliseconds and in steps.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from inverter import invert, load_representation  # noqa: E402
from inverter.engine import forward_in_precision  # noqa: E402
from inverter.representations import families  # noqa: E402
from inverter.representations.base import Representation  # noqa: E402

#: (name, target ratio) of the CNN rows; the quick run keeps the first two.
CNN_CONFIGS = ("alexnet:conv1", "alexnet:conv5", "alexnet:fc8", "vgg16:conv3_3", "vgg16:relu5_3")
SHALLOW_FAMILIES = ("hog", "hogb", "dsift")
CNN_TARGET, SHALLOW_TARGET, RESTART_TARGET, FIRST_SNAPSHOT_TARGET = 1.15, 1.5, 2.5, 1.0
RESTARTS = (1, 2, 4, 8)
#: ``--precision``: the arithmetic of Φ in the engine and in the bare baseline alike.
PRECISION = "float32"
SHALLOW_SIZE = (227, 227)


# --------------------------------------------------------------------------- utilities


def load_line() -> str:
    """``load 1/5/15 min: a b c on N cores`` from :func:`os.getloadavg`."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def log(message: str) -> None:
    """Progress to stderr (the tables go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message} — {load_line()}", file=sys.stderr, flush=True)


def synchronise(device: torch.device) -> None:
    """Wait for queued device work (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def photo() -> np.ndarray:
    """The test photograph, ``[512, 512, 3]`` uint8 (scikit-image's astronaut)."""
    from skimage import data

    return data.astronaut()


def ensure_shallow_families() -> list[str]:
    """Import the HOG/DSIFT modules if they exist and return the registered shallow families."""
    for module in ("inverter.representations.hog", "inverter.representations.dsift"):
        if importlib.util.find_spec(module) is not None:
            try:
                importlib.import_module(module)
            except Exception as err:  # a module being written may not import yet
                log(f"could not import {module}: {err!r}")
    return [name for name in SHALLOW_FAMILIES if name in families()]


def load(name: str, device: torch.device) -> Representation:
    """A frozen representation with random weights (CNNs) on ``device``."""
    family = families()[name.partition(":")[0]]
    weights = "random" if family.needs_weights else None
    rep = load_representation(name, weights=weights, device=device)
    assert not rep.training and not any(p.requires_grad for p in rep.parameters()), "representation not frozen"
    return rep


def engine_options() -> dict[str, str]:
    """Extra :func:`invert` keywords for ``--precision`` (none for float32: older engines lack it)."""
    return {} if PRECISION == "float32" else {"precision": PRECISION}


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def spread(values: list[float]) -> str:
    """``min–max`` of the per-round values, for the reader to judge the noise."""
    return f"{min(values):.2f}–{max(values):.2f}"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


# --------------------------------------------------------------------------- workloads

Block = Iterator[None]


def engine_blocks(rep: Representation, image: np.ndarray, steps: int, restarts: int, device: torch.device,
                  size: tuple[int, int] | None = None, engine: Callable = invert,
                  snapshot_every: int | None = None) -> tuple[Block, int]:
    """:func:`invert` advanced ``steps`` steps per ``next``; returns (blocks, steps).

    A block takes one snapshot, or one every ``snapshot_every`` steps (a divisor of
    ``steps``). The generator is primed (its first snapshot taken) before it is returned;
    ``engine`` is another version's ``invert`` for before/after comparisons.
    """
    every = snapshot_every or steps
    iterations = steps * 1000  # never reached: the loop is stopped from outside
    gen = engine(rep, image, iterations=iterations, snapshot_every=every, restarts=restarts,
                 device=str(device), image_size=size, **engine_options())
    next(gen)

    def blocks() -> Block:
        while True:
            for _ in range(steps // every):
                next(gen)
            yield None

    return blocks(), steps


def baseline_blocks(rep: Representation, image: np.ndarray, steps: int, restarts: int, device: torch.device,
                    size: tuple[int, int] | None = None) -> tuple[Block, int]:
    """``steps`` bare forward passes + backward passes to the input per ``next``, synchronised."""
    pixels = rep.image_to_pixels(image, size).to(device).expand(restarts, -1, -1, -1).contiguous()
    x = pixels.requires_grad_(True)
    phi = forward_in_precision(rep, PRECISION)  # as the engine runs Φ
    with torch.no_grad():
        grad_out = phi(pixels) * 1e-3  # any finite vector of the code's shape

    def blocks() -> Block:
        while True:
            with torch.enable_grad():  # whatever mode the caller (or a suspended generator) left
                for _ in range(steps):
                    (grad,) = torch.autograd.grad(phi(x), x, grad_outputs=grad_out)
            synchronise(device)
            yield None

    return blocks(), steps


def interleave(workloads: dict[str, tuple[Block, int]], rounds: int, device: torch.device) -> dict[str, list[float]]:
    """Per-step seconds of each workload, one value per round; one warm-up block each first.

    Workloads take turns block by block; the order is reversed every other round so that
    a drift in the machine's load does not favour one of them.
    """
    names = list(workloads)
    for name in names:
        next(workloads[name][0])
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            blocks, steps = workloads[name]
            synchronise(device)
            t0 = time.perf_counter()
            next(blocks)
            times[name].append((time.perf_counter() - t0) / steps)
    return times


def steps_per_block(rep: Representation, image: np.ndarray, device: torch.device, budget_s: float,
                    cap: int, size: tuple[int, int] | None = None) -> int:
    """Steps that make a block last about ``budget_s`` (from two bare steps), in ``[1, cap]``."""
    blocks, _ = baseline_blocks(rep, image, 1, 1, device, size)
    next(blocks)
    t0 = time.perf_counter()
    next(blocks)
    step = time.perf_counter() - t0
    return max(1, min(cap, int(budget_s / max(step, 1e-6))))


# --------------------------------------------------------------------------- sections


@dataclass
class Row:
    """One line of a per-step table."""

    name: str
    steps: int
    baseline_ms: float
    engine_ms: float
    ratio: float
    ratio_spread: str
    target: float
    before_ms: float | None = None
    before_ratio: float | None = None
    plain_ms: float | None = None
    plain_ratio: float | None = None

    @property
    def ok(self) -> bool:
        return self.ratio <= self.target


def per_step_row(name: str, device: torch.device, image: np.ndarray, rounds: int, budget_s: float, cap: int,
                 target: float, rep: Representation | None = None, size: tuple[int, int] | None = None,
                 before: Callable | None = None) -> Row:
    """Interleaved engine vs bare forward+backward for one representation at batch 1 (and ``before``'s engine)."""
    rep = rep or load(name, device)
    steps = steps_per_block(rep, image, device, budget_s, cap, size)
    workloads = {
        "engine": engine_blocks(rep, image, steps, 1, device, size),
        "baseline": baseline_blocks(rep, image, steps, 1, device, size),
    }
    if before is not None:
        workloads["before"] = engine_blocks(rep, image, steps, 1, device, size, engine=before)
    if hasattr(rep, "set_channels_last"):  # the same network in torchvision's own (NCHW) layout
        plain = copy.deepcopy(rep).set_channels_last(False)
        workloads["plain"] = baseline_blocks(plain, image, steps, 1, device, size)
    times = interleave(workloads, rounds, device)
    ratios = [e / b for e, b in zip(times["engine"], times["baseline"])]
    row = Row(name, steps, 1e3 * median(times["baseline"]), 1e3 * median(times["engine"]), median(ratios),
              spread(ratios), target)
    if before is not None:
        row.before_ms = 1e3 * median(times["before"])
        row.before_ratio = median([e / b for e, b in zip(times["before"], times["baseline"])])
    if "plain" in times:
        row.plain_ms = 1e3 * median(times["plain"])
        row.plain_ratio = median([e / b for e, b in zip(times["engine"], times["plain"])])
    return row


def per_step_table(rows: list[Row], before: str | None = None) -> str:
    """Markdown table of per-step rows; CNN rows also compare with torchvision's NCHW layout."""
    plain = any(r.plain_ms is not None for r in rows)
    extra_head = f" `{before}` ms/step | `{before}` ratio |" if before else ""
    plain_head = " fwd+bwd NCHW ms/step | invert / NCHW fwd+bwd |" if plain else ""
    lines = [
        "| representation | steps/block | fwd+bwd ms/step |" + plain_head + extra_head
        + " invert ms/step | ratio (median) | ratio min–max | target | holds |",
        "|---|---:|---:|" + "---:|---:|" * plain + "---:|---:|" * bool(before) + "---:|---:|---:|---:|---|",
    ]
    for r in rows:
        extra = f" {r.before_ms:.1f} | {r.before_ratio:.3f} |" if before else ""
        if plain:
            extra = (f" {r.plain_ms:.1f} | {r.plain_ratio:.3f} |" if r.plain_ms is not None else " – | – |") + extra
        lines.append(f"| `{r.name}` | {r.steps} | {r.baseline_ms:.1f} |{extra} {r.engine_ms:.1f} | {r.ratio:.3f} | "
                     f"{r.ratio_spread} | ≤ {r.target} | {verdict(r.ok)} |")
    return "\n".join(lines)


def engine_at(revision: str) -> Callable:
    """``invert`` of ``inverter/engine.py`` (+ ``objectives.py``, ``descent.py`` where present) at a git revision.

    The old files are loaded as extra modules of the package (``inverter._rev_engine`` …) beside
    the current ones, so that both versions run interleaved in this process.
    """
    import importlib.util as util

    def source(path: str) -> str | None:
        out = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=REPO, capture_output=True, text=True)
        return out.stdout if out.returncode == 0 else None

    folder = Path(tempfile.mkdtemp(prefix="inverter-rev-"))
    modules = {}
    for mod in ("objectives", "descent", "engine"):
        text = source(f"inverter/{mod}.py")
        if text is None:
            continue
        for other in ("objectives", "descent"):
            text = text.replace(f"from .{other} import", f"from ._rev_{other} import")
        path = folder / f"_rev_{mod}.py"
        path.write_text(text)
        spec = util.spec_from_file_location(f"inverter._rev_{mod}", path)
        module = util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules[mod] = module
    return modules["engine"].invert


def forward_table(names: list[str], device: torch.device, image: np.ndarray, rounds: int) -> str:
    """Forward pass of each shallow representation next to ``skimage.feature.hog``, interleaved."""
    from skimage.color import rgb2gray
    from skimage.feature import hog as sk_hog
    from skimage.transform import resize

    grey = resize(rgb2gray(image), SHALLOW_SIZE, anti_aliasing=True)
    reps = {name: load(name, device) for name in names}
    pixels = {name: rep.image_to_pixels(image, SHALLOW_SIZE).to(device) for name, rep in reps.items()}
    calls: dict[str, Callable[[], object]] = {
        "skimage": lambda: sk_hog(grey, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)),
    }
    for name in names:
        calls[name] = lambda name=name: reps[name](pixels[name])
    repeat = 5
    times: dict[str, list[float]] = {k: [] for k in calls}
    with torch.no_grad():
        for fn in calls.values():
            fn()
        for r in range(rounds * 2):
            for key in calls if r % 2 == 0 else reversed(list(calls)):
                synchronise(device)
                t0 = time.perf_counter()
                for _ in range(repeat):
                    calls[key]()
                synchronise(device)
                times[key].append((time.perf_counter() - t0) / repeat)
    lines = [
        "| representation | forward ms (ours, no grad) | `skimage.feature.hog` ms | ours / skimage |",
        "|---|---:|---:|---:|",
    ]
    for name in names:
        ratio = median([a / b for a, b in zip(times[name], times["skimage"])])
        lines.append(f"| `{name}` | {1e3 * median(times[name]):.2f} | {1e3 * median(times['skimage']):.2f} | {ratio:.2f} |")
    return "\n".join(lines)


def restarts_table(name: str, device: torch.device, image: np.ndarray, rounds: int, budget_s: float,
                   batches: tuple[int, ...]) -> tuple[str, dict[int, float]]:
    """Engine and bare network at several batch sizes, interleaved; per-step cost relative to B = 1."""
    rep = load(name, device)
    steps = max(1, steps_per_block(rep, image, device, budget_s / max(batches), 25))
    workloads = {}
    for b in batches:
        workloads[f"engine{b}"] = engine_blocks(rep, image, steps, b, device)
        workloads[f"baseline{b}"] = baseline_blocks(rep, image, steps, b, device)
    times = interleave(workloads, rounds, device)
    lines = [
        f"`{name}`, {steps} steps per block:",
        "",
        "| restarts B | invert ms/step | × B=1 (invert) | fwd+bwd ms/step at batch B | × batch 1 (fwd+bwd) |",
        "|---:|---:|---:|---:|---:|",
    ]
    rel: dict[int, float] = {}
    for b in batches:
        rel[b] = median([t / t1 for t, t1 in zip(times[f"engine{b}"], times["engine1"])])
        base_rel = median([t / t1 for t, t1 in zip(times[f"baseline{b}"], times["baseline1"])])
        lines.append(f"| {b} | {1e3 * median(times[f'engine{b}']):.1f} | {rel[b]:.2f} | "
                     f"{1e3 * median(times[f'baseline{b}']):.1f} | {base_rel:.2f} |")
    return "\n".join(lines), rel


def snapshot_cost(name: str, device: torch.device, image: np.ndarray, rounds: int, steps: int,
                  rep: Representation | None = None) -> tuple[float, float]:
    """(ms per snapshot, that in steps): a snapshot at every step against one per ``steps`` steps, interleaved."""
    rep = rep or load(name, device)
    times = interleave({"every": engine_blocks(rep, image, steps, 1, device, snapshot_every=1),
                        "once": engine_blocks(rep, image, steps, 1, device)}, rounds, device)
    per_step = median(times["once"])
    extra = median([(a - b) * steps / (steps - 1) for a, b in zip(times["every"], times["once"])])
    return 1e3 * extra, extra / per_step


def first_snapshot(name: str, device: torch.device, image: np.ndarray, repeats: int,
                   rep: Representation | None = None) -> tuple[float, float]:
    """Seconds from calling :func:`invert` to its first snapshot: (first call after loading, median of the rest)."""
    rep = rep or load(name, device)
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        gen = invert(rep, image, device=str(device), **engine_options())
        next(gen)
        times.append(time.perf_counter() - t0)
        gen.close()
    return times[0], median(times[1:])


# --------------------------------------------------------------------------- memory


def _proc_status(field_name: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field_name)


def _release_free_heap() -> None:
    """Give freed heap pages back to the OS (glibc ``malloc_trim``), so that later allocations
    show in the resident set instead of silently reusing memory freed while loading."""
    import gc

    gc.collect()  # e.g. the full model a truncated network was cut from
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def memory_probe(name: str, mode: str, restarts: int, steps: int, device: torch.device) -> dict[str, float]:
    """Run ``steps`` steps of ``mode`` (``engine``/``baseline``) and return peak memory in MiB.

    CPU: ``VmHWM`` (peak resident set) of this process, reset after loading the network.
    CUDA: ``torch.cuda.max_memory_allocated`` above what was allocated after loading.
    """
    image = photo()
    rep = load(name, device)
    size = SHALLOW_SIZE if rep.channels == 1 else None
    mib = 2.0**20
    if device.type == "cuda":
        synchronise(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        _release_free_heap()
        start = _proc_status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
    if mode == "engine":
        for _ in invert(rep, image, iterations=steps, snapshot_every=steps, restarts=restarts,
                        device=str(device), image_size=size, **engine_options()):
            pass
    else:
        blocks, _ = baseline_blocks(rep, image, steps, restarts, device, size)
        next(blocks)
    synchronise(device)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _proc_status("VmHWM")
    return {"start_mib": start / mib, "peak_mib": peak / mib, "extra_mib": (peak - start) / mib}


def memory_rows(configs: list[tuple[str, int]], device: torch.device, steps: int, threads: int) -> str:
    """Peak memory of engine and bare fwd+bwd for each (name, restarts), a fresh process each on CPU."""
    method = ("`torch.cuda.max_memory_allocated`, in-process, above the memory allocated after loading"
              if device.type == "cuda" else
              "peak resident set (`VmHWM`) of a fresh subprocess per cell, reset (`/proc/self/clear_refs`) after "
              "loading the network and returning freed heap to the OS (`malloc_trim`); 'extra' = peak − resident set "
              "after loading, i.e. what the run itself added")
    lines = [
        f"Method: {method}; {steps} steps each.",
        "",
        "| configuration | after loading MiB | invert peak MiB | invert extra MiB | fwd+bwd peak MiB | fwd+bwd extra MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, restarts in configs:
        results = {}
        for mode in ("engine", "baseline"):
            if device.type == "cuda":
                results[mode] = memory_probe(name, mode, restarts, steps, device)
                continue
            cmd = [sys.executable, str(Path(__file__).resolve()), "--probe-memory", name, "--probe-mode", mode,
                   "--probe-restarts", str(restarts), "--probe-steps", str(steps), "--device", str(device),
                   "--threads", str(threads), "--precision", PRECISION]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        e, b = results["engine"], results["baseline"]
        lines.append(f"| `{name}` B={restarts} | {e['start_mib']:.0f} | {e['peak_mib']:.0f} | {e['extra_mib']:.0f} | "
                     f"{b['peak_mib']:.0f} | {b['extra_mib']:.0f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


@dataclass
class Report:
    """The Markdown sections and the targets' verdicts, in order."""

    sections: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, bool]] = field(default_factory=list)

    def add(self, title: str, body: str) -> None:
        self.sections.append(f"## {title}\n\n_{load_line()} at the end of this section._\n\n{body}\n")
        print(self.sections[-1], flush=True)


def header(device: torch.device, args: argparse.Namespace) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return (f"# inverter speed ({'quick' if args.quick else 'full'} run)\n\n"
            f"torch {torch.__version__}, device `{device}`{gpu}, CPU {cpu}, {torch.get_num_threads()} intra-op threads, "
            f"mkldnn {'on' if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled else 'off'}; "
            f"Φ in {PRECISION}; {args.rounds} interleaved rounds per comparison; {time.strftime('%Y-%m-%d %H:%M')}.\n\n"
            f"_{load_line()} at the start._\n" + oversubscription_note(device))


def oversubscription_note(device: torch.device) -> str:
    """A warning when runnable processes outnumber the cores and torch runs several threads on the CPU."""
    cores, threads = os.cpu_count() or 1, torch.get_num_threads()
    if device.type != "cpu" or threads == 1 or os.getloadavg()[0] <= cores:
        return ""
    return (f"\n**The machine is oversubscribed** (load {os.getloadavg()[0]:.1f} on {cores} cores) and torch uses "
            f"{threads} threads: every multi-threaded operation then waits for a descheduled worker thread, so "
            "times measure the scheduler more than the code. `--threads 1` gives stable figures on such a machine.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="fewer configurations and steps (smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per comparison")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--block-seconds", type=float, default=None, help="target duration of one block of steps")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory section")
    parser.add_argument("--against", metavar="REV", help="also time the engine of this git revision (before/after)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="arithmetic of Φ, in the engine and in the bare baseline alike")
    parser.add_argument("--probe-memory", help=argparse.SUPPRESS)
    parser.add_argument("--probe-mode", default="engine", help=argparse.SUPPRESS)
    parser.add_argument("--probe-restarts", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--probe-steps", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global PRECISION
    PRECISION = args.precision
    if args.against and PRECISION != "float32":
        parser.error("--against compares float32 engines only (earlier engines have no precision setting)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.probe_memory:
        ensure_shallow_families()
        result = memory_probe(args.probe_memory, args.probe_mode, args.probe_restarts, args.probe_steps, device)
        print(json.dumps(result))
        return 0

    args.rounds = args.rounds or (3 if args.quick else 7)
    budget = args.block_seconds or (0.3 if args.quick else 1.0)
    cap = 10 if args.quick else 25
    cnn_names = list(CNN_CONFIGS[:2] if args.quick else CNN_CONFIGS)
    shallow = ensure_shallow_families()
    before = engine_at(args.against) if args.against else None
    image = photo()
    report = Report()
    print(header(device, args), flush=True)

    # 5 first (cold = the very first call after loading), reusing the loaded networks for 1.
    log("first snapshot")
    loaded = {name: load(name, device) for name in cnn_names + shallow}
    firsts = {name: first_snapshot(name, device, image, 2 if args.quick else 3, rep) for name, rep in loaded.items()}

    log("per-step CNN")
    cnn_rows = []
    for name in cnn_names:
        cnn_rows.append(per_step_row(name, device, image, args.rounds, budget, cap, CNN_TARGET, loaded[name],
                                     before=before))
        log(f"  {name}: ratio {cnn_rows[-1].ratio:.3f}")
    report.add("1. Per-step time: `invert()` vs bare forward + backward to the input (batch 1)",
               per_step_table(cnn_rows, args.against) + "\n\nOne block = `steps/block` steps plus one snapshot "
               "(`snapshot_every = steps/block`); ratio = invert / fwd+bwd per round, median over rounds. "
               "fwd+bwd runs the very network `invert` runs (CNNs: channels-last); the NCHW columns run "
               "it in torchvision's default layout, the floor the issue names.")
    report.targets += [(f"per-step ratio `{r.name}` ≤ {CNN_TARGET}", f"{r.ratio:.3f}", r.ok) for r in cnn_rows]

    log("per-step shallow")
    if shallow:
        rows = [per_step_row(name, device, image, args.rounds, budget, cap, SHALLOW_TARGET, loaded[name], SHALLOW_SIZE,
                             before=before) for name in shallow]
        body = per_step_table(rows, args.against) + "\n\nForward pass only:\n\n" + forward_table(shallow, device, image, args.rounds)
        report.targets += [(f"per-step ratio `{r.name}` ≤ {SHALLOW_TARGET}", f"{r.ratio:.3f}", r.ok) for r in rows]
    else:
        body = "HOG/HOGb/DSIFT are not registered yet; their rows appear once they are."
    missing = [n for n in SHALLOW_FAMILIES if n not in shallow]
    if shallow and missing:
        body += f"\n\nNot registered yet: {', '.join(missing)}."
    report.add("2. HOG, HOGb, DSIFT at 227×227", body)

    log("restarts")
    batches = RESTARTS[:3] if args.quick else RESTARTS
    bodies = []
    for name in ["alexnet:conv1"] if args.quick else ["alexnet:conv1", "alexnet:conv5"]:
        text, rel = restarts_table(name, device, image, args.rounds, budget * (2 if not args.quick else 1), batches)
        bodies.append(text)
        report.targets.append((f"`{name}`: B=4 restarts ≤ {RESTART_TARGET}× B=1", f"{rel[4]:.2f}×", rel[4] <= RESTART_TARGET))
    report.add("3. Restarts optimised as one batch", "\n\n".join(bodies))

    if not args.no_memory:
        log("memory")
        configs = [(n, 1) for n in cnn_names + shallow] + [("alexnet:conv1", b) for b in batches if b > 1]
        report.add("4. Peak memory", memory_rows(configs, device, 2 if args.quick else 3, torch.get_num_threads()))

    lines = ["| representation | first call after loading, s | later calls (median), s | target | holds |",
             "|---|---:|---:|---:|---|"]
    for name, (cold, warm) in firsts.items():
        ok = max(cold, warm) <= FIRST_SNAPSHOT_TARGET
        lines.append(f"| `{name}` | {cold:.2f} | {warm:.2f} | ≤ {FIRST_SNAPSHOT_TARGET} | {verdict(ok)} |")
        report.targets.append((f"first snapshot `{name}` ≤ {FIRST_SNAPSHOT_TARGET} s", f"{cold:.2f} s / {warm:.2f} s", ok))
    log("snapshot cost")
    lines.append("")
    lines.append("Cost of one snapshot (a snapshot at every step against one per 10 steps, interleaved):")
    lines.append("")
    lines.append("| representation | ms per snapshot | in steps |")
    lines.append("|---|---:|---:|")
    for name in [n for n in ("alexnet:conv1", "alexnet:conv5", "hog") if n in loaded]:
        cost_ms, cost_steps = snapshot_cost(name, device, image, args.rounds, 10, loaded[name])
        lines.append(f"| `{name}` | {cost_ms:.2f} | {cost_steps:.2f} |")
    report.add("5. Time to the first snapshot (weights loaded; measured first, before any other use)",
               "\n".join(lines))

    lines = ["| target | measured | holds |", "|---|---:|---|"]
    lines += [f"| {t} | {m} | {verdict(ok)} |" for t, m, ok in report.targets]
    report.add("Targets", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
