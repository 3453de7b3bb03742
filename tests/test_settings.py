"""The settings schema: every setting reaches every front end, and a bad value is refused naming it.

The cases are derived from each setting's kind, so a setting added to the schema is
tested here without touching this file (a kind the test does not know fails it).
A last test adds a dummy setting to a copy of the package and checks that the command
line, the ``/invert`` endpoint and the report pick it up with nothing else edited.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from skimage import data, io

from conftest import TinyCNN
from inverter.cli import invert as invert_cli
from inverter.cli import main
from inverter.cli.experiment import build_parser as experiment_parser
from inverter.errors import SettingError
from inverter.masks import CodeMask
from inverter.representations import Family, LayerSpec, register, unregister
from inverter.settings import (
    SETTINGS, Choice, Device, InversionConfig, Integer, Jitter, Mask, Number, Setting, Size, Target, config_from_dict,
    config_to_dict, pinned_config, resolve_settings,
)  # fmt: skip
from inverter.ui import form

REPO = Path(__file__).resolve().parents[1]
FAMILY = "settingstest"


def cases(s: Setting) -> tuple[str, object, str]:
    """``(a valid command-line word, the config value it gives, a word the setting refuses)``."""
    kind = s.kind
    if isinstance(kind, Choice):
        return kind.options[-1], kind.options[-1], "nonsense"
    if isinstance(kind, Integer):
        assert kind.low is not None, f"{s.name}: every whole-number setting has a lower bound"
        return str(kind.low + 2), kind.low + 2, str(kind.low - 1)
    if isinstance(kind, Number):
        valid = 0.5 if kind.high is not None else kind.low + 2.5
        return str(valid), valid, "-1"
    if isinstance(kind, Jitter):
        return "3", 3, "0"
    if isinstance(kind, Size):
        return "24x20", (24, 20), "4"
    if isinstance(kind, Mask):
        return "0:4", CodeMask(channels=(0, 4)), "70:80"  # the code has 16 channels
    if isinstance(kind, Device):
        return "cpu", "cpu", "tpu9"
    if isinstance(kind, Target):
        return "3@1,2", "3@1,2", "-1"
    raise AssertionError(f"{s.name}: the test knows no cases for a {type(kind).__name__}; add them")


@pytest.fixture(scope="module")
def family():
    register(Family(FAMILY, (LayerSpec("conv2", 4, TinyCNN().preset),), lambda layer, weights: TinyCNN(size=32),
                    default_layer="conv2", input_size=(32, 32)))  # fmt: skip
    yield FAMILY
    unregister(FAMILY)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("settings") / "in.png"
    io.imsave(path, data.astronaut()[::16, ::16], check_contrast=False)
    return path


def _cli_words(s: Setting, word: str) -> list[str]:
    return ["--channels", word] if isinstance(s.kind, Mask) else [s.cli_flag, word]


@pytest.mark.parametrize("s", SETTINGS, ids=[s.name for s in SETTINGS])
def test_the_command_line_takes_every_setting_and_refuses_bad_values(s, family, image, tmp_path, capsys):
    valid, expected, bad = cases(s)
    args = invert_cli.build_parser().parse_args([str(image), "-r", FAMILY, *_cli_words(s, valid)])
    run, _, overridden = invert_cli.run_spec(args)
    assert getattr(run.config, s.name) == expected and s.name in overridden
    if not isinstance(s.kind, Mask):
        parsed = experiment_parser().parse_args(["--experiment", "restarts", *_cli_words(s, valid)])
        assert getattr(parsed, s.name) == expected  # the experiments take it too (not the mask: they set it)
    try:
        status = main(["invert", str(image), "-r", FAMILY, "--iterations", "1", "--quiet", "-o", str(tmp_path / "o.png"),
                       *_cli_words(s, bad)])  # fmt: skip
    except SystemExit as exit_:  # refused while reading the arguments
        status = exit_.code
    err = capsys.readouterr().err
    assert status in (1, 2) and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert s.name in err or s.cli_flag in err or "channel range" in err, err


@pytest.mark.parametrize("s", SETTINGS, ids=[s.name for s in SETTINGS])
def test_the_report_round_trip_keeps_every_setting_and_refuses_bad_values(s, family):
    _, expected, bad = cases(s)
    config = InversionConfig(**{s.name: expected})
    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    rep = TinyCNN(size=32).freeze()
    settings = resolve_settings(rep, config)
    assert resolve_settings(rep, pinned_config(settings, config.device)) == settings
    raw = {"channels": [70, 80]} if isinstance(s.kind, Mask) else bad
    with pytest.raises(SettingError, match=s.name if not isinstance(s.kind, Mask) else "channel range"):
        resolve_settings(rep, config_from_dict({s.name: raw}))


@pytest.mark.parametrize("s", [s for s in SETTINGS if s.widget], ids=[s.name for s in SETTINGS if s.widget])
def test_the_invert_endpoint_takes_every_offered_setting_and_refuses_bad_values(s):
    import gradio as gr

    from inverter.ui.invert_tab import invert

    with gr.Blocks() as demo:
        from inverter.ui.invert_tab import _api_endpoint

        _api_endpoint(gr.Image(type="filepath"), [gr.JSON()])
    parameters = {p["parameter_name"]: p for p in demo.get_api_info()["named_endpoints"]["/invert"]["parameters"]}
    documented = form.parameter_docs()
    for name in form.params_of(s):
        assert name in parameters and documented[name]
        assert name in invert.__doc__  # the published docstring documents it
        integer = isinstance(s.kind, (Integer, Size, Jitter)) or name in form.MASK_PARAMS and name not in form.MASK_TEXT
        assert parameters[name]["type"]["type"] == ("integer" if integer else "string" if isinstance(
            s.kind, (Choice, Target)) or name in form.MASK_TEXT else "number"), name  # fmt: skip
    valid, expected, bad = cases(s)
    if isinstance(s.kind, Mask):
        raw = {"mask_channels": "custom range", "channel_start": 0, "channel_stop": 4}
        assert form.read_mask(raw, 16) == expected
        with pytest.raises(SettingError, match="first channel must be between 0 and 15"):
            form.read_mask({**raw, "channel_start": 70, "channel_stop": 80}, 16)
        return
    if s.widget == "side":  # the app's square side, 0 = the representation's own
        valid, expected, bad = 24, (24, 24), 4
    if s.widget == "pixels_auto":  # the app's 0 = auto
        assert form.read_settings({s.name: 0})[s.name] == "auto"
        bad = -1
    high = s.app_range[1] if s.app_range else None
    assert form.read_settings({s.name: valid})[s.name] == expected
    for refused in [bad] + ([high * 2 + 1] if high else []):
        with pytest.raises(SettingError, match=s.name):
            form.read_settings({s.name: refused})


def test_settings_the_app_does_not_offer_are_not_in_the_endpoint():
    hidden = [s.name for s in SETTINGS if not s.widget]
    assert hidden == ["device"]  # where it runs is the server's choice
    assert not set(hidden) & set(form.parameter_docs())


def test_a_new_setting_needs_the_schema_and_nothing_else(tmp_path):
    """A copy of the package with one more field in the schema (and no other change): the
    command lines, the /invert endpoint, the report and the resolved settings all have it."""
    package = tmp_path / "inverter"
    shutil.copytree(REPO / "inverter", package, ignore=shutil.ignore_patterns("__pycache__"))
    schema = package / "settings.py"
    text = schema.read_text()
    declaration = ('    dummy_knob: float | None = setting(\n'
                   '        Number(0, 10), "a dummy knob, used by nothing", default=1.5, metavar="D", label="Dummy")\n')
    text = text.replace("\n    def replace(self, **changes: Any)", "\n" + declaration + "\n    def replace(self, **changes: Any)")
    assert "dummy_knob" in text
    schema.write_text(text)
    script = """
import json, gradio as gr
from inverter.cli.invert import build_parser
from inverter.cli.experiment import build_parser as experiment
from inverter.settings import InversionConfig, config_to_dict, config_from_dict, resolve_settings
from inverter.representations import load_representation
from inverter.ui import build_demo
from inverter.ui.form import read_settings
out = {"cli": build_parser().parse_args(["x.png", "--dummy-knob", "2.5"]).dummy_knob,
       "experiment": experiment().parse_args(["--dummy-knob", "3"]).dummy_knob,
       "report": config_from_dict(json.loads(json.dumps(config_to_dict(InversionConfig(dummy_knob=4.0))))).dummy_knob,
       "settings": resolve_settings(load_representation("hog"), InversionConfig()).to_dict()["dummy_knob"],
       "app": read_settings({"dummy_knob": 5})["dummy_knob"]}
try:
    read_settings({"dummy_knob": 11})
except ValueError as err:
    out["refused"] = str(err)
api = build_demo().get_api_info()["named_endpoints"]["/invert"]["parameters"]
out["api"] = [p["parameter_name"] for p in api if p["parameter_name"] == "dummy_knob"]
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert (out["cli"], out["experiment"], out["report"], out["settings"], out["app"]) == (2.5, 3.0, 4.0, 1.5, 5.0)
    assert out["api"] == ["dummy_knob"] and "dummy_knob must be" in out["refused"]
