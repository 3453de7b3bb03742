"""Reconstruction error over a set of images, with both of the paper's definitions.

Inverts every image of a folder (or scikit-image's sample photographs) from one
representation with its preset schedule and prints a Markdown table: per image the
IJCV error and the CVPR error, then mean ± std of each, next to the paper's Table 1.

Definitions (``y0_i = Φ(x0_i)`` the code of image ``i``, ``y_i = Φ(x*_i)`` the code of its
reconstruction, both flattened):

* **IJCV 2016**: ``√(‖y_i − y0_i‖² / ‖y0_i‖²)``, per image (the engine's ``relative_error``).
* **CVPR 2015** (Table 1; the CVPR code's ``my_meanstd``)::

      temp = pdist2(y0', y0');  normalization_factor = mean(temp(:).^2);
      err_i = sum((y_i − y0_i).^2) / normalization_factor

  i.e. the squared error divided by the mean squared distance between the codes of the
  set, the mean taken over the full ``N × N`` matrix *including* its zero diagonal, exactly
  as the code does (with N = 100 that is 1% below the mean over distinct pairs; with
  N = 3 it is a third below, which makes the error larger). It needs ≥ 2 images.

Mean ± std over images, std with MATLAB's default ``N − 1`` denominator, in %.

Example (the README's numbers)::

    python benchmarks/quality.py --representation hogb --images skimage --threads 1 \\
        --tile 112 --grid docs/shallow_hogb.png

``--images FOLDER`` takes every ``.png/.jpg/.jpeg/.bmp/.tif/.tiff/.webp`` file in it,
sorted by name (``--limit N``: the first N).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)
from harness import log, mean_std  # noqa: E402

from inverter.cli.options import add_setting_options, given_settings  # noqa: E402
from inverter.engine import DivergenceError, InversionConfig, reconstruct, resolve_settings  # noqa: E402
from inverter.images import ImageError, as_rgb_float, load_image  # noqa: E402
from inverter.representations import load_representation  # noqa: E402
from inverter.representations.base import Representation  # noqa: E402
from inverter.settings import SETTINGS, Mask  # noqa: E402

#: CVPR 2015 Table 1, reconstruction error in % (mean, std) over 100 ImageNet val images.
PAPER_TABLE1: dict[str, tuple[float, float]] = {
    "hog": (28.10, 7.9),
    "hogb": (10.67, 5.2),
    "dsift": (10.89, 7.5),
}
#: HOGgle (Vondrick et al.), for context: the dictionary method the paper compares to.
PAPER_HOGGLE = (66.20, 13.7)
#: HOGgle's time per image, seconds, as issue 15 quotes it ("about a second").
PAPER_HOGGLE_SECONDS = 1
#: The paper's claim for CNN layers (AlexNet): normalised error under about 20% at every layer.
PAPER_CNN_BOUND = 20.0

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class ImageResult:
    """One image's reconstruction.

    Attributes:
        name: image label (sample name or file name).
        target: ``[D]`` float64, the flattened code Φ(x0) of the input.
        code: ``[D]`` float64, the flattened code Φ(x*) of the reconstruction.
        seconds: wall time of the inversion.
        reference: ``[H, W, 3]`` uint8, the input as the representation saw it.
        image: ``[H, W, 3]`` uint8, the reconstruction (the paper's min–max display).
    """

    name: str
    target: np.ndarray
    code: np.ndarray
    seconds: float
    reference: np.ndarray
    image: np.ndarray

    @property
    def ijcv_error(self) -> float:
        """√(‖y − y0‖²/‖y0‖²), unitless."""
        return ijcv_error(self.code, self.target)


def ijcv_error(code: np.ndarray, target: np.ndarray) -> float:
    """IJCV 2016's error √(‖y − y0‖² / ‖y0‖²) of one code ``[D]`` against its target ``[D]``, unitless."""
    code, target = np.asarray(code, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    return float(np.sqrt(np.sum((code - target) ** 2) / max(np.sum(target**2), 1e-300)))


def cvpr_normalization(targets: np.ndarray) -> float:
    """``mean(pdist2(Y0, Y0)(:).^2)`` of the targets ``[N, D]`` (N ≥ 2): the mean squared
    distance over the full N × N matrix, zero diagonal included (the CVPR code)."""
    y0 = np.asarray(targets, np.float64)
    if y0.ndim != 2 or len(y0) < 2:
        raise ValueError(f"the CVPR error needs ≥ 2 codes as an [N, D] array, got shape {y0.shape}")
    sq = np.sum(y0**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * y0 @ y0.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return float(d2.mean())


def cvpr_errors(codes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """CVPR 2015's errors ``‖y_i − y0_i‖² / mean(pdist2(Y0, Y0)(:).^2)``, ``[N]`` unitless.

    Args:
        codes: ``[N, D]`` codes of the reconstructions. targets: ``[N, D]`` codes of the inputs.

    Raises:
        ValueError: fewer than 2 codes, or mismatched shapes.
    """
    y, y0 = np.asarray(codes, np.float64), np.asarray(targets, np.float64)
    if y.shape != y0.shape:
        raise ValueError(f"codes {y.shape} and targets {y0.shape} differ in shape")
    return np.sum((y - y0) ** 2, axis=1) / cvpr_normalization(y0)


def set_cvpr_errors(results: Sequence[ImageResult]) -> np.ndarray:
    """:func:`cvpr_errors` of a set of results (≥ 2), ``[N]`` unitless."""
    return cvpr_errors(np.stack([r.code for r in results]), np.stack([r.target for r in results]))


def list_images(spec: str, limit: int | None = None) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """``"skimage"`` (:data:`harness.SAMPLE_PHOTOS`) or a folder → ``[(name, loader)]``, loaders giving
    ``[H, W, 3]`` float images.

    Raises:
        ImageError: not ``skimage`` and not a folder with images.
    """
    if spec == "skimage":
        items = [(name, (lambda name=name: as_rgb_float(harness.sample_photo(name)))) for name in harness.SAMPLE_PHOTOS]
    else:
        folder = Path(spec)
        if not folder.is_dir():
            raise ImageError(f"--images must be 'skimage' or a folder; {spec!r} is neither")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ImageError(f"no {'/'.join(IMAGE_SUFFIXES)} images in {folder}")
        items = [(p.name, (lambda p=p: load_image(p))) for p in files]
    return items[:limit] if limit else items


def invert_image(
    rep: Representation,
    name: str,
    image: np.ndarray,
    overrides: dict,
) -> ImageResult:
    """Reconstruct ``image`` from ``rep`` (preset + ``overrides`` of :class:`InversionConfig`)
    and return both codes, flattened, computed at the final pre-image (best restart).

    Raises:
        DivergenceError: the optimisation diverged.
    """
    shot = reconstruct(rep, image, snapshot_every=10**9, **overrides)
    device = next(iter(rep.buffers()), torch.empty(0)).device
    size = shot.settings.image_size
    with torch.no_grad():
        target = rep(rep.image_to_pixels(image, size).to(device))
        code = rep(torch.from_numpy(shot.pixels[shot.best : shot.best + 1]).to(device))
    result = ImageResult(
        name=name,
        target=target.flatten().double().cpu().numpy(),
        code=code.flatten().double().cpu().numpy(),
        seconds=shot.elapsed,
        reference=shot.reference,
        image=shot.image,
    )
    if not math.isclose(result.ijcv_error, float(shot.relative_error[shot.best]), rel_tol=1e-3, abs_tol=1e-6):
        raise RuntimeError(
            f"{name}: recomputed error {result.ijcv_error} differs from the engine's {shot.relative_error[shot.best]}"
        )
    return result


def paper_row(family: str) -> tuple[str, str]:
    """The paper's number for ``family`` as table cells (IJCV column, CVPR column)."""
    if family in PAPER_TABLE1:
        mean, std = PAPER_TABLE1[family]
        return "–", f"{mean:.2f} ± {std:.1f}"
    return "–", f"< ~{PAPER_CNN_BOUND:.0f} (AlexNet, every layer)"


def markdown_table(results: Sequence[ImageResult], family: str) -> str:
    """Per image the IJCV and CVPR errors (%), then mean ± std and the paper's Table 1 row."""
    ijcv = [100 * r.ijcv_error for r in results]
    cvpr = 100 * set_cvpr_errors(results) if len(results) > 1 else None
    rows = ["| image | IJCV error (%) | CVPR error (%) | seconds |", "|---|---:|---:|---:|"]
    for i, r in enumerate(results):
        c = f"{cvpr[i]:.2f}" if cvpr is not None else "n/a"
        rows.append(f"| {r.name} | {ijcv[i]:.2f} | {c} | {r.seconds:.1f} |")

    def fmt(values) -> str:
        if values is None:
            return "n/a (needs ≥ 2 images)"
        m, s = mean_std(values)
        return f"{m:.2f} ± {s:.1f}" if not math.isnan(s) else f"{m:.2f}"

    rows.append(f"| **mean ± std (N = {len(results)})** | **{fmt(ijcv)}** | **{fmt(cvpr)}** | "
                f"{np.mean([r.seconds for r in results]):.1f} |")
    paper_ijcv, paper_cvpr = paper_row(family)
    rows.append(f"| paper (CVPR 2015 Table 1, 100 ImageNet val images) | {paper_ijcv} | {paper_cvpr} | |")
    if family in ("hog", "hogb"):
        rows.append(f"| HOGgle (Table 1, for context) | – | {PAPER_HOGGLE[0]:.2f} ± {PAPER_HOGGLE[1]:.1f} | "
                    f"~{PAPER_HOGGLE_SECONDS:g} |")
    return "\n".join(rows)


def quality_grid(results: Sequence[ImageResult], title: str, columns: int = 4, tile: int = 160) -> np.ndarray:
    """Labelled grid ``[H, W, 3]`` uint8: each image's original (as Φ sees it), then its
    reconstruction captioned with its IJCV and (with ≥ 2 images) CVPR errors in %."""
    from inverter.grid import make_grid

    cvpr = set_cvpr_errors(results) if len(results) > 1 else None
    tiles, captions = [], []
    for i, r in enumerate(results):
        tiles += [r.reference, r.image]
        errors = f"IJCV {100 * r.ijcv_error:.1f}%" + (f"\nCVPR {100 * cvpr[i]:.1f}%" if cvpr is not None else "")
        captions += [f"{r.name}\noriginal", f"{r.name}\n{errors}"]
    return make_grid(tiles, captions, columns=columns, tile_size=tile, title=title)


def save_grid(grid: np.ndarray, path: str | Path) -> Path:
    """Write ``[H, W, 3]`` uint8 as PNG (one grey channel when R = G = B everywhere: a third the size)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grey = bool((grid[..., 0] == grid[..., 1]).all() and (grid[..., 1] == grid[..., 2]).all())
    Image.fromarray(grid[..., 0] if grey else grid).save(path, optimize=True)
    return path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--representation", default="hog", help="hog, hogb, dsift, alexnet:conv3, …")
    p.add_argument("--images", default="skimage", help="'skimage' (its sample photographs) or a folder")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--weights", help="CNN weights: local .safetensors, hf://…, or 'random' (default: the Hub)")
    p.add_argument("--grid", help="write a labelled original-vs-reconstruction grid PNG here")
    p.add_argument("--tile", type=int, default=160, help="tile side on the grid, pixels")
    p.add_argument("--columns", type=int, default=4, help="tiles per row of the grid (2 per image)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    add_setting_options(p, exclude=[s.name for s in SETTINGS if isinstance(s.kind, Mask)])
    return p


def _overrides(args: argparse.Namespace) -> dict:
    """The inversion settings given on the command line (the rest: the preset's)."""
    return given_settings(args, InversionConfig())


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 with a one-line message on bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        if args.limit is not None and args.limit < 1:
            raise ValueError(f"--limit must be ≥ 1, got {args.limit}")
        rep = load_representation(args.representation, weights=args.weights, device=args.device)
        items = list_images(args.images, args.limit)
        overrides = _overrides(args)
        print(f"`python benchmarks/quality.py {shlex.join(argv)}`  ")
        print(
            f"{_dt.datetime.now().astimezone().isoformat(timespec='seconds')} · {platform.node()} · "
            f"{harness.load_line()} · torch {torch.__version__}, {torch.get_num_threads()} threads  "
        )
        results: list[ImageResult] = []
        for name, loader in items:
            try:
                results.append(invert_image(rep, name, loader(), overrides))
            except DivergenceError as err:
                log(f"{name}: skipped, {err}")
                continue
            r = results[-1]
            log(f"{name}: IJCV error {100 * r.ijcv_error:.2f}%, {r.seconds:.1f} s")
        if not results:
            raise ValueError("every inversion diverged: nothing to score")
        settings = resolve_settings(rep, InversionConfig(**overrides))
        summary = (
            f"{rep.name} · {settings.image_size[0]}×{settings.image_size[1]} px · {settings.iterations} steps · "
            f"λ_TV {settings.lambda_tv:g} β {settings.tv_beta:g} · C {settings.data_weight:g} · "
            f"η {settings.learning_rate:g} · jitter {settings.jitter} · clip {settings.clip}"
        )
        print(summary + "\n")
        print(markdown_table(results, rep.family))
        if args.grid:
            path = save_grid(quality_grid(results, summary, args.columns, args.tile), args.grid)
            log(f"grid: {path}")
    except harness.BAD_INPUT as err:
        return harness.bad_input(err)
    print(f"\nwall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
