"""Does ``precision="bfloat16"`` pay? Time and final error of inversions in both precisions.

Inverts the same image from the same seeds with ``precision="float32"`` (the default) and
``"bfloat16"`` (Φ under :func:`torch.autocast`, its weights cast once), and evaluates every
final pre-image with the float32 network, so that the errors compare. Example (the
figures in the README's "Performance")::

    python benchmarks/precision.py --threads 2 --seeds 3 \\
        --weights ../shared/weights/squeezenet1_1-imagenet.safetensors \\
        squeezenet1_1:fire5 squeezenet1_1:fire9 squeezenet1_1:logits
    python benchmarks/precision.py --threads 2 alexnet:conv5 vgg16:conv3_3   # random weights: timing

Prints a Markdown table: seconds per inversion and relative error (mean, and min–max over
the seeds) in float32 and bfloat16. The seed-to-seed spread is the yardstick: an error
difference inside it is not a difference the precision made.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)
from harness import mean_std, median, spread  # noqa: E402

from inverter.engine import reconstruct  # noqa: E402
from inverter.objectives import data_term  # noqa: E402
from inverter.representations.base import Representation  # noqa: E402


def relative_error(representation: Representation, pixels: np.ndarray, image: np.ndarray) -> float:
    """‖Φ(x) − Φ(x0)‖ / ‖Φ(x0)‖ in float32, ``pixels`` ``[1, C, H, W]`` in pixel units."""
    device = next(iter(representation.buffers()), torch.empty(0)).device
    with torch.no_grad():
        code = representation(torch.from_numpy(pixels).to(device))
        target = representation(representation.image_to_pixels(image, pixels.shape[-2:]).to(device))
    return float(data_term(code, target).sqrt())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="representations, e.g. alexnet:conv5")
    parser.add_argument("--weights", default="random", help="weights of the CNNs (default: random)")
    parser.add_argument("--iterations", type=int, default=None, help="steps (default: the layer's preset)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0…N−1, each run in both precisions")
    parser.add_argument("--image", default="chelsea", choices=harness.SAMPLE_PHOTOS, help="a scikit-image sample")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    image = harness.sample_photo(args.image)
    print(f"torch {torch.__version__}, device `{args.device}`, {torch.get_num_threads()} threads, "
          f"{args.iterations or 'preset'} steps, image `{args.image}`, weights `{args.weights}`, "
          f"seeds 0–{args.seeds - 1}\n")
    print("| representation | float32 s | bfloat16 s | speed-up | float32 error | bfloat16 error |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.names:
        rep = harness.representation(name, args.device, args.weights)
        seconds: dict[str, list[float]] = {"float32": [], "bfloat16": []}
        errors: dict[str, list[float]] = {"float32": [], "bfloat16": []}
        for seed in range(args.seeds):
            for label in ("float32", "bfloat16"):
                start = time.perf_counter()
                shot = reconstruct(rep, image, iterations=args.iterations, seed=seed, device=args.device,
                                   precision=label)
                seconds[label].append(time.perf_counter() - start)
                errors[label].append(relative_error(rep, shot.pixels[:1], image))
        t32, t16 = (median(seconds[k]) for k in ("float32", "bfloat16"))
        e32, e16 = (f"{mean_std(errors[k])[0]:.3f} ({spread(errors[k], 3)})" for k in errors)
        print(f"| `{name}` | {t32:.1f} | {t16:.1f} | {t32 / t16:.2f}× | {e32} | {e16} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
