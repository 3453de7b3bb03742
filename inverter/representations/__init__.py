"""Representations Φ: CNN layers, HOG, HOGb, DSIFT, behind one registry."""
from . import cnn, dsift, hog, timm_models  # noqa: F401  (register alexnet, vgg16, squeezenet1_1, hog, hogb, dsift, timm:*)
from .base import Family, LayerSpec, Preset, Representation
from .registry import (
    Provider, families, get_family, list_representations, load_representation, parse_name, register, register_provider,
    suggested_names, unregister,
)

__all__ = [
    "Family", "LayerSpec", "Preset", "Representation",
    "Provider", "families", "get_family", "list_representations", "load_representation", "parse_name", "register",
    "register_provider", "suggested_names", "unregister",
]
