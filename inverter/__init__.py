"""inverter: see what an image representation keeps by reconstructing an image from it.

Mahendran & Vedaldi, "Understanding Deep Image Representations by Inverting Them"
(CVPR 2015) and "Visualizing Deep CNNs Using Natural Pre-Images" (IJCV 2016).
"""
from .devices import default_device
from .experiments import ExperimentSpec, experiment_updates, run_experiment, run_from_json
from .engine import InversionConfig, Settings, Snapshot, invert, reconstruct, resolve_settings
from .hub import WeightsError
from .images import ImageError, load_image
from .masks import CodeMask
from .representations import Representation, list_representations, load_representation

__all__ = [
    "ExperimentSpec", "experiment_updates", "run_experiment", "run_from_json",
    "CodeMask", "ImageError", "InversionConfig", "Representation", "Settings", "Snapshot", "WeightsError",
    "default_device", "invert", "list_representations", "load_image", "load_representation", "reconstruct",
    "resolve_settings",
]
__version__ = "0.1.0"
