"""The JSON documents the package writes and reads back, and the paths inside them.

Two documents, told apart by their ``"format"`` field:

* ``"inverter-report"``: one inversion (:mod:`inverter.report`); its ``run`` re-runs it;
* ``"inverter-experiment"``: one experiment (:mod:`inverter.experiments`); its ``spec`` repeats it.

A bare run (``{"image", "representation", "config", ...}``) or a bare experiment spec
(``{"kind", "representation", ...}``) is read too. Paths inside a document are relative to
the document's folder (:meth:`Document.path`); documents are written as strict JSON
(non-finite numbers become ``null``).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InverterError

REPORT_FORMAT = "inverter-report"
EXPERIMENT_FORMAT = "inverter-experiment"
#: Values of path fields that are names, not paths (example images, Hub files, arrays, random weights).
_NOT_PATHS = ("example:", "hf://", "<array>", "random")


class DocumentError(InverterError, ValueError):
    """A file that is not a readable document of this package; the message says why."""


@dataclass(frozen=True)
class Document:
    """A document as read.

    Attributes:
        kind: ``"report"`` or ``"experiment"``.
        body: what re-runs it: the report's ``run`` or the experiment's ``spec`` (or the bare object).
        data: the whole JSON object.
        folder: the file's folder (``None`` for a document given as a dict).
    """

    kind: str
    body: dict[str, Any]
    data: dict[str, Any]
    folder: Path | None

    def path(self, value: str | None) -> str | None:
        """A path field of the document made absolute against its folder (names are left alone)."""
        if not value or value.startswith(_NOT_PATHS):
            return value
        path = Path(value).expanduser()
        if not path.is_absolute() and self.folder is not None:
            path = self.folder / path
        return str(path.resolve()) if self.folder is not None else str(path)


def kind_of(data: Mapping[str, Any]) -> str:
    """``"report"`` or ``"experiment"`` for a document's JSON object.

    Raises:
        DocumentError: neither format, nor a bare run or spec.
    """
    fmt = data.get("format")
    if fmt == EXPERIMENT_FORMAT or (fmt is None and "kind" in data and "representation" in data):
        return "experiment"
    if fmt == REPORT_FORMAT or (fmt is None and ("run" in data or "image" in data)):
        return "report"
    expected = f"{REPORT_FORMAT!r} or {EXPERIMENT_FORMAT!r}"
    raise DocumentError(f"not an inverter document (format {fmt!r}; expected {expected}, or a bare run or spec)")


def read_document(source: str | Path | Mapping[str, Any]) -> Document:
    """Read a document from a file (or take a dict as one).

    Raises:
        DocumentError: missing, unreadable, not JSON, not an object, or of another format.
    """
    folder = None
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        path = Path(source).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DocumentError(f"{path} is not a JSON file (not UTF-8 text)") from None
        except OSError as err:
            raise DocumentError(f"cannot read config file {path}: {err.strerror or err}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DocumentError(f"{path} is not a JSON file (not valid JSON: {err})") from None
        if not isinstance(data, dict):
            raise DocumentError(f"{path.name} must hold a JSON object")
        folder = path.resolve().parent
    kind = kind_of(data)
    key = "run" if kind == "report" else "spec"
    body = data[key] if key in data else data
    if not isinstance(body, dict):
        raise DocumentError(f"the document's {key!r} must be a JSON object")
    return Document(kind, body, data, folder)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def to_json(data: Mapping[str, Any]) -> str:
    """Strict JSON text of ``data`` (non-finite floats → ``null``, numpy scalars → numbers)."""
    return json.dumps(_finite(data), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_document(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``data`` as strict JSON to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(data), encoding="utf-8")
    return path


def absolute(value: str | None) -> str | None:
    """A path field as an absolute path (names are left alone), for documents that may move."""
    if not value or value.startswith(_NOT_PATHS):
        return value
    return str(Path(value).expanduser().resolve())
