"""``inverter evaluate`` end to end on a 4-image folder made here, offline and on the CPU.

Two representations: HOG and ``tinyeval``, a two-layer CNN with random weights that a
plug-in (``tests/evaluation_plugin.py``) registers in this process and in every worker.
With every layer that is 12 tasks (4 images × hog, tinyeval:conv1, tinyeval:conv2) of 20
steps at 32×32 px. One uninterrupted in-process run (1 thread) is the reference; a run
killed part-way and resumed on 2 local worker processes (one of which is killed too), and
a run on a local Ray instance, must give its table again (every column but the seconds,
floats to 1e-6).
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.spatial.distance import cdist
from scipy.stats import t as t_distribution
from skimage import data, io

from inverter.cli import main
from inverter.cli.evaluate import build_parser, parse_seeds, spec_from_args
from inverter import evaluation
from inverter.devices import resolve_device
from inverter.errors import SettingError, UnknownNameError
from inverter.evaluation import (
    ALL_LAYERS, TABLE_COLUMNS, BackendError, EvaluationSpec, InProcess, LocalProcesses, RayCluster, ResultStore,
    choose_backend, evaluate, list_images, plan_tasks, write_report,
)  # fmt: skip
from inverter.evaluation import runner, worker
from inverter.evaluation.tasks import load_network
from inverter.evaluation.worker import NetworkCache
from inverter.images import load_image
from inverter.plugins import load_plugins
from inverter.representations import load_representation, register, unregister
from inverter.settings import InversionConfig

REPO = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).with_name("evaluation_plugin.py")
IMAGES = ("astronaut", "chelsea", "coffee", "rocket")
REPRESENTATIONS = ("hog", "tinyeval:conv1", "tinyeval:conv2")
ITERATIONS, SIDE = 20, 32


@pytest.fixture(scope="module")
def plugin():
    """The plug-in's family, registered for this module only."""
    (module,) = load_plugins([str(PLUGIN)])
    register(module.FAMILY)
    yield module
    unregister(module.FAMILY.name)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    for name in IMAGES:
        io.imsave(root / f"{name}.png", getattr(data, name)()[::6, ::6], check_contrast=False)
    return root


def make_spec(folder: Path, **changes) -> EvaluationSpec:
    spec = EvaluationSpec(str(folder), ("hog", "tinyeval"), layers=ALL_LAYERS, weights="random",
                          config=InversionConfig(iterations=ITERATIONS, image_size=(SIDE, SIDE)), plugins=(str(PLUGIN),))  # fmt: skip
    return replace(spec, **changes)


@pytest.fixture(scope="module")
def reference(plugin, folder, tmp_path_factory) -> Path:
    """The uninterrupted in-process run's output folder."""
    out = tmp_path_factory.mktemp("reference")
    evaluate(make_spec(folder), out, InProcess(threads=1))
    return out


def read_table(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def assert_same_table(rows: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    assert [r["key"] for r in rows] == [r["key"] for r in expected]
    for row, want in zip(rows, expected):
        for column in TABLE_COLUMNS:
            if column == "seconds":
                continue
            if column in ("ijcv_error", "cvpr_error", "psnr_db", "ssim"):
                assert float(row[column]) == pytest.approx(float(want[column]), rel=1e-6), (column, row, want)
            else:
                assert row[column] == want[column], (column, row, want)


def assert_95_interval(stats: dict, count: int) -> None:
    """The summary's interval is mean ± t₀.₉₇₅(N−1)·std/√N (Student's t), to float precision."""
    assert stats["count"] == count
    half = t_distribution.ppf(0.975, count - 1) * stats["std"] / np.sqrt(count)
    assert stats["low"] == pytest.approx(stats["mean"] - half, rel=1e-12, abs=1e-15), stats
    assert stats["high"] == pytest.approx(stats["mean"] + half, rel=1e-12, abs=1e-15), stats


def test_the_table_has_every_task_and_the_cvpr_error_is_my_meanstd(reference, folder):
    rows = read_table(reference)
    assert list(rows[0]) == list(TABLE_COLUMNS)
    assert {(r["image"], r["representation"]) for r in rows} == {(f"{i}.png", r) for i in IMAGES for r in REPRESENTATIONS}
    assert len(rows) == 12 and all(r["status"] == "done" and r["steps"] == str(ITERATIONS) for r in rows)
    summary = json.loads((reference / "summary.json").read_text())
    assert [g["representation"] for g in summary["representations"]] == list(REPRESENTATIONS)
    store = ResultStore(reference)
    for group in summary["representations"]:
        name = group["representation"]
        mine = [r for r in rows if r["representation"] == name]
        net = load_representation(name, weights="random" if name.startswith("tinyeval") else None, device="cpu", seed=0)
        targets, codes = [], []
        for r in mine:
            arrays = store.arrays(r["key"])
            with torch.no_grad():
                target = net(net.image_to_pixels(load_image(folder / r["image"]), (SIDE, SIDE)))[0]
                code = net(torch.from_numpy(arrays["pixels"][None]))[0]
            np.testing.assert_allclose(arrays["target"], target.numpy(), rtol=1e-5, atol=1e-5)
            targets.append(target.double().numpy().ravel())
            codes.append(code.double().numpy().ravel())
        y0, y = np.stack(targets), np.stack(codes)
        # my_meanstd: temp = pdist2(y0', y0'); normalization_factor = mean(temp(:).^2); err = sum((y - y0).^2) / it
        cvpr = np.sum((y - y0) ** 2, axis=1) / np.mean(cdist(y0, y0) ** 2)
        ijcv = np.sqrt(np.sum((y - y0) ** 2, axis=1) / np.sum(y0**2, axis=1))
        np.testing.assert_allclose([float(r["cvpr_error"]) for r in mine], cvpr, rtol=1e-5)
        np.testing.assert_allclose([float(r["ijcv_error"]) for r in mine], ijcv, rtol=1e-5)
        assert group["cvpr_error"]["mean"] == pytest.approx(cvpr.mean(), rel=1e-5)
        assert group["cvpr_error"]["std"] == pytest.approx(cvpr.std(ddof=1), rel=1e-5)
        assert group["ijcv_error"]["mean"] == pytest.approx(ijcv.mean(), rel=1e-5)
        for column in ("ijcv_error", "cvpr_error", "psnr_db", "ssim", "seconds"):
            assert_95_interval(group[column], len(mine))
    markdown = (reference / "summary.md").read_text()
    assert "| hog |" in markdown and "28.10 ± 7.9" in markdown  # the paper's Table 1 next to HOG
    for name in ("error_vs_layer.png", "reconstructions.png"):
        with Image.open(reference / name) as image:
            image.verify()
        with Image.open(reference / name) as image:
            assert image.format == "PNG" and min(image.size) > 100
    svg = ElementTree.parse(reference / "error_vs_layer.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and len(svg) > 20
    texts = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert {"hog", "tinyeval", "HOGgle"} <= texts  # one line per network, and the paper's marks


def test_the_report_is_recomputed_from_the_folder_alone(reference, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    for name in ("results.csv", "summary.json", "summary.md", "error_vs_layer.svg"):
        (copy / name).unlink()
    assert main(["evaluate", "--report-only", "--out", str(copy)]) == 0, capsys.readouterr().err
    for name in ("results.csv", "summary.json", "summary.md", "error_vs_layer.svg"):
        assert (copy / name).read_text() == (reference / name).read_text(), name
    assert write_report(copy)["table"] == copy / "results.csv"


def _done_records(out: Path) -> dict[str, bytes]:
    records = {}
    for path in (out / "tasks").glob("*.json") if (out / "tasks").is_dir() else ():
        try:
            content = path.read_bytes()
            if json.loads(content)["status"] == "done":
                records[path.stem] = content
        except (OSError, ValueError, KeyError):
            pass
    return records


def test_a_killed_run_and_a_killed_worker_lose_only_the_tasks_in_flight(reference, folder, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "inverter", "evaluate", str(folder), "-r", "hog,tinyeval", "--layers", "all",
               "--iterations", str(ITERATIONS), "--size", str(SIDE), "--weights", "random", "--plugin", str(PLUGIN),
               "--cpus-per-task", "1", "--out", str(out), "--quiet"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 180
        while len(_done_records(out)) < 3 and process.poll() is None and time.monotonic() < end:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)  # no clean-up at all: the harshest interruption
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    finished = _done_records(out)
    assert 3 <= len(finished) < 12, f"the run must be killed part-way ({len(finished)} done)"
    # A loaded machine can finish many tasks before the kill lands: forget all but 6 (as if
    # never run), so that the resumed run below has tasks pending when its worker dies.
    for key in sorted(finished)[6:]:
        for suffix in (".json", ".png", ".npz"):
            (out / "tasks" / f"{key}{suffix}").unlink(missing_ok=True)
        del finished[key]
    # A task whose arrays are missing counts as half-written: it is redone.
    damaged = sorted(finished)[0]
    (out / "tasks" / f"{damaged}.npz").unlink()
    del finished[damaged]
    (out / "tasks" / f".{damaged}.png.123.tmp").write_bytes(b"half a file")

    # Resume on 2 worker processes, and kill one of them after the first result: the pool
    # breaks, a new one runs the tasks that were in flight and the rest. The tiny network's
    # tasks are slowed (the workers inherit the variable) so that, on a loaded machine too, the
    # other worker has not finished every task by the time the kill lands.
    monkeypatch.setenv("TINYEVAL_FORWARD_DELAY", "0.02")
    ran, killed, workers = [], [], set()

    def progress(update) -> None:
        if update.last is not None:
            ran.append(update.last["key"])
            workers.add(update.last["worker"])
            if not killed:
                killed.append(int(update.last["worker"].rsplit(":", 1)[1]))
                os.kill(killed[0], signal.SIGKILL)

    final = evaluate(make_spec(folder), out, LocalProcesses(2, threads=1), progress=progress)
    keys = [r["key"] for r in read_table(reference)]
    assert killed and killed[0] != os.getpid() and len(workers) > 2, "a second pool ran the rest"
    assert sorted(ran) == sorted(set(keys) - set(finished)), "exactly the unfinished tasks run again, each once"
    assert final.reused == len(finished) and final.done == 12 and final.failed == 0
    for key, content in finished.items():
        assert (out / "tasks" / f"{key}.json").read_bytes() == content, "a finished task was rewritten"
    assert not list((out / "tasks").glob(".*.tmp"))
    assert_same_table(read_table(out), read_table(reference))


class _WriterKilledMidWrite(InProcess):
    """In-process, but a writer 'dies' during the run: its temporary file stays behind."""

    def run(self, tasks, store, plugins=()):
        for record in super().run(tasks, store, plugins):
            (store.tasks / f".{record['key']}.png.999999.tmp").write_bytes(b"half a file")
            yield record


def test_temporaries_of_writers_that_died_are_swept_when_the_run_ends(plugin, folder, tmp_path):
    spec = make_spec(folder, representations=("hog",), limit=2)
    final = evaluate(spec, tmp_path / "out", _WriterKilledMidWrite(threads=1))
    assert final.done == 2
    assert not list((tmp_path / "out" / "tasks").glob(".*.tmp")), "a dead writer's temporary file was left"


def test_ray_gives_the_same_table(reference, folder, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}})  # fmt: skip
    try:
        final = evaluate(make_spec(folder), tmp_path / "ray", RayCluster(cpus_per_task=1))
    finally:
        ray.shutdown()
    assert final.done == 12
    assert_same_table(read_table(tmp_path / "ray"), read_table(reference))


@pytest.mark.filterwarnings("ignore:The legacy `DICOM` plugin")  # imageio, trying its plugins on the broken file
def test_an_unreadable_image_fails_alone_and_bad_names_fail_before_any_work(plugin, folder, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for name in IMAGES[:2]:
        shutil.copy(folder / f"{name}.png", images)
    (images / "broken.png").write_bytes(b"not a PNG")
    out = tmp_path / "out"
    args = ["evaluate", str(images), "-r", "hog", "--iterations", "3", "--size", str(SIDE), "--out", str(out),
            "--quiet"]  # fmt: skip
    assert main(args) == 1
    assert "1 of 3 tasks failed" in capsys.readouterr().err
    status = {r["image"]: (r["status"], r["error"]) for r in read_table(out)}
    assert status["broken.png"][0] == "failed" and "cannot read broken.png" in status["broken.png"][1]
    assert [status[f"{n}.png"][0] for n in IMAGES[:2]] == ["done", "done"]
    assert "cannot read broken.png" in (out / "summary.md").read_text()

    # The same evaluation again on the same folder: the failed task is tried again (and
    # fails again), the finished ones are reused as they are.
    keys = {r["image"]: r["key"] for r in read_table(out)}
    finished = _done_records(out)
    assert sorted(finished) == sorted(keys[f"{n}.png"] for n in IMAGES[:2])
    ran: list[tuple[str, str]] = []
    spec = spec_from_args(build_parser().parse_args(args[1:]))  # the command's own spec
    final = evaluate(spec, out, progress=lambda u: u.last and ran.append((u.last["key"], u.last["status"])))
    assert ran == [(keys["broken.png"], "failed")], "exactly the failed task runs again"
    assert final.reused == len(finished) == 2 and final.done == 2 and final.failed == 1
    assert _done_records(out) == finished, "a finished task was rewritten"
    assert main(args) == 1  # and through the command: reused, retried, still failing
    captured = capsys.readouterr()
    assert "2 of 3 tasks done (2 from an earlier run), 1 failed" in captured.out
    assert "1 of 3 tasks failed" in captured.err

    never = tmp_path / "never"
    for args, message in ((["-r", "hog,nonesuch"], "unknown representation 'nonesuch'"),
                          (["-r", "tinyeval", "--layers", "conv9"], "unknown layer 'conv9'"),
                          (["-r", "hog", "--ray", "--workers", "2"], "not both")):  # fmt: skip
        assert main(["evaluate", str(images), *args, "--out", str(never), "--plugin", str(PLUGIN)]) == 1
        assert message in capsys.readouterr().err
    with pytest.raises(UnknownNameError):
        evaluate(make_spec(images, layers=("conv1", "conv9")), never)
    assert not never.exists()


def test_task_keys_follow_content_settings_and_seed_not_the_device_or_file_name(plugin, folder, tmp_path):
    spec = make_spec(folder, seeds=(0, 1))
    keys = [t.key for t in plan_tasks(spec).tasks]
    assert len(set(keys)) == len(keys) == 24
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for i, path in enumerate(sorted(folder.iterdir())):
        shutil.copy(path, renamed / f"photo{i}.png")
    shutil.copy(folder / "coffee.png", renamed / "zz_copy.png")  # the same content twice: evaluated once
    again = plan_tasks(replace(spec, folder=str(renamed), config=spec.config.replace(device="cpu")))
    assert sorted(t.key for t in again.tasks) == sorted(keys)
    assert again.duplicates == (("zz_copy.png", "photo2.png"),)
    other = plan_tasks(replace(spec, config=spec.config.replace(lambda_tv=1.0)))
    assert not set(t.key for t in other.tasks) & set(keys)
    assert parse_seeds("0-2,5") == (0, 1, 2, 5)


def test_choose_backend_takes_ray_from_the_environment_and_gpus_only_with_ray(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert choose_backend() == InProcess(None)
    monkeypatch.setenv("RAY_ADDRESS", "ray://head.example:10001")
    chosen = choose_backend(cpus_per_task=2, gpus_per_task=0.5)
    assert chosen == RayCluster(None, 2.0, 0.5), "$RAY_ADDRESS selects Ray (whose init reads the address)"
    with pytest.raises(BackendError, match="not both"):
        choose_backend(workers=2)
    monkeypatch.delenv("RAY_ADDRESS")
    for workers in (None, 2):
        with pytest.raises(BackendError, match="GPUs per task are a Ray option: add --ray"):
            choose_backend(workers, gpus_per_task=1)
    assert choose_backend(gpus_per_task=1, ray=True) == RayCluster(None, 1.0, 1.0)
    for bad in ({"workers": 0}, {"cpus_per_task": 0}, {"gpus_per_task": -1}):
        with pytest.raises(BackendError):
            choose_backend(**bad)


@pytest.mark.parametrize("options, environment, expected", [
    ([], None, InProcess(None)),
    (["--workers", "3"], None, LocalProcesses(3, None)),
    (["--workers", "3", "--cpus-per-task", "2"], None, LocalProcesses(3, 2)),
    (["--cpus-per-task", "2"], None, InProcess(2)),
    (["--ray"], None, RayCluster(None, 1.0, 0.0)),
    (["--ray-address", "ray://head:10001", "--gpus-per-task", "1"], None, RayCluster("ray://head:10001", 1.0, 1.0)),
    ([], "ray://head:10001", RayCluster(None, 1.0, 0.0)),
])  # fmt: skip
def test_the_command_line_options_give_the_backend(options, environment, expected, folder, tmp_path, monkeypatch):
    if environment is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", environment)
    chosen = []

    def stop(spec, out, backend):  # evaluation_updates: note the backend, run nothing
        chosen.append(backend)
        raise SettingError("stopped by the test")

    monkeypatch.setattr(evaluation, "evaluation_updates", stop)
    assert main(["evaluate", str(folder), "-r", "hog", "--out", str(tmp_path / "out"), *options]) == 1
    assert chosen == [expected] and type(chosen[0]) is type(expected)


def test_gpus_per_task_without_ray_fails_before_any_work(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ran = []
    monkeypatch.setattr(evaluation, "evaluation_updates", lambda *args: ran.append(args) or iter(()))  # never runs
    for options in ([], ["--workers", "2"]):
        out = tmp_path / "never"
        assert main(["evaluate", str(folder), "-r", "hog", "--gpus-per-task", "1", *options, "--out", str(out)]) == 1
        assert "error: GPUs per task are a Ray option: add --ray" in capsys.readouterr().err
        assert not out.exists() and not ran


def test_each_network_is_built_once_across_the_tasks_in_a_process(plugin, folder, tmp_path, monkeypatch):
    builds: list[tuple[str, str | None, str | None]] = []

    def counting(name, weights, device):
        builds.append((name, weights, device))
        return load_network(name, weights, device)

    cache = NetworkCache()  # a fresh cache, shared by the planner and the worker as in a real run
    monkeypatch.setattr(worker, "load_network", counting)
    monkeypatch.setattr(worker, "NETWORKS", cache)
    monkeypatch.setattr(runner, "NETWORKS", cache)
    spec = make_spec(folder, limit=2, seeds=(0, 1), config=InversionConfig(iterations=3, image_size=(SIDE, SIDE)))
    final = evaluate(spec, tmp_path / "out", InProcess(threads=1))
    assert final.done == 12  # 2 images × 2 seeds × (hog, tinyeval:conv1, tinyeval:conv2)
    # The planner builds each network on the CPU; the tasks reuse it when they run there too.
    per_network = 1 if str(resolve_device(None)) == "cpu" else 2
    assert sorted(n for n, _, _ in builds) == sorted(per_network * ["hog:hog", "tinyeval:conv1", "tinyeval:conv2"])
    assert {(n, w) for n, w, _ in builds if n.startswith("tinyeval")} == {("tinyeval:conv1", "random"),
                                                                         ("tinyeval:conv2", "random")}  # fmt: skip
    # A cache of 1 rebuilds whenever the network changes, and only then.
    small = NetworkCache(size=1)
    builds.clear()
    for name in ("tinyeval:conv1", "tinyeval:conv1", "tinyeval:conv2", "tinyeval:conv2", "tinyeval:conv1"):
        assert small(name, "random", "cpu").layer == name.split(":")[1]
    assert [n for n, _, _ in builds] == ["tinyeval:conv1", "tinyeval:conv2", "tinyeval:conv1"]


def test_limit_uses_the_first_images_by_name(folder, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    # Written in an order that is neither their names' order nor its reverse.
    for name, source in (("c", "astronaut"), ("a", "chelsea"), ("d", "coffee"), ("b", "rocket")):
        shutil.copy(folder / f"{source}.png", images / f"{name}.png")
    assert [p.name for p in list_images(images, limit=2)] == ["a.png", "b.png"]
    out = tmp_path / "out"
    assert main(["evaluate", str(images), "-r", "hog", "--limit", "2", "--iterations", "3", "--size", str(SIDE),
                 "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err  # fmt: skip
    rows = read_table(out)
    assert [r["image"] for r in rows] == ["a.png", "b.png"] and all(r["status"] == "done" for r in rows)
    assert ResultStore(out).read_manifest().spec.limit == 2


def test_the_cvpr_normaliser_counts_each_image_once_whatever_the_seeds(folder, tmp_path):
    out = tmp_path / "out"
    spec = EvaluationSpec(str(folder), ("hog",), seeds=(0, 1), limit=3,
                          config=InversionConfig(iterations=5, image_size=(SIDE, SIDE)))  # fmt: skip
    assert evaluate(spec, out).done == 6
    store = ResultStore(out)
    rows = read_table(out)
    assert sorted((r["image"], r["seed"]) for r in rows) == [(f"{i}.png", s) for i in IMAGES[:3] for s in "01"]
    # The seeds of one image draw different reconstructions of the same target.
    by_seed = {(r["image"], r["seed"]): store.arrays(r["key"]) for r in rows}
    first = by_seed[(f"{IMAGES[0]}.png", "0")], by_seed[(f"{IMAGES[0]}.png", "1")]
    assert np.array_equal(first[0]["target"], first[1]["target"])
    assert not np.array_equal(first[0]["pixels"], first[1]["pixels"])
    # With every seed of every image done, counting each image once per seed would give the
    # same normaliser: forget seed 1 of one image, so that it would not.
    dropped = next(r["key"] for r in rows if r["image"] == f"{IMAGES[0]}.png" and r["seed"] == "1")
    for suffix in ("json", "png", "npz"):
        store.path(dropped, suffix).unlink()
    write_report(out)
    rows = [r for r in read_table(out) if r["status"] == "done"]
    assert len(rows) == 5
    net = load_representation("hog", device="cpu")
    targets = {}
    for r in rows:
        with torch.no_grad():
            targets.setdefault(r["image"], net(net.image_to_pixels(load_image(folder / r["image"]), (SIDE, SIDE)))[0])
    y0 = np.stack([t.double().numpy().ravel() for t in targets.values()])
    assert len(y0) == 3
    normaliser = np.mean(cdist(y0, y0) ** 2)  # over the 3 distinct images, not the 5 tasks
    cvpr = []
    for r in rows:
        with torch.no_grad():
            code = net(torch.from_numpy(store.arrays(r["key"])["pixels"][None]))[0].double().numpy().ravel()
        cvpr.append(np.sum((code - targets[r["image"]].double().numpy().ravel()) ** 2) / normaliser)
        assert float(r["cvpr_error"]) == pytest.approx(cvpr[-1], rel=1e-5)
    (group,) = json.loads((out / "summary.json").read_text())["representations"]
    assert group["images"] == 3 and group["done"] == 5
    assert group["cvpr_normalization"] == pytest.approx(normaliser, rel=1e-5)
    assert group["cvpr_error"]["mean"] == pytest.approx(np.mean(cvpr), rel=1e-5)
    assert group["cvpr_error"]["std"] == pytest.approx(np.std(cvpr, ddof=1), rel=1e-5)
    assert_95_interval(group["cvpr_error"], 5)


def test_the_settings_hash_ignores_what_does_not_change_the_result():
    """The device and the preset's name (a label) leave a task's key alone: an output folder made
    before either changed is still reused."""
    from inverter import resolve_settings
    from inverter.evaluation.tasks import settings_hash

    settings = resolve_settings(load_representation("hog"), InversionConfig())
    assert settings_hash(replace(settings, preset="another name", device="cuda:1"), None) == settings_hash(settings, None)
    assert settings_hash(replace(settings, iterations=7), None) != settings_hash(settings, None)


def _as_from_a_terminal() -> None:
    """In the child, before it starts: Ctrl-C's default disposition, unblocked, as a terminal's shell gives it.
    A process inherits an ignored SIGINT, and a suite started in the background by a non-interactive shell
    (``pytest &`` in a script) has SIGINT and SIGQUIT ignored (POSIX, for asynchronous commands without job
    control: ``signal.getsignal(SIGINT)`` is ``SIG_IGN`` there): the child then ran all eight tasks through
    the signal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def test_ctrl_c_saves_what_finished_says_so_and_the_same_command_resumes(folder, tmp_path):
    """SIGINT (Ctrl-C) part-way: exit status 130 and a line saying where the results are; the
    progress bar showed tasks, the ETA and the running mean; the same command then runs only
    what was left."""
    out = tmp_path / "interrupted"
    command = [sys.executable, "-m", "inverter", "evaluate", str(folder), "-r", "tinyeval", "--layers", "all",
               "--iterations", str(ITERATIONS), "--size", str(SIDE), "--weights", "random", "--plugin", str(PLUGIN),
               "--out", str(out)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TINYEVAL_FORWARD_DELAY": "0.02"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_as_from_a_terminal)  # fmt: skip
    try:
        end = time.monotonic() + 180
        while len(_done_records(out)) < 2 and process.poll() is None and time.monotonic() < end:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    finished = _done_records(out)
    assert process.returncode == 130 and 2 <= len(finished) < 8, (process.returncode, err)
    assert f"saved in {out}; run the same command again to resume" in err
    assert "task" in err and "mean IJCV error" in err and "<" in err  # tqdm's [elapsed<remaining]
    again = subprocess.run(command, cwd=REPO, env={**env, "TINYEVAL_FORWARD_DELAY": "0"}, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"8 of 8 tasks done ({len(finished)} from an earlier run)" in again.stdout
