"""Which preset should each layer run by default? Candidate settings side by side at every layer (issue 15).

Every candidate inverts every image at every layer (seed 0, one restart), and the script
prints, per layer and candidate, the final IJCV error √(‖Φ(x*)−Φ0‖²/‖Φ0‖²), the likeness
of the pre-image to the input as the network saw it (SSIM and PSNR of the displayed
images, :mod:`inverter.metrics`), the seconds per image and the step at which the
candidate first reached the reference's final error. The first candidate is the
reference (default: the CVPR preset). The rule of issue 15: a candidate *beats* the
reference at a layer when its mean error over the images is lower **and** its mean SSIM
is not. Example (the README's table and picture)::

    python benchmarks/presets.py --representation squeezenet1_1 \\
        --weights ../shared/weights/squeezenet1_1-imagenet.safetensors \\
        --images rocket,motorcycle,camera,clock --threads 1 --iterations 400 \\
        --candidate "cvpr=--method cvpr" --candidate "ijcv=--method ijcv" --candidate "default=" \\
        --grid docs/squeezenet_presets.png

A candidate is ``LABEL=OPTIONS``, the options those of ``inverter invert`` (the settings
schema's); ``default=`` is the layer's default preset. Settings given to the script itself
(``--iterations 400``) apply to every candidate that does not set them. Errors along the
way are measured at the centre of the canvas (what a jittered step sees is a shifted crop),
from snapshots every ``--every`` steps; the time is that spent inside the engine, without
this script's evaluation.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)
from harness import Candidate, code_error, log  # noqa: E402

from inverter import InversionConfig, invert  # noqa: E402
from inverter.cli.options import add_setting_options, given_settings  # noqa: E402
from inverter.metrics import compare  # noqa: E402
from inverter.representations.base import Representation  # noqa: E402
from inverter.settings import SETTINGS, Mask  # noqa: E402

#: The reference and the two methods, when no ``--candidate`` is given.
DEFAULT_CANDIDATES = ("cvpr=--method cvpr", "ijcv=--method ijcv", "default=")


@dataclass
class Run:
    """One candidate on one image at one layer.

    Attributes:
        error: the final IJCV error (unitless). psnr: dB. ssim: in [−1, 1].
        seconds: time inside the engine. steps: the steps it ran.
        curve: ``(step, error)`` at every snapshot (error at the canvas centre).
        image, reference: ``[H, W, 3]`` uint8, the pre-image (display mapping) and the input as Φ saw it.
    """

    error: float
    psnr: float
    ssim: float
    seconds: float
    steps: int
    curve: list[tuple[float, float]] = field(repr=False)
    image: np.ndarray = field(repr=False)
    reference: np.ndarray = field(repr=False)


def run(rep: Representation, image: np.ndarray, overrides: dict, every: int) -> Run:
    """Invert ``image`` with ``overrides``, timing the engine alone and recording its error curve."""
    gen = invert(rep, image, **{**overrides, "snapshot_every": every, "restarts": 1})
    seconds, curve, target, shot = 0.0, [], None, None
    while True:
        start = time.perf_counter()
        try:
            shot = next(gen)
        except StopIteration:
            break
        seconds += time.perf_counter() - start
        if shot.done or shot.settings.jitter == 1:
            error = float(shot.relative_error[0])  # the snapshot's own: at the centre
        else:
            if target is None:
                with torch.no_grad():
                    target = rep(rep.image_to_pixels(image, shot.settings.image_size).to(rep.device))
            error = float(code_error(rep, target, shot.pixels)[0])
        curve.append((shot.step, error))
    assert shot is not None and shot.done
    metrics = compare(shot.images[0], shot.reference)
    return Run(float(shot.relative_error[0]), metrics.psnr, metrics.ssim, seconds, shot.step, curve, shot.images[0],
               shot.reference)  # fmt: skip


class LayerResult(harness.LayerRuns):
    """Every candidate's runs at one layer, by label, one per image."""

    def error_at(self, label: str, fraction: float) -> float:
        """Mean error over the images at ``fraction`` of each run's steps (interpolated between snapshots)."""
        return float(np.mean([np.interp(fraction * r.steps, *zip(*r.curve)) for r in self.runs[label]]))

    def beats(self, label: str, reference: str) -> bool:
        """Issue 15's rule: lower mean error and a mean SSIM no lower than the reference's."""
        return (self.mean(label, "error") < self.mean(reference, "error")
                and self.mean(label, "ssim") >= self.mean(reference, "ssim"))  # fmt: skip


def reach_text(steps: list[float | None], total: float) -> str:
    """Mean step to the reference's error and its fraction of the reference's steps, or how many never reached it."""
    missed = sum(s is None for s in steps)
    if missed:
        return f"not reached ({missed}/{len(steps)} images)"
    mean = float(np.mean(steps))
    return f"{mean:.0f} ({mean / total:.2f}×)"


def layer_table(result: LayerResult, labels: Sequence[str], options: dict[str, str]) -> str:
    ref = labels[0]
    lines = [f"### {result.layer}", "",
             "| candidate | options | steps | IJCV error % (mean; per image) | error % at ¼ / ⅓ / ½ of the steps "
             f"| SSIM | PSNR dB | s/image | step reaching `{ref}`'s final error (× its steps) | beats `{ref}` |",
             "|---|---|---:|---|---:|---:|---:|---:|---|---|"]  # fmt: skip
    ref_steps = result.mean(ref, "steps")
    for label in labels:
        runs = result.runs[label]
        per_image = " / ".join(f"{100 * r.error:.1f}" for r in runs)
        verdict = "(reference)" if label == ref else ("**yes**" if result.beats(label, ref) else "no")
        lines.append(f"| `{label}` | {options[label]} | {result.mean(label, 'steps'):.0f} | "
                     f"**{100 * result.mean(label, 'error'):.1f}** ({per_image}) | "
                     + " / ".join(f"{100 * result.error_at(label, f):.1f}" for f in (1 / 4, 1 / 3, 1 / 2))
                     + f" | {result.mean(label, 'ssim'):.3f} | "
                     f"{result.mean(label, 'psnr'):.1f} | {result.mean(label, 'seconds'):.1f} | "
                     f"{reach_text(result.steps_to(label, ref), ref_steps)} | {verdict} |")
    return "\n".join(lines)


def summary_table(results: Sequence[LayerResult], labels: Sequence[str]) -> str:
    """One row per layer: each candidate's mean error / SSIM, and the candidates that beat the reference."""
    ref = labels[0]
    lines = ["| layer | " + " | ".join(f"`{label}` error / SSIM" for label in labels) + f" | beat `{ref}` |",
             "|---|" + "---:|" * len(labels) + "---|"]
    for r in results:
        cells = [f"{100 * r.mean(label, 'error'):.1f}% / {r.mean(label, 'ssim'):.3f}" for label in labels]
        winners = [f"`{label}`" for label in labels[1:] if r.beats(label, ref)]
        lines.append(f"| {r.layer} | " + " | ".join(cells) + f" | {', '.join(winners) or '–'} |")
    return "\n".join(lines)


def grid(results: Sequence[LayerResult], labels: Sequence[str], image_index: int, image_name: str, title: str,
         tile: int) -> np.ndarray:  # fmt: skip
    """Rows: layers; columns: the original, then each candidate's pre-image of image ``image_index``."""
    from inverter.grid import make_grid

    tiles, captions = [], []
    for r in results:
        first = r.runs[labels[0]][image_index]
        tiles.append(first.reference)
        captions.append(f"{r.layer}\n{image_name}")
        for label in labels:
            shot = r.runs[label][image_index]
            tiles.append(shot.image)
            captions.append(f"{label}\n{100 * shot.error:.1f}% · SSIM {shot.ssim:.2f}")
    return make_grid(tiles, captions, columns=1 + len(labels), tile_size=tile, title=title)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--representation", default="squeezenet1_1", help="a family (every layer) or family:layer")
    p.add_argument("--layers", help="comma-separated layers of the family (default: all)")
    p.add_argument("--weights", default="random", help="CNN weights: a .safetensors file, hf://… or 'random'")
    p.add_argument("--images", default="rocket,motorcycle,camera,clock", help="sample photographs, comma-separated")
    p.add_argument("--candidate", action="append", metavar="LABEL=OPTIONS",
                   help=f"settings to compare, the first being the reference (default: {' '.join(DEFAULT_CANDIDATES)})")
    p.add_argument("--every", type=int, default=10, help="snapshot (error curve point) every N steps")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--grid", help="write the picture (rows: layers; columns: original, each candidate) here")
    p.add_argument("--grid-image", help="the photograph shown on the picture (default: the first)")
    p.add_argument("--tile", type=int, default=112, help="tile side on the picture, pixels")
    add_setting_options(p, exclude=[s.name for s in SETTINGS if isinstance(s.kind, Mask)])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 with a one-line message on bad input)."""
    args, command = harness.parse(_parser(), argv)
    try:
        family, layers = harness.family_layers(args.representation, args.layers)
        family_name = family.name
        candidates = [Candidate.parse(text) for text in (args.candidate or DEFAULT_CANDIDATES)]
        labels = [c.label for c in candidates]
        if len(set(labels)) != len(labels):
            raise ValueError(f"candidate labels must differ, got {labels}")
        images = harness.photos(args.images)
        shown = [n for n, _ in images].index(args.grid_image) if args.grid_image else 0
        common = given_settings(args, InversionConfig())
        device = common.get("device") or "cpu"
        print(f"`python benchmarks/presets.py {command}`\n")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device `{device}`, weights "
              f"`{Path(args.weights).name}`, images {', '.join(n for n, _ in images)}, seed "
              f"{common.get('seed', 0)}; {time.strftime('%Y-%m-%d %H:%M')}; _{harness.load_line()}_\n")
        results = []
        for layer in layers:
            rep = harness.representation(f"{family_name}:{layer}", device, args.weights)
            runs = {c.label: [] for c in candidates}
            alike = harness.first_alike(rep, {c.label: {**common, **c.overrides} for c in candidates})
            for name, image in images:
                for c in candidates:  # a candidate that repeats another is not run twice
                    if alike[c.label] != c.label:
                        runs[c.label].append(runs[alike[c.label]][-1])
                        continue
                    runs[c.label].append(run(rep, image, {**common, **c.overrides}, args.every))
                    r = runs[c.label][-1]
                    log(f"{layer} {name} {c.label}: error {100 * r.error:.1f}%, SSIM {r.ssim:.3f}, {r.seconds:.1f} s")
            results.append(LayerResult(layer, runs))
            options = {c.label: (f"`{c.options}`" if c.options else "the layer default")
                       + (f" (= `{alike[c.label]}`: the same settings)" if alike[c.label] != c.label else "")
                       for c in candidates}  # fmt: skip
            print(layer_table(results[-1], labels, options) + "\n", flush=True)
    except harness.BAD_INPUT as err:
        return harness.bad_input(err)
    print("## Summary (mean over the images)\n")
    print(summary_table(results, labels))
    print(f"\n_{harness.load_line()} at the end._")
    if args.grid:
        from quality import save_grid

        title = f"{family_name} · {images[shown][0]} · " + " · ".join(f"{c.label}: {c.options or 'default'}"
                                                                      for c in candidates)  # fmt: skip
        path = save_grid(grid(results, labels, shown, images[shown][0], title, args.tile), args.grid)
        log(f"picture: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
