"""What every tab of the app shares: limits, registry-driven choices, weights from the
environment, value parsing and the mapping of failures to messages a user can read.

Nothing here optimises anything; the tabs call :func:`inverter.invert` and friends.

Environment (read at call time, so tests can change it):
    ``INVERTER_WEIGHTS_<FAMILY>``: weights of one CNN family (``<FAMILY>`` is the registry
        name upper-cased, non-alphanumerics as ``_``, e.g. ``INVERTER_WEIGHTS_SQUEEZENET1_1``):
        a local ``.safetensors`` path, ``hf://ORG/REPO/FILE.safetensors[@REV]`` or ``random``.
    ``INVERTER_RANDOM_WEIGHTS=1``: every CNN family without its own variable uses random
        weights (demos, tests, air-gapped machines; the reconstructions are then of an
        untrained network).
"""
from __future__ import annotations

import functools
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import gradio as gr

from ..engine import DivergenceError
from ..hub import SOURCES, WeightsError
from ..images import ImageError
from ..masks import CodeMask
from ..representations import Representation, families, get_family, load_representation
from ..representations.base import Family

log = logging.getLogger(__name__)

#: Upper bounds the app enforces (the library itself has none).
MAX_ITERATIONS = 2000
MAX_RESTARTS = 8
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 512  # side of the pre-image, pixels
#: Families tried in order for the initial selection.
PREFERRED_FAMILIES = ("squeezenet1_1", "hog", "alexnet")

MASK_GROUPS = ("all", "first half", "second half", "custom range")

T = TypeVar("T")


class UserError(ValueError):
    """A problem with what the user asked for; the message is shown as is."""


# ---------------------------------------------------------------- registry-driven choices
def family_names() -> list[str]:
    """Every registered family name, in registration order."""
    return list(families())


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
    """The layers of ``family``, shallow to deep; ``UserError`` for an unknown family."""
    return [spec.name for spec in _family(family).layers]


def default_layer(family: str) -> str:
    """The family's default layer."""
    return _family(family).layer(None).name


def preset_knobs(family: str, layer: str | None) -> dict[str, float | int]:
    """The paper's hyper-parameters of one layer, as the app's knob values.

    Returns:
        ``iterations``, ``lambda_tv``, ``tv_beta``, ``alpha``, ``lambda_alpha``,
        ``data_weight``, ``learning_rate``, ``jitter`` (pixels, 1 = off), ``momentum``,
        ``clip`` (pixel units, 0 = off).
    """
    fam = _family(family)
    try:
        spec = fam.layer(layer or None)
    except KeyError as err:
        raise UserError(err.args[0]) from None
    preset = spec.preset
    jitter = preset.jitter
    if jitter == "auto":
        jitter = max(int(round(spec.stride / 4)), 1)
    return {
        "iterations": int(preset.iterations),
        "lambda_tv": float(preset.lambda_tv),
        "tv_beta": float(preset.tv_beta),
        "alpha": float(preset.alpha),
        "lambda_alpha": float(preset.lambda_alpha),
        "data_weight": float(preset.data_weight),
        "learning_rate": float(preset.learning_rate),
        "jitter": int(jitter),
        "momentum": float(preset.momentum),
        "clip": float(preset.clip),
    }


def catalogue() -> dict[str, Any]:
    """Every family with its layers, strides, presets and weight source (JSON-ready)."""
    out: dict[str, Any] = {}
    for name, fam in families().items():
        out[name] = {
            "description": fam.description,
            "needs_weights": bool(fam.needs_weights),
            "default_layer": fam.layer(None).name,
            "weights": weights_origin(name) if fam.needs_weights else None,
            "layers": [
                {"name": spec.name, "stride": spec.stride, "preset": preset_knobs(name, spec.name)}
                for spec in fam.layers
            ],
        }
    return out


def _family(name: str) -> Family:
    try:
        return get_family(str(name))
    except KeyError as err:
        raise UserError(err.args[0]) from None


# ---------------------------------------------------------------- weights
def weights_env_name(family: str) -> str:
    """The variable that selects ``family``'s weights: ``INVERTER_WEIGHTS_<FAMILY>``."""
    return "INVERTER_WEIGHTS_" + re.sub(r"[^A-Z0-9]", "_", family.upper())


def weights_choice(family: str) -> str | None:
    """What to pass as ``weights=`` to the registry for ``family`` (``None`` = its default)."""
    if not _family(family).needs_weights:
        return None
    value = os.environ.get(weights_env_name(family), "").strip()
    if value:
        return value
    if os.environ.get("INVERTER_RANDOM_WEIGHTS", "").strip().lower() in ("1", "true", "yes", "on"):
        return "random"
    return None


def weights_origin(family: str) -> str:
    """One line: where ``family``'s weights come from (``random``, a path, or a Hub file)."""
    choice = weights_choice(family)
    if choice == "random":
        return "random (untrained) weights"
    if choice:
        return choice
    source = SOURCES.get(family)
    return f"hf://{source.repo_id}/{source.filename}" if source else "built in"


def weights_note(family: str) -> str:
    """Markdown telling the user where the family's weights come from and whether they are
    here; never touches the network."""
    fam = _family(family)
    text = f"**{fam.name}**: {fam.description}"
    if not fam.needs_weights:
        return text + " (no weights needed)."
    choice = weights_choice(family)
    if choice == "random":
        return text + ". ⚠️ **Random, untrained weights** (`INVERTER_RANDOM_WEIGHTS` / " \
            f"`{weights_env_name(family)}`): the network has learnt nothing."
    if choice:
        return text + f". Weights: `{choice}` (from `{weights_env_name(family)}`)."
    source = SOURCES.get(family)
    if source is None:
        return text + "."
    cached = _in_hub_cache(source.repo_id, source.filename, source.revision)
    where = "in the local Hub cache" if cached else "downloaded on first use (needs internet)"
    return text + f". Weights: `{source.repo_id}/{source.filename}`, {where}."


def _in_hub_cache(repo_id: str, filename: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, filename, revision=revision), str)
    except Exception:  # a broken cache must not break the page
        return False


@functools.lru_cache(maxsize=4)
def _cached_representation(family: str, layer: str, weights: str | None) -> Representation:
    return load_representation(family, layer, weights=weights, device="cpu")


def get_representation(family: str, layer: str | None) -> Representation:
    """The frozen representation ``family:layer`` on the CPU, built once per process.

    Raises:
        UserError: unknown family or layer; weights missing or not fitting (with the fix).
    """
    fam = _family(family)
    try:
        spec = fam.layer(layer or None)
    except KeyError as err:
        raise UserError(err.args[0]) from None
    choice = weights_choice(family)
    try:
        return _cached_representation(fam.name, spec.name, choice)
    except WeightsError as err:
        raise UserError(
            f"Cannot load the weights of {fam.name}: {err} "
            f"Or set {weights_env_name(fam.name)}=/path/to/weights.safetensors "
            "(or INVERTER_RANDOM_WEIGHTS=1 for an untrained network). HOG, HOGb and DSIFT need no weights."
        ) from None


# ---------------------------------------------------------------- value parsing
def parse_int(value: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; ``UserError`` naming ``name`` otherwise."""
    number = parse_float(value, name, low, high)
    if number != int(number):
        raise UserError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def parse_float(value: Any, name: str, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a finite float in ``[low, high]``; ``UserError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise UserError(f"{name} is missing or not a number (got {value!r})")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UserError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"between {low:g} and {high:g}" if low is not None and high is not None else (
            f"≥ {low:g}" if low is not None else f"≤ {high:g}")
        raise UserError(f"{name} must be {bounds}, got {number:g}")
    return number


def optional_float(value: Any, name: str, low: float | None = None, high: float | None = None) -> float | None:
    """Like :func:`parse_float`, but ``None``/blank means "use the preset" (``None``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_float(value, name, low, high)


def parse_choice(value: Any, name: str, choices: tuple[str, ...] | list[str]) -> str:
    """``value`` if it is one of ``choices``; ``UserError`` listing them otherwise."""
    if value not in choices:
        raise UserError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return str(value)


def make_mask(
    group: Any, start: Any, stop: Any, neighbourhood: Any, code_channels: Callable[[], int]
) -> CodeMask | None:
    """The code mask of the app's mask controls.

    Args:
        group: one of :data:`MASK_GROUPS`; the halves are the paper's two filter groups.
        start, stop: channel range for ``"custom range"`` (``stop`` exclusive), channels.
        neighbourhood: keep only the central N×N units of the code; 0 = all units.
        code_channels: returns the code's channel count; called only when a channel
            group is chosen (it may run the representation once).

    Returns:
        ``None`` when nothing is masked.
    """
    group = parse_choice(group or "all", "mask channels", MASK_GROUPS)
    size = parse_int(neighbourhood if neighbourhood not in (None, "") else 0, "neighbourhood", 0, 10_000)
    channels = None
    if group != "all":
        total = int(code_channels())
        if group == "first half":
            channels = (0, max(total // 2, 1))
        elif group == "second half":
            if total < 2:
                raise UserError("this code has one channel, so it has no second half")
            channels = (total // 2, total)
        else:
            first = parse_int(start, "first channel", 0, total - 1)
            last = parse_int(stop, "channel stop", first + 1, total)
            channels = (first, last)
    if channels is None and size == 0:
        return None
    return CodeMask(channels=channels, neighbourhood=size or None)


# ---------------------------------------------------------------- errors
def user_message(err: BaseException) -> str:
    """The text a user sees for ``err``: the message for expected failures, the type and
    message for anything else (logged with its traceback)."""
    if isinstance(err, (UserError, ImageError, WeightsError, DivergenceError)):
        return str(err)
    if isinstance(err, (ValueError, KeyError)):
        return str(err.args[0]) if err.args else type(err).__name__
    if isinstance(err, MemoryError) or "out of memory" in str(err).lower():
        return "Out of memory: use a smaller image size or fewer restarts."
    log.exception("unexpected error in the app", exc_info=err)
    return f"Internal error ({type(err).__name__}: {err}). The server is still running; please report this."


@contextmanager
def user_errors(title: str = "Cannot run") -> Iterator[None]:
    """Turn any exception raised inside into a :class:`gradio.Error` with a readable message."""
    try:
        yield
    except gr.Error:
        raise
    except (UserError, ImageError, WeightsError, DivergenceError) as err:
        raise gr.Error(user_message(err), title=title) from None  # expected: no traceback in the log
    except Exception as err:
        raise gr.Error(user_message(err), title=title) from err


def guarded(iterator: Iterator[T], title: str = "The inversion failed") -> Iterator[T]:
    """Iterate ``iterator``, turning its exceptions into :class:`gradio.Error`; closing this
    generator closes ``iterator`` (so a Stop reaches the engine loop)."""
    try:
        while True:
            with user_errors(title):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------- ZeroGPU
def gpu(duration: int | Callable[..., int] = 120) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``spaces.GPU(duration=...)`` where the ``spaces`` package is installed; a no-op
    otherwise. ``spaces.GPU`` itself is a no-op unless ``SPACES_ZERO_GPU`` is set (Spaces)."""
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)
