"""An evaluation's output folder: every task's result, written atomically as it finishes.

Layout of ``DIR``::

    evaluation.json            the spec and the task list of the latest run (the manifest)
    tasks/KEY.json             a task's record: the task, its status, metrics or error
    tasks/KEY.png              its reconstruction (best restart, display mapping)
    tasks/KEY.npz              target = Φ(x0) (float32, the code's shape), pixels = the
                               pre-image [C, H, W] (float32 pixel units), reference = the
                               input as Φ saw it [H, W, 3] uint8
    results.csv, summary.md, summary.json, error_vs_layer.png/.svg, reconstructions.png
                               the report (:mod:`inverter.evaluation.report`), rewritten at the end

Every file is written to a temporary name, flushed to disk and renamed over the final
one, the record last: a task is finished when its record says ``"done"`` and its PNG and
NPZ exist, so a process killed at any moment leaves either a finished task or one that
the next run redoes. Temporary files left by a killed process are removed at the next start.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..documents import DocumentError, to_json
from ..errors import InverterError
from .tasks import EvaluationSpec, Plan, Task
from .worker import TaskResult

#: The manifest's and the records' ``format`` fields.
EVALUATION_FORMAT = "inverter-evaluation"
TASK_FORMAT = "inverter-evaluation-task"
FORMAT_VERSION = 1
MANIFEST = "evaluation.json"
TASKS = "tasks"


class StoreError(InverterError, ValueError):
    """An output folder that does not hold an evaluation (or a damaged manifest)."""


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write ``path`` by ``write(file)`` into a temporary file renamed over it once on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_json(data: dict[str, Any], path: Path) -> Path:
    """Strict JSON (:func:`inverter.documents.to_json`), atomically."""
    text = to_json(data).encode("utf-8")
    return atomic_write(path, lambda f: f.write(text))


def write_text(text: str, path: Path) -> Path:
    """UTF-8 text, atomically."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def write_png(image: np.ndarray, path: Path) -> Path:
    """``[H, W, 3]`` uint8 as PNG, atomically."""
    from PIL import Image

    return atomic_write(path, lambda f: Image.fromarray(np.ascontiguousarray(image)).save(f, format="PNG"))


class ResultStore:
    """The results under ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        self.tasks = self.root / TASKS

    def path(self, key: str, suffix: str) -> Path:
        """``tasks/KEY.SUFFIX`` (``json``, ``png`` or ``npz``)."""
        return self.tasks / f"{key}.{suffix}"

    def remove_temporaries(self) -> int:
        """Delete the temporary files of interrupted writes; returns how many."""
        count = 0
        for folder in (self.root, self.tasks):
            if folder.is_dir():
                for stale in folder.glob(".*.tmp"):
                    stale.unlink(missing_ok=True)
                    count += 1
        return count

    # ---------------------------------------------------------------- the manifest
    def write_manifest(self, plan: Plan) -> Path:
        """Write the spec and the task list of ``plan`` as ``evaluation.json``."""
        return write_json({
            "format": EVALUATION_FORMAT, "format_version": FORMAT_VERSION, "spec": plan.spec.to_dict(),
            "tasks": [t.to_dict() for t in plan.tasks], "duplicates": [list(d) for d in plan.duplicates],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }, self.root / MANIFEST)  # fmt: skip

    def read_manifest(self) -> Plan:
        """The plan of the latest run in this folder.

        Raises:
            StoreError: no readable ``evaluation.json`` here.
        """
        path = self.root / MANIFEST
        if not path.is_file():
            raise StoreError(f"{self.root} holds no evaluation (no {MANIFEST})")
        try:
            data = read_document_data(path)
        except DocumentError as err:
            raise StoreError(str(err)) from None
        if data.get("format") != EVALUATION_FORMAT:
            raise StoreError(f"{path} is not an evaluation manifest (format {data.get('format')!r})")
        return Plan(EvaluationSpec.from_dict(data["spec"]), tuple(Task.from_dict(t) for t in data["tasks"]),
                    tuple(tuple(d) for d in data.get("duplicates", ())))  # fmt: skip

    # ---------------------------------------------------------------- the tasks
    def save(self, task: Task, result: TaskResult) -> dict[str, Any]:
        """Write ``result`` of ``task``: its arrays and PNG first, its record last; returns the record."""
        files = {}
        if result.ok:
            arrays = {"target": result.target, "pixels": result.pixels, "reference": result.reference}
            atomic_write(self.path(task.key, "npz"), lambda f: np.savez_compressed(f, **arrays))
            write_png(result.reconstruction, self.path(task.key, "png"))
            files = {"reconstruction": f"{TASKS}/{task.key}.png", "arrays": f"{TASKS}/{task.key}.npz"}
        record = {
            "format": TASK_FORMAT, "format_version": FORMAT_VERSION, "key": task.key,
            "status": "done" if result.ok else "failed", "task": task.to_dict(), "result": result.metrics,
            "error": result.error, "traceback": result.traceback, "worker": result.worker, "files": files,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }  # fmt: skip
        write_json(record, self.path(task.key, "json"))
        return record

    def record(self, key: str) -> dict[str, Any] | None:
        """The task's record, or ``None`` when there is none (or it cannot be read)."""
        path = self.path(key, "json")
        if not path.is_file():
            return None
        try:
            data = read_document_data(path)
        except DocumentError:
            return None
        return data if data.get("format") == TASK_FORMAT and data.get("key") == key else None

    def finished(self, key: str) -> dict[str, Any] | None:
        """The record of a finished task (status done, PNG and NPZ present), else ``None``."""
        record = self.record(key)
        if record is None or record.get("status") != "done":
            return None
        if not (self.path(key, "png").is_file() and self.path(key, "npz").is_file()):
            return None
        return record

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The task's ``target``, ``pixels`` and ``reference`` arrays."""
        with np.load(self.path(key, "npz")) as data:
            return {name: data[name] for name in data.files}

    def target(self, key: str) -> np.ndarray:
        """Φ(x0) of the task's image, float32."""
        with np.load(self.path(key, "npz")) as data:
            return data["target"]

    def reconstruction(self, key: str) -> np.ndarray:
        """The task's reconstruction, ``[H, W, 3]`` uint8."""
        from PIL import Image

        with Image.open(self.path(key, "png")) as image:
            return np.asarray(image.convert("RGB"))


def read_document_data(path: Path) -> dict[str, Any]:
    """The JSON object of a file (:class:`DocumentError` if it is not one)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DocumentError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise DocumentError(f"{path} does not hold a JSON object")
    return data
