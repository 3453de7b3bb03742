"""``inverter evaluate FOLDER -r R[,R…] --out DIR [options]``: the paper's quantitative results on a folder.

Every (image, representation layer, seed) is one inversion with the layer's preset and the
settings given (the same options as ``inverter invert``). Results are written to DIR as
each task finishes; running the same command again skips what is finished and redoes
what failed or was cut short. At the end DIR holds the per-task table (``results.csv``),
the summary (``summary.md``, ``summary.json``), the error-against-depth plot
(``error_vs_layer.png``/``.svg``) and a grid of reconstructions. ``--report-only``
rewrites those from DIR alone. Exit status: 0, or 1 when a task failed (the others are
written) or on any other failure (one ``error:`` line), 2 for malformed arguments, 130
when interrupted.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from ..documents import Document
from ..errors import SettingError
from ..settings import SETTINGS, InversionConfig, Mask
from .errors import EXIT_ERROR, EXIT_INTERRUPTED, run_reporting_errors
from .options import add_setting_options, given_settings
from .parser import Parser

#: Settings an evaluation does not take: it inverts whole codes (no mask).
_EXCLUDED = tuple(s.name for s in SETTINGS if isinstance(s.kind, Mask))


def build_parser(prog: str = "inverter evaluate") -> argparse.ArgumentParser:
    """The command's argument parser (every setting defaults to ``None`` = the layer's preset)."""
    p = Parser(
        prog=prog,
        usage=f"{prog} FOLDER -r R[,R…] --out DIR [--layers all|L1,L2] [--seeds S,…] [options] | "
        f"{prog} --report-only --out DIR",
        description="Invert every image of FOLDER from every representation layer and seed, and write the "
        "per-task table, the summary with both of the paper's errors, the error-against-depth plot and a grid.",
        epilog=f"Examples: {prog} photos/ -r hog,hogb,dsift --out table1/ (CVPR Table 1's protocol)  ·  "
        f"{prog} photos/ -r squeezenet1_1 --layers all --out curve/ --workers 2  ·  "
        f"{prog} photos/ -r alexnet --layers all --out curve/ --ray --gpus-per-task 1",
    )
    p.add_argument("folder", nargs="?", help="the image folder (its .png/.jpg/.jpeg/.bmp/.tif/.tiff/.webp files)")
    p.add_argument("-r", "--representation", metavar="R[,R…]", help="representations, e.g. hog,squeezenet1_1")
    p.add_argument("--layers", metavar="all|L1,L2", help="layers of the names without one (default: the family's)")
    p.add_argument("--seeds", metavar="S,…|A-B", help="inversion seeds per image, e.g. 0,1,2 or 0-4 (default: --seed)")
    p.add_argument("--limit", type=int, metavar="N", help="use only the first N images (by name)")
    p.add_argument("-o", "--out", metavar="DIR", required=True, help="output folder (resumed when it has results)")
    p.add_argument("--weights", metavar="FILE|hf://…|random", help="weights of the families with learned weights")
    p.add_argument("--report-only", action="store_true", help="rewrite the report from DIR's results; run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    run = p.add_argument_group("execution (default: in this process, on its device)")
    run.add_argument("--workers", type=int, metavar="N", help="run N local worker processes")
    run.add_argument("--ray", action="store_true", help="run on Ray: $RAY_ADDRESS's cluster, or a local instance")
    run.add_argument("--ray-address", metavar="ADDR", help="the Ray cluster to use (implies --ray)")
    run.add_argument("--cpus-per-task", type=float, metavar="C",
                     help="CPU threads per task (Ray: CPU slots; default 1 on Ray, the cores shared out locally)")  # fmt: skip
    run.add_argument("--gpus-per-task", type=float, default=0.0, metavar="G", help="GPUs per Ray task (default 0)")
    run.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                     help="import this module in every worker first (to register families); also $INVERTER_PLUGINS")  # fmt: skip
    add_setting_options(p, exclude=_EXCLUDED)
    return p


def parse_seeds(text: str | None) -> tuple[int, ...]:
    """``"0,1,2"``, ``"0-4"`` (inclusive) or a mix → seeds; ``None`` → ``()``.

    Raises:
        SettingError: not of that form.
    """
    if not text:
        return ()
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            low, dash, high = part.partition("-")
            seeds += list(range(int(low), int(high) + 1)) if dash else [int(part)]
    except ValueError:
        raise SettingError(f"--seeds takes S,S,… or A-B, got {text!r}") from None
    if not seeds:
        raise SettingError(f"--seeds takes S,S,… or A-B, got {text!r}")
    return tuple(seeds)


def spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`inverter.evaluation.EvaluationSpec` of the arguments."""
    from ..evaluation import ALL_LAYERS, EvaluationSpec

    if not args.folder:
        raise SettingError("no image folder given: inverter evaluate FOLDER -r R[,R…] --out DIR")
    if not args.representation:
        raise SettingError("no representation given: use -r NAME[,NAME…] (see inverter list)")
    names = tuple(n.strip() for n in args.representation.split(",") if n.strip())
    layers: str | tuple[str, ...] | None = None
    if args.layers:
        listed = tuple(n.strip() for n in args.layers.split(",") if n.strip())
        layers = ALL_LAYERS if listed == (ALL_LAYERS,) else listed
    config = InversionConfig().replace(**given_settings(args, InversionConfig(), exclude=_EXCLUDED))
    return EvaluationSpec(args.folder, names, layers, parse_seeds(args.seeds), args.limit, config, args.weights,
                          tuple(args.plugin))  # fmt: skip


def main(argv: Sequence[str] | None = None, document: Document | None = None, prog: str = "inverter evaluate") -> int:
    """Run the command; returns the exit status (``document`` is unused: evaluations take no ``--config``)."""
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    return run_reporting_errors(lambda: _run(args), args.debug)


def _percent(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.2f}%"


def _print_summary(summary: dict[str, Any], paths: dict[str, Any]) -> None:
    for g in summary["representations"]:
        ijcv, cvpr = g["ijcv_error"], g["cvpr_error"]
        print(f"  {g['representation']}: {g['done']}/{g['tasks']} done, IJCV error {_percent(ijcv['mean'])} "
              f"± {_percent(ijcv['std'])}, CVPR error {_percent(cvpr['mean'])} ± {_percent(cvpr['std'])}")  # fmt: skip
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..evaluation import choose_backend, evaluation_updates, write_report
    from ..evaluation.runner import Progress

    if args.report_only:
        paths = write_report(args.out)
        _print_summary(json.loads(paths["summary_json"].read_text(encoding="utf-8")), paths)
        return 0
    spec = spec_from_args(args)
    backend = choose_backend(args.workers, args.ray, args.ray_address, args.cpus_per_task, args.gpus_per_task)
    last: Progress | None = None
    bar = None
    updates = evaluation_updates(spec, args.out, backend)
    try:
        for last in updates:
            if bar is None:
                bar = tqdm(total=last.total, initial=last.done, unit="task", disable=args.quiet, file=sys.stderr,
                           desc=f"evaluate ({backend.name})", dynamic_ncols=True)  # fmt: skip
            bar.update(last.done + last.failed - bar.n)
            bar.set_postfix_str(f"mean IJCV error {_percent(last.mean_error)}, failed {last.failed}", refresh=False)
    except KeyboardInterrupt:
        done = f"{last.done} of {last.total} tasks are" if last else "the finished tasks are"
        print(f"\ninterrupted: {done} saved in {args.out}; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        updates.close()  # stops the workers of an interrupted run
        if bar is not None:
            bar.close()
    assert last is not None and last.finished
    reused = f" ({last.reused} from an earlier run)" if last.reused else ""
    print(f"{last.done} of {last.total} tasks done{reused}, {last.failed} failed, {last.elapsed:.1f} s")
    _print_summary(last.summary, last.paths)
    if last.failed:
        for line in last.summary["failures"][:5]:
            print(f"warning: {line}", file=sys.stderr)
        print(f"error: {last.failed} of {last.total} tasks failed (see {last.paths['summary_md']}); "
              "run the same command again to retry them", file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    return 0
