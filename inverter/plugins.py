"""Plug-ins: modules imported before any work, which register extra representation families.

A plug-in is a Python module that calls :func:`inverter.representations.register` when it
is imported (see :mod:`inverter.representations.cnn` for how a family is declared). It is
named either as an importable module (``mypackage.families``) or as the path of a ``.py``
file (``./my_family.py``). The plug-ins of a run are those given explicitly (the command
line's ``--plugin``, or ``plugins=`` in Python) followed by those in
``$INVERTER_PLUGINS`` (comma-separated). Processes that run tasks — local worker
processes, Ray workers — start with a fresh interpreter and import the same plug-ins
before their first task, so a family registered by a plug-in exists in every one of them.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from .errors import InverterError

#: The environment variable listing plug-ins (comma-separated module names or ``.py`` paths).
PLUGINS_ENV = "INVERTER_PLUGINS"


class PluginError(InverterError, ImportError):
    """A plug-in that cannot be imported; the message names it and says why."""


def plugin_names(given: Iterable[str] = (), environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The plug-ins of a run: ``given`` then ``$INVERTER_PLUGINS``, without repeats, ``.py`` paths made absolute.

    Absolute paths keep meaning the same file in worker processes whatever their folder.
    """
    env = os.environ if environ is None else environ
    names = [*given, *env.get(PLUGINS_ENV, "").split(",")]
    out: list[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name.endswith(".py"):
            name = str(Path(name).expanduser().resolve())
        if name not in out:
            out.append(name)
    return tuple(out)


def _load_file(path: Path) -> ModuleType:
    name = f"inverter_plugin_{path.stem}"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    if not path.is_file():
        raise PluginError(f"plug-in file not found: {path}")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plug-in file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and pickling look it up there
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise PluginError(f"plug-in {path} failed to import: {type(err).__name__}: {err}") from err
    return module


def load_plugins(names: Sequence[str]) -> list[ModuleType]:
    """Import every plug-in of ``names`` (module names or ``.py`` paths), once per process.

    Raises:
        PluginError: a plug-in is missing or raised while importing.
    """
    modules = []
    for name in names:
        if name.endswith(".py"):
            modules.append(_load_file(Path(name)))
            continue
        try:
            modules.append(importlib.import_module(name))
        except ImportError as err:
            raise PluginError(f"cannot import plug-in {name!r}: {err}") from err
        except Exception as err:
            raise PluginError(f"plug-in {name!r} failed to import: {type(err).__name__}: {err}") from err
    return modules
