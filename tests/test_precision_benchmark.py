"""benchmarks/precision.py runs both precisions and reports comparable errors (a smoke run)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

PRECISION_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "precision.py"
_spec = importlib.util.spec_from_file_location("benchmarks_precision", PRECISION_PY)
precision = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(precision)

ROW = re.compile(r"^\| `(?P<name>[^`]+)` \| (?P<t32>[\d.]+) \| (?P<t16>[\d.]+) \| [\d.]+× \| "
                 r"(?P<e32>[\d.]+) \([\d.]+–[\d.]+\) \| (?P<e16>[\d.]+) \([\d.]+–[\d.]+\) \|$")


def test_one_row_per_representation_with_errors_of_the_same_size(capsys):
    assert precision.main(["--iterations", "30", "--seeds", "2", "alexnet:conv1", "hog"]) == 0
    rows = [ROW.match(line) for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert [row["name"] for row in rows if row] == ["alexnet:conv1", "hog"], "malformed or missing rows"
    for row in rows:
        e32, e16 = float(row["e32"]), float(row["e16"])
        assert 0 < e32 < 1 and 0 < e16 < 1  # 30 steps from noise (error > 1) already fit the code
        assert abs(e32 - e16) < 0.1 * e32, f"{row['name']}: bfloat16 error {e16} far from float32's {e32}"
