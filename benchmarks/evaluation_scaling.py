"""How ``inverter evaluate`` scales: the same evaluation on 1 and 2 local workers, and on Ray with 2.

The evaluation: 8 tasks (8 of scikit-image's sample photographs × one SqueezeNet 1.1 layer,
the family's default ``fire5``, seed 0) at the layer's preset (400 steps, 227×227 px), with
the real ImageNet weights from ``../shared/weights`` when they are there, else random
ones. Each configuration starts from an empty output folder and runs every task; each
worker has 1 torch thread. Printed per configuration: wall time of the whole
``evaluate`` call (planning, worker start-up, weight loading, the inversions, writing
every result and the report), tasks/s, the speed-up over 1 worker, and the overhead per
task as a share of a task's inversion time (``inversion_seconds`` of the records): in the
worker (a task's ``seconds`` minus its inversion) and outside it (wall time × workers /
tasks minus a task's ``seconds``: planning, start-up, weight loading, writing, the report).

Example (the README's figures)::

    python benchmarks/evaluation_scaling.py

``--tasks N`` (≤ 9), ``--steps N`` (default: the preset's), ``--no-ray`` and ``--weights``
change the set-up; ``--in-process`` adds a run in this process (1 thread), whose overhead
has no worker start-up in it. Figures on a shared machine are noisy: the load average is printed
before and after.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)
from harness import log  # noqa: E402

from inverter.evaluation import EvaluationSpec, InProcess, LocalProcesses, RayCluster, evaluate  # noqa: E402
from inverter.evaluation.store import ResultStore  # noqa: E402
from inverter.evaluation.worker import TaskResult  # noqa: E402
from inverter.settings import InversionConfig  # noqa: E402

REAL_WEIGHTS = harness.REPO.parent / "shared" / "weights" / "squeezenet1_1-imagenet.safetensors"
REPRESENTATION = "squeezenet1_1:fire5"


def run(name: str, backend, spec: EvaluationSpec, scratch: Path, workers: int) -> dict:
    """One configuration from an empty folder: wall time, tasks/s, overhead per task."""
    out = scratch / name.replace(" ", "_")
    log(f"{name}: starting")
    start = time.perf_counter()
    final = evaluate(spec, out, backend)
    wall = time.perf_counter() - start
    store = ResultStore(out)
    records = [store.finished(t.key) for t in final.plan.tasks]
    if any(r is None for r in records):
        raise RuntimeError(f"{name}: {final.failed} tasks failed; see {out}/summary.md")
    inversion = sum(r["result"]["inversion_seconds"] for r in records) / len(records)
    task = sum(r["result"]["seconds"] for r in records) / len(records)
    log(f"{name}: {wall:.1f} s")
    return {"name": name, "workers": workers, "wall": wall, "rate": len(records) / wall, "inversion": inversion,
            "in_task": task - inversion, "outside": wall * workers / len(records) - task, "out": out,
            "errors": [r["result"]["ijcv_error"] for r in records]}  # fmt: skip


def write_seconds(out: Path, repeats: int = 5) -> float:
    """Seconds to write one finished task's result (arrays, PNG, record) again, the median of ``repeats``."""
    store = ResultStore(out)
    task = store.read_manifest().tasks[0]
    record, arrays = store.finished(task.key), store.arrays(task.key)
    result = TaskResult(task.key, True, record["result"], reconstruction=store.reconstruction(task.key),
                        reference=arrays["reference"], target=arrays["target"], pixels=arrays["pixels"])  # fmt: skip
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        store.save(task, result)
        times.append(time.perf_counter() - start)
    return harness.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the configurations and print the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=8, help="tasks (sample photographs), at most 9")
    parser.add_argument("--steps", type=int, help="steps per task (default: the preset's 400)")
    parser.add_argument("--weights", help=f"SqueezeNet weights (default: {REAL_WEIGHTS.name} if present, else random)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray configuration")
    parser.add_argument("--in-process", action="store_true",
                        help="also run in this process (1 thread): the overhead without worker start-up")  # fmt: skip
    args = parser.parse_args(argv)
    if not 1 <= args.tasks <= len(harness.SAMPLE_PHOTOS):
        parser.error(f"--tasks must be between 1 and {len(harness.SAMPLE_PHOTOS)}")
    weights = args.weights or (str(REAL_WEIGHTS) if REAL_WEIGHTS.is_file() else "random")
    print(f"`python benchmarks/evaluation_scaling.py {' '.join(argv or sys.argv[1:])}`  ")
    print(f"{args.tasks} tasks of {REPRESENTATION} ({args.steps or 'preset'} steps, 227×227), weights {weights}  ")
    print(f"before: {harness.load_line()}  \n")
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        scratch = Path(tmp)
        images = scratch / "images"
        images.mkdir()
        from skimage import io

        for name in harness.SAMPLE_PHOTOS[: args.tasks]:
            io.imsave(images / f"{name}.png", harness.sample_photo(name), check_contrast=False)
        spec = EvaluationSpec(str(images), (REPRESENTATION,), weights=weights, config=InversionConfig(iterations=args.steps))
        results = [run("1 worker", LocalProcesses(1, threads=1), spec, scratch, 1),
                   run("2 workers", LocalProcesses(2, threads=1), spec, scratch, 2)]  # fmt: skip
        if args.in_process:
            results.append(run("in-process, 1 thread", InProcess(threads=1), spec, scratch, 1))
        if not args.no_ray:
            try:
                import ray
            except ImportError:
                log("Ray is not installed: its row is left out (pip install 'inverter[ray]')")
            else:
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
                try:
                    results.append(run("Ray, 2 CPUs", RayCluster(cpus_per_task=1), spec, scratch, 2))
                finally:
                    ray.shutdown()
        writing = write_seconds(results[0]["out"])
    base = results[0]["rate"]
    print("| configuration | wall (s) | tasks/s | speed-up vs 1 worker | inversion per task (s) "
          "| overhead per task in the worker (s) | overhead per task outside it (s) | overhead, % of the inversion |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        overhead = r["in_task"] + r["outside"]
        print(f"| {r['name']} | {r['wall']:.1f} | {r['rate']:.3f} | {r['rate'] / base:.2f}× | {r['inversion']:.2f} "
              f"| {r['in_task']:.3f} | {r['outside']:.3f} | {100 * overhead / r['inversion']:.1f}% |")
    same = all(r["errors"] == results[0]["errors"] for r in results)
    print(f"\nIn the worker: fetching the network, reading the image, both codes, PSNR/SSIM. Outside: planning "
          f"(each network built once to resolve its settings), worker start-up and weight loading, writing each "
          f"result (alone: {1000 * writing:.0f} ms a task), the report; shared out over the {args.tasks} tasks.  ")
    print(f"same errors in every configuration: {'yes' if same else 'no (float rounding)'}  ")
    print(f"after: {harness.load_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
