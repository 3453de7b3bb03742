"""The app's controls for the inversion settings, derived from the settings schema.

Each setting the app offers (``Setting.widget`` not ``None``) becomes one control (a
:class:`~inverter.settings.Mask` becomes four: a channel group, a custom range and a
neighbourhood) and one or more parameters of the ``/invert`` endpoint with the same
names, types, bounds and documentation. :func:`read_settings` turns the raw values of
either (the browser's knobs, an API client's arguments) into validated config values
with the app's ranges; :func:`read_mask` resolves the mask once the code's channel count
is known. :func:`endpoint` gives a handler the signature and docstring Gradio publishes.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import gradio as gr

from ..errors import SettingError
from ..masks import CodeMask
from ..settings import SETTINGS, Choice, Integer, InversionConfig, Setting

#: The mask's channel groups; the halves are the paper's two filter groups of AlexNet.
MASK_GROUPS = ("all", "first half", "second half", "custom range")
#: Which tokens of a transformer's code the mask keeps.
MASK_TOKENS = ("all", "cls", "patch")
#: The mask's parameters and their documentation.
MASK_PARAMS = {
    "mask_channels": f"which code channels the data term sees: {', '.join(MASK_GROUPS)}",
    "channel_start": "first channel of a 'custom range'",
    "channel_stop": "channel after the last one of a 'custom range'",
    "neighbourhood": "keep only the central N×N units of the code (of the patch grid, for a transformer); 0 = all",
    "mask_tokens": f"transformer layers: which tokens the data term sees: {', '.join(MASK_TOKENS)}",
}
#: The mask's parameters that take text (the others are whole numbers).
MASK_TEXT = ("mask_channels", "mask_tokens")
#: Largest neighbourhood side accepted, code units.
MAX_NEIGHBOURHOOD = 10_000


def offered(settings: Sequence[Setting] = SETTINGS) -> list[Setting]:
    """The settings of ``settings`` that the app offers, in their order."""
    return [s for s in settings if s.widget]


def params_of(s: Setting) -> tuple[str, ...]:
    """The endpoint parameters of one setting (one, or the mask's four)."""
    return tuple(MASK_PARAMS) if s.widget == "mask_group" else (s.name,)


def _doc(s: Setting) -> str:
    if s.api_initial != s.initial:  # the endpoints document their own default
        s = dataclasses.replace(s, app_default=s.api_initial)
    if s.widget == "side":
        low, high = s.app_range or (0, 0)
        return f"{s.help} ({s.unit}): a square side {low:g}…{high:g}; 0 = the representation's own"
    if s.widget == "pixels_auto":
        return f"{s.help} ({s.unit}): 1 = off, 0 = IJCV's max(round(stride/4), 1); None = the layer's preset"
    bounds = f"; {s.app_range[0]:g}…{s.app_range[1]:g}" if s.app_range else ""
    return s.doc + bounds


def parameter_docs(settings: Sequence[Setting] = SETTINGS) -> dict[str, str]:
    """``{parameter: description}`` of the settings' endpoint parameters."""
    docs: dict[str, str] = {}
    for s in offered(settings):
        docs.update(MASK_PARAMS if s.widget == "mask_group" else {s.name: _doc(s)})
    return docs


def _integer(s: Setting) -> bool:
    return isinstance(s.kind, Integer) or s.widget in ("side", "pixels_auto")


def _initial(s: Setting, preset: Mapping[str, Any]) -> Any:
    """The control's starting value: the preset's, the app's default, 0 for "the representation's size"."""
    value = preset.get(s.name) if s.preset else s.initial
    return 0 if s.widget == "side" and value is None else value


def controls(s: Setting, preset: Mapping[str, Any] | None = None, *, value: Any = None, prefix: str = "",
             **options: Any) -> dict[str, gr.components.Component]:  # fmt: skip
    """The visible control(s) of ``s`` in the current layout, ``{parameter: component}``.

    Args:
        preset: the layer's preset values (the starting value of a preset setting).
        value: the starting value instead (``None``: the preset's or the app's default).
        prefix: of every elem_id (which is the parameter's name), for a second tab.
        options: further arguments of a one-component control (``visible=False``).
    """
    value = _initial(s, preset or {}) if value is None else value
    low, high = s.app_range or (None, None)
    label = s.label or s.name
    if s.widget == "mask_group":
        with gr.Accordion(label, open=False):
            group = gr.Radio(list(MASK_GROUPS), value="all", label="Channels", elem_id=f"{prefix}mask_channels")
            with gr.Row():
                start = gr.Number(0, label="First channel (custom range)", precision=0, minimum=0, elem_id=f"{prefix}channel_start")
                stop = gr.Number(0, label="Stop channel, exclusive (custom range)", precision=0, minimum=0,
                                 elem_id=f"{prefix}channel_stop")  # fmt: skip
            size = gr.Number(0, label="Central N×N units only (0 = all)", precision=0, minimum=0, elem_id=f"{prefix}neighbourhood")
            tokens = gr.Radio(list(MASK_TOKENS), value="all", label="Tokens (transformer layers)",
                              elem_id=f"{prefix}mask_tokens")  # fmt: skip
        return dict(zip(MASK_PARAMS, (group, start, stop, size, tokens)))
    if s.widget in ("slider", "side"):
        low = 0 if s.widget == "side" else low
        label = f"{label} (≤ {high:g})" if s.widget == "slider" and high is not None else label
        return {s.name: gr.Slider(low, high, value=value, step=1, precision=0, label=label, elem_id=prefix + s.name,
                                  **options)}  # fmt: skip
    if s.widget == "radio":
        choices = options.pop("choices", None) or list(s.kind.options)  # the layer's own, where given
        return {s.name: gr.Radio(choices, value=value, label=label, elem_id=prefix + s.name, **options)}
    if s.widget == "unit_picker":  # its choices and info follow the layer (class names, the valid range)
        choices, info = options.pop("choices", []), options.pop("info", None) or s.kind.describe()
        return {s.name: gr.Dropdown(choices, value=value, allow_custom_value=True, label=label, elem_id=prefix + s.name,
                                    info=info, **options)}  # fmt: skip
    return {s.name: gr.Number(value, label=label, minimum=low, maximum=high, precision=0 if _integer(s) else None,
                              elem_id=prefix + s.name, **options)}  # fmt: skip


def api_inputs(s: Setting, docs: Mapping[str, str], value: Any = None) -> dict[str, gr.components.Component]:
    """Hidden inputs of an API endpoint for ``s``, typed as the API schema shows them (whole numbers
    as integers); their values are the API's defaults (``None`` = the layer's preset), or ``value``."""
    if s.widget == "mask_group":
        choices = {"mask_channels": MASK_GROUPS, "mask_tokens": MASK_TOKENS}
        return {name: gr.Dropdown(list(choices[name]), value="all", label=f"{name}: {docs[name]}") if name in choices
                else gr.Number(0, precision=0, label=f"{name}: {docs[name]}") for name in MASK_PARAMS}  # fmt: skip
    value = _initial(dataclasses.replace(s, app_default=s.api_initial), {}) if value is None else value
    if isinstance(s.kind, Choice):
        return {s.name: gr.Dropdown(list(s.kind.options), value=value, label=f"{s.name}: {docs[s.name]}")}
    if s.widget == "unit_picker":
        return {s.name: gr.Textbox(value, label=f"{s.name}: {docs[s.name]}")}
    return {s.name: gr.Number(value, precision=0 if _integer(s) else None, label=f"{s.name}: {docs[s.name]}")}


def string_list(label: str) -> gr.Dropdown:
    """A hidden API input that takes any list of strings. (A Dropdown publishes the enum of its
    choices in the API and MCP schemas; this one publishes a plain list of strings.)"""
    box = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True, label=label)
    box.api_info = lambda: {"type": "array", "items": {"type": "string"}}  # type: ignore[method-assign]
    return box


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_settings(raw: Mapping[str, Any], settings: Sequence[Setting] = SETTINGS) -> dict[str, Any]:
    """Config values from the controls' (or an API client's) raw values, validated with the app's ranges.

    A blank value means the layer's preset (preset settings) or the app's default; the
    mask is checked for syntax only (see :func:`read_mask`).

    Raises:
        SettingError: a bad value; the message names its parameter.
    """
    values: dict[str, Any] = {}
    for s in offered(settings):
        value = raw.get(s.name)
        if s.widget == "mask_group":
            read_mask(raw, None)
            continue
        if s.widget == "side":
            side = Integer(0).coerce(0 if _blank(value) else value, s.name)
            low, high = s.app_range or (0, 0)
            if side and not low <= side <= high:
                raise SettingError(f"{s.name} must be 0 (the representation's own) or {low:g}…{high:g}, got {side}")
            values[s.name] = (side, side) if side else None
        elif s.widget == "unit_picker":  # "285: Egyptian cat" (a class name offered) is class 285
            values[s.name] = s.coerce(None if _blank(value) else str(value).split(":")[0], app=True)
        elif s.widget == "pixels_auto":
            pixels = None if _blank(value) else Integer().coerce(value, s.name, s.app_range)
            values[s.name] = "auto" if pixels == 0 else pixels
        else:
            values[s.name] = s.coerce(None if _blank(value) and s.preset else s.initial if _blank(value) else value,
                                      app=True)  # fmt: skip
    return values


def read_mask(raw: Mapping[str, Any], channels: int | None) -> CodeMask | None:
    """The mask of the mask parameters, for a code of ``channels`` channels (``None``: syntax only).

    Raises:
        SettingError: a bad group, range or neighbourhood (the message names the bad value).
    """
    group = Choice(MASK_GROUPS).coerce(raw.get("mask_channels") or "all", "mask_channels")
    size = Integer(0, MAX_NEIGHBOURHOOD).coerce(0 if _blank(raw.get("neighbourhood")) else raw["neighbourhood"],
                                                "neighbourhood")  # fmt: skip
    total = channels if channels is not None else 1_000_000
    selected = None
    if group == "first half":
        selected = (0, max(total // 2, 1))
    elif group == "second half":
        if total < 2:
            raise SettingError("this code has one channel, so it has no second half")
        selected = (total // 2, total)
    elif group == "custom range":
        first = Integer(0, total - 1).coerce(raw.get("channel_start") or 0, "first channel")
        selected = (first, Integer(first + 1, total).coerce(raw.get("channel_stop") or 0, "channel stop"))
    tokens = Choice(MASK_TOKENS).coerce(raw.get("mask_tokens") or "all", "mask_tokens")
    if selected is None and size == 0 and tokens == "all":
        return None
    return CodeMask(channels=selected, neighbourhood=size or None, tokens=None if tokens == "all" else tokens)


def resolve_masks(config: InversionConfig, raw: Mapping[str, Any], representation: Any) -> InversionConfig:
    """``config`` with its mask read from the raw values against ``representation``'s code
    (at the config's image size: the halves need its channel count)."""
    channels = representation.code_shape(config.image_size)[0]
    return config.replace(**{s.name: read_mask(raw, channels) for s in offered() if s.widget == "mask_group"})


def _python_type(s: Setting, param: str) -> type:
    if isinstance(s.kind, Choice) or param in MASK_TEXT or s.widget == "unit_picker":
        return str
    return int if _integer(s) or param in MASK_PARAMS else float


def endpoint(name: str, leading: list[tuple[inspect.Parameter, str]], summary: str, returns: str,
             body: Callable[[dict[str, Any], Any], Iterator[Any]],
             settings: Sequence[Setting] = SETTINGS) -> Callable[..., Iterator[Any]]:  # fmt: skip
    """A generator function for Gradio to publish as an endpoint.

    Its signature is the ``leading`` parameters, then every parameter of the offered
    ``settings`` (default ``None``), then ``progress``; its docstring documents them all
    (``leading`` as ``(parameter, description)`` pairs). Calling it calls
    ``body({parameter: value}, progress)``.
    """
    docs = dict((p.name, doc) for p, doc in leading) | parameter_docs(settings)
    parameters = [p for p, _ in leading]
    for s in offered(settings):
        parameters += [inspect.Parameter(param, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                         annotation=_python_type(s, param) | None) for param in params_of(s)]  # fmt: skip
    parameters.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()))
    signature = inspect.Signature(parameters)

    def run(*args: Any, **kwargs: Any) -> Iterator[Any]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        progress = values.pop("progress")
        yield from body(values, progress)

    run.__name__ = run.__qualname__ = name
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters if p.annotation is not inspect.Parameter.empty}
    run.__doc__ = "\n".join([summary, "", "Args:", *(f"    {n}: {d}" for n, d in docs.items()), "", "Returns:",
                             f"    {returns}"])  # fmt: skip
    return run


def parameter_named(message: str, parameters: Sequence[str], default: str) -> str:
    """The parameter of ``parameters`` that ``message`` names first (as a whole word), else ``default``."""
    places = {name: m.start() for name in parameters if (m := re.search(rf"\b{re.escape(name)}\b", message))}
    return min(places, key=places.get) if places else default  # type: ignore[arg-type]


def validator(fn: Callable[..., Any], check: Callable[[dict[str, Any]], Mapping[str, str]]) -> Callable[..., list]:
    """A Gradio ``validator=`` for the endpoint ``fn`` (made by :func:`endpoint`): the same parameters
    but ``progress``, calling ``check({parameter: value})`` → ``{parameter: message}`` and answering
    one :func:`gradio.validate` per parameter, so that each message is shown on its own input and
    a bad request is refused before it is queued (an API client gets a ``ValidationError``)."""
    parameters = [p for p in inspect.signature(fn).parameters.values() if p.name != "progress"]
    signature = inspect.Signature(parameters)

    def validate(*args: Any, **kwargs: Any) -> list:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        found = check(dict(bound.arguments))
        return [gr.validate(p.name not in found, found.get(p.name, "")) for p in parameters]

    validate.__name__ = validate.__qualname__ = f"validate_{fn.__name__}"
    validate.__signature__ = signature  # type: ignore[attr-defined]
    return validate
