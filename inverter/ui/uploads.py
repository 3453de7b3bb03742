"""Read an uploaded image safely: size limits before decoding, any mode made RGB.

Accepted: anything Pillow opens (PNG, JPEG, GIF, WebP, TIFF, BMP, …), in any mode:
RGBA/LA/palette images are composited on white, grey is replicated, 16-bit images keep
their precision, animated images give their first frame, EXIF orientation is applied.
Images with a side above :data:`DOWNSCALE_SIDE` are downscaled (the pre-image is at most
512 px anyway); above :data:`MAX_UPLOAD_SIDE` or :data:`MAX_UPLOAD_PIXELS` they are
rejected before being decoded (:func:`check_upload`, which the app's validator runs before a
request is queued). Gradio itself refuses uploads above :data:`MAX_UPLOAD_BYTES`
(``launch(max_file_size=...)``), before they are stored.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from ..images import ImageError, as_rgb_float

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_UPLOAD_SIDE = 8192
MAX_UPLOAD_PIXELS = 40_000_000
DOWNSCALE_SIDE = 1024


def upload_path(payload: Any) -> Path:
    """The server-side file of an image input (a Gradio ``FileData`` dict, or a path).

    Raises:
        ImageError: no image given.
    """
    if payload is None or payload == "":
        raise ImageError("No image: upload one or pick an example.")
    if isinstance(payload, dict):
        path = payload.get("path")
        if not path:
            raise ImageError("The image arrived without a file; send it as a file (gradio_client.handle_file).")
        return Path(path)
    if isinstance(payload, (str, Path)):
        return Path(payload)
    raise ImageError(f"Expected an image file, got {type(payload).__name__}.")


def upload_name(payload: Any) -> str:
    """The uploaded file's name on the user's machine (or on the server, if unknown)."""
    name = payload.get("orig_name") if isinstance(payload, dict) else None
    return Path(name).name if name else upload_path(payload).name


def check_upload(payload: Any) -> tuple[Path, str, int, int]:
    """Check an uploaded image without decoding its pixels: present, within the byte limit, an
    image Pillow can identify, within the side and pixel limits.

    Returns:
        ``(server path, the user's file name, width, height)``.

    Raises:
        ImageError: missing, not an image, or too large; the message says which.
    """
    path, name = upload_path(payload), upload_name(payload)
    if not path.is_file():
        raise ImageError(f"The uploaded file {name!r} is missing on the server; upload it again.")
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise ImageError(f"{name} is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Exception as err:  # Pillow raises many types for corrupt or unknown files
        raise _unreadable(err, path, name) from None
    if max(width, height) > MAX_UPLOAD_SIDE or width * height > MAX_UPLOAD_PIXELS:
        raise ImageError(f"{name} is {width}×{height} pixels; the limit is {MAX_UPLOAD_SIDE} px a side "
                         f"and {MAX_UPLOAD_PIXELS // 1_000_000} megapixels.")  # fmt: skip
    return path, name, width, height


def _unreadable(err: Exception, path: Path, name: str) -> ImageError:
    detail = str(err).replace(str(path), name)  # no server paths in messages
    return ImageError(f"{name} is not an image that can be read ({type(err).__name__}: {detail}).")


def read_upload(payload: Any) -> tuple[np.ndarray, str]:
    """Decode an uploaded image (checked first by :func:`check_upload`).

    Args:
        payload: a Gradio ``FileData`` dict (``{"path": …, "orig_name": …}``) or a path.

    Returns:
        ``([H, W, 3] float64 RGB in [0, 1], a one-line description of what was read)``.

    Raises:
        ImageError: missing, not an image, corrupt, or too large; the message says which.
    """
    path, name, width, height = check_upload(payload)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                frames = getattr(im, "n_frames", 1)
                im.seek(0)
                array, mode = _decode(im)
    except Exception as err:  # Pillow raises many types for corrupt or unknown files
        raise _unreadable(err, path, name) from None
    rgb = as_rgb_float(array)
    note = f"{name}: {width}×{height} {mode}" + (f", first of {frames} frames" if frames > 1 else "")
    if max(rgb.shape[:2]) < max(width, height):
        note += f", downscaled to {rgb.shape[1]}×{rgb.shape[0]}"
    return rgb, note


def _decode(im: Image.Image) -> tuple[np.ndarray, str]:
    """First frame → a numpy array ``as_rgb_float`` understands, downscaled if large."""
    mode = im.mode
    im = ImageOps.exif_transpose(im)
    if mode.startswith("I;16") or mode in ("I", "F"):
        im = im.convert("I") if mode != "F" else im
    elif mode in ("LA", "PA", "P", "RGBa", "La") or (mode in ("L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")
    elif mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGB")
    im.load()
    if max(im.size) > DOWNSCALE_SIDE:
        im = im.copy()
        im.thumbnail((DOWNSCALE_SIDE, DOWNSCALE_SIDE), Image.Resampling.LANCZOS)
    array = np.asarray(im)
    if im.mode == "I":  # 16-bit data held in int32
        array = np.clip(array, 0, 65535).astype(np.uint16)
    elif im.mode == "F":
        top = float(np.nanmax(array)) if array.size else 0.0
        array = np.clip(np.nan_to_num(array / (top if top > 1 else 1.0)), 0.0, 1.0)
    return array, mode
