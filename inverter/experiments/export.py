"""Re-run an experiment from its exported JSON (or a bare spec)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .result import JSON_FORMAT, ExperimentResult
from .runner import run_experiment
from .spec import ExperimentError, ExperimentSpec


def read_json(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], Path | None]:
    """The JSON object at ``source`` (a path) or ``source`` itself, and its folder.

    Raises:
        ExperimentError: missing file, invalid JSON, not an object.
    """
    if isinstance(source, Mapping):
        return dict(source), None
    path = Path(source).expanduser()
    if not path.is_file():
        raise ExperimentError(f"no such JSON file: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ExperimentError(f"{path.name} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ExperimentError(f"{path.name} must hold a JSON object")
    return data, path.resolve().parent


def is_experiment_json(data: Mapping[str, Any]) -> bool:
    """True for an exported experiment (``"format": "inverter-experiment"``) or a bare spec with a ``kind``."""
    return data.get("format") == JSON_FORMAT or ("kind" in data and "representation" in data)


def spec_from_json(source: str | Path | Mapping[str, Any]) -> ExperimentSpec:
    """The :class:`ExperimentSpec` in an exported JSON file/dict, or a bare spec dict.

    A relative image path is made relative to the JSON file's folder.
    """
    data, folder = read_json(source)
    if data.get("format") not in (None, JSON_FORMAT):
        raise ExperimentError(f"not an experiment JSON (format {data.get('format')!r}); expected {JSON_FORMAT!r}")
    spec = ExperimentSpec.from_dict(data["spec"] if "spec" in data else data)
    image = spec.image
    if folder is not None and image and not image.startswith("example:") and not Path(image).is_absolute():
        spec = ExperimentSpec(**{**spec.__dict__, "image": str(folder / image)})
    return spec


def run_from_json(source: str | Path | Mapping[str, Any]) -> ExperimentResult:
    """Repeat the experiment described by an exported JSON (path or dict), to the end.

    With the same seed, weights and device the panels and errors are the same as the
    original run's.
    """
    return run_experiment(spec_from_json(source))
