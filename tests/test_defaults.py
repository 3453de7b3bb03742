"""The measured defaults of issue 15: SqueezeNet's per-layer default presets, HOG's 200-step preset,
and the faithful CVPR and IJCV presets left as they were."""
from __future__ import annotations

import pytest

from inverter import InversionConfig, resolve_settings
from inverter.errors import SettingError
from inverter.representations import get_family, ijcv, load_representation
from inverter.representations.base import SHALLOW_PHASES, Preset
from inverter.representations.cnn import DEFAULT_STEPS, SQUEEZENET_DEFAULTS
from inverter.settings import pinned_config


def test_squeezenet_defaults_are_the_measured_ones_and_the_methods_stay_faithful():
    family = get_family("squeezenet1_1")
    for spec in family.layers:
        cvpr = Preset(lambda_tv=spec.preset.lambda_tv)
        assert spec.presets["cvpr"] == cvpr and spec.presets["ijcv"] == ijcv.from_cvpr(cvpr), spec.name
        expected = SQUEEZENET_DEFAULTS[spec.name](cvpr) if spec.name in SQUEEZENET_DEFAULTS else cvpr
        assert spec.default == expected, spec.name
        assert spec.default.iterations == DEFAULT_STEPS, "a default compares with the CVPR preset step for step"
    for layer in ("fire8", "relu10", "logits"):  # nothing beat it there
        assert family.layer(layer).default == family.layer(layer).presets["cvpr"], layer


@pytest.mark.parametrize("family", ["alexnet", "vgg16"])
def test_families_without_real_weights_keep_the_cvpr_default(family):
    assert all(spec.default == spec.presets["cvpr"] for spec in get_family(family).layers)


@pytest.mark.parametrize("layer", [spec.name for spec in get_family("squeezenet1_1").layers])
def test_a_default_is_reproduced_by_its_pinned_settings(layer):
    """A report pins the resolved settings with their method; re-resolving them must give the
    same run, schedule included (the schedule comes from the method's preset)."""
    rep = load_representation(f"squeezenet1_1:{layer}", weights="random", device="cpu")
    settings = resolve_settings(rep, InversionConfig())
    assert settings.method == rep.default_preset.method
    assert settings.preset == f"default: {rep.default_preset.name}"  # what the report records
    assert resolve_settings(rep, pinned_config(settings, "cpu")) == settings


@pytest.mark.parametrize("name", ["hog", "hogb", "dsift"])
def test_the_fast_shallow_preset_is_200_steps_of_the_cvpr_rule(name):
    rep = load_representation(name)
    settings = resolve_settings(rep, InversionConfig(method="fast"))
    assert (settings.method, settings.iterations) == ("cvpr", 200)  # the method names the preset; its rule runs
    assert settings.preset == settings.to_dict()["preset"] == "fast"
    assert settings.phases == tuple((m, 50) for m, _ in SHALLOW_PHASES)
    assert resolve_settings(rep, pinned_config(settings, "cpu")) == settings
    assert resolve_settings(rep, InversionConfig()).iterations == 800  # the default stays the paper's


def test_a_cnn_has_no_fast_preset():
    rep = load_representation("squeezenet1_1:conv1", weights="random", device="cpu")
    with pytest.raises(SettingError, match="has no 'fast' preset; it has cvpr, ijcv"):
        resolve_settings(rep, InversionConfig(method="fast"))


def test_the_report_records_the_preset_that_ran():
    """A run's settings name the preset they came from: the method asked for, or the layer's default."""
    names = {layer: resolve_settings(load_representation(f"squeezenet1_1:{layer}", weights="random", device="cpu"),
                                     InversionConfig()).preset for layer in ("conv1", "fire5", "fire9", "logits")}  # fmt: skip
    assert names == {"conv1": "default: ijcv, quick start", "fire5": "default: ijcv+fourier, no jitter, C = 300, quick start",
                     "fire9": "default: ijcv+fourier, no jitter, C = 2, quick start", "logits": "default: cvpr"}  # fmt: skip
    rep = load_representation("squeezenet1_1:fire5", weights="random", device="cpu")
    assert [resolve_settings(rep, InversionConfig(method=m)).preset for m in ("cvpr", "ijcv")] == ["cvpr", "ijcv"]


FOURIER_DEFAULTS = {"fire3": 300.0, "pool3": 300.0, "fire4": 150.0, "fire5": 300.0, "pool5": 200.0, "fire6": 200.0,
                    "fire7": 50.0, "fire9": 2.0, "conv10": 2.0}  # fmt: skip


def test_the_fourier_defaults_run_on_fourier_coefficients_without_jitter():
    """fire3 to conv10's defaults (fire8 aside): the IJCV objective with the measured C, no jitter,
    Fourier coefficients, the quick start; a setting given explicitly still wins."""
    for layer, weight in FOURIER_DEFAULTS.items():
        rep = load_representation(f"squeezenet1_1:{layer}", weights="random", device="cpu")
        settings = resolve_settings(rep, InversionConfig())
        assert (settings.method, settings.parameterisation, settings.jitter, settings.data_weight) == \
            ("ijcv", "fourier", 1, weight), layer  # fmt: skip
        assert (settings.step_boost, settings.init_scale) == (2.0, 0.1), layer
        assert settings.iterations == DEFAULT_STEPS
        assert resolve_settings(rep, InversionConfig(step_boost=1.0, init_scale=1.0)).init_scale == 1.0
        assert resolve_settings(rep, InversionConfig(parameterisation="pixels")).parameterisation == "pixels"
        assert resolve_settings(rep, InversionConfig(method="ijcv")).parameterisation == "pixels"  # the faithful one


def test_the_pixel_defaults_are_the_ijcv_preset_with_the_quick_start():
    """conv1 to fire2 (pool1 with C = 1000); the faithful IJCV method keeps the papers' start."""
    for layer, weight in (("conv1", 300.0), ("relu1", 300.0), ("pool1", 1000.0), ("fire2", 300.0)):
        rep = load_representation(f"squeezenet1_1:{layer}", weights="random", device="cpu")
        settings = resolve_settings(rep, InversionConfig())
        assert (settings.method, settings.parameterisation, settings.data_weight) == ("ijcv", "pixels", weight), layer
        assert (settings.step_boost, settings.init_scale, settings.jitter) == (2.0, 0.1, 1), layer
        faithful = resolve_settings(rep, InversionConfig(method="ijcv"))
        assert (faithful.step_boost, faithful.init_scale, faithful.data_weight) == (1.0, 1.0, 300.0), layer
