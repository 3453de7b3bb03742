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
from skimage import data, io

from inverter.cli import main
from inverter.cli.evaluate import parse_seeds
from inverter.errors import UnknownNameError
from inverter.evaluation import (
    ALL_LAYERS, TABLE_COLUMNS, EvaluationSpec, InProcess, LocalProcesses, RayCluster, ResultStore, evaluate,
    plan_tasks, write_report,
)  # fmt: skip
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
        assert group["cvpr_error"]["low"] < cvpr.mean() < group["cvpr_error"]["high"]
        assert group["ijcv_error"]["mean"] == pytest.approx(ijcv.mean(), rel=1e-5)
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


def test_a_killed_run_and_a_killed_worker_lose_only_the_tasks_in_flight(reference, folder, tmp_path):
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
    # breaks, a new one runs the tasks that were in flight and the rest.
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
    assert main(["evaluate", str(images), "-r", "hog", "--iterations", "3", "--size", str(SIDE), "--out", str(out),
                 "--quiet"]) == 1  # fmt: skip
    assert "1 of 3 tasks failed" in capsys.readouterr().err
    status = {r["image"]: (r["status"], r["error"]) for r in read_table(out)}
    assert status["broken.png"][0] == "failed" and "cannot read broken.png" in status["broken.png"][1]
    assert [status[f"{n}.png"][0] for n in IMAGES[:2]] == ["done", "done"]
    assert "cannot read broken.png" in (out / "summary.md").read_text()

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
