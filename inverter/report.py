"""JSON reports of an inversion, and the run specification that re-runs one.

A report is a plain JSON object (see :func:`build_report`)::

    {"format": "inverter-report", "format_version": 1,
     "run":      {"image", "representation", "weights", "config"},   # enough to re-run
     "settings": Settings.to_dict(),                                   # as resolved
     "weights_origin", "input", "output", "result", "history", "versions", "created"}

``run.config`` pins every hyper-parameter to its *resolved* value (not "the preset"),
so :func:`load_run` + :func:`inverter.engine.invert` reproduce the run for its seed even
if the presets change later. Non-finite numbers (the PSNR of a perfect reconstruction)
are written as ``null``.
"""
from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import weights as weights_module
from .documents import REPORT_FORMAT as FORMAT
from .documents import DocumentError, read_document, to_json, write_document
from .engine import Snapshot
from .errors import SettingError
from .metrics import compare
from .settings import InversionConfig, config_from_dict, config_to_dict, pinned_config
from .weights import describe, file_sha256

__all__ = [
    "FORMAT", "RunSpec", "build_report", "config_from_dict", "config_to_dict", "file_sha256", "load_run",
    "pinned_config", "snapshot_record", "to_json", "versions", "weights_origin", "write_report",
]
write_report = write_document

FORMAT_VERSION = 1
#: What the output image holds (the CLI writes the best restart only).
OUTPUT_CONTENT = "best restart (lowest relative error; the highest score for activation maximisation and caricatures)"


@dataclass(frozen=True)
class RunSpec:
    """Everything one inversion needs: the input, Φ, its weights and the settings.

    Attributes:
        image: path of the input image file.
        representation: registry name, ``"family"`` or ``"family:layer"``.
        weights: ``None`` (the family's default source), a local ``.safetensors`` path,
            ``"hf://ORG/REPO/FILE.safetensors"`` or ``"random"``.
        config: the inversion settings.
    """

    image: str
    representation: str
    weights: str | None
    config: InversionConfig

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "image": self.image,
            "representation": self.representation,
            "weights": self.weights,
            "config": config_to_dict(self.config),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        """Inverse of :meth:`to_dict`.

        Raises:
            SettingError: a missing or malformed entry (the message names it).
        """
        if not isinstance(data, dict):
            raise SettingError("run specification must be a JSON object")
        for key in ("image", "representation"):
            if not isinstance(data.get(key), str):
                raise SettingError(f"run specification lacks a string {key!r}")
        weights = data.get("weights")
        if weights is not None and not isinstance(weights, str):
            raise SettingError("run specification's 'weights' must be a string or null")
        return cls(data["image"], data["representation"], weights, config_from_dict(data.get("config") or {}))


def load_run(path: str | Path) -> tuple[RunSpec, dict[str, Any]]:
    """Read a run from a report file, or from a bare ``run`` object (paths as written).

    Returns:
        ``(run, the whole JSON object)``.

    Raises:
        inverter.documents.DocumentError: unreadable, not JSON, or not a report.
        inverter.errors.SettingError: a malformed ``config``.
    """
    document = read_document(path)
    if document.kind != "report":
        raise DocumentError(f"{path} is an experiment, not the report of an inversion")
    return RunSpec.from_dict(document.body), document.data


def snapshot_record(shot: Snapshot) -> dict[str, Any]:
    """A compact history entry: step, rate and the per-restart errors and objective."""
    return {
        "step": shot.step,
        "learning_rate": shot.learning_rate,
        "relative_error": shot.relative_error.tolist(),
        "loss": shot.loss.tolist(),
    }


def build_report(
    run: RunSpec,
    first: Snapshot,
    final: Snapshot,
    *,
    output: str | Path | None,
    weights_origin: str,
    history: Sequence[dict[str, Any]] = (),
    total_time: float | None = None,
    input_sha256: str | None = None,
    preset: str | None = None,
) -> dict[str, Any]:
    """The JSON report of a finished inversion.

    Args:
        run: what was run (its config should be :func:`pinned_config`).
        first: the step-0 snapshot (initial noise); final: the ``done`` snapshot.
        output: path the image was written to (``None`` if not written).
        weights_origin: where Φ's weights came from, in words.
        history: :func:`snapshot_record` entries.
        total_time: seconds including loading, if measured.
        input_sha256: hash of the input file.
        preset: the name of the preset the run started from, where ``final.settings`` cannot tell
            it: a run made from a pinned config names its method, so it resolves to that method's
            preset, not to the layer's default the settings came from (``"default: …"``).

    Returns:
        A dictionary; times in seconds, PSNR in dB, errors unitless.
    """
    metrics = [compare(image, final.reference) for image in final.images]
    best = final.best
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run": run.to_dict(),
        "settings": final.settings.to_dict() | ({"preset": preset} if preset is not None else {}),
        "weights_origin": weights_origin,
        "input": {"image": run.image, "sha256": input_sha256},
        "output": {"image": str(output) if output is not None else None, "content": OUTPUT_CONTENT},
        "result": {
            "steps": final.step,
            "wall_time_s": final.elapsed,
            "total_time_s": total_time,
            "best_restart": best,
            "relative_error": float(final.relative_error[best]),
            "initial_relative_error": float(first.relative_error[best]),
            "score": float(final.score[best]),
            "psnr_db": metrics[best].psnr,
            "ssim": metrics[best].ssim,
            "restarts": {
                "relative_error": final.relative_error.tolist(),
                "initial_relative_error": first.relative_error.tolist(),
                "score": final.score.tolist(),
                "loss": final.loss.tolist(),
                "data_loss": final.data_loss.tolist(),
                "alpha_loss": final.alpha_loss.tolist(),
                "tv_loss": final.tv_loss.tolist(),
                "psnr_db": [m.psnr for m in metrics],
                "ssim": [m.ssim for m in metrics],
            },
        },
        "history": list(history),
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def versions() -> dict[str, str]:
    """Versions of inverter, Python and the numerical libraries."""
    import skimage
    import torch
    import torchvision

    from . import __version__

    return {
        "inverter": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scikit-image": skimage.__version__,
        "python": platform.python_version(),
    }


def weights_origin(representation: str, weights: str | Path | None) -> str:
    """Where ``representation``'s weights come from, in words (never loads them).

    Raises:
        inverter.errors.UnknownNameError: unknown representation.
    """
    from .representations import get_family, parse_name
    from .representations.registry import resolve_weights

    family = get_family(parse_name(representation)[0])
    return describe(resolve_weights(family, weights)) if family.needs_weights else describe(weights_module.FamilyDefault())
