"""The data of an experiment: its spec, its panels, its progress updates and its result.

Images are plain arrays: ``[H, W, 3]`` uint8 RGB. Relative errors are unitless ratios
(IJCV's √(‖M⊙(Φ(x)−Φ0)‖²/‖M⊙Φ0‖²)); times are seconds.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExperimentError, ImageError
from ..images import SAMPLE_PHOTOS, as_rgb_float, load_image, sample_photo, to_uint8
from ..settings import SETTINGS, InversionConfig, Mask, config_from_dict

#: Bundled scikit-image pictures usable as ``"example:NAME"`` (no download needed).
EXAMPLE_IMAGES = SAMPLE_PHOTOS
DEFAULT_IMAGE = "example:astronaut"
#: What :attr:`ExperimentSpec.image` says when the image was given as an array.
ARRAY_IMAGE = "<array>"
#: :class:`InversionConfig` fields an experiment spec may set (the mask is the experiment's).
CONFIG_FIELDS = tuple(s.name for s in SETTINGS if not isinstance(s.kind, Mask))


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything needed to run (and re-run) one experiment.

    Attributes:
        kind: the experiment (see :func:`inverter.experiments.list_experiments`).
        representation: a family (``"alexnet"``) or ``"family:layer"``.
        layers: the layers to use; empty = the kind's default (every layer for the layer
            sweep and the receptive-field view, else the layer in ``representation`` or
            the family's default layer).
        image: ``"example:NAME"`` (:data:`EXAMPLE_IMAGES`) or an image file path;
            ``None`` = :data:`DEFAULT_IMAGE`.
        config: :class:`InversionConfig` fields shared by every panel (``iterations``,
            ``seed``, ``image_size``, …); ``mask`` is not allowed (experiments set it).
        params: the kind's own parameters (``restarts``, ``neighbourhood``, ``values``, …).
        weights: ``None`` (the family's pretrained source), ``"random"`` (seeded random
            init: the same network every run) or a local ``.safetensors`` path.
    """

    kind: str
    representation: str
    layers: tuple[str, ...] = ()
    image: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    weights: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists)."""
        config = {k: list(v) if isinstance(v, tuple) else v for k, v in self.config.items()}
        return {
            "kind": self.kind,
            "representation": self.representation,
            "layers": list(self.layers),
            "image": self.image,
            "config": config,
            "params": _jsonable(dict(self.params)),
            "weights": self.weights,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ExperimentSpec":
        """Inverse of :meth:`to_dict`; unknown keys are an :class:`ExperimentError`."""
        if not isinstance(data, Mapping):
            raise ExperimentError(f"an experiment spec must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ExperimentError(f"unknown spec keys {sorted(unknown)}; known: {sorted(known)}")
        for key in ("kind", "representation"):
            if not isinstance(data.get(key), str) or not data.get(key):
                raise ExperimentError(f"the spec needs a '{key}' string")
        layers = data.get("layers") or ()
        if isinstance(layers, str):
            layers = tuple(s.strip() for s in layers.split(",") if s.strip())
        return cls(
            kind=data["kind"],
            representation=data["representation"],
            layers=tuple(layers),
            image=data.get("image"),
            config=dict(data.get("config") or {}),
            params=dict(data.get("params") or {}),
            weights=data.get("weights"),
        )

    def base_config(self) -> InversionConfig:
        """The shared :class:`InversionConfig`.

        Raises:
            ExperimentError: a key that is not a setting (or the mask).
            inverter.errors.SettingError: a malformed value.
        """
        unknown = set(self.config) - set(CONFIG_FIELDS)
        if unknown:
            hint = " (masks are set by the 'receptive_field' and 'channels' experiments)" if "mask" in unknown else ""
            raise ExperimentError(f"unknown config fields {sorted(unknown)}{hint}; known: {', '.join(CONFIG_FIELDS)}")
        return config_from_dict(self.config)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def load_source_image(source: str | None, base_dir: Path | None = None) -> np.ndarray:
    """The picture named by ``source``, ``[H, W, 3]`` uint8.

    Args:
        source: ``"example:NAME"`` or a file path; ``None`` = :data:`DEFAULT_IMAGE`.
        base_dir: directory that relative paths are resolved against (a JSON's folder).

    Raises:
        ImageError: unknown example, missing or unreadable file.
    """
    source = source or DEFAULT_IMAGE
    if source == ARRAY_IMAGE:
        raise ImageError("this spec's image was an array that was not saved; pass the image again")
    if source.startswith("example:"):
        return to_uint8(sample_photo(source.split(":", 1)[1]))
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return to_uint8(load_image(path))


def as_picture(image: np.ndarray) -> np.ndarray:
    """Any image array → ``[H, W, 3]`` uint8, the lossless form saved next to a JSON."""
    return to_uint8(as_rgb_float(image))


@dataclass
class Panel:
    """One reconstruction of an experiment.

    Attributes:
        label: caption (``"pool5 #2"``, ``"fc8: λ_TV = 5"``).
        image: ``[H, W, 3]`` uint8 pre-image (display mapping of the settings).
        relative_error: √(‖M⊙(Φ(x)−Φ0)‖²/‖M⊙Φ0‖²), unitless (0.2 = 20 %).
        layer: the representation layer it was inverted from.
        values: what this panel varies, JSON-ready (``{"lambda_tv": 5.0}``).
        settings: the resolved :class:`inverter.engine.Settings` as a dict.
        restart: which restart of its inversion (0 unless a restarts view).
        best: the lowest error of its group (restarts views only).
        seconds: wall time of the inversion that produced it.
        score: the objective's figure of merit when it is not an inversion (a caricature's
            ⟨Φ(x), Φ0⁺⟩/‖Φ0⁺‖², a maximised unit's activation over its typical scale), else ``None``.
    """

    label: str
    image: np.ndarray = field(repr=False)
    relative_error: float
    layer: str
    values: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict, repr=False)
    restart: int = 0
    best: bool = False
    seconds: float = 0.0
    score: float | None = None

    @property
    def caption(self) -> str:
        """Label, then the error in percent (``★`` marks the best of a group) or the score, for grids."""
        mark = "★ " if self.best else ""
        if self.score is not None:
            return f"{self.label}\n{mark}score ×{self.score:.2f}"
        return f"{self.label}\n{mark}error {100 * self.relative_error:.1f}%"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary, without the image."""
        return {
            "label": self.label,
            "layer": self.layer,
            "values": _jsonable(self.values),
            "relative_error": float(self.relative_error),
            "restart": self.restart,
            "best": self.best,
            "seconds": round(float(self.seconds), 3),
            "score": None if self.score is None else float(self.score),
            "settings": _jsonable(self.settings),
        }
