"""Command line of the experiments: ``python -m inverter --experiment KIND -r FAMILY[:LAYER] ...``
and ``python -m inverter --config EXPERIMENT.json`` (repeats an exported experiment).

Writes the grid as ``OUT/STEM.png`` and the spec + metrics as ``OUT/STEM.json`` (``STEM``
defaults to the experiment's kind). Failures end with one ``error: ...`` line on stderr
and exit status 1 (2 for malformed arguments); ``--debug`` shows the traceback.

Hook for :mod:`inverter.cli`: ``if experiment_cli.handles(argv): return experiment_cli.main(argv)``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .cli_errors import EXIT_USAGE, run_reporting_errors

#: Options copied onto :class:`inverter.engine.InversionConfig` fields when given.
CONFIG_OPTIONS = (
    "iterations", "seed", "data_weight", "lambda_tv", "tv_beta", "lambda_alpha", "alpha", "learning_rate",
    "momentum", "jitter", "clip", "init", "display", "snapshot_every", "device", "precision",
)  # fmt: skip


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(EXIT_USAGE, f"error: {message} (see python -m inverter --experiment KIND --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def _size(text: str) -> list[int]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts] * (2 if len(parts) == 1 else 1)
    except ValueError:
        values = []
    if len(values) != 2 or min(values) < 8:
        raise argparse.ArgumentTypeError(f"expected SIDE or HxW with every side ≥ 8 pixels, got {text!r}")
    return values


def _jitter(text: str) -> int | str:
    return text if text == "auto" else _positive(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the experiment options to ``parser`` (every default is ``None`` = "the kind's/preset's")."""
    from .engine import DISPLAY_MODES, INIT_MODES, PRECISIONS
    from .experiments import KINDS

    parser.add_argument("image", nargs="?", help="input image file (default: --image or example:astronaut)")
    parser.add_argument("--experiment", choices=list(KINDS), help="the experiment to run (see --list-experiments)")
    parser.add_argument("--list-experiments", action="store_true", help="list the experiments and their parameters")
    parser.add_argument("--config", metavar="FILE.json", help="repeat the experiment of an exported JSON")
    parser.add_argument("-r", "--representation", metavar="FAMILY[:LAYER]", help="e.g. alexnet, alexnet:fc8, hog")
    parser.add_argument("--layers", metavar="L1,L2,...", help="layers to use (default: the experiment's)")
    parser.add_argument("--image", dest="image_option", metavar="PATH|example:NAME", help="input image")
    parser.add_argument("--weights", metavar="FILE|hf://...|random", help="CNN weights (default: the family's)")
    parser.add_argument("--size", type=_size, metavar="SIDE|HxW", help="pre-image size in pixels")
    parser.add_argument("-o", "--out", metavar="DIR", help="output folder (default: the current one)")
    parser.add_argument("--stem", metavar="NAME", help="file name stem of the outputs (default: the kind)")
    parser.add_argument("--tile-size", type=_positive, default=160, metavar="PX", help="grid cell side (default 160)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")

    e = parser.add_argument_group("experiment parameters (default: the experiment's)")
    e.add_argument("--restarts", type=_positive, metavar="K",
                   help="restarts: K panels per layer; other experiments: best of K per panel")  # fmt: skip
    e.add_argument("--neighbourhood", type=_positive, metavar="N", help="receptive_field: central N×N code units")
    e.add_argument("--channels", metavar="halves|START:STOP", help="channels: the two halves or a range")
    e.add_argument("--include-full", action=argparse.BooleanOptionalAction, default=None,
                   help="channels/receptive_field: also invert the whole code")  # fmt: skip
    e.add_argument("--values", metavar="V1,V2,...", help="tv_sweep: λ_TV values; tv_beta: β values")

    g = parser.add_argument_group("optimisation, shared by every panel (default: the layer's preset)")
    g.add_argument("--iterations", type=int, metavar="N")
    g.add_argument("--seed", type=int, metavar="S")
    g.add_argument("--data-weight", type=float, metavar="C")
    g.add_argument("--lambda-tv", type=float, metavar="λ", help="also the β = 2 base of tv_beta's conversion")
    g.add_argument("--tv-beta", type=float, metavar="β")
    g.add_argument("--lambda-alpha", type=float, metavar="λ", help="also alpha_norm's 'on' value")
    g.add_argument("--alpha", type=float, metavar="α")
    g.add_argument("--learning-rate", type=float, metavar="η")
    g.add_argument("--momentum", type=float, metavar="μ")
    g.add_argument("--jitter", type=_jitter, metavar="J|auto")
    g.add_argument("--clip", type=float, metavar="B+")
    g.add_argument("--init", choices=INIT_MODES)
    g.add_argument("--display", choices=DISPLAY_MODES)
    g.add_argument("--snapshot-every", type=_positive, metavar="N")
    g.add_argument("--device", help="cpu, cuda, cuda:1 or auto")
    g.add_argument("--precision", choices=PRECISIONS)


def build_parser() -> argparse.ArgumentParser:
    """The experiments' argument parser."""
    parser = _Parser(
        prog="python -m inverter",
        usage="python -m inverter --experiment KIND -r FAMILY[:LAYER] [IMAGE] [options] | --config EXPERIMENT.json",
        description="Run one of the paper's experiments and write its labelled grid (PNG) and spec + metrics (JSON).",
        epilog="Example: python -m inverter --experiment layer_sweep -r squeezenet1_1 --image example:chelsea "
        "--iterations 100 --size 96 --out sweep/   ·   again: python -m inverter --config sweep/layer_sweep.json",
    )
    add_arguments(parser)
    return parser


def handles(argv: Sequence[str] | None = None) -> bool:
    """True when ``argv`` asks for an experiment: ``--experiment``/``--list-experiments``
    is given, or ``--config`` names an experiment JSON (``"format": "inverter-experiment"``
    or a bare spec with ``kind``). A missing or unreadable config file is left to the caller.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("--experiment", "--list-experiments") or a.startswith("--experiment=") for a in argv):
        return True
    for i, arg in enumerate(argv):
        path = argv[i + 1] if arg == "--config" and i + 1 < len(argv) else (
            arg.split("=", 1)[1] if arg.startswith("--config=") else None)  # fmt: skip
        if path:
            try:
                data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return False
            from .experiments import is_experiment_json

            return isinstance(data, dict) and is_experiment_json(data)
    return False


def list_text() -> str:
    """Every experiment, its description and its parameters with their defaults."""
    from .experiments import KINDS

    lines = []
    for name, kind in KINDS.items():
        lines.append(f"{name}: {kind.title}: {kind.description}")
        params = ", ".join(f"{k}={v!r}" for k, v in kind.defaults.items()) or "none"
        layers = "every layer" if kind.all_layers else "the family's default layer"
        lines.append(f"  parameters: {params}; default layers: {layers}")
        if kind.paper_layers:
            lines.append(f"  the paper's layers (AlexNet): {','.join(kind.paper_layers)}")
    return "\n".join(lines)


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`inverter.experiments.ExperimentSpec` of the arguments (over ``--config``'s)."""
    from .experiments import ExperimentSpec, spec_from_json

    if args.config:
        base = spec_from_json(args.config)
        if args.experiment and args.experiment != base.kind:
            raise ValueError(f"--experiment {args.experiment} contradicts the config's {base.kind!r}")
    else:
        if not args.experiment:
            raise ValueError("no experiment given: use --experiment KIND (see --list-experiments)")
        if not args.representation:
            raise ValueError("no representation given: use -r FAMILY[:LAYER] (see python -m inverter --list)")
        base = ExperimentSpec(args.experiment, args.representation)
    config = dict(base.config)
    config.update({name: getattr(args, name) for name in CONFIG_OPTIONS if getattr(args, name) is not None})
    if args.size is not None:
        config["image_size"] = args.size
    params = dict(base.params)
    if args.restarts is not None:
        if base.kind == "restarts":
            params["restarts"] = args.restarts
        else:
            config["restarts"] = args.restarts
    for name in ("neighbourhood", "channels", "include_full", "values"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    image = args.image_option or args.image
    if args.image and args.image_option and args.image != args.image_option:
        raise ValueError("two images given: a positional IMAGE and --image")
    layers = tuple(s.strip() for s in args.layers.split(",") if s.strip()) if args.layers else base.layers
    return ExperimentSpec(
        kind=base.kind,
        representation=args.representation or base.representation,
        layers=layers,
        image=image or base.image,
        config=config,
        params=params,
        weights=args.weights if args.weights is not None else base.weights,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the experiments' command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.list_experiments:
        print(list_text())
        return 0
    return run_reporting_errors(lambda: _run(args), args.debug)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .experiments import experiment_updates

    spec = spec_from_args(args)
    last = None
    with tqdm(total=1000, desc=spec.kind, disable=args.quiet, file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}") as bar:  # fmt: skip
        for last in experiment_updates(spec):
            bar.update(round(1000 * last.progress) - bar.n)
            bar.set_postfix_str(last.message[:60], refresh=False)
    assert last is not None and last.result is not None
    result = last.result
    paths = result.save(Path(args.out or "."), args.stem, tile_size=args.tile_size)
    stats = result.metrics["relative_error"]
    print(
        f"wrote {paths['png']} and {paths['json']} ({len(result.panels)} panels, {result.elapsed:.1f} s; "
        f"relative error {stats['mean']:.4f} ± {stats['std']:.4f}, min {stats['min']:.4f} ({stats['best']}), "
        f"max {stats['max']:.4f})"
    )
    for group in result.metrics.get("groups", []):
        print(f"  {group['layer']}: {group['count']} restarts, error {group['mean']:.4f} ± {group['std']:.4f}, "
              f"min {group['min']:.4f}, max {group['max']:.4f}, best {group['best']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
