"""inverter: see what an image representation keeps by reconstructing an image from it.

Mahendran & Vedaldi, "Understanding Deep Image Representations by Inverting Them"
(CVPR 2015) and "Visualizing Deep CNNs Using Natural Pre-Images" (IJCV 2016).
"""
from .devices import default_device
from .engine import Snapshot, invert, reconstruct
from .errors import (
    DivergenceError, ExperimentError, ImageError, InverterError, SettingError, UnknownNameError, WeightsError,
)  # fmt: skip
from .experiments import ExperimentSpec, experiment_updates, run_experiment, run_from_json
from .images import load_image
from .masks import CodeMask
from .representations import Representation, list_representations, load_representation
from .settings import SETTINGS, InversionConfig, Settings, resolve_settings

__all__ = [
    "SETTINGS", "CodeMask", "DivergenceError", "ExperimentError", "ExperimentSpec", "ImageError", "InversionConfig",
    "InverterError", "Representation", "SettingError", "Settings", "Snapshot", "UnknownNameError", "WeightsError",
    "default_device", "experiment_updates", "invert", "list_representations", "load_image", "load_representation",
    "reconstruct", "resolve_settings", "run_experiment", "run_from_json",
]
__version__ = "0.2.0"
