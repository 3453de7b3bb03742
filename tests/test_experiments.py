"""The experiments end to end on a tiny multi-layer network registered for the test."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from inverter.engine import InversionConfig
from inverter.errors import InverterError
from inverter.experiments import (
    KINDS, ExperimentError, ExperimentSpec, experiment_updates, is_experiment_json, run_experiment, run_from_json,
    spec_from_json, tv_lambda_for_beta,
)  # fmt: skip
from inverter.grid import make_grid
from inverter.masks import CodeMask
from inverter.objectives import data_term
from inverter.representations import Family, LayerSpec, Preset, Representation, register
from inverter.representations.base import IMAGENET_STD_255

SIZE = 32
PRESET = Preset(lambda_tv=0.5, phases=((1.0, 6), (0.1, 4)))
# (name, stride): conv1 → [8, 16, 16], relu1, conv2 → [12, 8, 8], relu2, pool → [12, 4, 4], fc → [10]
TINY_LAYERS = (("conv1", 2), ("relu1", 2), ("conv2", 4), ("relu2", 4), ("pool", 8), ("fc", 8))


class TinyStack(Representation):
    """A seeded six-layer net truncated at one layer; ``[B, 3, 32, 32]`` pixel units → code."""

    def __init__(self, layer: str):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        modules = [nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 12, 3, 2, 1), nn.ReLU(), nn.MaxPool2d(2),
                   nn.Sequential(nn.Flatten(), nn.Linear(12 * 4 * 4, 10))]  # fmt: skip
        for module in modules:
            for p in module.parameters():
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if p.ndim > 1 else 0.0))
        names = [n for n, _ in TINY_LAYERS]
        self.body = nn.Sequential(*modules[: names.index(layer) + 1])
        self.family, self.layer, self.channels = "tinyexp", layer, 3
        self.input_size, self.stride, self.preset = (SIZE, SIZE), dict(TINY_LAYERS)[layer], PRESET
        self.register_buffer("inv_std", 1.0 / torch.tensor(IMAGENET_STD_255).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * self.inv_std)


def _build(layer: str, weights=None) -> TinyStack:
    return TinyStack(layer)


register(Family("tinyexp", tuple(LayerSpec(n, s, PRESET) for n, s in TINY_LAYERS), _build, "test net",
                default_layer="conv2"))  # fmt: skip

CONFIG = {"iterations": 8, "snapshot_every": 4, "image_size": [SIZE, SIZE], "seed": 3, "device": "cpu"}


def spec(kind: str, layers=(), **params) -> ExperimentSpec:
    return ExperimentSpec(kind, "tinyexp", tuple(layers), "example:astronaut", dict(CONFIG), params)


def _check(result, count: int) -> None:
    assert len(result.panels) == count
    assert len({p.label for p in result.panels}) == count, "labels must tell panels apart"
    for p in result.panels:
        assert p.image.shape == (SIZE, SIZE, 3) and p.image.dtype == np.uint8
        assert np.isfinite(p.relative_error) and p.relative_error > 0
        assert p.settings["iterations"] == 8
    stats = result.metrics["relative_error"]
    assert stats["count"] == count and stats["min"] <= stats["mean"] <= stats["max"]
    grid = result.grid(tile_size=48)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3


def test_layer_sweep_every_layer_streams_and_fills_in():
    updates = list(experiment_updates(spec("layer_sweep")))
    final = updates[-1]
    assert final.done and final.result is not None and not any(u.done for u in updates[:-1])
    progress = [u.progress for u in updates]
    assert progress == sorted(progress) and progress[-1] == 1.0
    finished = [len(u.panels) for u in updates]
    assert finished == sorted(finished) and finished[0] == 0
    assert [p.label for p in final.result.panels] == [n for n, _ in TINY_LAYERS]
    _check(final.result, len(TINY_LAYERS))
    # a grid with pending cells renders at the same size as the finished grid
    assert updates[0].grid(48).shape == final.grid(48).shape


def test_layer_sweep_chosen_layers_and_errors_differ_by_layer():
    result = run_experiment(spec("layer_sweep", ["conv1", "fc"]))
    _check(result, 2)
    assert [p.layer for p in result.panels] == ["conv1", "fc"]


def test_restarts_spread_and_best_marked():
    result = run_experiment(spec("restarts", ["pool", "fc"], restarts=3))
    _check(result, 6)
    assert result.rows == [3, 3]
    for group in result.metrics["groups"]:
        members = [p for p in result.panels if p.layer == group["layer"]]
        errors = np.array([p.relative_error for p in members])
        assert group["mean"] == pytest.approx(errors.mean()) and group["std"] == pytest.approx(errors.std())
        assert group["min"] == pytest.approx(errors.min()) and group["max"] == pytest.approx(errors.max())
        assert [p.best for p in members] == list(errors == errors.min())
    assert len({p.image.tobytes() for p in result.panels[:3]}) == 3, "restarts must differ"


def test_receptive_field_uses_central_units_and_handles_fc():
    result = run_experiment(spec("receptive_field", ["conv2", "pool", "fc"], neighbourhood=3))
    _check(result, 3)
    assert result.panels[0].label == "conv2: central 3×3 of 8×8"
    assert result.panels[0].settings["mask"] == {"channels": None, "neighbourhood": 3, "tokens": None}
    assert "no spatial extent" in result.panels[2].label


def test_channel_halves_and_range():
    result = run_experiment(spec("channels", ["conv2"]))
    _check(result, 3)  # all channels, first half, second half
    masks = [p.settings["mask"] for p in result.panels]
    assert masks == [None, {"channels": [0, 6], "neighbourhood": None, "tokens": None},
                     {"channels": [6, 12], "neighbourhood": None, "tokens": None}]
    ranged = run_experiment(spec("channels", ["relu1"], channels="2:5", include_full=False))
    _check(ranged, 1)
    assert ranged.panels[0].label == "relu1: channels 2–4"


def test_regulariser_sweeps():
    tv = run_experiment(spec("tv_sweep", ["fc"], values=[0.5, 5, 50]))
    _check(tv, 3)
    assert [p.settings["lambda_tv"] for p in tv.panels] == [0.5, 5.0, 50.0]
    beta = run_experiment(spec("tv_beta", ["conv2"]))
    _check(beta, 2)
    assert [p.settings["tv_beta"] for p in beta.panels] == [1.0, 2.0]
    assert beta.panels[0].settings["lambda_tv"] == pytest.approx(tv_lambda_for_beta(0.5, 1.0))
    assert beta.panels[1].settings["lambda_tv"] == pytest.approx(0.5)
    alpha = run_experiment(spec("alpha_norm", ["conv2"]))
    _check(alpha, 2)
    assert alpha.panels[0].settings["lambda_alpha"] == PRESET.lambda_alpha
    assert alpha.panels[1].settings["lambda_alpha"] == 0.0


def test_every_kind_is_tested():
    assert set(KINDS) == {"layer_sweep", "restarts", "receptive_field", "channels", "tv_sweep", "tv_beta", "alpha_norm",
                          "visualisations"}  # the last in test_visualisations.py


def test_tv_lambda_conversion_keeps_the_reference_edge_cost():
    from inverter.experiments.kinds import TV_REFERENCE_GRADIENT as g0

    for beta in (1.0, 1.5, 2.0):
        assert tv_lambda_for_beta(50.0, beta) * g0**beta == pytest.approx(50.0 * g0**2)


@pytest.mark.parametrize(
    "mask, selected",
    [
        (CodeMask(neighbourhood=3), (slice(None), slice(2, 5), slice(2, 5))),
        (CodeMask(channels=(0, 6)), (slice(0, 6), slice(None), slice(None))),
        (CodeMask(channels=(6, 12), neighbourhood=2), (slice(6, 12), slice(3, 5), slice(3, 5))),
    ],
)
def test_mask_restricts_the_data_term_to_the_selected_units(mask, selected):
    from skimage import data

    rep = TinyStack("conv2").freeze()
    target = rep(rep.image_to_pixels(data.astronaut(), (SIZE, SIZE)))  # [1, 12, 8, 8], a real code
    x = rep.image_to_pixels(data.chelsea(), (SIZE, SIZE)).requires_grad_(True)
    code = rep(x)
    code.retain_grad()
    m = mask.tensor(tuple(target.shape[1:]))
    data_term(code, target, m).sum().backward()
    inside = torch.zeros_like(code, dtype=torch.bool)
    inside[(0, *selected)] = True
    assert torch.equal(m.bool(), inside), "mask selects the CVPR-centred units"
    assert code.grad[~inside].abs().max() == 0, "unselected code units get no gradient"
    assert code.grad[inside].abs().max() > 0
    assert x.grad.abs().sum() > 0


def test_json_round_trip_reproduces_the_run(tmp_path):
    picture = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    original = run_experiment(spec("restarts", ["conv2"], restarts=2), image=picture)
    paths = original.save(tmp_path / "out")
    assert paths["png"].is_file() and paths["input"].is_file()
    document = json.loads(paths["json"].read_text())
    assert is_experiment_json(document) and document["spec"]["image"] == "restarts_input.png"
    assert len(document["panels"]) == 2 and document["metrics"]["relative_error"]["count"] == 2
    again = run_from_json(paths["json"])
    assert [p.label for p in again.panels] == [p.label for p in original.panels]
    assert np.array_equal(again.errors, original.errors)
    assert all(np.array_equal(a, b) for a, b in zip(again.images, original.images))
    from_dict = run_from_json({**document["spec"], "image": str(paths["input"])})
    assert np.array_equal(from_dict.errors, original.errors)


def test_json_round_trip_with_example_image_and_different_seed_differs(tmp_path):
    original = run_experiment(spec("tv_sweep", ["conv1"], values=[1, 10]))
    paths = original.save(tmp_path)
    assert np.array_equal(run_from_json(paths["json"]).errors, original.errors)
    document = json.loads(paths["json"].read_text())
    document["spec"]["config"]["seed"] = 4
    assert not np.array_equal(run_from_json(document).errors, original.errors)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(kind="nope"), "unknown experiment 'nope'"),
        (dict(layers=("conv9",)), "unknown layers ['conv9']"),
        (dict(params={"restarts": 0}), "restarts must be an integer ≥ 1"),
        (dict(params={"neighbourhood": 3}), "unknown parameters ['neighbourhood']"),
        (dict(config={"mask": None}), "unknown config fields ['mask']"),
        (dict(image="example:moon"), "unknown example image 'moon'"),
    ],
)
def test_bad_input_is_a_clear_one_line_error(bad, message):
    fields = {"kind": "restarts", "representation": "tinyexp", "config": CONFIG, **bad}
    with pytest.raises(ValueError) as info:
        run_experiment(ExperimentSpec(**fields))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_channel_range_and_json(tmp_path):
    with pytest.raises(ExperimentError, match="outside conv2's 12 channels"):
        run_experiment(spec("channels", ["conv2"], channels=[20, 30]))
    with pytest.raises(ExperimentError, match="channels must be 'halves'"):
        run_experiment(spec("channels", ["conv2"], channels="left"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InverterError, match="not valid JSON"):
        spec_from_json(bad)
    with pytest.raises(ExperimentError, match="unknown spec keys"):
        spec_from_json({"kind": "restarts", "representation": "tinyexp", "colour": 1})


def test_random_weights_build_the_same_network_every_time():
    from inverter.experiments.runner import _Networks
    from inverter.representations import get_family

    one = _Networks(get_family("squeezenet1_1"), "random", "cpu")("conv1")
    torch.manual_seed(123)
    two = _Networks(get_family("squeezenet1_1"), "random", "cpu")("conv1")
    for a, b in zip(one.state_dict().values(), two.state_dict().values()):
        assert torch.equal(a, b)


def test_grid_layout_captions_pending_and_errors():
    tiles = [np.zeros((10, 20, 3), np.uint8), None, np.ones((8, 8)), np.full((16, 16, 3), 200, np.uint8)]
    grid = make_grid(tiles, ["a", "b", "λ β ±", "d"], columns=2, tile_size=32, padding=4, caption_lines=1,
                     font_size=10, highlight=[False, False, False, True])  # fmt: skip
    assert grid.shape == (4 + 2 * (32 + 13 + 4), 4 + 2 * (32 + 4), 3) and grid.dtype == np.uint8
    assert tuple(grid[4 + 16, 4 + 16]) == (0, 0, 0)  # first tile, letter-boxed black
    assert tuple(grid[4 + 16, 4 + 36 + 16]) == (225, 225, 225)  # pending cell
    assert tuple(grid[4 + 49, 4 + 36]) == (230, 60, 20)  # highlight frame of the 4th tile
    with pytest.raises(ValueError, match="2 captions for 4 tiles"):
        make_grid(tiles, ["a", "b"])
    with pytest.raises(ValueError, match="at least one tile"):
        make_grid([])


def test_base_config_validation():
    assert spec("layer_sweep").base_config() == InversionConfig(
        iterations=8, snapshot_every=4, image_size=(SIZE, SIZE), seed=3, device="cpu"
    )


def test_cli_runs_writes_and_repeats_from_json(tmp_path, capsys):
    from inverter.cli import dispatch, main

    argv = ["--experiment", "restarts", "-r", "tinyexp:pool", "--restarts", "2", "--iterations", "6", "--size", "32",
            "--image", "example:chelsea", "--device", "cpu", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert dispatch(argv)[0] == "experiment"
    assert main(argv) == 0
    assert "restarts.png" in capsys.readouterr().out
    first = json.loads((tmp_path / "restarts.json").read_text())
    assert first["spec"]["params"] == {"restarts": 2} and len(first["panels"]) == 2
    again = ["--config", str(tmp_path / "restarts.json"), "--out", str(tmp_path / "again"), "--quiet"]
    assert dispatch(again)[0] == "experiment"
    assert main(again) == 0
    second = json.loads((tmp_path / "again" / "restarts.json").read_text())
    assert [p["relative_error"] for p in second["panels"]] == [p["relative_error"] for p in first["panels"]]
    # the subcommand form, KIND positional
    assert main(["experiment", "restarts", "-r", "tinyexp:pool", "--restarts", "2", "--iterations", "6", "--size",
                 "32", "--device", "cpu", "--out", str(tmp_path / "sub"), "--quiet"]) == 0  # fmt: skip
    assert json.loads((tmp_path / "sub" / "restarts.json").read_text())["spec"]["params"] == {"restarts": 2}


def test_cli_dispatch_and_errors(tmp_path, capsys):
    from inverter.cli import dispatch, main

    single = tmp_path / "single.json"
    single.write_text(json.dumps({"format": "inverter-report", "run": {}}))
    assert dispatch(["photo.png", "-r", "alexnet"])[0] == "invert"
    assert dispatch(["--config", str(single)])[0] == "invert"
    assert dispatch(["--config", str(tmp_path / "missing.json")])[0] == "invert"  # the invert command reports it
    assert main(["--experiment", "restarts", "-r", "tinyexp", "--layers", "conv9", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown layers ['conv9']") and err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        main(["--experiment", "nope"])
    assert info.value.code == 2
    assert main(["--list-experiments"]) == 0
    assert "layer_sweep" in capsys.readouterr().out
