"""Invert one photograph at every layer of a representation family.

Writes a labelled contact sheet (the original, then one tile per layer with its name and
relative error) and prints a Markdown table of layer, λ_TV, relative error, PSNR, SSIM and
seconds. Example (the SqueezeNet sheet in docs/)::

    python benchmarks/layers.py --representation squeezenet1_1 \\
        --weights ../shared/weights/squeezenet1_1-imagenet.safetensors \\
        --image astronaut --method cvpr --output docs/squeezenet_layers.png

Every layer runs its default preset unless the settings schema's options (``--method cvpr``,
``--lambda-tv 5``, …) say otherwise.

``--weights random`` runs a CNN with random weights (plumbing and timing only); without
``--weights`` a CNN's weights come from the Hugging Face Hub.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)
from harness import SAMPLE_PHOTOS, sample_photo  # noqa: E402

from inverter import InversionConfig  # noqa: E402
from inverter.cli.options import add_setting_options, given_settings  # noqa: E402
from inverter.engine import DivergenceError, reconstruct  # noqa: E402
from inverter.errors import UnknownNameError  # noqa: E402
from inverter.grid import make_grid  # noqa: E402
from inverter.images import ImageError, load_image  # noqa: E402
from inverter.representations import get_family, load_representation  # noqa: E402
from inverter.settings import SETTINGS, Mask  # noqa: E402


@dataclass
class LayerResult:
    """One layer's reconstruction.

    Attributes:
        layer: layer name. lambda_tv: the λ_TV it ran with.
        relative_error: √(‖Φ(x*) − Φ0‖²/‖Φ0‖²), unitless (NaN if it diverged).
        psnr: dB, display image vs the reference (both uint8). ssim: in [−1, 1].
        seconds: wall time of the inversion (model loading excluded).
        image: ``[H, W, 3]`` uint8 pre-image (the paper's min–max display), ``None`` if it diverged.
        reference: ``[H, W, 3]`` uint8 input as the representation saw it.
    """

    layer: str
    lambda_tv: float
    relative_error: float
    psnr: float
    ssim: float
    seconds: float
    image: np.ndarray | None
    reference: np.ndarray | None


def read_image(spec: str) -> tuple[np.ndarray, str]:
    """``spec`` = a sample name (:data:`harness.SAMPLE_PHOTOS`, uint8) or an image file (float) → (image, label).

    Raises:
        ImageError: neither a sample name nor a readable image file.
    """
    if spec in SAMPLE_PHOTOS:
        return sample_photo(spec), spec
    if not Path(spec).is_file():
        raise ImageError(f"--image must be one of {', '.join(SAMPLE_PHOTOS)} or an image file; {spec!r} is neither")
    return load_image(spec), Path(spec).name


def invert_layer(
    family: str,
    layer: str,
    image: np.ndarray,
    weights: str | None,
    iterations: int | None,
    size: int | None,
    seed: int = 0,
    device: str | None = None,
    settings: dict | None = None,
) -> LayerResult:
    """Reconstruct ``image`` from ``family:layer`` with the layer's default preset (``iterations``
    and ``size`` in pixels override it, and ``settings``, e.g. ``{"method": "cvpr"}``) and score the result."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rep = load_representation(f"{family}:{layer}", weights=weights, device=device)
    overrides = {**(settings or {}), "seed": seed, "snapshot_every": 10**9}
    if iterations is not None:
        overrides["iterations"] = iterations
    if size is not None:
        overrides["image_size"] = (size, size)
    try:
        shot = reconstruct(rep, image, **overrides)
    except DivergenceError:
        nan = float("nan")
        return LayerResult(layer, rep.preset.lambda_tv, nan, nan, nan, nan, None, None)
    psnr = peak_signal_noise_ratio(shot.reference, shot.image, data_range=255)
    ssim = structural_similarity(shot.reference, shot.image, channel_axis=-1, data_range=255)
    return LayerResult(
        layer, shot.settings.lambda_tv, float(shot.relative_error[shot.best]), float(psnr), float(ssim),
        shot.elapsed, shot.image, shot.reference,
    )  # fmt: skip


def markdown_table(results: Sequence[LayerResult]) -> str:
    """The results as a Markdown table (relative error in %, PSNR in dB, time in s)."""
    rows = ["| layer | λ_TV | relative error | PSNR (dB) | SSIM | seconds |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if math.isnan(r.relative_error):
            rows.append(f"| {r.layer} | {r.lambda_tv:g} | diverged | – | – | – |")
        else:
            rows.append(
                f"| {r.layer} | {r.lambda_tv:g} | {100 * r.relative_error:.1f}% | {r.psnr:.2f} | {r.ssim:.3f} | {r.seconds:.1f} |"
            )
    return "\n".join(rows)


def layer_sheet(results: Sequence[LayerResult], original_label: str, title: str, columns: int, tile: int) -> np.ndarray:
    """Contact sheet: the reference first, then each layer's pre-image labelled with its error."""
    reference = next((r.reference for r in results if r.reference is not None), None)
    if reference is None:
        raise ValueError("every layer diverged: nothing to show")
    tiles, labels = [reference], [f"original\n{original_label}"]
    for r in results:
        if r.image is None:
            tiles.append(np.full_like(reference, 128))
            labels.append(f"{r.layer}\ndiverged")
        else:
            tiles.append(r.image)
            labels.append(f"{r.layer}\nerror {100 * r.relative_error:.1f}%")
    return make_grid(tiles, labels, columns=columns, tile_size=tile, title=title)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--representation", default="squeezenet1_1", help="family, e.g. squeezenet1_1, alexnet, vgg16, hog")
    parser.add_argument("--weights", help="local .safetensors file, hf://…, or 'random' (CNNs); default: the Hub")
    parser.add_argument("--image", default="astronaut", help=f"{'|'.join(SAMPLE_PHOTOS)} or an image file")
    parser.add_argument("--output", default="layers.png", help="contact sheet PNG to write")
    parser.add_argument("--layers", help="comma-separated subset of the family's layers (default: all)")
    parser.add_argument("--iterations", type=int, help="steps per layer (default: the preset's)")
    parser.add_argument("--size", type=int, help="pre-image side in pixels (default: the network's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, … (default: the best available)")
    parser.add_argument("--columns", type=int, default=6, help="tiles per row of the sheet")
    parser.add_argument("--tile", type=int, default=160, help="tile side on the sheet, pixels")
    own = {action.option_strings[0] for action in parser._actions if action.option_strings}
    # the settings schema's other options (--method cvpr, --lambda-tv 5, …), for every layer alike
    add_setting_options(parser, exclude=[s.name for s in SETTINGS if s.cli_flag in own or isinstance(s.kind, Mask)])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 with a one-line message on bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.iterations is not None and args.iterations < 1:
            raise ValueError(f"--iterations must be ≥ 1, got {args.iterations}")
        if args.size is not None and args.size < 8:
            raise ValueError(f"--size must be ≥ 8 pixels, got {args.size}")
        family_name = args.representation.partition(":")[0]
        family = get_family(family_name)
        names = [s.name for s in family.layers]
        layers = names if not args.layers else [name.strip() for name in args.layers.split(",") if name.strip()]
        unknown = [name for name in layers if name not in names]
        if unknown or not layers:
            raise UnknownNameError(f"unknown layer(s) {', '.join(unknown) or '(none given)'} of {family_name}; known: {', '.join(names)}")
        image, label = read_image(args.image)
        results = []
        for layer in layers:
            results.append(invert_layer(family_name, layer, image, args.weights, args.iterations, args.size, args.seed,
                                        args.device, given_settings(args, InversionConfig())))
            harness.log(f"{layer}: error {100 * results[-1].relative_error:.1f}%, {results[-1].seconds:.1f} s")
        weights = "random" if args.weights == "random" else Path(args.weights).name if args.weights else "Hub"
        shown = next((r.reference for r in results if r.reference is not None), None)
        size = args.size or (f"{shown.shape[0]}" if shown is not None else "default")
        iterations = args.iterations or family.layer(layers[0]).preset.iterations
        title = f"{family_name} · {label} · {size} px · {iterations} iterations · weights: {weights}"
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(layer_sheet(results, label, title, args.columns, args.tile)).save(path, optimize=True)
    except harness.BAD_INPUT as err:
        return harness.bad_input(err)
    print(markdown_table(results))
    harness.log(f"contact sheet: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
