"""Image I/O and conversions, as plain arrays (scikit-image conventions).

Arrays are float in ``[0, 1]``, ``[H, W, 3]`` RGB or ``[H, W]`` grey, unless stated.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage import color, io, transform, util

from .errors import ImageError

#: Largest image side accepted when reading a file, in pixels (a guard against huge uploads).
MAX_IMAGE_SIDE = 8192
#: scikit-image's natural photographs used as examples and as a small set of natural images
#: (no download needed).
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "camera", "rocket")


def as_rgb_float(image: np.ndarray) -> np.ndarray:
    """Any 2-D/3-D image array → ``[H, W, 3]`` float64 in ``[0, 1]``.

    Accepts grey ``[H, W]`` or ``[H, W, 1]``, RGB, RGBA (composited on white), any
    integer dtype (uint8, uint16, …) or float already in ``[0, 1]``.

    Raises:
        ImageError: not an image (wrong rank, empty, non-finite values).
    """
    array = np.asarray(image)
    if array.dtype == object or array.size == 0:
        raise ImageError("not an image: empty or not numeric")
    if array.ndim == 4 and array.shape[0] >= 1:  # animated image: keep the first frame
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageError(f"not an image: array of shape {array.shape}")
    if min(array.shape[:2]) < 2:
        raise ImageError(f"image too small: {array.shape[1]}×{array.shape[0]} pixels")
    if array.dtype == bool:
        array = array.astype(np.float64)
    elif np.issubdtype(array.dtype, np.integer):
        array = util.img_as_float(array)
    else:
        array = array.astype(np.float64)
        if not np.isfinite(array).all():
            raise ImageError("image has NaN or infinite values")
        if array.min() < 0 or array.max() > 1:
            raise ImageError("float image values must lie in [0, 1]")
    if array.ndim == 2:
        return np.stack([array] * 3, axis=-1)
    if array.shape[-1] == 4:
        alpha = array[..., 3:4]
        return array[..., :3] * alpha + (1.0 - alpha)
    return array


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``[H, W, 3]`` float64 RGB in ``[0, 1]``.

    Raises:
        ImageError: missing, unreadable, corrupt or larger than :data:`MAX_IMAGE_SIDE`.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"no such image file: {path}")
    try:
        array = io.imread(str(path))
    except Exception as err:  # skimage/imageio/PIL raise many different types
        raise ImageError(f"cannot read {path.name} as an image: {err}") from err
    height, width = (array.shape[1:3] if array.ndim == 4 else array.shape[:2]) if array.ndim >= 2 else (0, 0)
    if max(height, width) > MAX_IMAGE_SIDE:  # frames of an animation count by their own size
        raise ImageError(f"image too large: {width}×{height} (max side {MAX_IMAGE_SIDE})")
    return as_rgb_float(array)


#: Spline orders of :func:`skimage.transform.resize` by interpolation name (as timm's configs name them).
INTERPOLATION_ORDERS = {"nearest": 0, "bilinear": 1, "bicubic": 3}


def prepare_image(image: np.ndarray, size: tuple[int, int], grey: bool = False,
                  interpolation: str = "bilinear") -> np.ndarray:  # fmt: skip
    """Crop to the target aspect, resize (anti-aliased) and optionally convert to grey.

    Args:
        image: any image accepted by :func:`as_rgb_float`.
        size: output ``(H, W)`` in pixels.
        grey: convert to luminance (``skimage.color.rgb2gray`` weights).
        interpolation: ``"bilinear"``, ``"bicubic"`` or ``"nearest"`` (other names: bilinear).

    Returns:
        ``[H, W, C]`` float32 in ``[0, 1]``, ``C = 1`` if grey else 3.
    """
    rgb = as_rgb_float(image)
    h, w = rgb.shape[:2]
    target_aspect = size[1] / size[0]
    if w / h > target_aspect:  # too wide: crop the sides
        new_w = max(1, round(h * target_aspect))
        left = (w - new_w) // 2
        rgb = rgb[:, left : left + new_w]
    else:
        new_h = max(1, round(w / target_aspect))
        top = (h - new_h) // 2
        rgb = rgb[top : top + new_h]
    if rgb.shape[:2] != tuple(size):
        order = INTERPOLATION_ORDERS.get(interpolation, 1)
        rgb = transform.resize(rgb, size, order=order, anti_aliasing=True, preserve_range=True)
    rgb = np.clip(rgb, 0.0, 1.0)
    if grey:
        return color.rgb2gray(rgb)[..., None].astype(np.float32)
    return rgb.astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``[0, 1]`` float image → uint8, grey ``[H, W]``/``[H, W, 1]`` made RGB ``[H, W, 3]``."""
    array = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.round(array * 255.0).astype(np.uint8)


def sample_photo(name: str) -> np.ndarray:
    """The sample photograph ``name`` (:data:`SAMPLE_PHOTOS`), ``[H, W, 3]`` float64 RGB in ``[0, 1]``.

    Raises:
        ImageError: unknown name.
    """
    if name not in SAMPLE_PHOTOS:
        raise ImageError(f"unknown example image {name!r}; known: {', '.join(SAMPLE_PHOTOS)}")
    from skimage import data

    return as_rgb_float(getattr(data, name)())
