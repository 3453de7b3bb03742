"""Reading and converting input images (inverter.images)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inverter.images import MAX_IMAGE_SIDE, ImageError, as_rgb_float, load_image, prepare_image


def test_oversized_still_image_is_refused(tmp_path):
    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((2, MAX_IMAGE_SIDE + 1), np.uint8)).save(path)
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_oversized_animation_frames_are_refused(tmp_path):
    path = tmp_path / "wide.gif"
    frames = [Image.fromarray(np.full((2, MAX_IMAGE_SIDE + 1), v, np.uint8)) for v in (0, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_small_animation_keeps_its_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.fromarray(np.full((6, 8), v, np.uint8)) for v in (0, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    image = load_image(path)
    assert image.shape == (6, 8, 3) and image.max() == 0.0


def test_conversions_cover_grey_rgba_and_16_bit():
    assert as_rgb_float(np.full((4, 4), 65535, np.uint16)).min() == 1.0
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black → white background
    assert as_rgb_float(rgba).min() == 1.0
    with pytest.raises(ImageError):
        as_rgb_float(np.zeros((4, 4, 2)))
    assert prepare_image(np.zeros((10, 20, 3)), (8, 8), grey=True).shape == (8, 8, 1)
