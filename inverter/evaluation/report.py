"""An evaluation's report, computed from its output folder alone: the table, the summary,
the plot and a grid of reconstructions.

:func:`write_report` reads the manifest and every task's record and arrays (see
:mod:`inverter.evaluation.store`), so it can be re-run at any time (``inverter evaluate
--report-only --out DIR``) and gives the same files. The CVPR error of a task needs the
whole set: per representation layer, its normaliser is computed over the target codes
of the distinct images whose tasks finished (:func:`~inverter.evaluation.statistics.cvpr_normalization`).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import InversionConfig, config_to_dict
from .paper import HOGGLE_FAMILIES, PAPER_CNN_BOUND, PAPER_CNN_FAMILY, PAPER_HOGGLE, PAPER_TABLE1, paper_text
from .plot import ChartPanel, Curve, Drawing, PaperMark, layer_chart
from .statistics import Stats, cvpr_normalization, describe
from .store import ResultStore, write_json, write_png, write_text
from .tasks import TABLE_COLUMNS, Plan, Task

SUMMARY_FORMAT = "inverter-evaluation-summary"
#: The report's files in the output folder, by role.
REPORT_FILES = {
    "table": "results.csv", "summary_md": "summary.md", "summary_json": "summary.json",
    "plot_png": "error_vs_layer.png", "plot_svg": "error_vs_layer.svg", "grid": "reconstructions.png",
}  # fmt: skip
#: Metrics summarised per representation layer (table column → heading, scale for display, unit).
SUMMARISED = {"ijcv_error": ("IJCV error", 100.0, "%"), "cvpr_error": ("CVPR error", 100.0, "%"),
              "psnr_db": ("PSNR", 1.0, "dB"), "ssim": ("SSIM", 1.0, ""), "seconds": ("seconds per task", 1.0, "s")}  # fmt: skip


@dataclass
class Report:
    """What :func:`collect` found.

    Attributes:
        rows: one per task, in plan order, with every :data:`TABLE_COLUMNS` entry
            (``status`` ``done``, ``failed`` or ``pending``; metrics ``None`` unless done).
        groups: per representation layer, in plan order: the summary's entries.
        counts: ``{"tasks", "done", "failed", "pending"}``.
    """

    rows: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    counts: dict[str, int]


class StoredTargets(Sequence):
    """The target codes of some tasks, read from the store one at a time (for the CVPR normaliser)."""

    def __init__(self, store: ResultStore, keys: Sequence[str]):
        self.store, self.keys = store, list(keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        return self.store.target(self.keys[i])


def _row(task: Task, record: dict[str, Any] | None, finished: bool) -> dict[str, Any]:
    row = dict.fromkeys(TABLE_COLUMNS)
    row.update(task.row())
    status = "done" if finished else ("failed" if record and record.get("status") == "failed" else "pending")
    row["status"] = status
    if record and status != "pending":
        result = record.get("result") or {}
        row.update({k: result.get(k) for k in TABLE_COLUMNS if k in result})
        row["error"] = record.get("error")
    return row


def collect(plan: Plan, store: ResultStore) -> Report:
    """Every task's row and every representation layer's statistics."""
    rows, by_representation = [], {}
    for task in plan.tasks:
        record = store.finished(task.key)
        row = _row(task, record or store.record(task.key), record is not None)
        row["squared_error"] = (record or {}).get("result", {}).get("squared_error")
        rows.append(row)
        by_representation.setdefault(task.representation, []).append((task, row))
    groups = []
    for representation, members in by_representation.items():
        done = [(t, r) for t, r in members if r["status"] == "done"]
        distinct = {}
        for task, _ in done:
            distinct.setdefault(task.image_sha256, task.key)
        normaliser = cvpr_normalization(StoredTargets(store, list(distinct.values()))) if len(distinct) > 1 else None
        for _, row in done:
            row["cvpr_error"] = row["squared_error"] / normaliser if normaliser else None
        first = members[0][0]
        group = {
            "representation": representation, "family": first.family, "layer": first.layer, "depth": first.depth,
            "tasks": len(members), "done": len(done), "failed": sum(r["status"] == "failed" for _, r in members),
            "images": len(distinct), "cvpr_normalization": normaliser, "paper": paper_text(first.family),
            "settings": first.settings,
        }  # fmt: skip
        for column in SUMMARISED:
            group[column] = describe([r[column] for _, r in done if r[column] is not None])
        groups.append(group)
    for row in rows:
        row.pop("squared_error")
    counts = {"tasks": len(rows), **{s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "pending")}}
    return Report(rows, groups, counts)


# -------------------------------------------------------------------------- the files
def table_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The per-task table as CSV (:data:`TABLE_COLUMNS`; floats in full precision, ``None`` empty)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else repr(row[k]) if isinstance(row[k], float) else row[k]
                         for k in TABLE_COLUMNS})  # fmt: skip
    return out.getvalue()


def given_settings_text(config: InversionConfig) -> str:
    """The settings an evaluation set, ``name=value`` (the others: each layer's preset)."""
    defaults = config_to_dict(InversionConfig())
    given = {k: v for k, v in config_to_dict(config).items() if v != defaults[k]}
    return ", ".join(f"{k}={v}" for k, v in given.items()) or "none"


def failures(plan: Plan, report: Report) -> list[str]:
    """``image · representation · seed S: message`` of every failed task."""
    return [f"{t.label}: {r['error']}" for t, r in zip(plan.tasks, report.rows) if r["status"] == "failed"]


def summary_markdown(plan: Plan, report: Report) -> str:
    """The summary as Markdown: one row per representation layer, then the failures."""
    spec, counts = plan.spec, report.counts
    seeds = ", ".join(map(str, spec.seed_list()))
    images = len({t.image_sha256 for t in plan.tasks})
    lines = [
        f"# Evaluation of {Path(spec.to_dict()['folder']).name}/ ({images} images, seeds {seeds})",
        "",
        f"{counts['tasks']} tasks: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending. "
        f"Settings given: {given_settings_text(spec.config)} (the rest: each layer's preset).",
        "",
        "Errors in %, mean ± std [95% interval of the mean] over images × seeds. IJCV: "
        "√(‖Φ(x*)−Φ0‖²/‖Φ0‖²) per image; CVPR (Table 1): ‖Φ(x*)−Φ0‖² / mean(pdist2(Φ0, Φ0)²) over "
        "the set's images (needs ≥ 2).",
        "",
        "| representation | depth | done | failed | IJCV error (%) | CVPR error (%) | paper, CVPR error (%) "
        "| PSNR (dB) | SSIM | s / task |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for g in report.groups:
        lines.append(
            f"| {g['representation']} | {g['depth']} | {g['done']} | {g['failed']} | {g['ijcv_error'].text(100)} "
            f"| {g['cvpr_error'].text(100)} | {g['paper']} | {g['psnr_db'].text(1, 1)} | {g['ssim'].text(1, 3)} "
            f"| {g['seconds'].mean:.2f} |"
        )
    failed = failures(plan, report)
    if failed:
        lines += ["", f"## Failed tasks ({len(failed)})", ""]
        lines += [f"* {line}" for line in failed[:50]]
        if len(failed) > 50:
            lines.append(f"* … and {len(failed) - 50} more (see {REPORT_FILES['table']})")
    return "\n".join(lines) + "\n"


def summary_json(plan: Plan, report: Report) -> dict[str, Any]:
    """The summary as a JSON object (errors as unitless fractions, not %)."""
    groups = [{k: v.to_dict() if isinstance(v, Stats) else v for k, v in g.items()} for g in report.groups]
    return {"format": SUMMARY_FORMAT, "format_version": 1, "spec": plan.spec.to_dict(), "counts": report.counts,
            "representations": groups, "failures": failures(plan, report), "files": REPORT_FILES,
            "units": "errors are unitless fractions (×100 = %); PSNR in dB; seconds per task"}  # fmt: skip


def error_chart(report: Report) -> Drawing:
    """Error against layer depth, one line per network, IJCV and CVPR side by side, the paper's values marked."""
    curves: dict[str, dict[str, Curve]] = {"ijcv_error": {}, "cvpr_error": {}}
    layers: dict[str, dict[int, str]] = {}
    for g in report.groups:
        layers.setdefault(g["family"], {})[g["depth"]] = g["layer"]
        for column, by_family in curves.items():
            s = g[column]
            by_family.setdefault(g["family"], Curve(g["family"], [])).points.append(
                (g["depth"], s.mean * 100, s.low * 100, s.high * 100))
    marks, levels = [], []
    for family in layers:
        if family in PAPER_TABLE1:
            marks.append(PaperMark(family, 1, *PAPER_TABLE1[family]))
        if family in HOGGLE_FAMILIES and all(m.label != "HOGgle" for m in marks):
            marks.append(PaperMark("HOGgle", 1, *PAPER_HOGGLE))
        if family == PAPER_CNN_FAMILY:
            levels.append((PAPER_CNN_BOUND, f"paper: {family} < ~{PAPER_CNN_BOUND:g} % at every layer"))
    deep = [f for f, names in layers.items() if len(names) > 1]
    x_labels = layers[deep[0]] if len(deep) == 1 else None
    panels = [ChartPanel("IJCV error", list(curves["ijcv_error"].values())),
              ChartPanel("CVPR error", list(curves["cvpr_error"].values()), marks, levels)]  # fmt: skip
    return layer_chart(panels, x_labels, title="Reconstruction error against layer depth (mean, 95% interval)")


def reconstruction_grid(plan: Plan, store: ResultStore, report: Report, images: int = 4, columns: int = 8,
                        tile_size: int = 112) -> np.ndarray | None:  # fmt: skip
    """The first ``images`` images with a finished task: the input (in colour where a
    representation saw it so), then the reconstruction from up to ``columns`` representation
    layers (evenly spread over those evaluated), first seed; ``None`` if no task finished."""
    from ..grid import make_grid

    representations = [g["representation"] for g in report.groups]
    if len(representations) > columns:
        picks = np.unique(np.linspace(0, len(representations) - 1, columns).round().astype(int))
        representations = [representations[i] for i in picks]
    first: dict[tuple[str, str], tuple[Task, dict]] = {}
    for task, row in zip(plan.tasks, report.rows):
        first.setdefault((task.image_sha256, task.representation), (task, row))
    finished = [t.image_sha256 for t, r in zip(plan.tasks, report.rows) if r["status"] == "done"]
    shown = list(dict.fromkeys(finished))[:images]
    tiles, captions = [], []
    for sha in shown:
        row_tiles, row_captions, references, name = [], [], [], ""
        for representation in representations:
            task, row = first.get((sha, representation), (None, None))
            label = representation.replace(":", " ")  # captions wrap at spaces
            if task is None or row["status"] != "done":
                row_tiles.append(None)
                row_captions.append(f"{label}\n{row['status'] if row else 'not evaluated'}")
                continue
            name = task.image
            references.append(store.arrays(task.key)["reference"])
            row_tiles.append(store.reconstruction(task.key))
            row_captions.append(f"{label}\nIJCV {100 * row['ijcv_error']:.1f}%")
        colour = [r for r in references if not (r[..., 0] == r[..., 1]).all() or not (r[..., 1] == r[..., 2]).all()]
        tiles += [(colour or references or [None])[0], *row_tiles]
        captions += [f"{name}\ninput", *row_captions]
    if not shown:
        return None
    return make_grid(tiles, captions, columns=len(representations) + 1, tile_size=tile_size,
                     title=f"Reconstructions (first seed) · {Path(plan.spec.to_dict()['folder']).name}/")  # fmt: skip


def write_report(out: str | Path, plan: Plan | None = None) -> dict[str, Path]:
    """Write the table, the summary (Markdown and JSON), the plot (PNG and SVG) and the grid
    into ``out`` from what it holds; returns their paths by role (:data:`REPORT_FILES`).

    Args:
        plan: the evaluation (default: the folder's manifest).

    Raises:
        StoreError: ``out`` holds no evaluation.
    """
    store = ResultStore(out)
    plan = plan or store.read_manifest()
    report = collect(plan, store)
    paths = {role: store.root / name for role, name in REPORT_FILES.items()}
    write_text(table_csv(report.rows), paths["table"])
    write_text(summary_markdown(plan, report), paths["summary_md"])
    write_json(summary_json(plan, report), paths["summary_json"])
    chart = error_chart(report)
    write_text(chart.svg(), paths["plot_svg"])
    write_png(chart.png(), paths["plot_png"])
    grid = reconstruction_grid(plan, store, report)
    if grid is not None:
        write_png(grid, paths["grid"])
    else:
        paths.pop("grid")
    return paths

