"""``inverter list [NAME]``: the registered representations and their layers."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from .errors import run_reporting_errors
from .parser import Parser


def list_text(name: str | None = None) -> str:
    """Every registered representation (or the one called ``name``) and its layers, one paragraph each."""
    from ..representations import families, get_family, parse_name
    from ..representations.timm_models import SUGGESTED
    from ..settings import preset_values

    chosen = [get_family(parse_name(name)[0])] if name else list(families().values())
    lines = []
    for family in chosen:
        layers = [spec.name for spec in family.layers]
        lines.append(f"{family.name}: {family.description}" if family.description else family.name)
        weights = f"default {family.weights.uri}" if family.weights else "none"
        lines.append(f"  default layer: {family.layer(None).name}; input {family.input_size[0]}×"
                     f"{family.input_size[1]}; weights: {weights}")  # fmt: skip
        lines.append("  layers: " + " ".join(layers))
        if name:
            for spec in family.layers:
                preset = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in preset_values(spec.default, spec.stride).items())  # fmt: skip
                same = next((method for method, p in spec.presets.items() if p == spec.default), None)
                which = f"the {same} preset" if same else "measured"
                lines.append(f"    {spec.name}: stride {spec.stride} px; methods {', '.join(spec.presets)}; "
                             f"default ({which}): {preset}")
    if not name:
        lines.append("timm:<model>: any timm image model from the Hugging Face Hub (inverter list timm:<model> lists "
                     "its layers)")  # fmt: skip
        lines.append("  suggested: " + " ".join(f"timm:{model}" for model in SUGGESTED))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, prog: str = "inverter list") -> int:
    """List the representations (``NAME``: one family, with every layer's stride and preset)."""
    parser = Parser(prog=prog, description="List the representations, their layers and weights.")
    parser.add_argument("name", nargs="?", help="a family (e.g. squeezenet1_1): its layers with strides and presets")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return run_reporting_errors(lambda: print(list_text(args.name)) or 0, args.debug)
