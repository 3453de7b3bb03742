"""The one registry of representation families and their layers.

The UI, the CLI and the benchmarks read names from here and never hard-code them.
A name is ``family`` or ``family:layer`` (``"alexnet:conv5"``, ``"hog"``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .. import weights as weights_module
from ..errors import UnknownNameError, WeightsError
from ..weights import WeightsSpec
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
    """The family called ``name``.

    Raises:
        UnknownNameError: no such family (the message lists the known ones).
    """
    try:
        return _FAMILIES[name]
    except KeyError:
        known = ", ".join(_FAMILIES)
        raise UnknownNameError(f"unknown representation {name!r}; known: {known}") from None


def list_representations() -> dict[str, list[str]]:
    """``{family: [layer, ...]}`` for every registered family, shallow to deep."""
    return {name: [spec.name for spec in fam.layers] for name, fam in _FAMILIES.items()}


def parse_name(name: str) -> tuple[str, str | None]:
    """Split ``"family:layer"`` into ``(family, layer)``; layer is ``None`` if absent."""
    family, _, layer = name.strip().partition(":")
    return family, (layer or None)


def resolve_weights(family: Family, weights: WeightsSpec | str | Path | None = None) -> weights_module.Resolved:
    """The concrete weights ``family`` would be built with for the argument ``weights``
    (the environment consulted for the family default; nothing is loaded)."""
    return weights_module.resolve(family.name, family.weights, weights)


def load_representation(
    name: str,
    layer: str | None = None,
    *,
    weights: WeightsSpec | str | Path | None = None,
    device: torch.device | str | None = None,
    seed: int | None = None,
) -> Representation:
    """Build a frozen representation, truncated at ``layer``.

    Args:
        name: ``"family"`` or ``"family:layer"`` (see :func:`list_representations`).
        layer: the layer, if not given in ``name``; default: the family's default layer.
        weights: anything :func:`inverter.weights.parse_weights` takes: ``None`` (the
            family's default source, or ``$INVERTER_WEIGHTS_<FAMILY>``), a local
            ``.safetensors`` path, ``"hf://ORG/REPO/FILE.safetensors"``, ``"random"``.
        device: where the module lives; default :func:`inverter.devices.default_device`.
        seed: seed of a random initialisation (``weights="random"``), so that the same seed
            builds the same network; the caller's torch RNG is left as it was. ``None``:
            torch's global RNG, as it stands.

    Raises:
        UnknownNameError: unknown family or layer (the message lists the known ones).
        inverter.errors.WeightsError: pretrained weights cannot be had or do not fit.
    """
    from ..devices import resolve_device

    family_name, name_layer = parse_name(name)
    if layer and name_layer and layer != name_layer:
        raise UnknownNameError(f"two layers given: {name_layer!r} in the name and {layer!r}")
    family = get_family(family_name)
    spec = family.layer(layer or name_layer)
    target = resolve_device(device)
    chosen = resolve_weights(family, weights)
    try:
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            rep = family.build(spec.name, chosen.spec if family.needs_weights else None)
    except WeightsError as err:
        raise WeightsError(f"{err} {weights_module.fix_hint(family.name)}") from err
    return rep.freeze().to(target)
