"""What the benchmark scripts share: the repository on ``sys.path``, scikit-image's sample
photographs, interleaved timing, statistics, the load average, progress and errors on stderr.

Importing this module puts the repository root on ``sys.path``, so that ``import inverter``
works when a script is run as ``python benchmarks/NAME.py`` from any folder. A script finds
this module beside itself (also when a test loads the script by its file path)::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import harness
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from inverter import InversionConfig, invert  # noqa: E402
from inverter.cli.options import add_setting_options, given_settings  # noqa: E402
from inverter.engine import forward_in_precision  # noqa: E402
from inverter.errors import InverterError, UnknownNameError  # noqa: E402
from inverter.representations import get_family, load_representation, parse_name  # noqa: E402
from inverter.representations.base import Family, Representation  # noqa: E402

#: The arithmetic of Φ in :func:`engine_blocks` and :func:`baseline_blocks` alike
#: (``float32`` or ``bfloat16``); a script sets it from its ``--precision``.
PRECISION = "float32"
#: Pre-image side of the shallow (one-channel) representations' rows, pixels.
SHALLOW_SIZE = (227, 227)


# --------------------------------------------------------------------------- images and networks


#: scikit-image's natural photographs that ship with the package (no download), by name.
#: Left out: synthetic or binary images (horse, logo, colorwheel, checkerboard), scans of
#: text (page, text), textures (brick, grass, gravel), microscopy/medical/astronomy (cell,
#: retina, immunohistochemistry, hubble_deep_field), and cat (the same photograph as chelsea).
SAMPLE_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "motorcycle", "clock", "moon")


def sample_photo(name: str) -> np.ndarray:
    """The sample photograph ``name`` (:data:`SAMPLE_PHOTOS`), ``[H, W]`` or ``[H, W, 3]`` uint8."""
    from skimage import data

    return data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()


def representation(name: str, device: torch.device | str, weights: str | None = "random") -> Representation:
    """``name`` loaded frozen on ``device``; ``weights`` (default random) go to CNNs, shallow families take none."""
    needs_weights = get_family(parse_name(name)[0]).needs_weights
    rep = load_representation(name, weights=weights if needs_weights else None, device=device)
    assert not rep.training and not any(p.requires_grad for p in rep.parameters()), "representation not frozen"
    return rep


def engine_options() -> dict[str, str]:
    """Extra :func:`invert` keywords for :data:`PRECISION` (none for float32: older engines lack it)."""
    return {} if PRECISION == "float32" else {"precision": PRECISION}


def family_layers(representation: str, layers: str | None = None) -> tuple[Family, list[str]]:
    """``"squeezenet1_1"`` (every layer, or the comma-separated ``layers``) or ``"squeezenet1_1:fire5"``
    → (the family, its layer names).

    Raises:
        UnknownNameError: an unknown family or layer.
    """
    family_name, _, only = representation.partition(":")
    family = get_family(family_name)
    names = [s.name for s in family.layers]
    chosen = [only] if only else names if not layers else [n.strip() for n in layers.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown or not chosen:
        raise UnknownNameError(f"unknown layer(s) {', '.join(unknown) or '(none given)'} of {family_name}; "
                               f"known: {', '.join(names)}")  # fmt: skip
    return family, chosen


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, str]:
    """Parse ``argv`` (default: the process's) and apply a script's common options: ``--threads``
    (torch's CPU threads) and ``--every`` (≥ 1, else argparse's usage error, exit 2).

    Returns:
        the options and the command line as typed, for the output's first line.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "every", 1) < 1:
        parser.error(f"--every must be ≥ 1, got {args.every}")
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    return args, " ".join(argv)


def photos(names: str) -> list[tuple[str, np.ndarray]]:
    """``"rocket,camera"`` → ``[(name, image)]`` of :data:`SAMPLE_PHOTOS`.

    Raises:
        ValueError: a name that is not a sample photograph.
    """
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in SAMPLE_PHOTOS]
    if unknown or not chosen:
        raise ValueError(f"unknown sample photograph(s) {', '.join(unknown) or '(none given)'}; "
                         f"known: {', '.join(SAMPLE_PHOTOS)}")
    return [(n, sample_photo(n)) for n in chosen]


def code_error(rep: Representation, target: torch.Tensor, pixels: np.ndarray | torch.Tensor) -> np.ndarray:
    """IJCV error √(‖Φ(x)−Φ0‖²/‖Φ0‖²) of pre-images ``[K, C, H, W]`` (pixel units) against ``target`` = Φ0, ``[K]``."""
    from inverter.objectives import data_term

    x = torch.as_tensor(pixels).to(target.device)
    with torch.no_grad():
        return data_term(rep(x), target).sqrt().cpu().numpy().astype(np.float64)


def steps_to_reach(curve: Sequence[tuple[float, float]], goal: float) -> float | None:
    """The first step at which a curve of ``(step, error)`` points reaches ``error ≤ goal``, linearly
    interpolated between the two points around the crossing; ``None`` if it never does."""
    previous = None
    for step, error in curve:
        if error <= goal:
            if previous is None or previous[1] <= goal:
                return float(step)
            (s0, e0), fraction = previous, (previous[1] - goal) / (previous[1] - error)
            return s0 + fraction * (step - s0)
        previous = (step, error)
    return None


@dataclass
class LayerRuns:
    """Runs at one layer by contender label, one per image; each run has ``error`` (final), ``steps``
    and ``curve`` (``(step, error)`` points)."""

    layer: str
    runs: dict[str, list]

    def mean(self, label: str, attribute: str) -> float:
        """Mean of a run attribute over the images."""
        return float(np.mean([getattr(r, attribute) for r in self.runs[label]]))

    def steps_to(self, label: str, goal: str) -> list[float | None]:
        """Per image, the step at which ``label`` reached ``goal``'s final error (``None``: never, or ``goal`` diverged)."""
        return [steps_to_reach(r.curve, g.error) if np.isfinite(g.error) else None
                for r, g in zip(self.runs[label], self.runs[goal])]  # fmt: skip


# --------------------------------------------------------------------------- settings as option strings


class _SettingsParser(argparse.ArgumentParser):
    def error(self, message: str):  # raise instead of printing the usage and exiting
        raise ValueError(message)


def parse_settings(text: str) -> dict:
    """Inversion settings written as ``inverter invert``'s options (``"--method ijcv --iterations 120"``)
    → ``{setting: value}`` of :class:`inverter.InversionConfig`, read by the schema's own parser.

    Raises:
        ValueError: an unknown option or a malformed value.
    """
    parser = _SettingsParser(prog="settings", add_help=False)
    add_setting_options(parser)
    try:
        return given_settings(parser.parse_args(shlex.split(text)), InversionConfig())
    except ValueError as err:
        raise ValueError(f"settings {text!r}: {err}") from None


@dataclass(frozen=True)
class Candidate:
    """A labelled set of settings: ``LABEL=OPTIONS`` on a command line (``"ijcv=--method ijcv"``;
    ``"default="`` is the layer's default preset)."""

    label: str
    options: str
    overrides: dict

    @classmethod
    def parse(cls, text: str) -> "Candidate":
        label, sep, options = text.partition("=")
        if not sep or not label.strip():
            raise ValueError(f"a candidate is LABEL=OPTIONS (e.g. 'ijcv=--method ijcv'), got {text!r}")
        return cls(label.strip(), options.strip(), parse_settings(options))


def first_alike(rep: Representation, settings: dict[str, dict]) -> dict[str, str]:
    """``{label: the first label whose settings resolve to the same run at rep}``, itself when it is the first:
    a candidate that repeats another (the layer's default that is its CVPR preset) need not run twice."""
    from inverter import resolve_settings

    seen: dict[str, object] = {}
    out = {}
    for label, overrides in settings.items():
        resolved = resolve_settings(rep, InversionConfig(**overrides))
        out[label] = next((other for other, r in seen.items() if r == resolved), label)
        seen.setdefault(out[label], resolved)
    return out


# --------------------------------------------------------------------------- interleaved timing

#: Each ``next`` runs one block of work and returns once it is done (device synchronised).
Block = Iterator[None]


def synchronise(device: torch.device) -> None:
    """Wait for queued device work (CUDA); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def repeat_blocks(call: Callable[[], object], calls: int, device: torch.device,
                  steps: int | None = None) -> tuple[Block, int]:
    """Blocks of ``calls`` calls of ``call``, each ending synchronised; returns (blocks, steps per block),
    the steps (default ``calls``) being what :func:`interleave` divides a block's seconds by."""

    def blocks() -> Block:
        while True:
            for _ in range(calls):
                call()
            synchronise(device)
            yield None

    return blocks(), steps or calls


def engine_blocks(rep: Representation, image: np.ndarray, steps: int, restarts: int, device: torch.device,
                  size: tuple[int, int] | None = None, engine: Callable = invert,
                  snapshot_every: int | None = None, overrides: dict | None = None) -> tuple[Block, int]:
    """:func:`invert` advanced ``steps`` steps per block; returns (blocks, steps).

    A block takes one snapshot, or one every ``snapshot_every`` steps (a divisor of
    ``steps``). The generator is primed (its first snapshot taken) before it is returned;
    ``engine`` is another version's ``invert`` for before/after comparisons; ``overrides``
    are further settings (``{"method": "ijcv"}``, from :func:`parse_settings`). The schedule
    is stretched so far that the loop, stopped from outside, stays in its first phase (with
    jitter, where the settings have it).
    """
    every = snapshot_every or steps
    iterations = steps * 1000  # never reached: the loop is stopped from outside
    gen = engine(rep, image, **{**(overrides or {}), "iterations": iterations, "snapshot_every": every,
                                "restarts": restarts, "device": str(device), "image_size": size}, **engine_options())
    next(gen)
    return repeat_blocks(lambda: next(gen), steps // every, device, steps)


def baseline_blocks(rep: Representation, image: np.ndarray, steps: int, restarts: int, device: torch.device,
                    size: tuple[int, int] | None = None) -> tuple[Block, int]:
    """``steps`` bare ``Φ(x)`` + ``autograd.grad`` to the input at batch ``restarts`` per block; (blocks, steps)."""
    pixels = rep.image_to_pixels(image, size).to(device).expand(restarts, -1, -1, -1).contiguous()
    x = pixels.requires_grad_(True)
    phi = forward_in_precision(rep, PRECISION)  # as the engine runs Φ
    with torch.no_grad():
        grad_out = phi(pixels) * 1e-3  # any finite vector of the code's shape

    def step() -> None:
        with torch.enable_grad():  # whatever mode the caller (or a suspended generator) left
            torch.autograd.grad(phi(x), x, grad_outputs=grad_out)

    return repeat_blocks(step, steps, device)


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


# --------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    """The median, in the values' unit."""
    return float(statistics.median(values))


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios ``a / b`` of two interleaved series (unitless)."""
    return [a / b for a, b in zip(numerators, denominators)]


def spread(values: Sequence[float], digits: int = 2) -> str:
    """``min–max`` of the values, for the reader to judge the noise."""
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and std (``N − 1`` denominator, as MATLAB's ``std``; NaN for one value), in the values' unit."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


# --------------------------------------------------------------------------- reporting


def load_line() -> str:
    """``load average a / b / c (1/5/15 min) on N cores`` from :func:`os.getloadavg` (``n/a`` without it)."""
    if not hasattr(os, "getloadavg"):
        return f"load average n/a on {os.cpu_count()} cores"
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def log(message: str) -> None:
    """Progress to stderr with the time and the load average (results go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message} — {load_line()}", file=sys.stderr, flush=True)


#: The errors of bad input that a script reports with :func:`bad_input`: the package's own
#: (a bad name, setting, image or weights), a script's own argument checks, unreadable files.
BAD_INPUT = (InverterError, ValueError, OSError)


def bad_input(err: Exception) -> int:
    """Print ``error: …`` as one line on stderr and return the exit status 2."""
    print(f"error: {err}", file=sys.stderr)
    return 2
