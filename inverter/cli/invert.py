"""``inverter invert IMAGE -r NAME[:LAYER] [options]`` (also ``python -m inverter IMAGE …``).

Writes the best restart's pre-image (the one with the lowest relative error; for activation
maximisation and caricatures, the highest score) as an image file, and optionally a JSON
report (:mod:`inverter.report`) from which ``inverter --config REPORT.json`` re-runs the
same inversion (relative paths in the file are relative to its folder). Options given next
to ``--config`` override the file's values. Every failure the user can cause ends with one
``error: ...`` line on stderr and exit status 1 (2 for malformed arguments); ``--debug``
shows the traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..documents import Document, read_document
from ..errors import SettingError
from ..settings import InversionConfig
from .errors import run_reporting_errors
from .options import add_setting_options, given_settings
from .parser import Parser

#: What the score of activation maximisation and of a caricature is (see inverter.objectives.DataTerm).
SCORES = {"activation": "⟨Φ(x), e⟩/Z, × the photographs' largest; higher is better",
          "caricature": "⟨Φ(x), Φ0⁺⟩/‖Φ0⁺‖², 1 = the image; higher is better"}


def build_parser(prog: str = "inverter invert") -> argparse.ArgumentParser:
    """The argument parser (every setting defaults to ``None`` = "the preset / the config file")."""
    p = Parser(
        prog=prog,
        description="Reconstruct an image from its representation (Mahendran & Vedaldi, CVPR 2015 / IJCV 2016).",
        epilog="Example: inverter invert photo.jpg -r squeezenet1_1:fire5 --iterations 200 --output out.png "
        "--report out.json; experiments (grids of runs): inverter experiment KIND --help; inverter list",
    )
    p.add_argument("image", nargs="?", help="input image file (PNG, JPEG, ...)")
    p.add_argument("-r", "--representation", metavar="NAME[:LAYER]", help="e.g. alexnet:conv3, hog (see inverter list)")
    p.add_argument("--list", action="store_true", help="list the representations and their layers, then exit")
    p.add_argument("--config", metavar="FILE.json", help="re-run the inversion of a JSON report (other options override it)")
    p.add_argument("-o", "--output", metavar="OUT.png", help="pre-image file (default: IMAGE-STEM.NAME-LAYER.png here)")
    p.add_argument("--report", metavar="OUT.json", help="write a JSON report of settings and results")
    p.add_argument("--weights", metavar="FILE|hf://ORG/REPO/FILE|random",
                   help="weights: a local .safetensors file, a Hub file, or 'random' (default: the family's)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    add_setting_options(p)
    return p


def main(argv: Sequence[str] | None = None, document: Document | None = None, prog: str = "inverter invert") -> int:
    """Run the command; returns the exit status (``document``: the ``--config`` file, already read)."""
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.list:
        from .listing import list_text

        print(list_text())
        return 0
    return run_reporting_errors(lambda: _run(args, document), args.debug)


def run_spec(args: argparse.Namespace, document: Document | None = None) -> tuple[Any, dict[str, Any], set[str]]:
    """The run to do: the config file's (if any) with the command line's options over it.

    Returns ``(RunSpec, the config file's JSON or {}, names of the overridden settings)``.
    """
    from ..report import RunSpec

    if args.config:
        document = document or read_document(args.config)
        if document.kind != "report":
            raise SettingError(f"{args.config} is an experiment: run it with inverter experiment --config FILE")
        base = RunSpec.from_dict(document.body)
        base = RunSpec(document.path(base.image), base.representation, document.path(base.weights), base.config)
        data = document.data
    else:
        if not args.image:
            raise SettingError("no input image given (inverter invert IMAGE -r NAME[:LAYER], or --config FILE.json)")
        if not args.representation:
            raise SettingError("no representation given: use --representation NAME[:LAYER] (see inverter list)")
        base, data = RunSpec(args.image, args.representation, None, InversionConfig()), {}
    changes = given_settings(args, base.config)
    run = RunSpec(
        image=args.image or base.image,
        representation=args.representation or base.representation,
        weights=args.weights if args.weights is not None else base.weights,
        config=base.config.replace(**changes),
    )
    overridden = set(changes) | {n for n in ("image", "representation", "weights") if getattr(args, n) is not None}
    return run, data, overridden


def _run(args: argparse.Namespace, document: Document | None) -> int:
    from skimage import io
    from tqdm import tqdm

    from ..documents import absolute
    from ..engine import invert
    from ..images import load_image
    from ..report import RunSpec, build_report, snapshot_record, write_report
    from ..representations import get_family, load_representation, parse_name
    from ..representations.registry import resolve_weights
    from ..settings import pinned_config, resolve_settings, settings_differ
    from ..weights import describe, file_sha256, weights_text

    start = time.perf_counter()
    run, data, overridden = run_spec(args, document)
    family = get_family(parse_name(run.representation)[0])
    chosen = resolve_weights(family, run.weights)  # a bad weights argument fails before any work

    image = load_image(run.image)  # before the network: a bad image fails fast
    image_path = str(Path(run.image).expanduser().resolve())
    sha = file_sha256(image_path)
    recorded_sha = (data.get("input") or {}).get("sha256") if "image" not in overridden else None
    if recorded_sha and recorded_sha != sha:
        print(f"warning: {image_path} is not the file the config was made with (sha256 differs)", file=sys.stderr)

    # The run's seed seeds a random init too, so that --weights random is reproducible.
    representation = load_representation(run.representation, weights=chosen.spec, device=run.config.device,
                                          seed=run.config.seed)  # fmt: skip
    settings = resolve_settings(representation, run.config)
    if data.get("settings") and "representation" not in overridden:
        differ = settings_differ(data["settings"], settings, overridden)
        if differ:
            print(f"warning: settings differ from the config file's: {', '.join(differ)}", file=sys.stderr)
    weights = absolute(weights_text(chosen.spec)) if family.needs_weights else None
    pinned = RunSpec(image_path, representation.name, weights, pinned_config(settings, run.config.device))
    # the preset the run started from: a re-run of a report's config keeps the label it recorded
    # (its pinned config names the method, whose own preset the label would otherwise be)
    recorded = (data.get("settings") or {}).get("preset")
    started_from = recorded if recorded and not overridden & {"representation", "method"} else settings.preset

    output = Path(args.output) if args.output else Path(f"{Path(run.image).stem}.{representation.name.replace(':', '-')}.png")
    history, first, final = [], None, None
    invert_run = settings.objective == "invert"
    bar = tqdm(desc=representation.name, unit="step", disable=args.quiet, file=sys.stderr)
    with bar:
        for shot in invert(representation, image, pinned.config):
            first = shot if first is None else first
            bar.total = shot.total_steps
            final = shot
            history.append(snapshot_record(shot))
            bar.update(shot.step - bar.n)
            shown = ({"rel_err": f"{shot.relative_error.min():.4f}"} if invert_run
                     else {"score": f"{shot.score.max():.4g}"})  # fmt: skip
            bar.set_postfix(loss=f"{shot.loss.min():.4g}", **shown)
    assert first is not None and final is not None and final.done

    output.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(str(output), final.image, check_contrast=False)
    report = build_report(
        pinned, first, final, output=output.resolve(), weights_origin=describe(chosen),
        history=history, total_time=time.perf_counter() - start, input_sha256=sha, preset=started_from,
    )  # fmt: skip
    result = report["result"]
    psnr = f"{result['psnr_db']:.2f} dB" if result["psnr_db"] != float("inf") else "inf"
    best = result["best_restart"]
    if invert_run:
        figure = (f"relative error {result['initial_relative_error']:.4f} → {result['relative_error']:.4f}, "
                  f"PSNR {psnr}, SSIM {result['ssim']:.3f}")  # fmt: skip
    else:  # the objective's own score (Snapshot.score), higher is better
        figure = (f"{settings.objective} score {first.score[best]:.4g} → {result['score']:.4g} "
                  f"({SCORES[settings.objective]})")  # fmt: skip
        if settings.objective == "caricature":
            figure += f", PSNR {psnr}, SSIM {result['ssim']:.3f}"
    summary = f"wrote {output} (best of {len(final.relative_error)} restart(s): {figure}, {final.elapsed:.1f} s)"
    if args.report:
        summary += f"; report {write_report(report, args.report)}"
    print(summary)
    return 0
