"""Representations Φ: CNN layers, HOG, HOGb, DSIFT, behind one registry."""
from . import cnn, dsift, hog  # noqa: F401  (register alexnet, vgg16, squeezenet1_1, hog, hogb, dsift)
from .base import Family, LayerSpec, Preset, Representation
from .registry import families, get_family, list_representations, load_representation, parse_name, register, unregister

__all__ = [
    "Family", "LayerSpec", "Preset", "Representation",
    "families", "get_family", "list_representations", "load_representation", "parse_name", "register", "unregister",
]
