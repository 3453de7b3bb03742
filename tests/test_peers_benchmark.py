"""benchmarks/peers.py and benchmarks/presets.py: smoke runs on random weights print well-formed tables
(no timing or quality asserted), and the pieces they rest on."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


peers = _load("peers")
presets = _load("presets")
harness = sys.modules["harness"]

NUMBER = r"(?:\*\*)?[\d.]+(?:\*\*)?"


@pytest.fixture(autouse=True)
def one_thread():
    """The scripts' ``--threads 1``, undone afterwards (tiny tensors run fastest on one thread, and a
    loaded machine makes every multi-threaded operation wait for a descheduled worker)."""
    threads = torch.get_num_threads()
    yield ["--threads", "1"]
    torch.set_num_threads(threads)


def test_peers_quick_prints_a_row_per_contender_and_a_summary(capsys, one_thread):
    assert peers.main(["--quick", "--layers", "conv1,fire9", "--images", "camera", "--every", "20", *one_thread]) == 0
    out = capsys.readouterr().out
    names = [peers.PEER, peers.ADAM] + [c.partition("=")[0] for c in peers.DEFAULT_CANDIDATES]
    for layer in ("conv1", "fire9"):
        section = out.split(f"### {layer}\n", 1)[1].split("\n\n", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        assert [row.split("`")[1] for row in rows] == names, section
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert len(cells) == 9, row
            assert re.fullmatch(r"\d+", cells[2]) and re.match(NUMBER + r" \(", cells[3]) or "nan" in cells[3], row
            assert re.fullmatch(r"[\d.]+", cells[4]) and re.fullmatch(r"[\d.]+", cells[5]), row
    summary = out.split("## Summary", 1)[1]
    assert [line.split("|")[1].strip() for line in summary.splitlines() if line.startswith("| ") and "---" not in line][1:] \
        == ["conv1", "fire9"]


def test_the_peer_loop_is_its_schedule_and_its_terms():
    """201 steps; the rate is 1e4 for the first step, then divided by 10 after steps 0, 40, 80, …; its TV as written
    compares neighbouring channels and rows, never columns."""
    z = torch.zeros(1, 3, 4, 5)
    z[:, :, :, 2] = 1.0  # a vertical line: columns differ, rows and channels do not
    assert float(peers.peer_total_variation_norm(z, 2)) == 0.0
    z = torch.zeros(1, 3, 4, 5)
    z[:, 1] = 1.0  # channel 1 differs from 0 and 2
    assert float(peers.peer_total_variation_norm(z, 2)) == pytest.approx(2 * 3 * 5)  # 2 channel pairs × 3 rows × 5
    assert float(peers.peer_alpha_norm(torch.full((1, 3, 2, 2), -2.0), 6)) == 12 * 64

    rep = harness.representation("squeezenet1_1:conv1", "cpu", "random")
    target = rep(rep.image_to_pixels(harness.sample_photo("camera"), (24, 24))).detach()
    rates = []
    original = torch.optim.SGD.step

    def spy(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.SGD.step = spy
    try:
        steps = [step for step, _ in peers.peer_loop(rep, target, (24, 24), 0, every=50)]
    finally:
        torch.optim.SGD.step = original
    assert steps == [0, 50, 100, 150, 200, 201] and len(rates) == 201
    assert rates[0] == 1e4 and rates[1] == rates[40] == pytest.approx(1e3) and rates[41] == pytest.approx(1e2)
    assert rates[200] == pytest.approx(1e-1)


def test_steps_to_reach_interpolates_the_crossing():
    curve = [(0, 1.0), (10, 0.5), (20, 0.2)]
    assert harness.steps_to_reach(curve, 0.3) == pytest.approx(10 + 10 * 2 / 3)
    assert harness.steps_to_reach(curve, 1.5) == 0.0 and harness.steps_to_reach(curve, 0.1) is None


def test_candidates_are_read_by_the_settings_schema():
    c = harness.Candidate.parse("fast=--method ijcv --parameterisation fourier --iterations 120")
    assert (c.label, c.overrides) == ("fast", {"method": "ijcv", "parameterisation": "fourier", "iterations": 120})
    assert harness.Candidate.parse("default=").overrides == {}
    for bad in ("no-label", "x=--method nonsense", "x=--no-such-option 1"):
        with pytest.raises(ValueError):
            harness.Candidate.parse(bad)


def test_presets_prints_every_candidate_and_the_rule(tmp_path, capsys, one_thread):
    args = ["--layers", "conv1,logits", "--images", "camera", "--size", "32", "--iterations", "12", "--every", "4",
            "--grid", str(tmp_path / "p.png"), *one_thread]  # fmt: skip
    assert presets.main(args) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["cvpr", "ijcv", "default"] * 2
    assert all(r.rstrip().endswith(("| (reference) |", "| **yes** |", "| no |")) for r in rows), rows
    summary = [line for line in out.split("## Summary", 1)[1].splitlines() if line.startswith("| conv1") or
               line.startswith("| logits")]  # fmt: skip
    assert len(summary) == 2 and (tmp_path / "p.png").stat().st_size > 0


def test_bad_input_is_one_line(capsys):
    assert peers.main(["--quick", "--layers", "nonsense"]) == 2
    assert presets.main(["--images", "nonsense"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err), err


def test_an_image_line_gives_each_contenders_seconds_to_the_peers_error():
    """Per image, in the log: the seconds and the step at which each contender's curve crossed the peer's
    final error (interpolated between blocks), or "never"."""
    trace = peers.Trace
    line = peers.image_line({
        peers.PEER: trace([(5, 1.0, 0.8), (10, 2.0, 0.5)]),
        "fast": trace([(5, 0.5, 0.7), (10, 1.0, 0.3)]),  # 0.5 crossed halfway through its second block
        "slow": trace([(5, 0.5, 0.9), (10, 1.0, 0.6)]),
    })  # fmt: skip
    assert line == ("peer 50.0% in 2.00 s, fast 30.0% in 1.00 s (the peer's error: 0.75 s, step 8), "
                    "slow 60.0% in 1.00 s (the peer's error: never)")


def test_images_where_the_peer_diverged_are_left_out_of_the_speed_ups():
    """A peer that ends at NaN on one photograph leaves no error to reach there: the speed-up is formed on
    the others (not "not reached" for every contender), and the table and summary say where it diverged."""
    trace = peers.Trace
    race = peers.LayerRace("fire9", {
        peers.PEER: [trace([(5, 1.0, 0.8), (10, 2.0, 0.5)]), trace([(5, 1.0, 0.9), (10, 2.0, float("nan"))])],
        "fast": [trace([(5, 0.25, 0.6), (10, 0.5, 0.3)]), trace([(5, 0.25, 0.7), (10, 0.5, 0.6)])],
    })  # fmt: skip
    assert race.peer_converged() == [True, False]
    # the peer's 2 s over the 1/3 s "fast" took to cross 0.5 on the first photograph (a third of its second block)
    assert race.speedup("fast") == pytest.approx((6.0, 6.0))
    table = peers.layer_table(race, [peers.PEER, "fast"], {}, None, ["rocket", "clock"])
    assert "diverged (a non-finite error) on clock" in table
    fast_row = next(line for line in table.splitlines() if line.startswith("| `fast`"))
    assert "**6.0×** (6.0×)" in fast_row and "not reached" not in fast_row
    assert "| fire9 | 50.0% (diverged on 1) | 45.0%, **6.0×** |" in peers.summary_table([race], [peers.PEER, "fast"])
