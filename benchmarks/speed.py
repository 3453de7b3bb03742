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
2. HOG, HOGb, DSIFT at 227×227 the same way, and their forward pass next to
   ``skimage.feature.hog`` on the same image.
3. Restarts: ``B`` = 1, 2, 4, 8 restarts in one batch, per-step cost relative to ``B`` = 1,
   with the bare network's own batch scaling alongside.
4. Peak memory per configuration, each in a fresh ``benchmarks/memory.py`` process: CUDA
   ``torch.cuda.max_memory_allocated``; CPU the peak resident set (``VmHWM``), reset through
   ``/proc/self/clear_refs`` once the network is loaded, so the figure is the run's own peak.
5. Time from calling :func:`inverter.invert` to receiving its first snapshot, weights
   already loaded: the first call after loading (cold) and the median of the next calls;
   and what one more snapshot costs, in milliseconds and in steps.

With ``--candidate LABEL=OPTIONS`` (repeatable; ``inverter invert``'s options, read by the
settings schema) it measures only the per-step ratio of each candidate's settings, all
interleaved with one bare baseline, on ``--only``'s representations (issue 15: every
method and parameterisation)::

    python benchmarks/speed.py --threads 1 --only alexnet:conv1,alexnet:conv5,squeezenet1_1:fire5 \
        --candidate "cvpr=--method cvpr" --candidate "ijcv=--method ijcv" \
        --candidate "cvpr+fourier=--method cvpr --parameterisation fourier" \
        --candidate "ijcv+fourier=--method ijcv --parameterisation fourier"
"""
from __future__ import annotations

import argparse
import atexit
import copy
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)
from harness import (  # noqa: E402
    SHALLOW_SIZE, baseline_blocks, engine_blocks, interleave, load_line, log, median, ratios, repeat_blocks,
    representation, spread,
)

from inverter import invert  # noqa: E402
from inverter.representations.base import Representation  # noqa: E402

#: The CNN rows; the quick run keeps the first two.
CNN_CONFIGS = ("alexnet:conv1", "alexnet:conv5", "alexnet:fc8", "vgg16:conv3_3", "vgg16:relu5_3")
#: timm models (a CNN and a ViT at deep layers) in the per-step and memory sections; ``--quick``: timm's tiny ones.
TIMM_CONFIGS = ("timm:resnet50.a1_in1k:layer3", "timm:vit_small_patch16_224.augreg_in21k_ft_in1k:blocks.8")
TIMM_QUICK = ("timm:test_resnet.r160_in1k:layer3", "timm:test_vit.r160_in1k:blocks.4")
#: Peak memory of a deep timm layer's inversion over its bare forward+backward (issue 12).
MEMORY_TARGET = 1.10
SHALLOW_FAMILIES = ("hog", "hogb", "dsift")
CNN_TARGET, SHALLOW_TARGET, RESTART_TARGET, FIRST_SNAPSHOT_TARGET = 1.15, 1.5, 2.5, 1.0
RESTARTS = (1, 2, 4, 8)


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def steps_per_block(rep: Representation, image: np.ndarray, device: torch.device, budget_s: float,
                    cap: int, size: tuple[int, int] | None = None) -> int:
    """Steps that make a block last about ``budget_s`` (from two bare steps), in ``[1, cap]``."""
    (step,) = interleave({"bare": baseline_blocks(rep, image, 1, 1, device, size)}, 1, device)["bare"]
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


def per_step_row(name: str, rep: Representation, device: torch.device, image: np.ndarray, rounds: int,
                 budget_s: float, cap: int, target: float, size: tuple[int, int] | None = None,
                 before: Callable | None = None) -> Row:
    """Interleaved engine vs bare forward+backward for one representation at batch 1 (and ``before``'s engine)."""
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
    per_round = ratios(times["engine"], times["baseline"])
    row = Row(name, steps, 1e3 * median(times["baseline"]), 1e3 * median(times["engine"]), median(per_round),
              spread(per_round), target)
    if before is not None:
        row.before_ms = 1e3 * median(times["before"])
        row.before_ratio = median(ratios(times["before"], times["baseline"]))
    if "plain" in times:
        row.plain_ms = 1e3 * median(times["plain"])
        row.plain_ratio = median(ratios(times["engine"], times["plain"]))
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


def candidates_table(names: list[str], candidates: list[harness.Candidate], device: torch.device, image: np.ndarray,
                     rounds: int, budget_s: float, cap: int, weights: str, before: tuple[str, Callable] | None = None,
                     ) -> tuple[str, list[tuple[str, str, bool]]]:  # fmt: skip
    """Per-step ratio invert ÷ bare fwd+bwd of every candidate's settings, all of one representation interleaved
    with one bare baseline; returns the table and the (target, measured, holds) rows. ``before`` = (revision,
    its ``invert``): every candidate also runs on that engine (a column ``label@revision``), interleaved too."""
    engines = [("", invert)] + ([(f"@{before[0]}", before[1])] if before else [])
    columns = [(f"{c.label}{suffix}", c, engine) for c in candidates for suffix, engine in engines]
    lines = ["| representation | steps/block | fwd+bwd ms/step | " + " | ".join(
        f"`{label}` ms/step, ratio (min–max)" for label, _, _ in columns) + " |",
        "|---|---:|---:|" + "---:|" * len(columns)]  # fmt: skip
    targets = []
    for name in names:
        rep = representation(name, device, weights)
        size = SHALLOW_SIZE if rep.channels == 1 else None
        steps = steps_per_block(rep, image, device, budget_s, cap, size)
        workloads = {"baseline": baseline_blocks(rep, image, steps, 1, device, size)}
        for label, c, engine in columns:
            workloads[label] = engine_blocks(rep, image, steps, 1, device, size, engine=engine, overrides=c.overrides)
        times = interleave(workloads, rounds, device)
        cells = []
        for label, _, engine in columns:
            per_round = ratios(times[label], times["baseline"])
            target = SHALLOW_TARGET if rep.channels == 1 else CNN_TARGET
            cells.append(f"{1e3 * median(times[label]):.1f}, **{median(per_round):.3f}** ({spread(per_round)})")
            if engine is invert:
                targets.append((f"per-step ratio `{name}` `{label}` ≤ {target}", f"{median(per_round):.3f}",
                                median(per_round) <= target))
        lines.append(f"| `{name}` | {steps} | {1e3 * median(times['baseline']):.1f} | " + " | ".join(cells) + " |")
        log(f"  {name}: " + ", ".join(f"{label} {cell}" for (label, _, _), cell in zip(columns, cells)))
    return "\n".join(lines), targets


def invert_at(revision: str) -> Callable:
    """``invert`` of the whole ``inverter`` package at a git revision, imported beside the current one.

    ``git archive`` writes the package into a temporary folder as ``inverter_at_<short rev>``, which
    imports its own modules relatively only, so both versions run interleaved in this process.
    """
    short = subprocess.run(["git", "rev-parse", "--short", "--verify", f"{revision}^{{commit}}"], cwd=harness.REPO,
                           stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
    package, folder = f"inverter_at_{short}", tempfile.mkdtemp(prefix="inverter-rev-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    archive = subprocess.run(["git", "archive", f"--prefix={package}/", f"{short}:inverter"], cwd=harness.REPO,
                             stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    sys.path.insert(0, folder)
    return importlib.import_module(package).invert


def forward_table(reps: dict[str, Representation], device: torch.device, image: np.ndarray, rounds: int) -> str:
    """Forward pass of each shallow representation next to ``skimage.feature.hog``, interleaved."""
    from skimage.color import rgb2gray
    from skimage.feature import hog as sk_hog
    from skimage.transform import resize

    grey = resize(rgb2gray(image), SHALLOW_SIZE, anti_aliasing=True)
    pixels = {name: rep.image_to_pixels(image, SHALLOW_SIZE).to(device) for name, rep in reps.items()}
    calls: dict[str, Callable[[], object]] = {
        "skimage": lambda: sk_hog(grey, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)),
    }
    for name in reps:
        calls[name] = lambda name=name: reps[name](pixels[name])
    with torch.no_grad():
        times = interleave({key: repeat_blocks(call, 5, device) for key, call in calls.items()}, rounds * 2, device)
    lines = [
        "| representation | forward ms (ours, no grad) | `skimage.feature.hog` ms | ours / skimage |",
        "|---|---:|---:|---:|",
    ]
    for name in reps:
        ratio = median(ratios(times[name], times["skimage"]))
        lines.append(f"| `{name}` | {1e3 * median(times[name]):.2f} | {1e3 * median(times['skimage']):.2f} | {ratio:.2f} |")
    return "\n".join(lines)


def restarts_table(name: str, rep: Representation, device: torch.device, image: np.ndarray, rounds: int,
                   budget_s: float, batches: tuple[int, ...]) -> tuple[str, dict[int, float]]:
    """Engine and bare network at several batch sizes, interleaved; per-step cost relative to B = 1."""
    steps = steps_per_block(rep, image, device, budget_s / max(batches), 25)
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
        rel[b] = median(ratios(times[f"engine{b}"], times["engine1"]))
        base_rel = median(ratios(times[f"baseline{b}"], times["baseline1"]))
        lines.append(f"| {b} | {1e3 * median(times[f'engine{b}']):.1f} | {rel[b]:.2f} | "
                     f"{1e3 * median(times[f'baseline{b}']):.1f} | {base_rel:.2f} |")
    return "\n".join(lines), rel


def snapshot_cost(rep: Representation, device: torch.device, image: np.ndarray, rounds: int,
                  steps: int) -> tuple[float, float]:
    """(ms per snapshot, that in steps): a snapshot at every step against one per ``steps`` steps, interleaved."""
    times = interleave({"every": engine_blocks(rep, image, steps, 1, device, snapshot_every=1),
                        "once": engine_blocks(rep, image, steps, 1, device)}, rounds, device)
    per_step = median(times["once"])
    extra = median([(a - b) * steps / (steps - 1) for a, b in zip(times["every"], times["once"])])
    return 1e3 * extra, extra / per_step


def first_snapshot(rep: Representation, device: torch.device, image: np.ndarray, repeats: int) -> tuple[float, float]:
    """Seconds from calling :func:`invert` to its first snapshot: (first call after loading, median of the rest)."""
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        gen = invert(rep, image, device=str(device), **harness.engine_options())
        next(gen)
        times.append(time.perf_counter() - t0)
        gen.close()
    return times[0], median(times[1:])


def memory_probe(name: str, mode: str, restarts: int, steps: int, device: torch.device,
                 threads: int) -> dict[str, float]:
    """``python benchmarks/memory.py`` for one cell in a fresh process: its JSON line (MiB) as a dict."""
    cmd = [sys.executable, str(Path(__file__).with_name("memory.py")), name, "--mode", mode,
           "--restarts", str(restarts), "--steps", str(steps), "--device", str(device), "--threads", str(threads),
           "--precision", harness.PRECISION]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_rows(configs: list[tuple[str, int]], device: torch.device, steps: int,
                threads: int) -> tuple[str, dict[tuple[str, int], float]]:  # fmt: skip
    """Peak memory of engine and bare fwd+bwd for each (name, restarts), a fresh :func:`memory_probe` each;
    returns the table and each configuration's peak ratio invert ÷ fwd+bwd."""
    method = ("`torch.cuda.max_memory_allocated` above the memory allocated after loading, a fresh subprocess per cell"
              if device.type == "cuda" else
              "peak resident set (`VmHWM`) of a fresh subprocess per cell, reset (`/proc/self/clear_refs`) after "
              "loading the network and returning freed heap to the OS (`malloc_trim`); 'extra' = peak − resident set "
              "after loading, i.e. what the run itself added")
    lines = [
        f"Method: {method}; {steps} steps each.",
        "",
        "| configuration | after loading MiB | invert peak MiB | invert extra MiB | fwd+bwd peak MiB | fwd+bwd extra MiB "
        "| peak invert ÷ fwd+bwd |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    peaks = {}
    for name, restarts in configs:
        e, b = (memory_probe(name, mode, restarts, steps, device, threads) for mode in ("engine", "bare"))
        peaks[(name, restarts)] = e["peak_mib"] / b["peak_mib"]
        lines.append(f"| `{name}` B={restarts} | {e['start_mib']:.0f} | {e['peak_mib']:.0f} | {e['extra_mib']:.0f} | "
                     f"{b['peak_mib']:.0f} | {b['extra_mib']:.0f} | {peaks[(name, restarts)]:.3f} |")
    return "\n".join(lines), peaks


# --------------------------------------------------------------------------- main


def section(title: str, body: str) -> None:
    """Print one Markdown section, with the load average at its end."""
    print(f"## {title}\n\n_{load_line()} at the end of this section._\n\n{body}\n", flush=True)


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
            f"Φ in {harness.PRECISION}; {args.rounds} interleaved rounds per comparison; {time.strftime('%Y-%m-%d %H:%M')}.\n\n"
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
    parser.add_argument("--only", metavar="NAME,NAME", help="measure only these representations (their rows of every section)")
    parser.add_argument("--against", metavar="REV", help="also time the engine of this git revision (before/after)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="arithmetic of Φ, in the engine and in the bare baseline alike")
    parser.add_argument("--candidate", action="append", metavar="LABEL=OPTIONS",
                        help="only the per-step ratio of the engine with these settings (inverter invert's options, "
                             "e.g. 'ijcv+fourier=--method ijcv --parameterisation fourier'; repeatable), every "
                             "candidate interleaved with one bare baseline, on --only's representations")
    parser.add_argument("--weights", default="random", help="CNN weights for --candidate's rows (default: random)")
    args = parser.parse_args(argv)
    harness.PRECISION = args.precision
    if args.against and args.precision != "float32":
        parser.error("--against compares float32 engines only (earlier engines have no precision setting)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    args.rounds = args.rounds or (3 if args.quick else 7)
    budget = args.block_seconds or (0.3 if args.quick else 1.0)
    cap = 10 if args.quick else 25
    cnn_names = list(CNN_CONFIGS[:2] if args.quick else CNN_CONFIGS) + list(TIMM_QUICK if args.quick else TIMM_CONFIGS)
    shallow = list(SHALLOW_FAMILIES)
    if args.only:
        chosen = [n.strip() for n in args.only.split(",") if n.strip()]
        cnn_names, shallow = [n for n in chosen if n not in SHALLOW_FAMILIES], [n for n in chosen if n in SHALLOW_FAMILIES]
    try:
        before = invert_at(args.against) if args.against else None
    except subprocess.CalledProcessError:
        parser.error(f"--against {args.against}: not a revision of this repository (git's message above)")
    image = harness.sample_photo("astronaut")
    targets: list[tuple[str, str, bool]] = []  # (target, measured, holds) for the last table
    try:
        candidates = [harness.Candidate.parse(text) for text in args.candidate or ()]
    except ValueError as err:
        parser.error(str(err))
    print(header(device, args), flush=True)
    if candidates:
        log("per-step by candidate")
        table, targets = candidates_table(cnn_names + shallow, candidates, device, image, args.rounds, budget, cap,
                                          args.weights, (args.against, before) if before else None)
        section("Per-step time by settings: `invert()` with each candidate vs bare forward + backward (batch 1)",
                table + "\n\nEach candidate's engine and the bare baseline take turns block by block; ratio = "
                "invert / fwd+bwd per round, median (min–max) over rounds. The schedule is stretched so that the "
                "blocks stay in the first phase (with its jitter, where the settings have it).\n\nCandidates: "
                + "; ".join(f"`{c.label}` = `{c.options or '(the layer default)'}`" for c in candidates))
        lines = ["| target | measured | holds |", "|---|---:|---|"]
        lines += [f"| {t} | {m} | {verdict(ok)} |" for t, m, ok in targets]
        section("Targets", "\n".join(lines))
        return 0

    # 5 first (cold = the very first call after loading), reusing the loaded networks for 1.
    log("first snapshot")
    loaded = {name: representation(name, device) for name in cnn_names + shallow}
    firsts = {name: first_snapshot(rep, device, image, 2 if args.quick else 3) for name, rep in loaded.items()}

    log("per-step CNN")
    cnn_rows = []
    for name in cnn_names:
        cnn_rows.append(per_step_row(name, loaded[name], device, image, args.rounds, budget, cap, CNN_TARGET,
                                     before=before))
        log(f"  {name}: ratio {cnn_rows[-1].ratio:.3f}")
    section("1. Per-step time: `invert()` vs bare forward + backward to the input (batch 1)",
               per_step_table(cnn_rows, args.against) + "\n\nOne block = `steps/block` steps plus one snapshot "
               "(`snapshot_every = steps/block`); ratio = invert / fwd+bwd per round, median over rounds. "
               "fwd+bwd runs the very network `invert` runs (CNNs: channels-last); the NCHW columns run "
               "it in torchvision's default layout, the floor the issue names.")
    targets += [(f"per-step ratio `{r.name}` ≤ {CNN_TARGET}", f"{r.ratio:.3f}", r.ok) for r in cnn_rows]

    if shallow:
        log("per-step shallow")
        rows = [per_step_row(name, loaded[name], device, image, args.rounds, budget, cap, SHALLOW_TARGET, SHALLOW_SIZE,
                             before=before) for name in shallow]
        forward = forward_table({name: loaded[name] for name in shallow}, device, image, args.rounds)
        body = per_step_table(rows, args.against) + "\n\nForward pass only:\n\n" + forward
        targets += [(f"per-step ratio `{r.name}` ≤ {SHALLOW_TARGET}", f"{r.ratio:.3f}", r.ok) for r in rows]
        section("2. HOG, HOGb, DSIFT at 227×227", body)

    log("restarts")
    batches = RESTARTS[:3] if args.quick else RESTARTS
    bodies = []
    for name in [n for n in (["alexnet:conv1"] if args.quick else ["alexnet:conv1", "alexnet:conv5"]) if n in loaded]:
        text, rel = restarts_table(name, loaded[name], device, image, args.rounds, budget * (2 if not args.quick else 1), batches)
        bodies.append(text)
        targets.append((f"`{name}`: B=4 restarts ≤ {RESTART_TARGET}× B=1", f"{rel[4]:.2f}×", rel[4] <= RESTART_TARGET))
    if bodies:
        section("3. Restarts optimised as one batch", "\n\n".join(bodies))

    if not args.no_memory:
        log("memory")
        configs = [(n, 1) for n in cnn_names + shallow] + [("alexnet:conv1", b) for b in batches
                                                             if b > 1 and "alexnet:conv1" in loaded]  # fmt: skip
        table, peaks = memory_rows(configs, device, 2 if args.quick else 3, torch.get_num_threads())
        section("4. Peak memory", table)
        targets += [(f"peak memory `{name}` ≤ {MEMORY_TARGET}× bare fwd+bwd", f"{ratio:.3f}×", ratio <= MEMORY_TARGET)
                    for (name, b), ratio in peaks.items() if name.startswith("timm:") and b == 1]  # fmt: skip

    lines = ["| representation | first call after loading, s | later calls (median), s | target | holds |",
             "|---|---:|---:|---:|---|"]
    for name, (cold, warm) in firsts.items():
        ok = max(cold, warm) <= FIRST_SNAPSHOT_TARGET
        lines.append(f"| `{name}` | {cold:.2f} | {warm:.2f} | ≤ {FIRST_SNAPSHOT_TARGET} | {verdict(ok)} |")
        targets.append((f"first snapshot `{name}` ≤ {FIRST_SNAPSHOT_TARGET} s", f"{cold:.2f} s / {warm:.2f} s", ok))
    log("snapshot cost")
    lines += ["", "Cost of one snapshot (a snapshot at every step against one per 10 steps, interleaved):", "",
              "| representation | ms per snapshot | in steps |", "|---|---:|---:|"]
    for name in [n for n in ("alexnet:conv1", "alexnet:conv5", "hog") if n in loaded]:
        cost_ms, cost_steps = snapshot_cost(loaded[name], device, image, args.rounds, 10)
        lines.append(f"| `{name}` | {cost_ms:.2f} | {cost_steps:.2f} |")
    section("5. Time to the first snapshot (weights loaded; measured first, before any other use)",
               "\n".join(lines))

    lines = ["| target | measured | holds |", "|---|---:|---|"]
    lines += [f"| {t} | {m} | {verdict(ok)} |" for t, m, ok in targets]
    section("Targets", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
