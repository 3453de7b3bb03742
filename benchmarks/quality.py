"""Reconstruction error over a set of images, with both of the paper's definitions.

A thin caller of ``inverter evaluate`` (:mod:`inverter.evaluation`): it evaluates one
representation over a folder (or scikit-image's sample photographs, written to a
temporary folder as PNG) with its preset schedule and prints a Markdown table: per
image the IJCV error and the CVPR error, then mean ± std of each, next to the paper's
Table 1. The definitions are :mod:`inverter.evaluation.statistics`'s (the CVPR one is the
CVPR code's ``my_meanstd``, over the set); mean ± std over images, std with MATLAB's
``N − 1`` denominator, in %.

Example (the README's numbers)::

    python benchmarks/quality.py --representation hogb --images skimage --threads 1 \\
        --tile 112 --grid docs/shallow_hogb.png

``--images FOLDER`` takes every ``.png/.jpg/.jpeg/.bmp/.tif/.tiff/.webp`` file in it,
sorted by name (``--limit N``: the first N); ``--out DIR`` keeps the evaluation's folder
(table, summary, plot; running again resumes), by default a temporary one.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)
from harness import log  # noqa: E402

from inverter.cli.options import add_setting_options, given_settings  # noqa: E402
from inverter.evaluation import EvaluationSpec, InProcess, ResultStore, collect, evaluate  # noqa: E402
from inverter.evaluation.paper import HOGGLE_FAMILIES, PAPER_HOGGLE, paper_text  # noqa: E402
from inverter.grid import make_grid  # noqa: E402
from inverter.representations import get_family, parse_name  # noqa: E402
from inverter.settings import SETTINGS, InversionConfig, Mask  # noqa: E402


def sample_folder(folder: Path) -> Path:
    """scikit-image's sample photographs (:data:`harness.SAMPLE_PHOTOS`) as PNG files in ``folder``."""
    from skimage import io

    folder.mkdir(parents=True, exist_ok=True)
    for name in harness.SAMPLE_PHOTOS:
        io.imsave(folder / f"{name}.png", harness.sample_photo(name), check_contrast=False)
    return folder


def markdown_table(report, family: str) -> str:
    """Per image the IJCV and CVPR errors (%), then mean ± std and the paper's Table 1 row."""
    rows = ["| image | IJCV error (%) | CVPR error (%) | seconds |", "|---|---:|---:|---:|"]
    for r in report.rows:
        if r["status"] != "done":
            rows.append(f"| {r['image']} | {r['status']}: {r['error'] or ''} | | |")
            continue
        cvpr = f"{100 * r['cvpr_error']:.2f}" if r["cvpr_error"] is not None else "n/a"
        rows.append(f"| {r['image']} | {100 * r['ijcv_error']:.2f} | {cvpr} | {r['seconds']:.1f} |")
    group = report.groups[0]
    cvpr = group["cvpr_error"].text(100) if group["cvpr_error"].count else "n/a (needs ≥ 2 images)"
    ijcv = group["ijcv_error"].text(100)
    rows.append(f"| **mean ± std [95% interval] (N = {group['done']})** | **{ijcv}** | **{cvpr}** | |")
    rows.append(f"| paper (CVPR 2015 Table 1, 100 ImageNet val images) | – | {paper_text(family, hoggle=False)} | |")
    if family in HOGGLE_FAMILIES:
        rows.append(f"| HOGgle (Table 1, for context) | – | {PAPER_HOGGLE[0]:.2f} ± {PAPER_HOGGLE[1]:.1f} | |")
    return "\n".join(rows)


def quality_grid(report, store: ResultStore, title: str, columns: int = 4, tile: int = 160):
    """Labelled grid ``[H, W, 3]`` uint8: each image's original (as Φ sees it), then its
    reconstruction captioned with its IJCV and (with ≥ 2 images) CVPR errors in %."""
    tiles, captions = [], []
    for r in report.rows:
        if r["status"] != "done":
            continue
        tiles += [store.arrays(r["key"])["reference"], store.reconstruction(r["key"])]
        errors = f"IJCV {100 * r['ijcv_error']:.1f}%" + (f"\nCVPR {100 * r['cvpr_error']:.1f}%"
                                                         if r["cvpr_error"] is not None else "")  # fmt: skip
        captions += [f"{r['image']}\noriginal", f"{r['image']}\n{errors}"]
    return make_grid(tiles, captions, columns=columns, tile_size=tile, title=title)


def save_grid(grid, path: str | Path) -> Path:
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
    p.add_argument("--out", help="keep the evaluation's folder here (default: a temporary one)")
    p.add_argument("--grid", help="write a labelled original-vs-reconstruction grid PNG here")
    p.add_argument("--tile", type=int, default=160, help="tile side on the grid, pixels")
    p.add_argument("--columns", type=int, default=4, help="tiles per row of the grid (2 per image)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    add_setting_options(p, exclude=[s.name for s in SETTINGS if isinstance(s.kind, Mask)])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 with a one-line message on bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="quality-") as scratch:
        try:
            folder = sample_folder(Path(scratch) / "images") if args.images == "skimage" else Path(args.images)
            out = Path(args.out) if args.out else Path(scratch) / "evaluation"
            family = get_family(parse_name(args.representation)[0])
            config = InversionConfig(**given_settings(args, InversionConfig()))
            spec = EvaluationSpec(str(folder), (args.representation,), limit=args.limit, config=config,
                                  weights=args.weights if family.needs_weights else None)  # fmt: skip
            print(f"`python benchmarks/quality.py {shlex.join(argv)}`  ")
            print(f"{_dt.datetime.now().astimezone().isoformat(timespec='seconds')} · {platform.node()} · "
                  f"{harness.load_line()} · torch {torch.__version__}, {args.threads or torch.get_num_threads()} threads  ")

            def progress(update) -> None:
                if update.last is not None:
                    task, result = update.last["task"], update.last["result"]
                    if update.last["status"] == "done":
                        log(f"{task['image']}: IJCV error {100 * result['ijcv_error']:.2f}%, {result['seconds']:.1f} s")
                    else:
                        log(f"{task['image']}: failed, {update.last['error']}")

            final = evaluate(spec, out, InProcess(args.threads), progress)
            store = ResultStore(out)
            report = collect(final.plan, store)
            if not report.counts["done"]:
                raise ValueError("every inversion failed: nothing to score")
            s = report.groups[0]["settings"]
            summary = (
                f"{s['representation']} · {s['image_size'][0]}×{s['image_size'][1]} px · {s['iterations']} steps · "
                f"λ_TV {s['lambda_tv']:g} β {s['tv_beta']:g} · C {s['data_weight']:g} · "
                f"η {s['learning_rate']:g} · jitter {s['jitter']} · clip {s['clip']}"
            )
            print(summary + "\n")
            print(markdown_table(report, family.name))
            if args.grid:
                path = save_grid(quality_grid(report, store, summary, args.columns, args.tile), args.grid)
                log(f"grid: {path}")
        except harness.BAD_INPUT as err:
            return harness.bad_input(err)
    print(f"\nwall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
