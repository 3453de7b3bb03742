"""Error-against-depth charts, drawn once and written both as SVG and as PNG (Pillow).

No plotting library: a :class:`Drawing` records a few primitives (lines, polylines,
markers, text) in pixel coordinates and renders them to SVG text or to a Pillow image,
so both files show the same chart. :func:`layer_chart` lays out one panel per error
definition, one line per network with 95% intervals as error bars, and the paper's
values as hollow diamonds with their ± std.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw

from ..grid import _font

#: Line colours, one per network (RGB).
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))  # fmt: skip
INK, GRID, PAPER = (30, 30, 30), (225, 225, 225), (0, 0, 0)
Colour = tuple[int, int, int]


@dataclass
class Drawing:
    """Primitives in pixel coordinates (origin top left), rendered by :meth:`svg` and :meth:`png`."""

    width: int
    height: int
    items: list[tuple] = field(default_factory=list)

    def line(self, points: Sequence[tuple[float, float]], colour: Colour, width: float = 1.0,
             dashed: bool = False) -> None:  # fmt: skip
        """A polyline through ``points``."""
        self.items.append(("line", [tuple(map(float, p)) for p in points], colour, width, dashed))

    def marker(self, x: float, y: float, colour: Colour, radius: float = 3.5, shape: str = "circle",
               filled: bool = True) -> None:  # fmt: skip
        """A ``"circle"`` or ``"diamond"`` centred at ``(x, y)``."""
        self.items.append(("marker", float(x), float(y), colour, radius, shape, filled))

    def text(self, x: float, y: float, text: str, size: int = 12, colour: Colour = INK, anchor: str = "start",
             angle: float = 0.0) -> None:  # fmt: skip
        """``text`` with its baseline's ``anchor`` (``start``/``middle``/``end``) at ``(x, y)``,
        turned ``angle`` degrees anticlockwise about that point."""
        self.items.append(("text", float(x), float(y), text, size, colour, anchor, float(angle)))

    # ---------------------------------------------------------------- renderers
    def svg(self) -> str:
        """The drawing as an SVG document."""
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
               f'viewBox="0 0 {self.width} {self.height}" font-family="DejaVu Sans, Arial, sans-serif">',
               f'<rect width="{self.width}" height="{self.height}" fill="white"/>']  # fmt: skip
        for item in self.items:
            kind = item[0]
            if kind == "line":
                _, points, colour, width, dashed = item
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                dash = ' stroke-dasharray="5,4"' if dashed else ""
                out.append(f'<polyline points="{path}" fill="none" stroke="{_hex(colour)}" '
                           f'stroke-width="{width:g}"{dash}/>')  # fmt: skip
            elif kind == "marker":
                _, x, y, colour, r, shape, filled = item
                fill = _hex(colour) if filled else "white"
                if shape == "diamond":
                    d = r * 1.4
                    out.append(f'<polygon points="{x:.1f},{y - d:.1f} {x + d:.1f},{y:.1f} {x:.1f},{y + d:.1f} '
                               f'{x - d:.1f},{y:.1f}" fill="{fill}" stroke="{_hex(colour)}" stroke-width="1.5"/>')
                else:
                    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:g}" fill="{fill}" '
                               f'stroke="{_hex(colour)}" stroke-width="1.5"/>')  # fmt: skip
            else:
                _, x, y, text, size, colour, anchor, angle = item
                turn = f' transform="rotate({-angle:g} {x:.1f} {y:.1f})"' if angle else ""
                out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{_hex(colour)}" '
                           f'text-anchor="{anchor}"{turn}>{escape(text)}</text>')  # fmt: skip
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def png(self, scale: int = 2) -> np.ndarray:
        """The drawing rendered by Pillow at ``scale`` × its size, ``[H, W, 3]`` uint8."""
        image = Image.new("RGB", (self.width * scale, self.height * scale), "white")
        draw = ImageDraw.Draw(image)
        for item in self.items:
            kind = item[0]
            if kind == "line":
                _, points, colour, width, dashed = item
                scaled = [(x * scale, y * scale) for x, y in points]
                segments = _dashes(scaled, 5 * scale, 4 * scale) if dashed else [scaled]
                for segment in segments:
                    draw.line(segment, fill=colour, width=max(1, round(width * scale)), joint="curve")
            elif kind == "marker":
                _, x, y, colour, r, shape, filled = item
                x, y, r = x * scale, y * scale, r * scale
                fill = colour if filled else (255, 255, 255)
                if shape == "diamond":
                    d = r * 1.4
                    draw.polygon([(x, y - d), (x + d, y), (x, y + d), (x - d, y)], fill=fill, outline=colour,
                                 width=max(1, round(1.5 * scale)))  # fmt: skip
                else:
                    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=colour, width=max(1, round(1.5 * scale)))
            else:
                _, x, y, text, size, colour, anchor, angle = item
                _draw_text(image, x * scale, y * scale, text, size * scale, colour, anchor, angle)
        return np.asarray(image, dtype=np.uint8).copy()


def _hex(colour: Colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _dashes(points: list[tuple[float, float]], on: float, off: float) -> list[list[tuple[float, float]]]:
    """A polyline cut into dashes of ``on`` pixels with gaps of ``off``."""
    out: list[list[tuple[float, float]]] = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        t = 0.0
        while t < length:
            end = min(t + on, length)
            out.append([(x0 + (x1 - x0) * t / length, y0 + (y1 - y0) * t / length),
                        (x0 + (x1 - x0) * end / length, y0 + (y1 - y0) * end / length)])  # fmt: skip
            t = end + off
    return out


def _draw_text(image: Image.Image, x: float, y: float, text: str, size: int, colour: Colour, anchor: str,
               angle: float) -> None:  # fmt: skip
    font, _ = _font(int(size))
    pil_anchor = {"start": "ls", "middle": "ms", "end": "rs"}[anchor]
    if not angle:
        ImageDraw.Draw(image).text((x, y), text, fill=colour, font=font, anchor=pil_anchor)
        return
    # Draw on a transparent square centred on the anchor, turn it about its centre, paste it back.
    side = int(ImageDraw.Draw(image).textlength(text, font=font) * 2 + size * 2)
    layer = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((side / 2, side / 2), text, fill=(*colour, 255), font=font, anchor=pil_anchor)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, center=(side / 2, side / 2))
    image.paste(layer, (round(x - side / 2), round(y - side / 2)), layer)


# -------------------------------------------------------------------------- the chart
@dataclass
class Curve:
    """One network's errors: ``points`` are ``(depth, mean, low, high)``, in the panel's unit."""

    label: str
    points: list[tuple[float, float, float, float]]


@dataclass
class PaperMark:
    """A value the paper reports at ``depth``: ``mean ± std`` in the panel's unit."""

    label: str
    depth: float
    mean: float
    std: float


@dataclass
class ChartPanel:
    """One panel: a title, its curves, the paper's marks and dashed reference levels ``(value, label)``."""

    title: str
    curves: list[Curve]
    marks: list[PaperMark] = field(default_factory=list)
    levels: list[tuple[float, str]] = field(default_factory=list)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (about ``count`` of them)."""
    if not math.isfinite(top) or top <= 0:
        top = 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(math.ceil(top / step - 1e-9)) + 1)]


def layer_chart(panels: Sequence[ChartPanel], x_labels: dict[int, str] | None = None, title: str = "",
                unit: str = "%") -> Drawing:  # fmt: skip
    """Panels side by side, x = layer depth (1 = shallowest), y = error.

    Args:
        panels: one per error definition; curve ``i`` has colour ``i`` in every panel.
        x_labels: tick labels by depth (layer names); default the depth numbers.
        title: a line above the panels. unit: the values' unit, for the panels' titles.
    """
    width, height, left, right, top, bottom = 470, 380, 56, 16, 46, 96
    labels = [c.label for p in panels for c in p.curves]
    legend = list(dict.fromkeys(labels))
    has_marks = any(p.marks for p in panels)
    legend_rows = -(-(len(legend) + has_marks) // 3)
    drawing = Drawing(width * len(panels), height + 18 * legend_rows + 10)
    if title:
        drawing.text(drawing.width / 2, 20, title, size=13, anchor="middle")
    depths = [p[0] for panel in panels for c in panel.curves for p in c.points] + [m.depth for p in panels for m in p.marks]
    x_max = max(depths, default=1)
    for k, panel in enumerate(panels):
        x0, x1, y0, y1 = k * width + left, (k + 1) * width - right, height - bottom, top
        values = [v for c in panel.curves for p in c.points for v in (p[1], p[3]) if math.isfinite(v)]
        values += [m.mean + (m.std if math.isfinite(m.std) else 0) for m in panel.marks] + [v for v, _ in panel.levels]
        ticks = nice_ticks(max(values, default=1.0) * 1.05)
        y_top = ticks[-1]

        def px(depth: float) -> float:
            return x0 + (depth - 0.5) / x_max * (x1 - x0)

        def py(value: float) -> float:
            return y0 - value / y_top * (y0 - y1)

        for tick in ticks:
            drawing.line([(x0, py(tick)), (x1, py(tick))], GRID)
            drawing.text(x0 - 6, py(tick) + 4, f"{tick:g}", size=11, anchor="end")
        drawing.line([(x0, y1), (x0, y0), (x1, y0)], INK)
        for depth in range(1, int(x_max) + 1):
            label = (x_labels or {}).get(depth, str(depth))
            drawing.line([(px(depth), y0), (px(depth), y0 + 4)], INK)
            drawing.text(px(depth) + 3, y0 + 14, label, size=10, anchor="end", angle=45 if x_labels else 0)
        drawing.text((x0 + x1) / 2, height - 12, "layer depth (1 = shallowest)", size=11, anchor="middle")
        drawing.text(x0, y1 - 8, f"{panel.title} ({unit})", size=12)
        for value, text in panel.levels:
            drawing.line([(x0, py(value)), (x1, py(value))], PAPER, dashed=True)
            drawing.text(x1 - 4, py(value) - 4, text, size=10, anchor="end")
        for mark in panel.marks:
            x = px(mark.depth) + 8
            if math.isfinite(mark.std):
                drawing.line([(x, py(mark.mean - mark.std)), (x, py(mark.mean + mark.std))], PAPER)
            drawing.marker(x, py(mark.mean), PAPER, radius=4, shape="diamond", filled=False)
            drawing.text(x + 8, py(mark.mean) + 4, mark.label, size=9, colour=PAPER)
        for curve in panel.curves:
            colour = PALETTE[legend.index(curve.label) % len(PALETTE)]
            finite = [p for p in curve.points if math.isfinite(p[1])]
            if len(finite) > 1:
                drawing.line([(px(d), py(m)) for d, m, _, _ in finite], colour, width=1.8)
            for d, m, low, high in finite:
                if math.isfinite(low) and math.isfinite(high):
                    drawing.line([(px(d), py(max(low, 0))), (px(d), py(high))], colour)
                drawing.marker(px(d), py(m), colour)
    y = height + 8
    entries = [(label, PALETTE[i % len(PALETTE)], "circle") for i, label in enumerate(legend)]
    if has_marks:
        entries.append(("paper (CVPR 2015 Table 1, mean ± std)", PAPER, "diamond"))
    for i, (label, colour, shape) in enumerate(entries):
        row, column = divmod(i, 3)
        x = 20 + column * drawing.width / 3
        drawing.marker(x, y + row * 18, colour, radius=4, shape=shape, filled=shape == "circle")
        drawing.text(x + 10, y + row * 18 + 4, label, size=11)
    return drawing
