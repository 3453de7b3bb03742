"""Device selection: CUDA when present, else CPU; always overridable."""
from __future__ import annotations

import os

import torch

from .errors import SettingError


def default_device() -> torch.device:
    """``$INVERTER_DEVICE`` if set, else ``cuda`` when available, else ``cpu``."""
    env = os.environ.get("INVERTER_DEVICE")
    if env:
        return resolve_device(env)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: torch.device | str | None) -> torch.device:
    """Turn ``None``/``"auto"``/a name into a usable :class:`torch.device`.

    Raises:
        SettingError: the name is not a device, or CUDA was asked for but is absent.
    """
    if device is None or device == "auto":
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise SettingError(f"not a device: {device!r} (use 'cpu', 'cuda', 'cuda:1' or 'auto')") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SettingError("CUDA was asked for but no CUDA device is available; use --device cpu")
    return dev
