"""Labelled image grids: tiles with captions under them, as one ``[H, W, 3]`` uint8 array.

Used by the experiments (and reusable by benchmarks) to lay out reconstructions side
by side. Tiles may be grey or RGB, uint8 or float in ``[0, 1]``, of any size: each is
scaled to a square cell of ``tile_size`` pixels (nearest neighbour when enlarging, so
small pre-images stay crisp; anti-aliased when shrinking). A ``None`` tile is drawn as
an empty "pending" cell, so a grid can fill in while an experiment runs.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .images import as_rgb_float, to_uint8

#: Colours, RGB uint8.
BACKGROUND = (255, 255, 255)
PENDING = (225, 225, 225)
TEXT = (20, 20, 20)
HIGHLIGHT = (230, 60, 20)
#: Most caption lines under a tile when their number is chosen automatically.
MAX_CAPTION_LINES = 4

#: Replacements for captions when no font with Greek/maths glyphs is available.
_ASCII = {"λ": "lambda", "β": "beta", "α": "alpha", "±": "+/-", "★": "*", "×": "x", "–": "-", "…": "...",
          "Φ": "Phi", "σ": "sigma", "≥": ">=", "≤": "<=", "→": "->"}


@functools.lru_cache(maxsize=8)
def _font(size: int) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, bool]:
    """A font of ``size`` px and whether it has Greek glyphs (DejaVu Sans if installed)."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size), True
    except OSError:
        return ImageFont.load_default(size), False


def _text(caption: str, unicode_ok: bool) -> str:
    if unicode_ok:
        return caption
    for char, ascii_text in _ASCII.items():
        caption = caption.replace(char, ascii_text)
    return caption.encode("ascii", "replace").decode()


def _as_tile(tile: np.ndarray, size: int) -> Image.Image:
    array = np.asarray(tile)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        array = to_uint8(as_rgb_float(array))
    img = Image.fromarray(np.ascontiguousarray(array))
    h, w = array.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new != (w, h):
        img = img.resize(new, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS)
    return img


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, max_lines: int) -> list[str]:
    """Split ``text`` into at most ``max_lines`` lines that fit ``width`` pixels."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            trial = f"{line} {word}".strip()
            if line and draw.textlength(trial, font=font) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def wrapped_lines(caption: str, width: int, font_size: int = 13) -> int:
    """How many lines ``caption`` takes when wrapped to ``width`` pixels (uncapped)."""
    font, unicode_ok = _font(font_size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    return len(_wrap(measure, _text(caption, unicode_ok), font, width, 10_000))


def make_grid(
    tiles: Sequence[np.ndarray | None],
    captions: Sequence[str] | None = None,
    *,
    columns: int | None = None,
    tile_size: int = 160,
    caption_lines: int | None = None,
    font_size: int = 13,
    padding: int = 6,
    highlight: Sequence[bool] | None = None,
    blank: Sequence[bool] | None = None,
    title: str | None = None,
) -> np.ndarray:
    """Lay ``tiles`` out row by row, each with its caption underneath.

    Args:
        tiles: images ``[h, w]``/``[h, w, 3]`` (uint8, or float in ``[0, 1]``); ``None``
            draws an empty "pending" cell.
        captions: one text per tile (``"\\n"`` breaks lines; long lines wrap), or ``None``.
        columns: tiles per row; default ``ceil(sqrt(n))``, at most 6.
        tile_size: side of each square cell in pixels; tiles keep their aspect.
        caption_lines: text lines reserved under every tile; default: as many as the
            longest wrapped caption needs, at most :data:`MAX_CAPTION_LINES` (longer ones
            end in "…").
        font_size: caption size in pixels.
        padding: gap between cells and around the grid, in pixels.
        highlight: per tile, draw a coloured frame around it (the best restart, say).
        blank: per tile, leave the cell empty (background, no caption), for row layouts.
        title: one line of text above the grid.

    Returns:
        ``[H, W, 3]`` uint8 RGB image.

    Raises:
        ValueError: no tiles, or captions/highlight not one per tile, or bad sizes.
    """
    n = len(tiles)
    if n == 0:
        raise ValueError("a grid needs at least one tile")
    if captions is not None and len(captions) != n:
        raise ValueError(f"got {len(captions)} captions for {n} tiles")
    for name, flags in (("highlight", highlight), ("blank", blank)):
        if flags is not None and len(flags) != n:
            raise ValueError(f"got {len(flags)} {name} flags for {n} tiles")
    if tile_size < 8 or font_size < 4 or padding < 0 or (caption_lines is not None and caption_lines < 0):
        raise ValueError("tile_size must be ≥ 8, font_size ≥ 4, padding and caption_lines ≥ 0")
    columns = columns or min(6, int(np.ceil(np.sqrt(n))))
    if columns < 1:
        raise ValueError(f"columns must be ≥ 1, got {columns}")
    rows = -(-n // columns)
    font, unicode_ok = _font(font_size)
    line_height = font_size + 3
    cell_w = tile_size
    width = padding + columns * (cell_w + padding)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    texts = [_text(c, unicode_ok) for c in captions] if captions is not None else []
    if caption_lines is None:
        caption_lines = max((len(_wrap(measure, t, font, cell_w, MAX_CAPTION_LINES)) for t in texts if t), default=0)
    title_lines = _wrap(measure, _text(title, unicode_ok), font, width - 2 * padding, 3) if title else []
    text_height = caption_lines * line_height if captions is not None else 0
    title_height = len(title_lines) * line_height + padding if title else 0
    cell_h = tile_size + text_height
    height = padding + title_height + rows * (cell_h + padding)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for k, line in enumerate(title_lines):
        draw.text((padding, padding + k * line_height), line, fill=TEXT, font=font)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        x0 = padding + c * (cell_w + padding)
        y0 = padding + title_height + r * (cell_h + padding)
        if blank is not None and blank[i]:
            continue
        if tile is None:
            draw.rectangle((x0, y0, x0 + tile_size - 1, y0 + tile_size - 1), fill=PENDING)
        else:
            img = _as_tile(tile, tile_size)
            canvas.paste(img, (x0 + (tile_size - img.width) // 2, y0 + (tile_size - img.height) // 2))
        if highlight is not None and highlight[i]:
            frame = max(2, tile_size // 40)
            draw.rectangle((x0, y0, x0 + tile_size - 1, y0 + tile_size - 1), outline=HIGHLIGHT, width=frame)
        if captions is not None and caption_lines and texts[i]:
            for k, line in enumerate(_wrap(draw, texts[i], font, cell_w, caption_lines)):
                draw.text((x0, y0 + tile_size + 2 + k * line_height), line, fill=TEXT, font=font)
    return np.asarray(canvas, dtype=np.uint8).copy()
