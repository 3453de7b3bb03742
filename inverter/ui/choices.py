"""What the app offers to choose from, read from the registry: families, layers, presets, weights.

Nothing here is written per family or per setting: the registry lists the families and
their layers, the settings schema says which settings a preset supplies, and
:mod:`inverter.weights` says where each family's weights come from (the environment
included: ``INVERTER_WEIGHTS_<FAMILY>``, ``INVERTER_RANDOM_WEIGHTS``).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from .. import cost
from ..errors import InverterError, UnknownNameError
from ..representations import Representation, get_family, load_representation, suggested_names
from ..representations.base import Family
from ..representations.registry import resolve_weights
from ..settings import SETTINGS, InversionConfig, chosen_preset, preset_values
from ..weights import HubFile, LocalFile, RandomInit, env_name, in_hub_cache, weights_text

log = logging.getLogger(__name__)
#: The setting that names a preset (the method).
METHOD = next(s.name for s in SETTINGS if s.selects_preset)
#: Families tried in order for the initial selection.
PREFERRED_FAMILIES = ("squeezenet1_1", "hog", "alexnet")


def family_names() -> list[str]:
    """The families the app lists: every registered one, then the suggested timm models."""
    return suggested_names()


def default_family() -> str:
    """The family selected when the app opens."""
    names = family_names()
    for name in PREFERRED_FAMILIES:
        if name in names:
            return name
    if not names:
        raise RuntimeError("no representation is registered")
    return names[0]


def layer_names(family: str) -> list[str]:
    """The layers of ``family``, shallow to deep (``UnknownNameError`` for an unknown family)."""
    return [spec.name for spec in get_family(str(family)).layers]


def default_layer(family: str) -> str:
    """The family's default layer."""
    return get_family(str(family)).layer(None).name


def preset_knobs(family: str, layer: str | None, choices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A preset of the layer as the app's control values: ``{setting: value}`` for every
    setting a preset supplies (jitter in pixels, ``"auto"`` resolved for the layer).

    Args:
        choices: the settings that choose the preset (the method, the objective), by name;
            none: the layer's default preset.

    Raises:
        inverter.errors.InverterError: unknown family, layer or method.
    """
    spec = get_family(str(family)).layer(layer or None)
    config = InversionConfig(**{k: v for k, v in (choices or {}).items() if v not in (None, "")})
    return preset_values(chosen_preset(f"{family}:{spec.name}", spec.presets, spec.default, config), spec.stride)


def method_choices(family: str, layer: str | None) -> list[str]:
    """The methods the layer has a preset for (``cvpr``, ``ijcv``; ``fast`` on HOG, HOGb, DSIFT and SqueezeNet)."""
    return list(get_family(str(family)).layer(layer or None).presets)


def catalogue() -> dict[str, Any]:
    """Every listed family (the registered ones and the suggested timm models) with its layers,
    strides, presets and weight source (JSON-ready)."""
    out: dict[str, Any] = {}
    for name in family_names():
        fam = get_family(name)
        out[name] = {
            "description": fam.description,
            "needs_weights": fam.needs_weights,
            "default_layer": fam.layer(None).name,
            "input_size": list(fam.input_size),
            "weights": weights_text(resolve_weights(fam).spec) if fam.needs_weights else None,
            "layers": [{"name": spec.name, "stride": spec.stride, "preset": preset_knobs(name, spec.name),
                        "presets": {m: preset_knobs(name, spec.name, {METHOD: m}) for m in spec.presets}}
                       for spec in fam.layers],  # fmt: skip
        }
    return out


def weights_note(family: str) -> str:
    """Markdown telling the user where the family's weights come from and whether they are here;
    never touches the network."""
    fam = get_family(str(family))
    text = f"**{fam.name}**: {fam.description}"
    if not fam.needs_weights:
        return text + " (no weights needed)."
    chosen = resolve_weights(fam)
    spec, variable = chosen.spec, chosen.chosen_by if chosen.chosen_by.startswith("INVERTER_") else None
    if isinstance(spec, RandomInit):
        return text + f". ⚠️ **Random, untrained weights** (`{variable or env_name(fam.name)}`): the network has learnt nothing."
    if isinstance(spec, LocalFile):
        return text + f". Weights: `{spec.path}`" + (f" (from `{variable}`)." if variable else ".")
    assert isinstance(spec, HubFile)
    where = "in the local Hub cache" if in_hub_cache(spec) else "downloaded on first use (needs internet)"
    return text + f". Weights: `{spec.repo_id}/{spec.filename}`, {where}" + (f" (from `{variable}`)." if variable else ".")


def code_shape(family: str, layer: str | None) -> tuple[int, ...]:
    """The shape of a layer's code at its family's input size, from a ``meta``-device build
    (:func:`inverter.cost.skeleton`: no weights read, no memory)."""
    fam = get_family(str(family))
    return cost.skeleton(fam.name, layer or None).code_shape(fam.input_size)


def target_choices(family: str, layer: str | None) -> list[str]:
    """What activation maximisation can target at a layer, as the app offers it: the
    ImageNet class names (``"285: Egyptian cat"``) for a 1000-class vector code, else nothing
    (a channel number is typed in)."""
    if code_shape(family, layer) != (1000,):
        return []
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [f"{i}: {info.index_to_description(i)}" for i in range(1000)]


@functools.lru_cache(maxsize=32)
def _cached(family: str, layer: str, weights: Any, device: str) -> Representation:
    return load_representation(family, layer, weights=weights, device=device)


def get_representation(family: str, layer: str | None) -> Representation:
    """The frozen representation ``family:layer`` with the weights the environment chooses, on
    the serving device (:func:`inverter.ui.zerogpu.serving_device`), built and moved there once
    per process (per layer, weights and device): a run never moves it again.

    On ZeroGPU this runs outside the GPU workers, where ``spaces`` emulates CUDA: weights placed
    on ``cuda`` before launch are packed once and moved to each worker's GPU when it starts
    (see :func:`warm_up`); later ones reach workers forked after them.

    Raises:
        inverter.errors.InverterError: unknown family or layer; weights missing or not fitting.
    """
    from .zerogpu import serving_device

    fam: Family = get_family(str(family))
    spec = fam.layer(layer or None)
    return _cached(fam.name, spec.name, resolve_weights(fam).spec if fam.needs_weights else None, serving_device())


def weights_at_hand(family: str) -> bool:
    """Whether building ``family`` needs no download (no weights, random ones, or a file on this machine)."""
    fam = get_family(str(family))
    if not fam.needs_weights:
        return True
    spec = resolve_weights(fam).spec
    return isinstance(spec, RandomInit) or (isinstance(spec, HubFile) and in_hub_cache(spec)) or (
        isinstance(spec, LocalFile) and spec.path.is_file())


def warm_up() -> list[str]:
    """Build every listed family's default layer whose weights are on this machine (no download),
    on the serving device; returns their names. Called before launch on GPU hardware, so that
    ZeroGPU packs these weights once and every GPU worker starts with them on its device."""
    loaded = []
    for name in family_names():
        if weights_at_hand(name):
            try:
                loaded.append(get_representation(name, None).name)
            except InverterError as err:  # a bad local file: the first run says so
                log.warning("not preloading %s: %s", name, err)
    return loaded


def family_of(name: Any) -> Family:
    """The family named ``name``: a listed one, or any ``timm:<model>``.

    Raises:
        UnknownNameError: the message lists the choices (or a timm model's close matches).
    """
    if isinstance(name, str) and name.strip():
        try:
            return get_family(name.strip())
        except UnknownNameError:
            if ":" in name:  # a provider's name: its own message has the close matches
                raise
    raise UnknownNameError(f"representation must be one of {', '.join(family_names())}, or timm:<model> "
                           f"(any timm model); got {name!r}")  # fmt: skip
