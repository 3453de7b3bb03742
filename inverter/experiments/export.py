"""Re-run an experiment from its exported JSON (or a bare spec)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..documents import EXPERIMENT_FORMAT, Document, DocumentError, kind_of, read_document
from ..errors import ExperimentError
from .result import ExperimentResult
from .runner import run_experiment
from .spec import ExperimentSpec


def is_experiment_json(data: Mapping[str, Any]) -> bool:
    """True for an exported experiment (``"format": "inverter-experiment"``) or a bare spec with a ``kind``."""
    try:
        return kind_of(data) == "experiment"
    except DocumentError:
        return False


def spec_from_json(source: str | Path | Mapping[str, Any] | Document) -> ExperimentSpec:
    """The :class:`ExperimentSpec` in an exported JSON file/dict, or a bare spec dict.

    A relative image or weights path is made relative to the JSON file's folder.

    Raises:
        inverter.documents.DocumentError: not a readable experiment document.
        ExperimentError: a malformed spec.
    """
    document = source if isinstance(source, Document) else read_document(source)
    if document.kind != "experiment":
        raise ExperimentError(f"not an experiment JSON (format {document.data.get('format')!r}); "
                              f"expected {EXPERIMENT_FORMAT!r}")  # fmt: skip
    spec = ExperimentSpec.from_dict(document.body)
    return ExperimentSpec(**{**spec.__dict__, "image": document.path(spec.image),
                             "weights": document.path(spec.weights)})  # fmt: skip


def run_from_json(source: str | Path | Mapping[str, Any]) -> ExperimentResult:
    """Repeat the experiment described by an exported JSON (path or dict), to the end.

    With the same seed, weights and device the panels and errors are the same as the
    original run's.
    """
    return run_experiment(spec_from_json(source))
