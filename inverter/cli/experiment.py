"""``inverter experiment KIND -r FAMILY[:LAYER] [IMAGE] …`` (also ``python -m inverter --experiment KIND …``)
and ``inverter --config EXPERIMENT.json`` (repeats an exported experiment).

Writes the grid as ``OUT/STEM.png`` and the spec + metrics as ``OUT/STEM.json`` (``STEM``
defaults to the experiment's kind). Failures end with one ``error: ...`` line on stderr
and exit status 1 (2 for malformed arguments); ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..documents import Document, read_document
from ..errors import ExperimentError
from ..settings import SETTINGS, InversionConfig, Mask
from .errors import run_reporting_errors
from .options import add_setting_options, given_settings
from .parser import Parser

#: Settings an experiment does not take from the command line: it sets the mask itself.
_EXCLUDED = tuple(s.name for s in SETTINGS if isinstance(s.kind, Mask))


def build_parser(prog: str = "inverter experiment") -> argparse.ArgumentParser:
    """The experiments' argument parser (every default ``None`` = "the kind's / the preset's")."""
    from ..experiments import KINDS
    from ..experiments.kinds import PARAMETER_OPTIONS

    parser = Parser(
        prog=prog,
        usage=f"{prog} KIND -r FAMILY[:LAYER] [IMAGE] [options] | --config EXPERIMENT.json",
        description="Run one of the paper's experiments and write its labelled grid (PNG) and spec + metrics (JSON).",
        epilog=f"Example: {prog} layer_sweep -r squeezenet1_1 --image example:chelsea --iterations 100 --size 96 "
        "--out sweep/   ·   again: inverter --config sweep/layer_sweep.json",
    )
    parser.add_argument("image", nargs="?", help="input image file (default: --image or example:astronaut)")
    parser.add_argument("--experiment", choices=list(KINDS), help="the experiment to run (see --list-experiments)")
    parser.add_argument("--list-experiments", "--list", action="store_true",
                        help="list the experiments and their parameters")  # fmt: skip
    parser.add_argument("--config", metavar="FILE.json", help="repeat the experiment of an exported JSON")
    parser.add_argument("-r", "--representation", metavar="FAMILY[:LAYER]", help="e.g. alexnet, alexnet:fc8, hog")
    parser.add_argument("--layers", metavar="L1,L2,...", help="layers to use (default: the experiment's)")
    parser.add_argument("--image", dest="image_option", metavar="PATH|example:NAME", help="input image")
    parser.add_argument("--weights", metavar="FILE|hf://...|random", help="weights (default: the family's)")
    parser.add_argument("-o", "--out", metavar="DIR", help="output folder (default: the current one)")
    parser.add_argument("--stem", metavar="NAME", help="file name stem of the outputs (default: the kind)")
    parser.add_argument("--tile-size", type=int, default=160, metavar="PX", help="grid cell side (default 160)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    group = parser.add_argument_group("experiment parameters (default: the experiment's)")
    for name, (metavar, text, kind) in PARAMETER_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            group.add_argument(flag, type=kind, metavar=metavar, help=text)
    add_setting_options(parser, exclude=_EXCLUDED)
    return parser


def list_text() -> str:
    """Every experiment, its description and its parameters with their defaults."""
    from ..experiments import KINDS

    lines = []
    for name, kind in KINDS.items():
        lines.append(f"{name}: {kind.title}: {kind.description}")
        params = ", ".join(f"{k}={v!r}" for k, v in kind.defaults.items()) or "none"
        lines.append(f"  parameters: {params}; default layers: {kind.default_layers_text}")
        if kind.paper_layers:
            lines.append(f"  the paper's layers (AlexNet): {','.join(kind.paper_layers)}")
    return "\n".join(lines)


def spec_from_args(args: argparse.Namespace, document: Document | None = None) -> Any:
    """The :class:`inverter.experiments.ExperimentSpec` of the arguments (over ``--config``'s)."""
    from ..experiments import ExperimentSpec, get_kind, spec_from_json
    from ..experiments.kinds import PARAMETER_OPTIONS

    if args.config:
        base = spec_from_json(document or read_document(args.config))
        if args.experiment and args.experiment != base.kind:
            raise ExperimentError(f"--experiment {args.experiment} contradicts the config's {base.kind!r}")
    else:
        if not args.experiment:
            raise ExperimentError("no experiment given: use inverter experiment KIND (see --list-experiments)")
        if not args.representation:
            raise ExperimentError("no representation given: use -r FAMILY[:LAYER] (see inverter list)")
        base = ExperimentSpec(args.experiment, args.representation)
    kind = get_kind(base.kind)
    config, params = dict(base.config), dict(base.params)
    for name, value in given_settings(args, InversionConfig(), exclude=_EXCLUDED).items():
        (params if name in kind.shadows else config)[name] = value
    params.update({name: getattr(args, name) for name in PARAMETER_OPTIONS if getattr(args, name) is not None})
    image = args.image_option or args.image
    if args.image and args.image_option and args.image != args.image_option:
        raise ExperimentError("two images given: a positional IMAGE and --image")
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


def main(argv: Sequence[str] | None = None, document: Document | None = None,
         prog: str = "inverter experiment") -> int:  # fmt: skip
    """Run the experiments' command line; returns the exit status."""
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.list_experiments:
        print(list_text())
        return 0
    return run_reporting_errors(lambda: _run(args, document), args.debug)


def _run(args: argparse.Namespace, document: Document | None) -> int:
    from tqdm import tqdm

    from ..experiments import experiment_updates

    spec = spec_from_args(args, document)
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
