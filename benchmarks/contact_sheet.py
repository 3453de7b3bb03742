"""Labelled contact sheets: a grid of image tiles, each with a caption, as one RGB array.

Plain arrays in and out (``[H, W, 3]`` uint8, or float in ``[0, 1]``); Pillow only draws
the text. Used by the benchmarks to put reconstructions side by side.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 or no FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _as_pil(tile: np.ndarray) -> Image.Image:
    array = np.asarray(tile)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(f"a tile must be [H, W] or [H, W, 3], got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.round(np.clip(np.asarray(array, dtype=np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(array).convert("RGB")


def contact_sheet(
    tiles: Sequence[np.ndarray],
    labels: Sequence[str],
    columns: int = 6,
    tile_size: int = 160,
    title: str | None = None,
    font_size: int = 13,
    gap: int = 6,
) -> np.ndarray:
    """Lay ``tiles`` out on a grid, row by row, with ``labels[i]`` under tile ``i``.

    Args:
        tiles: images, ``[H, W, 3]``/``[H, W]`` uint8 or float in ``[0, 1]``; each is
            scaled (aspect kept) to fit a ``tile_size`` × ``tile_size`` pixel box.
        labels: one caption per tile; ``"\\n"`` separates lines.
        columns: tiles per row.
        title: optional line of text across the top.
        font_size: caption height in pixels (Pillow's default font).
        gap: pixels between tiles and around the sheet.

    Returns:
        ``[H, W, 3]`` uint8 RGB sheet.

    Raises:
        ValueError: no tiles, a label count that differs from the tile count, or a bad tile.
    """
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    if len(labels) != len(tiles):
        raise ValueError(f"{len(tiles)} tiles but {len(labels)} labels")
    if columns < 1 or tile_size < 8:
        raise ValueError("columns must be ≥ 1 and tile_size ≥ 8 pixels")
    font = _font(font_size)
    line = font_size + 3
    caption = line * max(label.count("\n") + 1 for label in labels)
    header = line + gap if title else 0
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    cell_w, cell_h = tile_size + gap, tile_size + caption + gap
    sheet = Image.new("RGB", (gap + columns * cell_w, gap + header + rows * cell_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((gap, gap), title, fill=INK, font=font)
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        image = _as_pil(tile)
        image.thumbnail((tile_size, tile_size), Image.Resampling.LANCZOS)
        if max(image.size) < tile_size:  # small tiles are enlarged, pixels kept visible
            factor = tile_size / max(image.size)
            image = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.NEAREST)
        x = gap + (i % columns) * cell_w
        y = gap + header + (i // columns) * cell_h
        sheet.paste(image, (x + (tile_size - image.width) // 2, y + (tile_size - image.height) // 2))
        for j, text in enumerate(label.split("\n")):
            draw.text((x, y + tile_size + 2 + j * line), text, fill=INK, font=font)
    return np.asarray(sheet)


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write ``[H, W, 3]`` uint8 ``image`` as an optimised PNG (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path, format="PNG", optimize=True)
    return path
