"""The one registry of representation families and their layers.

The UI, the CLI and the benchmarks read names from here and never hard-code them.
A name is ``family`` or ``family:layer`` (``"alexnet:conv5"``, ``"hog"``). A *provider*
makes families on demand from a prefix: ``timm:<model>[:<layer>]`` is the family of one
timm model (built the first time it is named, then kept).
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import weights as weights_module
from ..errors import UnknownNameError, WeightsError
from ..weights import WeightsSpec
from .base import Family, Representation

_FAMILIES: dict[str, Family] = {}


@dataclass(frozen=True)
class Provider:
    """Families made on demand for names ``prefix:<model>[:<layer>]``.

    Attributes:
        prefix: ``"timm"``.
        family: ``family(model) -> Family`` named ``prefix:model``; an
            :class:`~inverter.errors.UnknownNameError` (with close matches) for an unknown model.
        split: ``split(rest) -> (model, layer or None)`` of what follows ``prefix:``.
        suggested: models the front ends offer in their lists.
    """

    prefix: str
    family: Callable[[str], Family]
    split: Callable[[str], tuple[str, str | None]]
    suggested: tuple[str, ...] = ()


_PROVIDERS: dict[str, Provider] = {}


def register_provider(provider: Provider) -> Provider:
    """Add ``provider`` (replacing one of the same prefix); returns it."""
    _PROVIDERS[provider.prefix] = provider
    return provider


def suggested_names() -> list[str]:
    """Every registered family's name, then the providers' suggested models (``timm:<model>``)."""
    return list(_FAMILIES) + [f"{p.prefix}:{m}" for p in _PROVIDERS.values() for m in p.suggested
                              if f"{p.prefix}:{m}" not in _FAMILIES]  # fmt: skip


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
    """The family called ``name`` (a provider's is made on first use and kept).

    Raises:
        UnknownNameError: no such family (the message lists the known ones, or close matches).
    """
    if name in _FAMILIES:
        return _FAMILIES[name]
    prefix, _, model = name.partition(":")
    if prefix in _PROVIDERS and model:
        return register(_PROVIDERS[prefix].family(model))
    known = ", ".join([*_FAMILIES, *(f"{p}:<model>" for p in _PROVIDERS)])
    close = difflib.get_close_matches(name, list(_FAMILIES), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownNameError(f"unknown representation {name!r}{hint} Known: {known}")


def list_representations() -> dict[str, list[str]]:
    """``{family: [layer, ...]}`` for every registered family, shallow to deep."""
    return {name: [spec.name for spec in fam.layers] for name, fam in _FAMILIES.items()}


def parse_name(name: str) -> tuple[str, str | None]:
    """Split ``"family:layer"`` (or ``"prefix:model:layer"``) into ``(family, layer)``; layer is ``None`` if absent."""
    family, _, layer = name.strip().partition(":")
    if family in _PROVIDERS and layer:
        model, layer = _PROVIDERS[family].split(layer)
        return f"{family}:{model}", (layer or None)
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
    return rep.use_presets(spec).freeze().to(target)
