"""The command line, run as ``python -m inverter`` in a subprocess, plus its report and metrics.

The network is VGG-16 truncated at conv1_1, so the weights file holds only
``features.0.*`` (random tensors of the right shapes): offline, and fast at 32×32.
The error cases and ``--list`` run ``main()`` in-process (same code path, no interpreter
start-up per case); one error also runs as a subprocess to cover the ``-m`` entry point.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage import data, io

from inverter import metrics
from inverter.cli import main
from inverter.images import prepare_image, to_uint8
from inverter.representations import families, list_representations
from inverter.report import load_run, to_json

REPO = Path(__file__).resolve().parents[1]
ITERATIONS, SNAPSHOT_EVERY, RESTARTS, SIDE = 20, 5, 2, 32


def run_cli(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "inverter", *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """An input photo (64×64 PNG) and a safetensors file with VGG-16's conv1_1 only."""
    root = tmp_path_factory.mktemp("cli")
    image = root / "astronaut.png"
    io.imsave(image, data.astronaut()[::8, ::8], check_contrast=False)
    weights = root / "vgg16-conv1_1.safetensors"
    gen = torch.Generator().manual_seed(0)
    save_file({"features.0.weight": torch.randn(64, 3, 3, 3, generator=gen) * 0.2, "features.0.bias": torch.zeros(64)},
              str(weights))  # fmt: skip
    return {"root": root, "image": image, "weights": weights}


@pytest.fixture(scope="module")
def first_run(files) -> dict:
    """One CLI inversion with a report; shared by the tests that inspect it."""
    out, report = files["root"] / "out" / "pre.png", files["root"] / "pre.json"
    done = run_cli(
        files["image"], "--representation", "vgg16:conv1_1", "--weights", files["weights"], "--size", SIDE,
        "--iterations", ITERATIONS, "--restarts", RESTARTS, "--seed", 7, "--snapshot-every", SNAPSHOT_EVERY,
        "--output", out, "--report", report,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {"done": done, "png": out, "json": report, "report": json.loads(report.read_text())}


def test_cli_writes_image_and_report(first_run, files):
    report, result = first_run["report"], first_run["report"]["result"]
    image = io.imread(first_run["png"])
    assert image.shape == (SIDE, SIDE, 3) and image.dtype == np.uint8 and image.std() > 1

    settings = report["settings"]
    assert settings["representation"] == "vgg16:conv1_1"
    assert (settings["iterations"], settings["restarts"], settings["seed"]) == (ITERATIONS, RESTARTS, 7)
    assert settings["image_size"] == [SIDE, SIDE] and sum(n for _, n in settings["phases"]) == ITERATIONS
    assert result["steps"] == ITERATIONS and result["wall_time_s"] > 0

    errors, initial = result["restarts"]["relative_error"], result["restarts"]["initial_relative_error"]
    assert len(errors) == len(initial) == RESTARTS
    assert all(e < 0.95 * i for e, i in zip(errors, initial)), (initial, errors)  # the optimisation worked
    assert result["best_restart"] == int(np.argmin(errors))
    assert result["relative_error"] == errors[result["best_restart"]]
    assert [h["step"] for h in report["history"]] == list(range(0, ITERATIONS + 1, SNAPSHOT_EVERY))
    assert report["history"][0]["relative_error"] == initial

    # The PNG is the best restart, and the report's metrics are computed against the input.
    reference = to_uint8(prepare_image(io.imread(files["image"]), (SIDE, SIDE)))
    # (restarts differ by ~0.2 dB and ~0.03 SSIM here, so the tolerances tell them apart)
    assert result["psnr_db"] == pytest.approx(metrics.psnr(image, reference), abs=0.05)
    assert result["ssim"] == pytest.approx(metrics.ssim(image, reference), abs=0.005)
    assert 0 < result["psnr_db"] < 40 and -1 <= result["ssim"] < 0.9

    assert Path(report["output"]["image"]) == first_run["png"].resolve()
    assert report["input"]["image"] == str(files["image"].resolve())
    assert str(files["weights"].resolve()) in report["weights_origin"]
    assert report["versions"]["torch"] == torch.__version__ and report["versions"]["inverter"]


def test_cli_shows_progress_and_a_summary(first_run):
    done = first_run["done"]
    assert f"{ITERATIONS}/{ITERATIONS}" in done.stderr and "rel_err=" in done.stderr
    assert "Traceback" not in done.stderr
    assert str(first_run["png"]) in done.stdout


def test_config_round_trip_reproduces_the_run(first_run, files):
    out, report = files["root"] / "again.png", files["root"] / "again.json"
    done = run_cli("--config", first_run["json"], "--output", out, "--report", report, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    before, after = first_run["report"], json.loads(report.read_text())
    assert after["run"] == before["run"] and after["settings"] == before["settings"]
    assert after["result"]["restarts"] == before["result"]["restarts"]  # exact, for a fixed seed on CPU
    assert np.array_equal(io.imread(out), io.imread(first_run["png"]))


def test_command_line_options_override_the_config(first_run, files):
    report = files["root"] / "override.json"
    done = run_cli("--config", first_run["json"], "--iterations", 4, "--seed", 1, "--channels", "0:32",
                   "--precision", "bfloat16",
                   "--output", files["root"] / "override.png", "--report", report, "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    settings = json.loads(report.read_text())["settings"]
    assert (settings["iterations"], settings["seed"], settings["restarts"]) == (4, 1, RESTARTS)
    assert settings["mask"]["channels"] == [0, 32]
    assert first_run["report"]["settings"]["precision"] == "float32" and settings["precision"] == "bfloat16"


def test_bare_run_file_with_paths_relative_to_it(files, capsys, monkeypatch):
    run = {"image": files["image"].name, "representation": "vgg16:conv1_1", "weights": files["weights"].name,
           "config": {"iterations": 3, "image_size": [SIDE, SIDE], "seed": 2}}  # fmt: skip
    (files["root"] / "bare.json").write_text(json.dumps(run))
    monkeypatch.chdir(REPO)  # not the file's folder
    out = files["root"] / "bare.png"
    assert main(["--config", str(files["root"] / "bare.json"), "--quiet", "-o", str(out)]) == 0, capsys.readouterr().err
    assert io.imread(out).shape == (SIDE, SIDE, 3)


def test_list_prints_every_registered_layer(capsys):
    # In-process: the registry of this process is the one to compare against.
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for family, layers in list_representations().items():
        header = next(i for i, line in enumerate(lines) if line.startswith(f"{family}:") or line == family)
        assert families()[family].description in lines[header]
        layer_line = next(line for line in lines[header + 1 :] if line.strip().startswith("layers:"))
        assert layer_line.split(":", 1)[1].split() == layers


def test_real_squeezenet_weights_through_the_cli(squeezenet_weights, files, capsys):
    """The real ImageNet SqueezeNet (a full state dict; only conv1 is used) inverts well."""
    report = files["root"] / "squeezenet.json"
    argv = [str(files["image"]), "-r", "squeezenet1_1:conv1", "--weights", str(squeezenet_weights), "--size", "64",
            "--iterations", "40", "--quiet", "-o", str(files["root"] / "squeezenet.png"), "--report", str(report)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads(report.read_text())["result"]
    assert result["relative_error"] < 0.5 * result["initial_relative_error"]
    assert result["ssim"] > 0.2  # the photo is recognisable, not just the code matched


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("unknown-layer", r"unknown layer 'conv9' of 'vgg16'"),
        ("unknown-family", r"unknown representation 'nope'"),
        ("unreadable-image", r"cannot read .* as an image"),
        ("missing-image", r"no such image file"),
        ("missing-weights", r"weights file not found: .*missing\.safetensors"),
        ("corrupt-weights", r"not a readable \.safetensors file"),
        ("weights-that-do-not-fit", r"do not fit the model: missing keys: features\.2\.bias"),
        ("bad-device", r"not a device: 'gpu0'"),
        ("negative-lambda", r"lambda_tv must be a finite number ≥ 0"),
        ("channels-outside-code", r"channel range \(70, 80\) is outside the code's 64 channels"),
        ("not-a-config", r"is not a JSON file"),
        ("no-representation", r"no representation given"),
    ],
)
def test_bad_input_is_one_error_line(case, pattern, files, capsys):
    image, weights, root = str(files["image"]), str(files["weights"]), files["root"]
    base = ["--weights", weights, "--size", str(SIDE), "--iterations", "2", "--quiet", "-o", str(root / "bad.png")]
    argv = {
        "unknown-layer": [image, "-r", "vgg16:conv9", *base],
        "unknown-family": [image, "-r", "nope", *base],
        "unreadable-image": [weights, "-r", "vgg16:conv1_1", *base],
        "missing-image": [str(root / "none.png"), "-r", "vgg16:conv1_1", *base],
        "missing-weights": [image, "-r", "vgg16:conv1_1", *base, "--weights", str(root / "missing.safetensors")],
        "corrupt-weights": [image, "-r", "vgg16:conv1_1", *base, "--weights", image],
        "weights-that-do-not-fit": [image, "-r", "vgg16:conv1_2", *base],
        "bad-device": [image, "-r", "vgg16:conv1_1", *base, "--device", "gpu0"],
        "negative-lambda": [image, "-r", "vgg16:conv1_1", *base, "--lambda-tv", "-1"],
        "channels-outside-code": [image, "-r", "vgg16:conv1_1", *base, "--channels", "70:80"],
        "not-a-config": ["--config", image, "--quiet"],
        "no-representation": [image, "--quiet"],
    }[case]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert __import__("re").search(pattern, err), err
    assert not (root / "bad.png").exists()


@pytest.mark.parametrize("option", [["--iterations", "-3"], ["--restarts", "0"], ["--size", "4"], ["--jitter", "x"]])
def test_malformed_arguments_exit_2_with_one_line(option, files, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(files["image"]), "-r", "vgg16:conv1_1", *option])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: argument {option[0]}"), err


def test_errors_from_the_module_entry_point_have_no_traceback(files):
    done = run_cli(files["image"], "-r", "vgg16:conv1_1", "--weights", files["root"] / "missing.safetensors")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: weights file not found") and len(done.stderr.strip().splitlines()) == 1


# --- report and metrics helpers -------------------------------------------------------------


def test_psnr_and_ssim_against_known_values():
    rng = np.random.default_rng(0)
    reference = rng.integers(20, 200, size=(16, 16, 3), dtype=np.uint8)
    shifted = reference + np.uint8(10)  # MSE = 100 everywhere
    assert metrics.psnr(shifted, reference) == pytest.approx(10 * math.log10(255**2 / 100))
    assert metrics.psnr(reference, reference) == math.inf
    assert metrics.ssim(reference, reference) == pytest.approx(1.0)
    assert metrics.ssim(255 - reference, reference) < 0
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(reference[:8], reference)
    with pytest.raises(ValueError, match="uint8"):
        metrics.ssim(reference.astype(float), reference)


def test_report_json_is_strict_and_a_bare_run_loads(tmp_path):
    text = to_json({"psnr_db": math.inf, "values": [1.0, float("nan")], "n": np.int64(3)})
    assert json.loads(text) == {"psnr_db": None, "values": [1.0, None], "n": 3}
    bare = tmp_path / "run.json"
    bare.write_text(json.dumps({"image": "a.png", "representation": "hog",
                                "config": {"iterations": 5, "mask": {"channels": [0, 4], "neighbourhood": None}}}))  # fmt: skip
    run, _ = load_run(bare)
    assert (run.image, run.representation, run.weights) == ("a.png", "hog", None)
    assert run.config.iterations == 5 and run.config.mask.channels == (0, 4)
    bare.write_text(json.dumps({"image": "a.png", "representation": "hog", "config": {"iterationz": 5}}))
    with pytest.raises(ValueError, match="unknown config keys: iterationz"):
        load_run(bare)


def test_pinned_config_resolves_to_the_same_settings_for_every_field(tiny_cnn):
    """A report's config must re-create every resolved setting: one left out of
    ``pinned_config`` would silently fall back to the preset on a re-run."""
    import dataclasses

    from inverter import InversionConfig, resolve_settings
    from inverter.masks import CodeMask
    from inverter.report import pinned_config

    config = InversionConfig(iterations=7, restarts=2, seed=5, data_weight=2.0, lambda_tv=3.0, tv_beta=1.5,
                             lambda_alpha=1e6, alpha=4.0, learning_rate=0.01, momentum=0.5, jitter=3, clip=100.0,
                             init="uniform", init_scale=0.5, step_boost=2.0, snapshot_every=3, image_size=(24, 20),
                             display="clip", mask=CodeMask(channels=(0, 4)), precision="bfloat16", method="ijcv",
                             objective="activation",
                             target="3@1,2", parameterisation="fourier", spectrum_decay=1.5,
                             step_boost_share=0.5)  # fmt: skip
    settings = resolve_settings(tiny_cnn, config)
    defaults = resolve_settings(tiny_cnn, InversionConfig())
    changed = {f.name for f in dataclasses.fields(settings) if getattr(settings, f.name) != getattr(defaults, f.name)}
    untested = {f.name for f in dataclasses.fields(InversionConfig)} - changed - {"device"}
    assert not untested, f"the test sets no non-default value for {sorted(untested)}"
    assert resolve_settings(tiny_cnn, pinned_config(settings)) == settings


def test_a_bug_shows_as_one_with_its_traceback(files, capsys, monkeypatch):
    """Anything that is not an InverterError is a bug: the traceback, then one line saying so."""
    import inverter.engine

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a deliberate bug")

    monkeypatch.setattr(inverter.engine, "invert", broken)
    assert main([str(files["image"]), "-r", "vgg16:conv1_1", "--weights", str(files["weights"]), "--quiet",
                 "-o", str(files["root"] / "bug.png")]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: a deliberate bug" in err
    assert err.strip().splitlines()[-1].startswith("error: internal error, a bug in inverter (ZeroDivisionError")


@pytest.mark.parametrize("command", ["invert", "experiment", "evaluate", "list"])
def test_every_commands_help_prints_and_names_every_setting_it_takes(command, capsys):
    from inverter.cli import COMMANDS
    from inverter.settings import SETTINGS, Mask

    assert command in COMMANDS
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    if command != "list":  # the schema's options, '%' and all ("95% quantile" once broke argparse)
        flags = [s.cli_flag for s in SETTINGS if not isinstance(s.kind, Mask) and s.cli_flag]
        missing = [flag for flag in flags if flag not in text]
        assert not missing, missing
        assert "95% quantile" in text


@pytest.mark.parametrize("command", ["list", "--help"])
def test_a_reader_that_goes_away_is_no_error(command):
    """``inverter list | head -1``: the closed pipe ends the command quietly (no traceback, no error line)."""
    shell = f"{sys.executable} -m inverter {command} | true"  # `true` exits before the output is written
    result = subprocess.run(["bash", "-c", f"set -o pipefail; {shell}"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.stderr == "" and result.returncode == 141, result.stderr


@pytest.mark.parametrize("objective", ["activation", "caricature"])
def test_activation_and_caricature_run_end_to_end_and_report_their_score(objective, files, capsys, first_run):
    """``--objective activation --target N`` and ``--objective caricature`` (random weights, tiny sizes):
    exit 0, the report records the objective and target, and the summary gives the objective's score,
    not the relative error an inversion's summary gives."""
    out, report = files["root"] / f"{objective}.png", files["root"] / f"{objective}.json"
    target = ["--target", "5"] if objective == "activation" else []
    argv = [str(files["image"]), "-r", "squeezenet1_1:conv1", "--weights", "random", "--size", str(SIDE),
            "--iterations", "5", "--restarts", "2", "--objective", objective, *target, "--quiet",
            "-o", str(out), "--report", str(report)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    summary = capsys.readouterr().out
    saved = json.loads(report.read_text())
    settings, result = saved["settings"], saved["result"]
    assert settings["objective"] == objective and settings["target"] == ("5" if objective == "activation" else None)
    assert result["best_restart"] == int(np.argmax(result["restarts"]["score"]))
    assert f"{objective} score " in summary and f"→ {result['score']:.4g} (" in summary
    assert "relative error" not in summary and "higher is better" in summary
    assert io.imread(out).shape == (SIDE, SIDE, 3)
    assert "relative error" in first_run["done"].stdout and " score " not in first_run["done"].stdout  # an inversion


def test_a_target_outside_the_code_is_one_error_line_with_the_range(files, capsys):
    out = files["root"] / "outside.png"
    argv = [str(files["image"]), "-r", "squeezenet1_1:conv1", "--weights", "random", "--size", str(SIDE),
            "--iterations", "2", "--objective", "activation", "--target", "64", "--quiet", "-o", str(out)]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert "target 64 is outside squeezenet1_1:conv1's code: its channels are 0…63" in err, err
    assert not out.exists()


def test_the_report_names_the_default_preset_the_run_started_from(files, capsys):
    """The CLI runs from a pinned config, which names the method; the report still says the layer's
    default ran (its measured settings, fire9's momentum among them), not the method's own preset,
    and a re-run of that report keeps the label unless the method is changed."""
    root = files["root"]

    def run(name: str, *given: str) -> dict:
        argv = [*given, "--quiet", "-o", str(root / f"{name}.png"), "--report", str(root / f"{name}.json")]
        assert main(argv) == 0, capsys.readouterr().err
        return json.loads((root / f"{name}.json").read_text())["settings"]

    fire9 = [str(files["image"]), "-r", "squeezenet1_1:fire9", "--weights", "random", "--size", "64",
             "--iterations", "3"]
    default = run("default", *fire9)
    assert default["preset"].startswith("default: ijcv+fourier") and "μ = 0.8" in default["preset"]
    assert (default["method"], default["momentum"]) == ("ijcv", 0.8)
    asked = run("asked", *fire9, "--method", "ijcv")
    assert (asked["preset"], asked["momentum"]) == ("ijcv", 0.9)
    assert run("again", "--config", str(root / "default.json")) == default
    assert run("changed", "--config", str(root / "default.json"), "--method", "ijcv")["preset"] == "ijcv"
