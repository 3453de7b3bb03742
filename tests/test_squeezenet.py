"""SqueezeNet 1.1 on its real ImageNet weights, and the every-layer benchmark's plumbing.

The real-weights tests skip where ``../shared/weights`` is absent (a user's fresh clone).
To keep CI time sane the inversions run at 128×128 pixels (the paper: 227) with each
layer's default preset and its full 400-step schedule (relu1 and fire5: the IJCV objective on
Fourier coefficients, γ = 1.5, C = 10000 and 2000, no jitter, no pixel clip, the quick start;
logits: the same with the CVPR preset's priors, C = 2 and a step boost of 16 over 0.3 of the first
phase — issue 15's measured defaults);
the thresholds below were measured at these settings (see the comments) and carry a margin.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inverter.engine import Snapshot, reconstruct
from inverter.representations import load_representation

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
EGYPTIAN_CAT_AND_KIN = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967
INVERSION_SIZE = 128  # pixels; the preset's 227 takes ~3× longer
#: Relative error ceilings of the default presets. Measured at 128 px / 400 steps / seed 0 on
#: the astronaut (measured → asserted, ~25% margin): relu1 0.026 → 0.035 (the CVPR preset: 0.260;
#: it does not improve with 1200 steps, 0.259: its regularisers, not convergence, set its error),
#: fire5 0.093 → 0.12 (0.098 with one torch thread; the CVPR preset: 0.306; the default before the
#: steeper spectrum and the clip-free step: 0.138), logits 0.104 → 0.13 (0.103 with one torch
#: thread: at the logits float rounding moves the result; the boost of 8 over the whole first
#: phase before: 0.086 / 0.094, at 227 px the same 5.9 % on this photograph; the CVPR preset:
#: 0.180, 0.225 with one thread).
MAX_ERROR = {"relu1": 0.035, "fire5": 0.12, "logits": 0.13}


def _top5(weights: Path, image: np.ndarray, side: int) -> list[int]:
    rep = load_representation("squeezenet1_1:logits", weights=weights, device="cpu")
    with torch.no_grad():
        logits = rep(rep.image_to_pixels(image, (side, side)))
    assert logits.shape == (1, 1000)
    return logits[0].topk(5).indices.tolist()


@pytest.mark.parametrize("side", [224, 227])
def test_real_weights_classify_a_cat(squeezenet_weights, side):
    top = _top5(squeezenet_weights, data.chelsea(), side)
    assert top[0] in EGYPTIAN_CAT_AND_KIN, f"top-5 {top}"
    assert sum(c in EGYPTIAN_CAT_AND_KIN for c in top[:3]) == 3, f"top-5 {top}"


@pytest.mark.parametrize("side", [224, 227])
def test_real_weights_classify_espresso(squeezenet_weights, side):
    assert _top5(squeezenet_weights, data.coffee(), side)[0] == ESPRESSO


def test_cat_is_not_an_espresso(squeezenet_weights):
    """The two checks above are not one class winning everything."""
    assert _top5(squeezenet_weights, data.chelsea(), 224)[0] != _top5(squeezenet_weights, data.coffee(), 224)[0]


_SHOTS: dict[str, Snapshot] = {}


@pytest.fixture
def inverted(squeezenet_weights, photo):
    """``inverted(layer)``: the final snapshot of inverting the astronaut at ``layer``,
    computed once per test session (the three layers are shared by several tests)."""

    def get(layer: str) -> Snapshot:
        if layer not in _SHOTS:
            rep = load_representation(f"squeezenet1_1:{layer}", weights=squeezenet_weights, device="cpu")
            _SHOTS[layer] = reconstruct(
                rep, photo, image_size=(INVERSION_SIZE, INVERSION_SIZE), seed=0, snapshot_every=10**9
            )
        return _SHOTS[layer]

    return get


@pytest.mark.parametrize("layer", list(MAX_ERROR))
def test_inversion_reaches_measured_relative_error(inverted, layer):
    shot = inverted(layer)
    assert shot.done and shot.step == 400, "the default preset's 400-step schedule should run in full"
    error = float(shot.relative_error[shot.best])
    assert error < MAX_ERROR[layer], f"{layer}: relative error {error:.3f} ≥ {MAX_ERROR[layer]}"


def test_early_layer_reconstruction_is_much_closer_to_the_photo_than_the_last(inverted):
    # measured (default presets): relu1 31.2 dB / SSIM 0.94, logits 9.4 dB / SSIM 0.10
    scores = {}
    for layer in ("relu1", "logits"):
        shot = inverted(layer)
        assert shot.image.shape == shot.reference.shape == (INVERSION_SIZE, INVERSION_SIZE, 3)
        psnr = peak_signal_noise_ratio(shot.reference, shot.image, data_range=255)
        ssim = structural_similarity(shot.reference, shot.image, channel_axis=-1, data_range=255)
        scores[layer] = psnr, ssim
    (psnr_early, ssim_early), (psnr_last, ssim_last) = scores["relu1"], scores["logits"]
    assert psnr_early > psnr_last + 5.0, scores
    assert ssim_early > ssim_last + 0.3, scores
    assert ssim_early > 0.6, scores  # photographic, not merely "less bad"


# --- the every-layer benchmark (random weights: plumbing only) ---------------------------


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("layers_benchmark", BENCHMARKS / "layers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def layers_benchmark():
    return _load_benchmark()


def test_layers_benchmark_writes_a_sheet_and_a_table(layers_benchmark, tmp_path, capsys):
    from skimage import io

    out = tmp_path / "sheet.png"
    args = ["--representation", "squeezenet1_1", "--weights", "random", "--image", "chelsea",
            "--layers", "conv1,fire5,logits", "--iterations", "3", "--size", "32",
            "--tile", "40", "--columns", "2", "--output", str(out)]  # fmt: skip
    assert layers_benchmark.main(args) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].startswith("| layer |")
    assert [row.split("|")[1].strip() for row in table[2:]] == ["conv1", "fire5", "logits"]
    sheet = io.imread(out)
    # 4 tiles (original + 3 layers) on 2 columns → 2 rows of 40-px tiles with captions
    assert sheet.ndim == 3 and sheet.shape[2] == 3
    assert 2 * 40 < sheet.shape[1] < 3 * 40 + 40 and sheet.shape[0] > 2 * 40


@pytest.mark.parametrize(
    "args",
    [
        ["--representation", "nonsense"],
        ["--weights", "random", "--layers", "fire5,bogus"],
        ["--weights", "random", "--layers", "fire5", "--image", "no-such-picture"],
        ["--weights", "/no/such/file.safetensors", "--layers", "fire5"],
        ["--weights", "random", "--layers", "fire5", "--iterations", "0"],
    ],
)
def test_layers_benchmark_bad_input_is_one_line(layers_benchmark, tmp_path, capsys, args):
    assert layers_benchmark.main([*args, "--output", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not (tmp_path / "x.png").exists()
