"""The one registry of representation families and their layers.

The UI, the CLI and the benchmarks read names from here and never hard-code them.
A name is ``family`` or ``family:layer`` (``"alexnet:conv5"``, ``"hog"``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .base import Family, Representation

_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add ``family`` to the registry (replacing one of the same name); returns it."""
    _FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    """Remove the family called ``name`` (no error if absent); for plug-ins and tests."""
    _FAMILIES.pop(name, None)


def families() -> dict[str, Family]:
    """Every registered family, by name, in registration order."""
    return dict(_FAMILIES)


def get_family(name: str) -> Family:
    """The family called ``name``; ``KeyError`` with the known names otherwise."""
    try:
        return _FAMILIES[name]
    except KeyError:
        known = ", ".join(_FAMILIES)
        raise KeyError(f"unknown representation {name!r}; known: {known}") from None


def list_representations() -> dict[str, list[str]]:
    """``{family: [layer, ...]}`` for every registered family, shallow to deep."""
    return {name: [spec.name for spec in fam.layers] for name, fam in _FAMILIES.items()}


def parse_name(name: str) -> tuple[str, str | None]:
    """Split ``"family:layer"`` into ``(family, layer)``; layer is ``None`` if absent."""
    family, _, layer = name.strip().partition(":")
    return family, (layer or None)


def load_representation(
    name: str,
    layer: str | None = None,
    *,
    weights: str | Path | None = None,
    device: torch.device | str | None = None,
) -> Representation:
    """Build a frozen representation, truncated at ``layer``.

    Args:
        name: ``"family"`` or ``"family:layer"`` (see :func:`list_representations`).
        layer: the layer, if not given in ``name``; default: the family's default layer.
        weights: a local ``.safetensors`` file to use instead of the Hub source (CNNs).
        device: where the module lives; default :func:`inverter.devices.default_device`.

    Raises:
        KeyError: unknown family or layer (the message lists the known ones).
        inverter.hub.WeightsError: pretrained weights cannot be had or do not fit.
    """
    from ..devices import resolve_device

    family_name, name_layer = parse_name(name)
    if layer and name_layer and layer != name_layer:
        raise ValueError(f"two layers given: {name_layer!r} in the name and {layer!r}")
    family = get_family(family_name)
    spec = family.layer(layer or name_layer)
    rep = family.build(spec.name, weights=weights)
    return rep.freeze().to(resolve_device(device))
