"""Run an evaluation: plan it, skip what the output folder already holds, run the rest on a
backend, write each result as it comes, and the report at the end."""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..plugins import load_plugins, plugin_names
from .backends import Backend, InProcess
from .report import write_report
from .store import ResultStore
from .tasks import EvaluationSpec, Plan, load_network, plan_tasks
from .worker import NETWORKS


@dataclass
class Progress:
    """Where an evaluation stands.

    Attributes:
        plan: the evaluation's tasks.
        done: tasks finished (``reused`` of them from an earlier run). failed: tasks that failed in this run.
        mean_error: the running mean IJCV error of the finished tasks (unitless; NaN before any).
        elapsed: seconds since the evaluation started.
        last: the record just written (``None`` for the first and the last update).
        finished: True on the last update, once the report is written.
        paths: the report's files by role (:data:`~inverter.evaluation.report.REPORT_FILES`), on the last update.
    """

    plan: Plan
    done: int
    failed: int
    reused: int
    mean_error: float
    elapsed: float
    last: dict[str, Any] | None = None
    finished: bool = False
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Tasks in the evaluation."""
        return len(self.plan.tasks)

    @property
    def summary(self) -> dict[str, Any]:
        """The summary's JSON (on the last update)."""
        return json.loads(self.paths["summary_json"].read_text(encoding="utf-8"))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def evaluation_updates(spec: EvaluationSpec, out: str | Path, backend: Backend | None = None) -> Iterator[Progress]:
    """Run ``spec`` into the folder ``out`` and yield a :class:`Progress` after every task.

    Tasks the folder already holds finished (same image content, settings, network and
    seed) are not run again; failed and half-written ones are. Each result is written the
    moment it arrives, so stopping (closing this generator, Ctrl-C, a killed process)
    loses only the tasks in flight; running again resumes.

    Args:
        spec: the evaluation.
        out: the output folder (created).
        backend: where tasks run (default :class:`~inverter.evaluation.backends.InProcess`).

    Yields:
        a first update before any task runs, one per finished task, and a last one with
        ``finished=True`` and the report's paths.

    Raises:
        inverter.errors.InverterError: before any task runs, for an unknown name or layer,
            a bad setting, weights that cannot be had, no images (an unreadable image is
            a failed task instead); BackendError when a backend cannot go on.
    """
    start = time.perf_counter()
    backend = backend or InProcess()
    plugins = plugin_names(spec.plugins)
    load_plugins(plugins)
    plan = plan_tasks(spec, NETWORKS if isinstance(backend, InProcess) else load_network)
    store = ResultStore(out)
    store.remove_temporaries()
    store.write_manifest(plan)
    errors: dict[str, float] = {}
    todo = []
    for task in plan.tasks:
        record = store.finished(task.key)
        if record is None:
            todo.append(task)
        else:
            errors[task.key] = record["result"]["ijcv_error"]
    reused, failed = len(errors), 0

    def progress(**changes: Any) -> Progress:
        return Progress(plan, len(errors), failed, reused, _mean(list(errors.values())),
                        time.perf_counter() - start, **changes)  # fmt: skip

    yield progress()
    records = backend.run(todo, store, plugins)
    try:
        for record in records:
            if record["status"] == "done":
                errors[record["key"]] = record["result"]["ijcv_error"]
            else:
                failed += 1
            yield progress(last=record)
    finally:
        records.close()
    # Every writer has finished now: a worker killed mid-write (SIGKILL, out of memory)
    # left its temporary file behind, and its task was run again by another worker.
    store.remove_temporaries()
    paths = write_report(out, plan)
    yield progress(finished=True, paths=paths)


def evaluate(spec: EvaluationSpec, out: str | Path, backend: Backend | None = None,
             progress: Callable[[Progress], None] | None = None) -> Progress:  # fmt: skip
    """Run :func:`evaluation_updates` to the end; returns the last update (its ``paths`` and ``summary``).

    Args:
        progress: called with every update.
    """
    last = None
    for last in evaluation_updates(spec, out, backend):
        if progress is not None:
            progress(last)
    assert last is not None and last.finished
    return last

