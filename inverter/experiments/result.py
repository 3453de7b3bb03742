"""Progress updates and results of experiments: grids, metrics, PNG + JSON export."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..documents import EXPERIMENT_FORMAT as JSON_FORMAT
from ..documents import absolute, write_document
from ..grid import make_grid
from .spec import ExperimentSpec, Panel

JSON_VERSION = 1


def compose_grid(
    reference: np.ndarray | None,
    slots: Sequence[Panel | None],
    rows: Sequence[int],
    title: str | None = None,
    tile_size: int = 160,
    labels: Sequence[str] | None = None,
    running: Sequence[bool] | None = None,
) -> np.ndarray:
    """The experiment's labelled grid, ``[H, W, 3]`` uint8.

    Args:
        reference: ``[h, w, 3]`` uint8 input image (first tile), or ``None`` if not known yet.
        slots: every panel in order, ``None`` for those still pending.
        rows: panels per row (one row per layer); all ones = one flowing grid.
        title: a line above the grid.
        tile_size: cell side in pixels.
        labels: every panel's planned label (captions of pending cells).
        running: per slot, the panel is still being optimised (its caption ends in "…").
    """
    tiles: list[np.ndarray | None] = [reference]
    captions = ["input"]
    highlight = [False]
    blank = [False]

    def add(i: int, p: Panel | None) -> None:
        tiles.append(None if p is None else p.image)
        if p is None:
            captions.append(f"{labels[i]}\nerror …" if labels is not None else "…")
        else:
            captions.append(p.caption + (" …" if running is not None and running[i] else ""))
        highlight.append(bool(p and p.best))
        blank.append(False)

    panels = list(slots)
    if all(n == 1 for n in rows):
        columns = None
        for i, p in enumerate(panels):
            add(i, p)
    else:
        columns = 1 + max(rows)
        start = 0
        for r, count in enumerate(rows):
            if r > 0:
                tiles.append(None), captions.append(""), highlight.append(False), blank.append(True)
            for i in range(start, start + count):
                add(i, panels[i])
            for _ in range(columns - 1 - count):
                tiles.append(None), captions.append(""), highlight.append(False), blank.append(True)
            start += count
    if columns is None:
        columns = min(6, int(np.ceil(np.sqrt(len(tiles)))))
    # caption height from the planned labels, so that the grid keeps its size while it fills in
    names = list(labels) if labels is not None else [p.label for p in panels if p is not None]
    lines = caption_lines(names, tile_size)
    return make_grid(tiles, captions, columns=columns, tile_size=tile_size, highlight=highlight, blank=blank,
                     title=title, caption_lines=lines)  # fmt: skip


def caption_lines(labels: Sequence[str], tile_size: int) -> int:
    """Text lines a panel caption needs: its longest wrapped label plus the error line."""
    from ..grid import wrapped_lines

    return max([wrapped_lines(f"{label}\n★ error 100.0%", tile_size) for label in labels] + [1])


def summarise(panels: Sequence[Panel], groups: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Error statistics: over all panels, and per group (restarts of one inversion).

    Statistics are of the relative error (unitless); ``std`` is the population standard
    deviation. ``best`` names the lowest-error panel.
    """

    def stats(indices: Sequence[int]) -> dict[str, Any]:
        errors = np.array([panels[i].relative_error for i in indices], dtype=np.float64)
        best = indices[int(np.argmin(errors))]
        return {
            "mean": float(errors.mean()), "std": float(errors.std()), "min": float(errors.min()),
            "max": float(errors.max()), "best": panels[best].label, "best_index": int(best), "count": len(indices),
        }  # fmt: skip

    summary: dict[str, Any] = {"relative_error": stats(list(range(len(panels))))}
    restart_groups = [list(g) for g in groups if len(g) > 1]
    if restart_groups:
        summary["groups"] = [{"layer": panels[g[0]].layer, **stats(g)} for g in restart_groups]
    summary["seconds"] = round(float(sum(panels[g[0]].seconds for g in groups if g)), 3)
    return summary


@dataclass
class ExperimentResult:
    """The outcome of a finished experiment.

    Attributes:
        spec: what was run (``image`` is ``"<array>"`` when an array was given).
        panels: the reconstructions, in grid order.
        rows: panels per grid row.
        reference: ``[H, W, 3]`` uint8, the input as the representation sees it.
        metrics: see :func:`summarise`.
        elapsed: wall time of the whole experiment, seconds.
        picture: the input as given, ``[H, W, 3]`` uint8, when it was an array (saved
            next to the JSON so that the run can be repeated).
        title: the grid's title line.
    """

    spec: ExperimentSpec
    panels: list[Panel]
    rows: list[int]
    reference: np.ndarray = field(repr=False)
    metrics: dict[str, Any]
    elapsed: float
    picture: np.ndarray | None = field(default=None, repr=False)
    title: str = ""

    @property
    def errors(self) -> np.ndarray:
        """``[N]`` relative errors of the panels, in order."""
        return np.array([p.relative_error for p in self.panels], dtype=np.float64)

    @property
    def images(self) -> list[np.ndarray]:
        """The panels' ``[H, W, 3]`` uint8 pre-images, in order."""
        return [p.image for p in self.panels]

    def grid(self, tile_size: int = 160) -> np.ndarray:
        """The labelled grid, ``[H, W, 3]`` uint8."""
        return compose_grid(self.reference, self.panels, self.rows, self.title, tile_size)

    def to_dict(self, grid_file: str | None = None) -> dict[str, Any]:
        """The JSON document: spec, metrics and every panel's label, error and settings."""
        return {
            "format": JSON_FORMAT,
            "version": JSON_VERSION,
            "spec": self.spec.to_dict(),
            "metrics": self.metrics,
            "elapsed_s": round(self.elapsed, 3),
            "grid": grid_file,
            "rows": list(self.rows),
            "panels": [p.to_dict() for p in self.panels],
        }

    def save(self, directory: str | Path, stem: str | None = None, tile_size: int = 160) -> dict[str, Path]:
        """Write ``{stem}.png`` (the grid), ``{stem}.json`` and, for array inputs, ``{stem}_input.png``.

        The JSON refers to the input by a path relative to ``directory``, so the folder
        can be moved and :func:`inverter.experiments.run_from_json` still repeats the run.

        Returns:
            ``{"png": …, "json": …}`` (plus ``"input"``) paths.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stem = stem or self.spec.kind
        paths = {"png": directory / f"{stem}.png", "json": directory / f"{stem}.json"}
        Image.fromarray(self.grid(tile_size)).save(paths["png"])
        document = self.to_dict(grid_file=paths["png"].name)
        if self.picture is not None:
            paths["input"] = directory / f"{stem}_input.png"
            Image.fromarray(self.picture).save(paths["input"])
            document["spec"]["image"] = paths["input"].name
        else:
            document["spec"]["image"] = absolute(document["spec"]["image"])
        document["spec"]["weights"] = absolute(document["spec"]["weights"])
        write_document(document, paths["json"])
        return paths


@dataclass
class ExperimentUpdate:
    """A progress report of a running experiment (what a UI streams).

    Attributes:
        panels: the panels finished so far, in grid order.
        running: the current inversion's panels at its latest snapshot (not final).
        total: the number of panels when done.
        rows: panels per grid row.
        progress: fraction done, 0…1.
        done: True on the last update, which carries :attr:`result`.
        message: one line for a status bar.
        reference: ``[H, W, 3]`` uint8 input as the representation sees it (once known).
        result: the :class:`ExperimentResult`, on the last update only.
        title: the grid's title line.
    """

    panels: list[Panel]
    running: list[Panel]
    total: int
    rows: list[int]
    labels: list[str]
    inversions: int
    progress: float
    done: bool
    message: str
    reference: np.ndarray | None = field(default=None, repr=False)
    result: ExperimentResult | None = field(default=None, repr=False)
    title: str = ""

    def grid(self, tile_size: int = 160) -> np.ndarray:
        """The grid so far: finished panels, then the running ones, then pending cells."""
        slots: list[Panel | None] = [*self.panels, *self.running]
        running = [False] * len(self.panels) + [True] * len(self.running)
        slots += [None] * (self.total - len(slots))
        running += [False] * (self.total - len(running))
        return compose_grid(self.reference, slots[: self.total], self.rows, self.title, tile_size, self.labels,
                            running[: self.total])  # fmt: skip
