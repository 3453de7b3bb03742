"""Command-line options generated from the settings schema (:data:`inverter.settings.SETTINGS`).

Every setting becomes an option named by its :attr:`~inverter.settings.Setting.cli_flag`
(a :class:`~inverter.settings.Mask` becomes one option per part), grouped by its
``group``, with its help, metavar and choices. Every default is ``None`` = "not given":
the config file's value or the layer's preset applies.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from typing import Any

from ..errors import SettingError
from ..settings import SETTINGS, Choice, InversionConfig, Mask, Setting

_HEADINGS = {
    "optimisation": "optimisation (default: the layer's preset from the paper)",
    "regularisers": "regularisers (default: the layer's preset from the paper)",
    "output": "output",
    "code mask": "code mask (default: the whole code)",
    "device": "device and arithmetic",
}


def _argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except SettingError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return convert


def _help(s: Setting) -> str:
    """The option's help: the schema's text (argparse reads ``%`` as a format, hence the escape)."""
    default = "the layer's preset" if s.preset else s.default
    return (f"{s.help}" + (f" [{s.unit}]" if s.unit else "") + f" (default: {default})").replace("%", "%%")


def add_setting_options(parser: argparse.ArgumentParser, exclude: Collection[str] = ()) -> None:
    """Add an option for every setting not in ``exclude`` to ``parser``, one group per heading."""
    groups: dict[str, Any] = {}
    for s in SETTINGS:
        if s.name in exclude:
            continue
        if s.group not in groups:
            groups[s.group] = parser.add_argument_group(_HEADINGS.get(s.group, s.group))
        group = groups[s.group]
        if isinstance(s.kind, Mask):
            for part, flag, metavar, text in s.kind.parts:
                group.add_argument(flag, dest=f"{s.name}.{part}", metavar=metavar, help=text.replace("%", "%%"),
                                   type=_argument_type(lambda t, p=part, k=s.kind: k.parse_part(p, t)))  # fmt: skip
        elif isinstance(s.kind, Choice):
            group.add_argument(s.cli_flag, dest=s.name, choices=s.kind.options, help=_help(s))
        else:
            group.add_argument(s.cli_flag, dest=s.name, metavar=s.metavar, help=_help(s),
                               type=_argument_type(lambda t, s=s: s.kind.parse_text(t, s.name)))  # fmt: skip


def given_settings(args: argparse.Namespace, base: InversionConfig, exclude: Collection[str] = ()) -> dict[str, Any]:
    """``{setting: value}`` of the options given on the command line (a mask merged into ``base``'s)."""
    changes: dict[str, Any] = {}
    for s in SETTINGS:
        if s.name in exclude:
            continue
        if isinstance(s.kind, Mask):
            parts = {part: getattr(args, f"{s.name}.{part}", None) for part, *_ in s.kind.parts}
            if any(v is not None for v in parts.values()):
                changes[s.name] = s.kind.with_parts(getattr(base, s.name), **parts)
        elif getattr(args, s.name, None) is not None:
            changes[s.name] = getattr(args, s.name)
    return changes
