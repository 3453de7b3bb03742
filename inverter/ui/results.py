"""What a run leaves behind in the app: curves, image scores and the downloadable files.

:class:`RunRecord` collects the snapshots of one inversion as they stream in (a few
numbers and one small frame each), and writes the downloads at the end: the best
pre-image as PNG, an animated GIF of its progress, and the JSON report of
:mod:`inverter.report` (settings, metrics, history; re-runnable by the CLI).
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from ..engine import Snapshot
from ..metrics import compare
from ..report import RunSpec, build_report, file_sha256, pinned_config, snapshot_record, write_report

#: Uploads up to this size are copied next to the JSON, so that the pair re-runs.
MAX_INPUT_COPY_BYTES = 10 * 1024 * 1024
#: Most frames kept for the progress GIF (evenly thinned beyond this).
MAX_GIF_FRAMES = 80
#: Run folders older than this many seconds are deleted when a new run starts.
KEEP_RUNS_S = 3600
RUNS_ROOT = Path(tempfile.gettempdir()) / "inverter-app-runs"


def empty_curve(column: str) -> pd.DataFrame:
    """The table of :meth:`RunRecord.curve` before any snapshot."""
    return pd.DataFrame({"step": pd.Series(dtype=int), "restart": pd.Series(dtype=str),
                         column: pd.Series(dtype=float)})  # fmt: skip


def image_scores(image: np.ndarray, reference: np.ndarray) -> dict[str, float | None]:
    """PSNR (dB, data range 255; ``None`` if identical) and SSIM of ``image`` against
    ``reference``, both ``[H, W, 3]`` uint8 as displayed."""
    scores = compare(image, reference)
    return {"psnr_db": scores.psnr if math.isfinite(scores.psnr) else None, "ssim": float(scores.ssim)}


@dataclass(frozen=True)
class RunInfo:
    """Facts about a request that the JSON download records.

    Attributes:
        representation: ``family:layer``.
        weights: what was passed as ``weights=`` (``None`` = the family's Hub source,
            ``"random"``, a path or ``hf://…``).
        weights_origin: the same in words.
        upload: the uploaded file on the server (copied next to the JSON when small).
        upload_name: the file's name on the user's machine.
        note: how the upload was read (size, mode, frames).
    """

    representation: str
    weights: str | None
    weights_origin: str
    upload: Path
    upload_name: str
    note: str


class RunRecord:
    """The history of one streamed inversion.

    Args:
        info: what was asked for, copied into the JSON download.
    """

    def __init__(self, info: RunInfo):
        self.info = info
        self.rows: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.frames: list[np.ndarray] = []
        self.first: Snapshot | None = None

    def add(self, shot: Snapshot) -> None:
        """Record ``shot``'s errors and objective (every restart) and the best frame."""
        if self.first is None:
            self.first = shot
        for k in range(len(shot.relative_error)):
            label = f"restart {k + 1}"
            self.rows.append({"step": shot.step, "restart": label,
                              "relative_error": float(shot.relative_error[k]), "loss": float(shot.loss[k])})
        self.history.append(snapshot_record(shot))
        self.frames.append(shot.image)

    def curve(self, column: str) -> pd.DataFrame:
        """Long table ``step``, ``restart``, ``column`` (``"relative_error"``, unitless, or
        ``"loss"``, the value of E) for a line plot."""
        return pd.DataFrame([(r["step"], r["restart"], r[column]) for r in self.rows],
                            columns=["step", "restart", column])

    def summary(self, shot: Snapshot) -> dict[str, Any]:
        """Metrics of ``shot``: relative error of every restart, and for the best one its
        PSNR/SSIM against the reference (the input as the representation sees it)."""
        best = shot.best
        scores = image_scores(shot.images[best], shot.reference)
        return {
            "step": shot.step,
            "total_steps": shot.total_steps,
            "done": bool(shot.done),
            "best_restart": best + 1,
            "relative_error": float(shot.relative_error[best]),
            **scores,
            "loss": float(shot.loss[best]),
            "score": float(shot.score[best]),
            "relative_error_per_restart": [float(e) for e in shot.relative_error],
            "elapsed_s": round(float(shot.elapsed), 3),
        }

    def write_downloads(self, final: Snapshot) -> list[str]:
        """Write ``reconstruction.png`` (best restart), ``progress.gif``, ``result.json``
        (an :mod:`inverter.report` report: ``python -m inverter --config result.json``
        re-runs it) and, when small, a copy of the input; returns their paths."""
        folder = _new_run_folder()
        png = folder / "reconstruction.png"
        Image.fromarray(final.image).save(png)
        gif = folder / "progress.gif"
        frames = _thin(self.frames + [final.image], MAX_GIF_FRAMES)
        pictures = [Image.fromarray(f) for f in frames]
        durations = [120] * (len(pictures) - 1) + [1500]  # hold the result
        pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=durations, loop=0)
        paths = [png, gif, folder / "result.json"]
        image_name = self.info.upload_name
        if self.info.upload.is_file() and self.info.upload.stat().st_size <= MAX_INPUT_COPY_BYTES:
            image_name = "input" + (Path(self.info.upload_name).suffix.lower() or ".png")
            shutil.copyfile(self.info.upload, folder / image_name)
            paths.append(folder / image_name)
        run = RunSpec(image_name, self.info.representation, self.info.weights, pinned_config(final.settings))
        report = build_report(
            run, self.first or final, final, output=png.name, weights_origin=self.info.weights_origin,
            history=self.history, input_sha256=file_sha256(self.info.upload) if self.info.upload.is_file() else None,
        )
        report["input"]["read_as"] = self.info.note
        report["result"]["app_metrics"] = self.summary(final)
        write_report(report, paths[2])
        return [str(p) for p in paths]


def _thin(frames: list[np.ndarray], most: int) -> list[np.ndarray]:
    if len(frames) <= most:
        return frames
    keep = np.linspace(0, len(frames) - 1, most).round().astype(int)
    return [frames[i] for i in keep]


def _new_run_folder() -> Path:
    RUNS_ROOT.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in RUNS_ROOT.iterdir():
        try:
            if now - old.stat().st_mtime > KEEP_RUNS_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # another run removed it first
            pass
    return Path(tempfile.mkdtemp(prefix="run-", dir=RUNS_ROOT))
