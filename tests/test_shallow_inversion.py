"""HOG, HOGb and DSIFT inversions reach the paper's quality (CVPR 2015 Table 1).

What is asserted, and why. Table 1 reports the *CVPR* error: ``‖Φ(x*) − Φ0‖²`` divided by
``mean(pdist2(Y0, Y0)(:).^2)``, the mean squared distance between the codes of the image
set (the CVPR code's ``my_meanstd``), mean ± std over 100 ImageNet images. It is a
property of a *set*, so each representation here inverts a set of 3 scikit-image
photographs (astronaut, chelsea, coffee) with its 800-step preset and the CVPR error is
computed over those 3 exactly as the code does — the N × N mean includes the zero
diagonal, which with N = 3 makes the normaliser a third smaller and the error larger
than over distinct pairs, so the test is conservative. Asserted, per representation:

1. the set's mean CVPR error is below **half** the paper's mean (HOG 28.10, HOGb 10.67,
   DSIFT 10.89 %), and every image's is below the paper's mean;
2. every image's IJCV error ``√(‖Φ(x*) − Φ0‖²/‖Φ0‖²)`` (independent of the set) is below a
   bound set ~1.5× above what was measured (see :data:`IJCV_BOUNDS`);
3. the same errors of the *initial noise* fail both checks (CVPR error > 2× the paper's
   mean, IJCV error > the bound), so the assertions can fail: the error is not small by
   construction.

Size. The pre-images are 128×128 instead of the paper's 227×227 to keep the file cheap:
58 s for the whole file on an idle 2-core machine (2 torch threads); 252 s for its
inversions with 1 thread while 4–5 other processes shared the 2 cores. The engine
size-normalises the λ's, and the numbers make the same point at both sizes. Measured
(seed 0, CPU, 800 steps) over these 3 images, CVPR mean / IJCV per image, in %:

=========  =====================  =====================
Φ          128 px (this test)     227 px (the paper's)
=========  =====================  =====================
HOG        9.57 / 18.5 – 30.2     10.24 / 19.1 – 29.7
HOGb       0.84 /  4.5 –  8.5      1.28 /  4.3 – 12.1
DSIFT      0.35 /  2.5 –  7.2      0.61 /  2.8 –  8.9
=========  =====================  =====================

The same inversions at 227 px took 189 s with 1 thread on the idle machine.
``benchmarks/quality.py`` (a caller of ``inverter evaluate``) gives the 227-px numbers over 9
photographs; the definitions are :mod:`inverter.evaluation.statistics`'s.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from inverter.engine import reconstruct
from inverter.evaluation.paper import PAPER_TABLE1
from inverter.evaluation.statistics import cvpr_errors, cvpr_normalization, describe, ijcv_error
from inverter.representations import load_representation

IMAGES = ("astronaut", "chelsea", "coffee")
SIZE = 128
#: Per-image IJCV error bounds (unitless): ~1.5× the largest value measured at 128 px.
IJCV_BOUNDS = {"hog": 0.45, "hogb": 0.13, "dsift": 0.11}


@dataclass
class SetResult:
    """One representation's inversions of :data:`IMAGES`.

    Attributes:
        family: ``hog``, ``hogb`` or ``dsift``.
        codes: ``[3, D]`` float64 codes of the reconstructions.
        targets: ``[3, D]`` float64 codes of the inputs.
        noise_codes: ``[3, D]`` float64 codes of each run's initial noise.
    """

    family: str
    codes: np.ndarray
    targets: np.ndarray
    noise_codes: np.ndarray


def _codes(family: str) -> SetResult:
    from skimage import data

    rep = load_representation(family, device="cpu")
    codes, targets, noise = [], [], []
    for name in IMAGES:
        image = getattr(data, name)()
        for iterations, out in ((0, noise), (None, codes)):
            shot = reconstruct(rep, image, iterations=iterations, image_size=(SIZE, SIZE), snapshot_every=10**9)
            with torch.no_grad():
                out.append(rep(torch.from_numpy(shot.pixels[:1])).flatten().double().numpy())
        with torch.no_grad():
            targets.append(rep(rep.image_to_pixels(image, (SIZE, SIZE))).flatten().double().numpy())
        assert ijcv_error(codes[-1], targets[-1]) == pytest.approx(float(shot.relative_error[0]), rel=1e-3)
    return SetResult(family, np.stack(codes), np.stack(targets), np.stack(noise))


@pytest.fixture(scope="module", params=["hog", "hogb", "dsift"])
def inverted(request) -> SetResult:
    """The 800-step preset inversions of :data:`IMAGES` for one representation."""
    return _codes(request.param)


def test_cvpr_error_is_computed_as_the_papers_code():
    """pdist2 over the full N × N matrix, zero diagonal included; squared error, not its root."""
    targets = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])
    codes = targets + np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    # squared distances 25, 16, 9 off the diagonal, twice each, over 9 entries
    normaliser = 2 * (25 + 16 + 9) / 9
    assert cvpr_normalization(targets) == pytest.approx(normaliser)
    np.testing.assert_allclose(cvpr_errors(codes, targets), [1 / normaliser, 0.0, 4 / normaliser])
    stats = describe([1.0, 2.0, 3.0])
    assert (stats.mean, stats.std) == pytest.approx((2.0, 1.0))  # MATLAB's N − 1 std
    with pytest.raises(ValueError):
        cvpr_errors(codes[:1], targets[:1])


def test_cvpr_error_below_paper_table1(inverted: SetResult):
    paper_mean, _ = PAPER_TABLE1[inverted.family]
    errors = 100 * cvpr_errors(inverted.codes, inverted.targets)
    assert errors.mean() < paper_mean / 2, (inverted.family, errors)
    assert errors.max() < paper_mean, (inverted.family, errors)


def test_ijcv_error_per_image_below_measured_bound(inverted: SetResult):
    errors = [ijcv_error(c, t) for c, t in zip(inverted.codes, inverted.targets)]
    assert max(errors) < IJCV_BOUNDS[inverted.family], (inverted.family, errors)


def test_the_metric_can_fail_on_the_initial_noise(inverted: SetResult):
    """Before optimisation the same errors are far above the paper's, so the bounds above mean something."""
    paper_mean, _ = PAPER_TABLE1[inverted.family]
    errors = 100 * cvpr_errors(inverted.noise_codes, inverted.targets)
    assert errors.min() > 2 * paper_mean, (inverted.family, errors)
    ijcv = [ijcv_error(c, t) for c, t in zip(inverted.noise_codes, inverted.targets)]
    assert min(ijcv) > IJCV_BOUNDS[inverted.family], (inverted.family, ijcv)
