"""The paper's two error definitions, and the statistics a summary reports.

With ``y0_i = Φ(x0_i)`` the code of image ``i`` and ``y_i = Φ(x*_i)`` the code of its
reconstruction, both flattened:

* **IJCV 2016**: ``√(‖y_i − y0_i‖² / ‖y0_i‖²)`` per image (the engine's ``relative_error``).
* **CVPR 2015** (Table 1; the CVPR code's ``my_meanstd``)::

      temp = pdist2(y0', y0');  normalization_factor = mean(temp(:).^2);
      err_i = sum((y_i − y0_i).^2) / normalization_factor

  the squared error divided by the mean squared distance between the codes of the set,
  the mean taken over the full ``N × N`` matrix *including* its zero diagonal, as the
  code does (with N = 100 that is 1% below the mean over distinct pairs; with N = 3 a
  third below). It is a property of a set of at least 2 images.

All errors are unitless fractions (the paper prints them ×100, in %).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def ijcv_error(code: np.ndarray, target: np.ndarray) -> float:
    """IJCV 2016's error √(‖y − y0‖² / ‖y0‖²) of one code ``[D]`` against its target ``[D]``, unitless."""
    code, target = np.asarray(code, np.float64).ravel(), np.asarray(target, np.float64).ravel()
    return float(np.sqrt(np.sum((code - target) ** 2) / max(np.sum(target**2), 1e-300)))


def cvpr_normalization(targets: Sequence[np.ndarray] | np.ndarray) -> float:
    """``mean(pdist2(Y0, Y0)(:).^2)`` of N ≥ 2 target codes: the mean squared distance over
    the full N × N matrix, zero diagonal included (the CVPR code's ``my_meanstd``).

    Computed as ``(2/N)·Σ_i ‖y0_i − ȳ0‖²``, which is the same number (the N² squared
    distances sum to ``2N·Σ_i ‖y0_i − ȳ0‖²``) without the N × N matrix, reading each code
    twice and holding one at a time: ``targets`` may be a lazy sequence of codes on disk.

    Args:
        targets: ``[N, D]`` array, or a sequence of N codes of D values each (any shape).

    Raises:
        ValueError: fewer than 2 codes, or codes of different sizes.
    """
    count = len(targets)
    if count < 2 or (isinstance(targets, np.ndarray) and targets.ndim != 2):
        shape = targets.shape if isinstance(targets, np.ndarray) else (count,)
        raise ValueError(f"the CVPR error needs ≥ 2 codes as an [N, D] array, got shape {shape}")
    total = None
    for code in targets:
        flat = np.asarray(code, np.float64).ravel()
        if total is not None and flat.shape != total.shape:
            raise ValueError(f"codes of different sizes: {flat.size} and {total.size} values")
        total = flat.copy() if total is None else total + flat
    mean = total / count
    spread = sum(float(np.sum((np.asarray(code, np.float64).ravel() - mean) ** 2)) for code in targets)
    return 2.0 * spread / count


def cvpr_errors(codes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """CVPR 2015's errors ``‖y_i − y0_i‖² / mean(pdist2(Y0, Y0)(:).^2)``, ``[N]`` unitless.

    Args:
        codes: ``[N, D]`` codes of the reconstructions. targets: ``[N, D]`` codes of the inputs.

    Raises:
        ValueError: fewer than 2 codes, or mismatched shapes.
    """
    y, y0 = np.asarray(codes, np.float64), np.asarray(targets, np.float64)
    if y.shape != y0.shape:
        raise ValueError(f"codes {y.shape} and targets {y0.shape} differ in shape")
    return np.sum((y - y0) ** 2, axis=1) / cvpr_normalization(y0)


@dataclass(frozen=True)
class Stats:
    """Summary statistics of a sample, in the values' unit.

    Attributes:
        count: number of finite values.
        mean: their mean. std: standard deviation with the ``N − 1`` denominator (MATLAB's
            ``std``, the paper's ±); NaN for fewer than 2 values.
        low, high: the 95% confidence interval of the mean, ``mean ± t₀.₉₇₅(N−1)·std/√N``
            (Student's t); NaN for fewer than 2 values.
        min, max: the extremes.
    """

    count: int
    mean: float
    std: float
    low: float
    high: float
    min: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (NaN kept; strict JSON writers turn it into null)."""
        return asdict(self)

    def text(self, scale: float = 1.0, digits: int = 2) -> str:
        """``mean ± std [low, high]`` with values × ``scale`` (100 for %), ``n/a`` when empty."""
        if not self.count:
            return "n/a"
        m, s = self.mean * scale, self.std * scale
        if math.isnan(s):
            return f"{m:.{digits}f}"
        return f"{m:.{digits}f} ± {s:.{digits}f} [{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"


def describe(values: Sequence[float]) -> Stats:
    """:class:`Stats` of the finite ``values`` (NaN and ±inf are left out; an infinite PSNR, say)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
    nan = float("nan")
    if len(v) == 0:
        return Stats(0, nan, nan, nan, nan, nan, nan)
    mean = float(v.mean())
    if len(v) < 2:
        return Stats(1, mean, nan, nan, nan, mean, mean)
    from scipy import stats

    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(v) - 1)) * std / math.sqrt(len(v))
    return Stats(len(v), mean, std, mean - half, mean + half, float(v.min()), float(v.max()))
