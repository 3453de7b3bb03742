"""Image-space quality of a reconstruction: PSNR and SSIM against the reference.

Both compare the *displayed* uint8 images (``Snapshot.images[k]`` vs
``Snapshot.reference``), so they include the display mapping: with the paper's
``"minmax"`` display the reconstruction is contrast-stretched before comparison. They
say how close a pre-image looks to the input, not how well it matches the code (that is
the relative error).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


@dataclass(frozen=True)
class ImageMetrics:
    """Attributes: psnr: PSNR in dB (``inf`` for identical images); ssim: mean SSIM in [-1, 1]."""

    psnr: float
    ssim: float


def _check(image: np.ndarray, reference: np.ndarray) -> None:
    for name, array in (("image", image), ("reference", reference)):
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
            raise ValueError(f"{name} must be a [H, W, 3] uint8 array, got {array.dtype} {array.shape}")
    if image.shape != reference.shape:
        raise ValueError(f"image {image.shape} and reference {reference.shape} differ in shape")
    if min(image.shape[:2]) < 7:
        raise ValueError(f"SSIM needs images of at least 7×7 pixels, got {image.shape[1]}×{image.shape[0]}")


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR of ``image`` against ``reference``, both ``[H, W, 3]`` uint8, in dB (data range 255).

    Raises:
        ValueError: wrong dtype or shape, or the shapes differ.
    """
    image, reference = np.asarray(image), np.asarray(reference)
    _check(image, reference)
    if np.array_equal(image, reference):
        return float("inf")
    return float(peak_signal_noise_ratio(reference, image, data_range=255))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean SSIM (7×7 window, per colour channel) of ``image`` against ``reference``.

    Both ``[H, W, 3]`` uint8, at least 7×7 pixels.

    Raises:
        ValueError: wrong dtype or shape, or the shapes differ.
    """
    image, reference = np.asarray(image), np.asarray(reference)
    _check(image, reference)
    return float(structural_similarity(reference, image, data_range=255, channel_axis=-1))


def compare(image: np.ndarray, reference: np.ndarray) -> ImageMetrics:
    """PSNR and SSIM of ``image`` against ``reference`` (see :func:`psnr`, :func:`ssim`)."""
    return ImageMetrics(psnr=psnr(image, reference), ssim=ssim(image, reference))
