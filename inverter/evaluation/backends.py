"""Where an evaluation's tasks run: this process, local worker processes, or a Ray cluster.

Every backend takes the tasks still to do and the output folder's
:class:`~inverter.evaluation.store.ResultStore`, runs each task with the same
:func:`~inverter.evaluation.worker.run_task` — so the same task gives the same numbers
wherever it runs (CPU float32; the thread count can change the last bits of a
convolution's sums) — saves its result the moment it is done, and yields its record, in
the order the tasks finish.

* :class:`InProcess` (the default): one task after another in this process, on its device.
* :class:`LocalProcesses`: N worker processes (``concurrent.futures`` with fresh
  interpreters), each with its own torch threads. Each worker saves its own results
  (same machine, same folder) and sends back only the task's key: a message that small
  is written to the pipe in one piece, so a worker killed at any moment never leaves half
  a message for the pool to wait on for ever.
* :class:`RayCluster`: one Ray task per CPU slot or GPU (``pip install inverter[ray]``); the
  images travel through Ray's object store, the results come back to this process, which
  saves them.

Closing a backend's generator (Ctrl-C, or a caller that stops) stops its workers: only
the tasks in flight are lost.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import InverterError, first_line
from .store import ResultStore
from .tasks import Task
from .worker import TaskResult, prepare_worker, run_remote, run_task

#: What a backend yields per task: its record as saved (:meth:`ResultStore.save`).
Record = dict[str, Any]


class BackendError(InverterError, RuntimeError):
    """A backend that cannot run (Ray missing, a worker process gone); the message says what to do."""


@dataclass(frozen=True)
class InProcess:
    """Run the tasks here, one after another.

    Attributes:
        threads: torch CPU threads while the tasks run (``None``: as they are).
    """

    threads: int | None = None
    name: str = "in-process"

    def run(self, tasks: Sequence[Task], store: ResultStore, plugins: tuple[str, ...] = ()) -> Iterator[Record]:
        """Run and save each task; yield its record."""
        before = torch.get_num_threads()
        prepare_worker(plugins, self.threads)
        try:
            for task in tasks:
                yield store.save(task, run_task(task))
        finally:
            torch.set_num_threads(before)


@dataclass(frozen=True)
class LocalProcesses:
    """Run the tasks in ``workers`` local processes (fresh interpreters: ``spawn``).

    A worker process that dies (killed, out of memory) takes down the pool with the tasks
    in flight; a new pool then runs those and the rest, up to ``pool_restarts`` times.

    Attributes:
        workers: how many processes. threads: torch CPU threads in each (default: the
            machine's cores shared out, at least 1). pool_restarts: new pools after a worker died.
    """

    workers: int = 2
    threads: int | None = None
    pool_restarts: int = 2
    name: str = "local processes"

    def run(self, tasks: Sequence[Task], store: ResultStore, plugins: tuple[str, ...] = ()) -> Iterator[Record]:
        """Run and save each task in a worker; yield its record as the worker finishes it.

        Raises:
            BackendError: worker processes kept dying; what finished was yielded first.
        """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        if self.workers < 1:
            raise BackendError(f"workers must be ≥ 1, got {self.workers}")
        threads = self.threads or max(1, (os.cpu_count() or 1) // self.workers)
        remaining = {task.key: task for task in tasks}
        broken: BaseException | None = None
        for _ in range(self.pool_restarts + 1):
            if not remaining:
                return
            executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=prepare_worker, initargs=(plugins, threads, True))  # fmt: skip
            complete, broken = False, None
            try:
                futures = {executor.submit(run_and_save, task, str(store.root)): key for key, task in remaining.items()}
                for future in as_completed(futures):
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken = future.exception()  # the task was in flight, or queued: it runs again
                        continue
                    key = future.result()
                    del remaining[futures[future]]
                    record = store.record(key)
                    if record is None:
                        raise BackendError(f"a worker saved task {key} but its record cannot be read in {store.root}")
                    yield record
                complete = True
            finally:
                if not complete:
                    _terminate(executor)
                executor.shutdown(wait=True, cancel_futures=True)
        if remaining:
            raise BackendError(f"worker processes kept dying ({first_line(broken) if broken else 'no reason given'}): "
                               "out of memory? The tasks finished so far are saved; run the same command again to "
                               "resume")  # fmt: skip


def run_and_save(task: Task, root: str) -> str:
    """:func:`run_task` and :meth:`ResultStore.save` in a local worker; returns the task's key (a small message)."""
    ResultStore(root).save(task, run_task(task))
    return task.key


def _terminate(executor: Any) -> None:
    """Stop an executor's worker processes now (Python ≥ 3.14 has a method for it)."""
    terminate = getattr(executor, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        BackendError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise BackendError("running on Ray needs Ray installed: pip install 'inverter[ray]'") from None
    return ray


@dataclass(frozen=True)
class RayCluster:
    """Run each task as a Ray task, one per ``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs.

    Attributes:
        address: the cluster (``None``: ``$RAY_ADDRESS``, or a Ray instance started on this
            machine for the run). A Ray already initialised in this process is used as it is.
        cpus_per_task: CPU slots per task, also its torch threads (at least 1).
        gpus_per_task: GPUs per task (0: the tasks take CPU slots only; set the device
            setting to ``cpu`` where the nodes have GPUs that such tasks must not touch).
        max_retries: how often Ray reruns a task whose worker died.

    A Ray worker keeps the networks it built across tasks (``max_calls=0``: Ray would
    otherwise start a fresh process for every GPU task), so weights load once per worker.
    Plug-ins are imported by every worker; the ``inverter`` package and the plug-ins
    must be installed on the cluster's nodes.
    """

    address: str | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 3
    name: str = "Ray"

    def run(self, tasks: Sequence[Task], store: ResultStore, plugins: tuple[str, ...] = ()) -> Iterator[Record]:
        """Save each task's result as it comes back; yield its record (a task Ray lost is a failed one).

        Raises:
            BackendError: Ray is missing or the cluster cannot be reached.
        """
        ray = import_ray()
        started = not ray.is_initialized()
        if started:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise BackendError(f"cannot start or reach the Ray cluster: {first_line(err)}") from err
        pending: dict[Any, Task] = {}
        try:
            remote = ray.remote(num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task, max_calls=0,
                                max_retries=self.max_retries)(run_remote)  # fmt: skip
            threads = max(1, int(self.cpus_per_task))
            images: dict[str, Any] = {}
            for task in tasks:
                if task.path not in images:
                    try:
                        images[task.path] = ray.put(Path(task.path).read_bytes())
                    except OSError:
                        images[task.path] = None  # the worker tries the path, and reports why it fails
                pending[remote.remote(task, images[task.path], plugins, threads)] = task
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as err:
                        result = TaskResult(task.key, False, error=f"Ray lost the task: {first_line(err)}")
                    yield store.save(task, result)
        finally:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # already finished, or the cluster is gone: nothing left to stop
                    pass
            if started:
                ray.shutdown()


Backend = InProcess | LocalProcesses | RayCluster


def choose_backend(workers: int | None = None, ray: bool = False, address: str | None = None,
                   cpus_per_task: float | None = None, gpus_per_task: float = 0.0) -> Backend:  # fmt: skip
    """The backend of the command line's options.

    Ray when ``ray`` or ``address`` is given, or ``$RAY_ADDRESS`` is set; else local
    processes when ``workers`` is given; else this process. ``cpus_per_task`` is the torch
    threads per task everywhere (and Ray's CPU slots per task).

    Raises:
        BackendError: bad numbers, or ``workers`` together with Ray.
    """
    if workers is not None and workers < 1:
        raise BackendError(f"workers must be ≥ 1, got {workers}")
    if (cpus_per_task is not None and cpus_per_task <= 0) or gpus_per_task < 0:
        raise BackendError("cpus per task must be > 0 and gpus per task ≥ 0")
    threads = max(1, int(cpus_per_task)) if cpus_per_task else None
    if ray or address or os.environ.get("RAY_ADDRESS"):
        if workers is not None:
            raise BackendError("choose local worker processes or Ray, not both")
        return RayCluster(address, cpus_per_task or 1.0, gpus_per_task)
    if gpus_per_task:
        raise BackendError("GPUs per task are a Ray option: add --ray (one task per GPU)")
    if workers is not None:
        return LocalProcesses(workers, threads)
    return InProcess(threads)
