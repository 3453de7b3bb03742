"""The package's shape: no library module imports a front end, and no setting is named all over.

Setting names are counted as code identifiers (attributes, keyword arguments, annotated
fields and strings equal to the name), outside ``representations/`` (presets) and
``experiments/`` (sweeps); comments and docstrings do not count. ``device``, ``clip``,
``alpha`` and ``precision`` are left out of the count: they are also the vocabulary of
torch (``device=``, ``alpha=``), numpy (``np.clip``) and Gradio (``precision=``).
"""
from __future__ import annotations

import ast
from pathlib import Path

from inverter.settings import SETTINGS

PACKAGE = Path(__file__).resolve().parents[1] / "inverter"
FRONT_ENDS = ("cli", "ui")
#: The schema, and the engine and its update that use the settings, plus one more place.
MOST_FILES = 4
#: Setting names that are also ordinary words of other modules (``target`` is Φ(x0) in the
#: evaluation store, ``device`` a torch device everywhere): not counted.
SHARED_VOCABULARY = {"device", "clip", "alpha", "precision", "target"}


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
    return names


def test_no_library_module_imports_a_front_end():
    offenders = {
        module: sorted(_imported(tree, module) & set(FRONT_ENDS))
        for module, tree in _modules().items()
        if module.split("/")[0] not in FRONT_ENDS and module != "__main__.py"
    }
    assert not {m: i for m, i in offenders.items() if i}, offenders


def test_each_setting_is_named_in_few_library_files():
    names = {s.name for s in SETTINGS} - SHARED_VOCABULARY
    files: dict[str, set[str]] = {name: set() for name in names}
    for module, tree in _modules().items():
        if module.startswith(("representations/", "experiments/")):
            continue
        for node in ast.walk(tree):
            found = (node.attr if isinstance(node, ast.Attribute) else node.arg if isinstance(node, ast.keyword)
                     else node.value if isinstance(node, ast.Constant) and isinstance(node.value, str)
                     else node.target.id if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                     else None)  # fmt: skip
            if found in files:
                files[found].add(module)
    crowded = {name: sorted(where) for name, where in files.items() if len(where) > MOST_FILES}
    assert not crowded, crowded
    assert all("settings.py" in where for where in files.values())  # the schema declares each one
