"""The package's shape: no library module imports a front end, and no setting is named all over.

Setting names are counted as code identifiers (attributes, keyword arguments, annotated
fields and strings equal to the name), outside ``representations/`` (presets) and
``experiments/`` (sweeps); comments and docstrings do not count. ``clip``, ``alpha``,
``precision`` and ``target`` are also the vocabulary of torch (``alpha=``), numpy
(``np.clip``), Gradio (``precision=``) and the evaluation store (Φ(x0)): for them only their
uses as a setting count (``config.clip``, ``settings.alpha``, ``InversionConfig(clip=…)``,
``….replace(clip=…)``). ``device`` alone is not counted: choosing where to run is each
front end's job (the app's serving device, an evaluation worker's GPU).
"""
from __future__ import annotations

import ast
from pathlib import Path

from inverter.settings import SETTINGS

PACKAGE = Path(__file__).resolve().parents[1] / "inverter"
FRONT_ENDS = ("cli", "ui")
#: The app's module, outside the package: no library module may import it either.
APP_MODULE = "app"
#: The schema, and the engine and its update that use the settings, plus one more place.
MOST_FILES = 4
#: Setting names that are also ordinary words of other modules: counted as settings only.
SHARED_VOCABULARY = {"clip", "alpha", "precision", "target"}
#: Not counted at all (see the module docstring).
FRONT_END_CHOICE = {"device"}
#: Names a config or resolved settings object goes by, and the calls that take settings.
CONFIG_OBJECTS = {"config", "settings", "base", "request_config"}
CONFIG_CALLS = {"InversionConfig", "replace", "Settings"}


def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text(encoding="utf-8")) for p in PACKAGE.rglob("*.py")}


def _imported(tree: ast.Module, module: str) -> set[str]:
    """Top-level package parts (``cli``, ``ui``, ...) that ``module`` imports from inverter."""
    depth = module.count("/")
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                parts = module.split("/")[:-1][: max(depth + 1 - node.level, 0)] + (node.module or "").split(".")
                parts = [p for p in parts if p]
                names |= {parts[0]} if parts else {alias.name for alias in node.names}
            elif node.module and node.module.startswith("inverter."):
                names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("inverter.")}
            names |= {APP_MODULE for a in node.names if a.name.split(".")[0] == APP_MODULE}
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == APP_MODULE:
            names.add(APP_MODULE)
    return names


def test_no_library_module_imports_a_front_end():
    offenders = {
        module: sorted(_imported(tree, module) & {*FRONT_ENDS, APP_MODULE})
        for module, tree in _modules().items()
        if module.split("/")[0] not in FRONT_ENDS and module != "__main__.py"
    }
    assert not {m: i for m, i in offenders.items() if i}, offenders


def _setting_uses(tree: ast.Module) -> set[str]:
    """The names of :data:`SHARED_VOCABULARY` that ``tree`` uses as settings (see the module docstring)."""
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in CONFIG_OBJECTS:
            used.add(node.attr)
        elif isinstance(node, ast.Call):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if func in CONFIG_CALLS:
                used |= {k.arg for k in node.keywords if k.arg}
    return used & SHARED_VOCABULARY


def test_each_setting_is_named_in_few_library_files():
    names = {s.name for s in SETTINGS} - FRONT_END_CHOICE
    files: dict[str, set[str]] = {name: set() for name in names}
    for module, tree in _modules().items():
        if module.startswith(("representations/", "experiments/")):
            continue
        for node in ast.walk(tree):
            found = (node.attr if isinstance(node, ast.Attribute) else node.arg if isinstance(node, ast.keyword)
                     else node.value if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     else node.target.id if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                     else None)  # fmt: skip
            if found in files and (found not in SHARED_VOCABULARY or isinstance(node, ast.AnnAssign)):
                files[found].add(module)
        for name in _setting_uses(tree):
            files[name].add(module)
    crowded = {name: sorted(where) for name, where in files.items() if len(where) > MOST_FILES}
    assert not crowded, crowded
    assert all("settings.py" in where for where in files.values())  # the schema declares each one


def test_the_package_declares_the_inverter_command_and_ranges_that_hold_the_pinned_releases():
    """``pip install .`` gives an ``inverter`` command (pyproject's console script resolves to
    the CLI's ``main``), and every runtime range admits the release requirements.txt pins."""
    import importlib
    import re
    import tomllib

    from packaging.requirements import Requirement

    root = PACKAGE.parent
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    module, _, function = project["scripts"]["inverter"].partition(":")
    assert (module, function) == ("inverter.cli", "main")
    assert callable(getattr(importlib.import_module(module), function))
    pins = {}
    for line in (root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                pins[requirement.name.lower()] = re.sub(r"^==", "", str(requirement.specifier))
    ranges = [Requirement(text) for text in project["dependencies"]]
    assert {r.name.lower() for r in ranges} <= set(pins), "every runtime dependency is pinned for the tests"
    outside = {r.name: (str(r.specifier), pins[r.name.lower()]) for r in ranges
               if not r.specifier.contains(pins[r.name.lower()])}  # fmt: skip
    assert not outside, outside
