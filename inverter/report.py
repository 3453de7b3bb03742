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

import hashlib
import json
import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .engine import InversionConfig, Settings, Snapshot
from .masks import CodeMask
from .metrics import compare

FORMAT = "inverter-report"
FORMAT_VERSION = 1
#: What the output image holds (the CLI writes the best restart only).
OUTPUT_CONTENT = "best restart (lowest relative error)"


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
            ValueError: a missing or malformed entry (the message names it).
        """
        if not isinstance(data, dict):
            raise ValueError("run specification must be a JSON object")
        for key in ("image", "representation"):
            if not isinstance(data.get(key), str):
                raise ValueError(f"run specification lacks a string {key!r}")
        weights = data.get("weights")
        if weights is not None and not isinstance(weights, str):
            raise ValueError("run specification's 'weights' must be a string or null")
        return cls(data["image"], data["representation"], weights, config_from_dict(data.get("config") or {}))


def config_to_dict(config: InversionConfig) -> dict[str, Any]:
    """An :class:`InversionConfig` as a JSON-ready dictionary (``None`` kept as null)."""
    data = {f.name: getattr(config, f.name) for f in fields(config)}
    data["image_size"] = list(config.image_size) if config.image_size is not None else None
    mask = config.mask
    data["mask"] = None if mask is None else {
        "channels": list(mask.channels) if mask.channels is not None else None,
        "neighbourhood": mask.neighbourhood,
    }
    return data


def config_from_dict(data: dict[str, Any]) -> InversionConfig:
    """Inverse of :func:`config_to_dict`; absent keys take :class:`InversionConfig`'s defaults.

    Raises:
        ValueError: an unknown key or a malformed mask/size.
    """
    if not isinstance(data, dict):
        raise ValueError("'config' must be a JSON object")
    known = {f.name for f in fields(InversionConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(unknown)}")
    values = dict(data)
    try:
        if values.get("image_size") is not None:
            values["image_size"] = tuple(int(s) for s in values["image_size"])
        if values.get("mask") is not None:
            mask = values["mask"]
            channels = mask.get("channels")
            values["mask"] = CodeMask(
                channels=tuple(int(c) for c in channels) if channels is not None else None,
                neighbourhood=mask.get("neighbourhood"),
            )
    except (TypeError, AttributeError) as err:
        raise ValueError(f"malformed image_size or mask in config: {err}") from None
    return InversionConfig(**values)


def pinned_config(settings: Settings, device: str | None = None) -> InversionConfig:
    """The config that resolves to ``settings`` again, independent of presets.

    Args:
        settings: resolved settings of a run.
        device: the device as *requested* (``None`` = automatic), so that a re-run on
            another machine need not have the same accelerator.
    """
    mask = settings.mask
    return InversionConfig(
        iterations=settings.iterations,
        restarts=settings.restarts,
        seed=settings.seed,
        data_weight=settings.data_weight,
        lambda_tv=settings.lambda_tv,
        tv_beta=settings.tv_beta,
        lambda_alpha=settings.lambda_alpha,
        alpha=settings.alpha,
        learning_rate=settings.learning_rate,
        momentum=settings.momentum,
        jitter=settings.jitter,
        clip=settings.clip or 0.0,
        init=settings.init,
        snapshot_every=settings.snapshot_every,
        image_size=tuple(settings.image_size),
        mask=None if mask is None else CodeMask(
            channels=tuple(mask["channels"]) if mask.get("channels") is not None else None,
            neighbourhood=mask.get("neighbourhood"),
        ),
        display=settings.display,
        device=device,
        precision=settings.precision,
    )


def load_run(path: str | Path) -> tuple[RunSpec, dict[str, Any]]:
    """Read a run from a report file, or from a bare ``run`` object.

    Returns:
        ``(run, the whole JSON object)``.

    Raises:
        ValueError: unreadable, not JSON, or no usable run in it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a JSON file (not UTF-8 text)") from None
    except OSError as err:
        raise ValueError(f"cannot read config file {path}: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not a JSON file ({err})") from None
    if isinstance(data, dict) and "run" in data:
        return RunSpec.from_dict(data["run"]), data
    return RunSpec.from_dict(data), data if isinstance(data, dict) else {}


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

    Returns:
        A dictionary; times in seconds, PSNR in dB, errors unitless.
    """
    metrics = [compare(image, final.reference) for image in final.images]
    best = final.best
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run": run.to_dict(),
        "settings": final.settings.to_dict(),
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
            "psnr_db": metrics[best].psnr,
            "ssim": metrics[best].ssim,
            "restarts": {
                "relative_error": final.relative_error.tolist(),
                "initial_relative_error": first.relative_error.tolist(),
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


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def to_json(report: dict[str, Any]) -> str:
    """Strict JSON text of ``report`` (non-finite floats → ``null``)."""
    return json.dumps(_finite(report), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write ``report`` as JSON to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(report), encoding="utf-8")
    return path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_origin(representation: str, weights: str | Path | None) -> str:
    """Where ``representation``'s weights come from, in words (reads the cached state dict).

    Raises:
        KeyError: unknown representation. inverter.hub.WeightsError: weights unavailable.
    """
    from . import hub
    from .representations import get_family, parse_name

    family = get_family(parse_name(representation)[0])
    if not family.needs_weights:
        return "none (no learned weights)"
    if weights == "random":
        return "random initialisation (torchvision's default init, seeded with the run's seed)"
    _, origin = hub.load_state_dict(family.name, weights)
    if weights is not None and not str(weights).startswith("hf://"):
        origin += f" (sha256 {file_sha256(origin)})"
    return origin
