"""Command line: ``python -m inverter IMAGE -r NAME[:LAYER] [options]``.

Writes the best restart's pre-image (the one with the lowest relative error) as an
image file, and optionally a JSON report (:mod:`inverter.report`) from which
``python -m inverter --config REPORT.json`` re-runs the same inversion (relative paths
in the file are relative to its folder). Options given next to ``--config`` override the
file's values. Every failure the user can cause ends with one ``error: ...`` line on
stderr and exit status 1 (2 for malformed arguments); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import experiment_cli
from .cli_errors import EXIT_USAGE, run_reporting_errors
from .engine import DISPLAY_MODES, INIT_MODES, PRECISIONS


#: CLI options that map one-to-one onto :class:`inverter.engine.InversionConfig` fields.
CONFIG_OPTIONS = (
    "iterations", "restarts", "seed", "data_weight", "lambda_tv", "tv_beta", "lambda_alpha", "alpha",
    "learning_rate", "momentum", "jitter", "clip", "init", "snapshot_every", "display", "device", "precision",
)  # fmt: skip


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(EXIT_USAGE, f"error: {message} (see python -m inverter --help)\n")


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be ≥ {minimum}, got {value}")
        return value

    return parse


def _size(text: str) -> tuple[int, int]:
    """``"64"`` → (64, 64); ``"48x64"`` → (48, 64) (H×W, pixels)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SIDE or HxW in pixels, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or min(values) < 8:
        raise argparse.ArgumentTypeError(f"expected SIDE or HxW with every side ≥ 8 pixels, got {text!r}")
    return values[0], values[1]


def _jitter(text: str) -> int | str:
    if text == "auto":
        return text
    return _int_at_least(1)(text)


def _channels(text: str) -> tuple[int, int]:
    start, sep, stop = text.partition(":")
    try:
        values = int(start), int(stop)
    except ValueError:
        values = None
    if not sep or values is None or values[0] < 0 or values[1] <= values[0]:
        raise argparse.ArgumentTypeError(f"expected START:STOP with 0 ≤ START < STOP, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option defaults to ``None`` = "the preset / the config file")."""
    p = _Parser(
        prog="python -m inverter",
        description="Reconstruct an image from its representation (Mahendran & Vedaldi, CVPR 2015 / IJCV 2016).",
        epilog="Example: python -m inverter photo.jpg -r squeezenet1_1:fire5 --iterations 200 "
        "--output out.png --report out.json"
        + "; experiments (grids of runs): python -m inverter --experiment KIND --help",
    )
    p.add_argument("image", nargs="?", help="input image file (PNG, JPEG, ...)")
    p.add_argument("-r", "--representation", metavar="NAME[:LAYER]", help="e.g. alexnet:conv3, hog (see --list)")
    p.add_argument("--list", action="store_true", help="list the representations and their layers, then exit")
    p.add_argument("--config", metavar="FILE.json", help="re-run the inversion of a JSON report (other options override it)")
    p.add_argument("-o", "--output", metavar="OUT.png", help="pre-image file (default: IMAGE-STEM.NAME-LAYER.png here)")
    p.add_argument("--report", metavar="OUT.json", help="write a JSON report of settings and results")
    p.add_argument("--weights", metavar="FILE|hf://ORG/REPO/FILE|random",
                   help="CNN weights: a local .safetensors file, a Hub file, or 'random' (default: the family's Hub source)")  # fmt: skip
    p.add_argument("--device", help="cpu, cuda, cuda:1 or auto (default: auto)")
    p.add_argument("--size", type=_size, metavar="SIDE|HxW", help="pre-image size in pixels (default: the representation's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")

    g = p.add_argument_group("optimisation (default: the layer's preset from the paper)")
    g.add_argument("--iterations", type=_int_at_least(0), metavar="N", help="total steps")
    g.add_argument("--restarts", type=_int_at_least(1), metavar="K", help="random starts optimised together (default 1)")
    g.add_argument("--seed", type=int, metavar="S", help="seed of the noise and the jitter (default 0)")
    g.add_argument("--data-weight", type=float, metavar="C", help="weight C of the normalised data term")
    g.add_argument("--lambda-tv", type=float, metavar="λ", help="weight of the total variation (CVPR units)")
    g.add_argument("--tv-beta", type=float, metavar="β", help="exponent of the total variation")
    g.add_argument("--lambda-alpha", type=float, metavar="λ", help="weight of the α-norm (CVPR units)")
    g.add_argument("--alpha", type=float, metavar="α", help="exponent of the α-norm")
    g.add_argument("--learning-rate", type=float, metavar="η", help="base rate of the step schedule")
    g.add_argument("--momentum", type=float, metavar="μ", help="heavy-ball momentum")
    g.add_argument("--jitter", type=_jitter, metavar="J|auto", help="random shift of up to J-1 pixels per step; auto = IJCV's rule")
    g.add_argument("--clip", type=float, metavar="B+", help="clip each pixel's colour norm (pixel units; 0 = off)")
    g.add_argument("--init", choices=INIT_MODES, help="initial noise")
    g.add_argument("--display", choices=DISPLAY_MODES, help="minmax = the paper's contrast stretch (default); clip")
    g.add_argument("--snapshot-every", type=_int_at_least(1), metavar="N", help="progress/history interval in steps (default 25)")
    g.add_argument("--precision", choices=PRECISIONS,
                   help="arithmetic of the representation (default float32); bfloat16 is faster on GPUs and AMX CPUs")

    m = p.add_argument_group("code mask (default: the whole code)")
    m.add_argument("--channels", type=_channels, metavar="START:STOP", help="invert from this channel range only")
    m.add_argument("--neighbourhood", type=_int_at_least(1), metavar="N", help="invert from the central N×N units only")
    return p


def list_text() -> str:
    """Every registered representation and its layers, one family per paragraph."""
    from .representations import families, list_representations

    lines = []
    fams = families()
    for name, layers in list_representations().items():
        family = fams[name]
        default = family.default_layer or layers[-1]
        lines.append(f"{name}: {family.description}" if family.description else name)
        lines.append(f"  default layer: {default}; weights: {'needed' if family.needs_weights else 'none'}")
        lines.append("  layers: " + " ".join(layers))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if experiment_cli.handles(argv):
        return experiment_cli.main(argv)
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_text())
        return 0
    return run_reporting_errors(lambda: _run(args), args.debug)


def _run_spec(args: argparse.Namespace) -> tuple[Any, dict[str, Any], set[str]]:
    """The run to do: the config file's (if any) with the command line's options over it.

    Returns ``(RunSpec, the config file's JSON or {}, names of the overridden settings)``.
    """
    from .engine import InversionConfig
    from .masks import CodeMask
    from .report import RunSpec, load_run

    if args.config:
        base, data = load_run(args.config)
        # Relative paths in a config file are relative to the file's folder.
        folder = Path(args.config).expanduser().parent
        weights = base.weights
        if weights and weights != "random" and not weights.startswith("hf://"):
            weights = str(folder / Path(weights).expanduser())
        base = RunSpec(str(folder / Path(base.image).expanduser()), base.representation, weights, base.config)
    else:
        if not args.image:
            raise ValueError("no input image given (python -m inverter IMAGE -r NAME[:LAYER], or --config FILE.json)")
        if not args.representation:
            raise ValueError("no representation given: use --representation NAME[:LAYER] (see --list)")
        base, data = RunSpec(args.image, args.representation, None, InversionConfig()), {}
    changes = {name: getattr(args, name) for name in CONFIG_OPTIONS if getattr(args, name) is not None}
    if args.size is not None:
        changes["image_size"] = args.size
    if args.channels is not None or args.neighbourhood is not None:
        old = base.config.mask or CodeMask()
        changes["mask"] = CodeMask(
            channels=args.channels if args.channels is not None else old.channels,
            neighbourhood=args.neighbourhood if args.neighbourhood is not None else old.neighbourhood,
        )
    run = RunSpec(
        image=args.image or base.image,
        representation=args.representation or base.representation,
        weights=args.weights if args.weights is not None else base.weights,
        config=base.config.replace(**changes),
    )
    overridden = set(changes) | {n for n in ("image", "representation", "weights") if getattr(args, n) is not None}
    return run, data, overridden


def _absolute(weights: str | None) -> str | None:
    if weights is None or weights == "random" or weights.startswith("hf://"):
        return weights
    return str(Path(weights).expanduser().resolve())


def _warn_if_settings_differ(recorded: dict[str, Any], settings: dict[str, Any], overridden: set[str]) -> None:
    """Warn when a re-run resolves to other settings than the report's (changed presets)."""
    if not recorded or "representation" in overridden:
        return
    derived = {"iterations": {"phases"}, "image_size": {"sigma"}}
    skip = {"device"} | overridden | {d for key in overridden for d in derived.get(key, ())}
    differ = sorted(k for k, v in settings.items() if k not in skip and recorded.get(k) != v)
    if differ:
        print(f"warning: settings differ from the config file's: {', '.join(differ)}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    import torch
    from skimage import io
    from tqdm import tqdm

    from .engine import invert, resolve_settings
    from .images import load_image
    from .report import RunSpec, build_report, file_sha256, pinned_config, snapshot_record, weights_origin, write_report
    from .representations import get_family, load_representation, parse_name

    start = time.perf_counter()
    run, data, overridden = _run_spec(args)
    family = get_family(parse_name(run.representation)[0])
    if run.weights is not None and not family.needs_weights:
        raise ValueError(f"{family.name} has no learned weights; drop --weights")

    image = load_image(run.image)  # before the network: a bad image fails fast
    image_path = str(Path(run.image).expanduser().resolve())
    sha = file_sha256(image_path)
    recorded_sha = (data.get("input") or {}).get("sha256") if "image" not in overridden else None
    if recorded_sha and recorded_sha != sha:
        print(f"warning: {image_path} is not the file the config was made with (sha256 differs)", file=sys.stderr)

    # Seeds torchvision's init too, so that --weights random is reproducible.
    torch.manual_seed(run.config.seed)
    kwargs = {"weights": run.weights} if family.needs_weights else {}
    representation = load_representation(run.representation, device=run.config.device, **kwargs)
    origin = weights_origin(run.representation, run.weights)
    settings = resolve_settings(representation, run.config)
    _warn_if_settings_differ(data.get("settings") or {}, settings.to_dict(), overridden)
    pinned = RunSpec(image_path, representation.name, _absolute(run.weights), pinned_config(settings, run.config.device))

    output = Path(args.output) if args.output else Path(f"{Path(run.image).stem}.{representation.name.replace(':', '-')}.png")
    history, first, final = [], None, None
    bar = tqdm(total=settings.iterations, desc=representation.name, unit="step", disable=args.quiet, file=sys.stderr)
    with bar:
        for shot in invert(representation, image, pinned.config):
            first = shot if first is None else first
            final = shot
            history.append(snapshot_record(shot))
            bar.update(shot.step - bar.n)
            bar.set_postfix(loss=f"{shot.loss.min():.4g}", rel_err=f"{shot.relative_error.min():.4f}")
    assert first is not None and final is not None and final.done

    output.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(str(output), final.image, check_contrast=False)
    report = build_report(
        pinned, first, final, output=output.resolve(), weights_origin=origin, history=history,
        total_time=time.perf_counter() - start, input_sha256=sha,
    )  # fmt: skip
    result = report["result"]
    psnr = f"{result['psnr_db']:.2f} dB" if result["psnr_db"] != float("inf") else "inf"
    summary = (
        f"wrote {output} (best of {settings.restarts} restart(s): relative error "
        f"{result['initial_relative_error']:.4f} → {result['relative_error']:.4f}, PSNR {psnr}, "
        f"SSIM {result['ssim']:.3f}, {final.elapsed:.1f} s)"
    )
    if args.report:
        summary += f"; report {write_report(report, args.report)}"
    print(summary)
    return 0
