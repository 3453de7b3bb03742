"""timm models as representations, offline, on timm's tiny ``test_*`` models.

Truncation is checked against the untouched full model (forward hooks on its own modules,
an independent path from ``forward_intermediates``); weights go through a test-made Hub
cache (offline) and timm's own ``load_pretrained``; inversions run end to end through the
Python API and the command line (the ``/invert`` endpoint runs one in ``test_app.py``).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file
from skimage import data, io

from conftest import cache_hub_file
from inverter import CodeMask, InversionConfig, load_representation, reconstruct, resolve_settings
from inverter.cli import main
from inverter.errors import SettingError, UnknownNameError, WeightsError
from inverter.representations import get_family, parse_name
from inverter.representations.timm_models import model_info
from inverter.weights import HubFile

MODELS = ("test_resnet.r160_in1k", "test_convnext.r160_in1k", "test_vit.r160_in1k")
SIDE = 64


def full_model(model: str, seed: int = 0) -> torch.nn.Module:
    """The untruncated model with the random init ``load_representation(..., weights='random', seed=seed)`` makes."""
    torch.manual_seed(seed)
    return timm.create_model(model, pretrained=False, **model_info(model).kwargs).eval()


def reference_codes(model: str, net: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every layer's code from the full model's own forward pass (hooks), ``x`` already normalised."""
    codes: dict[str, torch.Tensor] = {}
    modules = dict(net.named_modules())
    handles = [modules[name].register_forward_hook(lambda m, i, out, name=name: codes.__setitem__(name, out))
               for name, _ in model_info(model).features]  # fmt: skip
    with torch.no_grad():
        codes["logits"] = net(x)
        codes["pre_logits"] = net.forward_head(net.forward_features(x), pre_logits=True)
    for handle in handles:
        handle.remove()
    if model_info(model).prefix_tokens is not None:  # a block's output [B, T, D] is the code [B, D, T]
        codes = {k: v.transpose(1, 2) if v.dim() == 3 else v for k, v in codes.items()}
    return codes


@pytest.mark.parametrize("model", MODELS)
def test_every_layer_equals_the_full_models_activation_and_runs_only_what_it_needs(model):
    family = get_family(f"timm:{model}")
    names = [spec.name for spec in family.layers]
    assert names[-2:] == ["pre_logits", "logits"] and len(names) == len(model_info(model).features) + 2
    net = full_model(model)
    full_parameters = sum(p.numel() for p in net.parameters())
    x = torch.randn(2, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(1)) * 60
    for spec in family.layers:
        rep = load_representation(f"timm:{model}:{spec.name}", weights="random", device="cpu", seed=0)
        expected = reference_codes(model, net, x * rep.inv_std)[spec.name]
        called: set[str] = set()
        hooks = [m.register_forward_hook(lambda m, i, o, n=n: called.add(n)) for n, m in rep.net.named_modules()
                 if any(True for _ in m.parameters(recurse=False))]  # fmt: skip
        with torch.no_grad():
            code = rep(x)
        for hook in hooks:
            hook.remove()
        torch.testing.assert_close(code, expected, rtol=1e-4, atol=1e-4)
        assert rep.code_shape((SIDE, SIDE)) == tuple(code.shape[1:])
        # every module holding weights ran (the model itself, "", holds a ViT's class token and position
        # embedding, which its forward_intermediates uses: it is not called as a module)
        holders = {n for n, m in rep.net.named_modules() if any(True for _ in m.parameters(recurse=False))} - {""}
        assert holders == called - {""}, f"{spec.name}: modules built but never run: {sorted(holders - called)[:5]}"
        if spec.name not in ("pre_logits", "logits"):
            assert sum(p.numel() for p in rep.net.parameters()) < full_parameters  # truncated, not run and dropped


def test_names_presets_and_input_convention():
    assert parse_name("timm:resnet50.a1_in1k:layer3") == ("timm:resnet50.a1_in1k", "layer3")
    assert parse_name("timm:hf-hub:org/name:blocks.2") == ("timm:hf-hub:org/name", "blocks.2")
    family = get_family("timm:test_vit.r160_in1k")
    tvs = [spec.preset.lambda_tv for spec in family.layers]
    assert tvs == sorted(tvs) and tvs[0] == 0.5 and tvs[-1] == 50.0  # λ_TV grows with depth
    assert {spec.stride for spec in family.layers} == {16}  # the patch grid's reduction
    assert family.input_size == (160, 160) and family.weights.repo_id == "timm/test_vit.r160_in1k"
    rep = load_representation("timm:test_vit.r160_in1k:blocks.1", weights="random", device="cpu")
    assert rep.pixel_mean == pytest.approx((127.5, 127.5, 127.5)) and rep.interpolation == "bicubic"
    resnet = get_family("timm:test_resnet.r160_in1k")
    assert [s.stride for s in resnet.layers][:5] == [2, 4, 8, 16, 32]
    settings = resolve_settings(load_representation("timm:test_resnet.r160_in1k:layer3", weights="random"),
                                InversionConfig(jitter="auto"))  # fmt: skip
    assert settings.jitter == 4  # IJCV's rule from the model's reduction (16 px)


def test_unknown_models_answer_with_close_matches():
    with pytest.raises(UnknownNameError, match="unknown timm model 'resnet5'; close matches: resnet50"):
        get_family("timm:resnet5")
    with pytest.raises(KeyError):  # still a KeyError for callers that catch that
        get_family("timm:no_such_network_at_all")
    with pytest.raises(UnknownNameError, match="unknown layer 'layer9'"):
        load_representation("timm:test_resnet.r160_in1k:layer9", weights="random")


def test_image_sizes_cnns_as_they_are_transformers_by_patches():
    cnn = load_representation("timm:test_convnext.r160_in1k:stages.1", weights="random")
    assert cnn.code_shape((112, 112)) == (32, 14, 14) and cnn.code_shape((112, 80)) == (32, 14, 10)
    vit = load_representation("timm:test_vit.r160_in1k:blocks.2", weights="random")
    assert vit.code_shape((112, 96)) == (64, 1 + 7 * 6) and vit.code_grid((112, 96)) == (7, 6)
    with pytest.raises(SettingError, match="multiple of 16"):
        vit.code_shape((100, 100))
    with pytest.raises(SettingError, match="multiple of 16"):
        resolve_settings(vit, InversionConfig(image_size=(100, 100)))


def test_token_masks_keep_the_class_token_the_patches_or_a_central_neighbourhood():
    vit = load_representation("timm:test_vit.r160_in1k:blocks.2", weights="random")
    size = (64, 64)  # a 4×4 patch grid after one class token: 17 tokens of 64 channels
    cls = vit.mask_tensor(CodeMask(tokens="cls"), size)
    assert cls.shape == (1, 64, 17) and cls[0, :, 0].all() and not cls[0, :, 1:].any()
    patch = vit.mask_tensor(CodeMask(tokens="patch", channels=(0, 8)), size)
    assert patch[0, :8, 1:].all() and not patch[0, :, 0].any() and not patch[0, 8:].any()
    central = vit.mask_tensor(CodeMask(neighbourhood=2), size)[0, 0, 1:].reshape(4, 4)
    assert central[1:3, 1:3].all() and central.sum() == 4  # the CVPR code's centring
    with pytest.raises(SettingError, match="exclude each other"):
        vit.mask_tensor(CodeMask(tokens="cls", neighbourhood=2), size)
    cnn = load_representation("timm:test_convnext.r160_in1k:stages.1", weights="random")
    with pytest.raises(SettingError, match="needs a transformer's token code"):
        resolve_settings(cnn, InversionConfig(mask=CodeMask(tokens="cls")))
    shot = reconstruct(vit, data.astronaut(), iterations=3, image_size=size, mask=CodeMask(tokens="cls"))
    assert shot.settings.mask["tokens"] == "cls"


@pytest.mark.parametrize("name", ["timm:test_convnext.r160_in1k:stages.0", "timm:test_convnext.r160_in1k:stages.3",
                                  "timm:test_vit.r160_in1k:blocks.0", "timm:test_vit.r160_in1k:blocks.5"])
def test_inversion_lowers_the_error_by_a_large_factor_deterministically(name):
    rep = load_representation(name, weights="random", device="cpu", seed=0)
    first = reconstruct(rep, data.astronaut(), iterations=0, image_size=(SIDE, SIDE), seed=2)
    runs = [reconstruct(rep, data.astronaut(), iterations=120, image_size=(SIDE, SIDE), seed=2) for _ in range(2)]
    assert runs[0].relative_error[0] < first.relative_error[0] / 3
    assert np.array_equal(runs[0].pixels, runs[1].pixels)  # the same seed, the same pre-image


def test_the_command_line_inverts_a_timm_layer(tmp_path, capsys):
    image, report = tmp_path / "in.png", tmp_path / "r.json"
    io.imsave(image, data.chelsea()[::4, ::4], check_contrast=False)
    argv = ["invert", str(image), "-r", "timm:test_vit.r160_in1k:blocks.1", "--weights", "random", "--size", "48",
            "--iterations", "30", "--quiet", "-o", str(tmp_path / "out.png"), "--report", str(report)]
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads(report.read_text())
    assert result["settings"]["representation"] == "timm:test_vit.r160_in1k:blocks.1"
    assert result["result"]["relative_error"] < 0.5 * result["result"]["initial_relative_error"]
    assert main(["list", "timm:test_vit.r160_in1k"]) == 0
    listing = capsys.readouterr().out
    assert "blocks.5: stride 16 px" in listing and "pre_logits" in listing


# --- weights: a test-made Hub cache, offline, through timm's own load_pretrained --------------------


def test_pretrained_weights_load_from_the_hub_cache_through_timm(offline_cache):
    state = {k: v.clone() for k, v in full_model("test_resnet.r160_in1k", seed=3).state_dict().items()}
    cache_hub_file(offline_cache, "timm/test_resnet.r160_in1k", "model.safetensors",
               lambda path: save_file(state, str(path)))  # fmt: skip
    rep = load_representation("timm:test_resnet.r160_in1k:layer2", device="cpu")  # the family's default: the Hub
    loaded = rep.net.state_dict()
    assert torch.equal(loaded["conv1.0.weight"], state["conv1.0.weight"])
    assert torch.equal(loaded["layer2.0.conv1.weight"], state["layer2.0.conv1.weight"])
    assert "layer3.0.conv1.weight" not in loaded  # truncated after loading


def test_a_missing_file_names_the_repo_and_a_pickle_only_repo_is_refused(offline_cache):
    with pytest.raises(WeightsError, match=r"'timm/test_convnext\.r160_in1k'.*hf download timm/test_convnext"):
        load_representation("timm:test_convnext.r160_in1k:stages.0")
    torch_state = full_model("test_convnext.r160_in1k").state_dict()
    cache_hub_file(offline_cache, "timm/test_convnext.r160_in1k", "pytorch_model.bin",
               lambda path: torch.save(torch_state, path))  # fmt: skip
    with pytest.raises(WeightsError, match=r"pytorch_model\.bin is pickled weights, which inverter never loads"):
        load_representation("timm:test_convnext.r160_in1k:stages.0")
    with pytest.raises(WeightsError, match="pickle"):
        load_representation("timm:test_convnext.r160_in1k:stages.0", weights="model.pth")


def test_an_hf_hub_model_reads_its_config_from_the_cache_and_offline_without_it_says_how_to_get_it(offline_cache):
    """``timm:hf-hub:ORG/NAME`` needs the repo's config.json (timm reads it through huggingface_hub)."""
    with pytest.raises(WeightsError) as info:  # offline, nothing cached
        get_family("timm:hf-hub:org/absent-model")
    message = str(info.value)
    assert "'config.json'" in message and "'org/absent-model'" in message and "not in the local Hub cache" in message
    assert "Fix: connect to the internet" in message and "hf download org/absent-model config.json" in message
    assert "\n" not in message and type(info.value.__cause__).__name__ == "LocalEntryNotFoundError"
    with pytest.raises(WeightsError, match=r"'org/absent-model'.*--revision v2"):
        get_family("timm:hf-hub:org/absent-model@v2")
    config = {"architecture": "test_resnet", "num_classes": 1000,
              "pretrained_cfg": {k: v for k, v in timm.get_pretrained_cfg("test_resnet.r160_in1k").to_dict().items()
                                 if k not in ("hf_hub_id", "architecture", "tag")}}  # fmt: skip
    cache_hub_file(offline_cache, "org/cached-resnet", "config.json", lambda path: path.write_text(json.dumps(config)))
    family = get_family("timm:hf-hub:org/cached-resnet")
    assert family.weights == HubFile("org/cached-resnet", "model.safetensors") and family.input_size == (160, 160)
    rep = load_representation("timm:hf-hub:org/cached-resnet:layer2", weights="random")
    assert rep.code_shape((64, 64))[1:] == (8, 8)


def test_weights_that_do_not_fit_the_model_are_a_clear_error(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"conv1.weight": torch.zeros(3, 3, 3, 3)}, str(path))
    with pytest.raises(WeightsError, match="do not fit timm model test_resnet.r160_in1k"):
        load_representation("timm:test_resnet.r160_in1k:layer1", weights=str(path))


def test_the_experiments_run_on_timm_models():
    from inverter.experiments import ExperimentSpec, run_experiment

    config = {"iterations": 6, "image_size": [SIDE, SIDE], "snapshot_every": 3, "device": "cpu"}
    sweep = run_experiment(ExperimentSpec("layer_sweep", "timm:test_vit.r160_in1k", ("blocks.0", "logits"),
                                          "example:coffee", config, weights="random"))  # fmt: skip
    assert [p.label for p in sweep.panels] == ["blocks.0", "logits"]
    field = run_experiment(ExperimentSpec("receptive_field", "timm:test_vit.r160_in1k", ("blocks.2",),
                                          "example:coffee", config, {"neighbourhood": 2}, weights="random"))
    assert field.panels[0].label == "blocks.2: central 2×2 of 4×4"
    halves = run_experiment(ExperimentSpec("channels", "timm:test_convnext.r160_in1k", ("stages.1",), "example:coffee",
                                           config, {"include_full": False}, weights="random"))  # fmt: skip
    assert [p.values["channels"] for p in halves.panels] == [[0, 16], [16, 32]]


def test_the_other_experiments_run_on_timm_models():
    from inverter.experiments import ExperimentSpec, run_experiment

    config = {"iterations": 4, "image_size": [32, 32], "snapshot_every": 4, "device": "cpu"}

    def run(kind, model, layer, params=None):
        return run_experiment(ExperimentSpec(kind, f"timm:{model}", (layer,), "example:coffee", config, params or {},
                                             weights="random"))  # fmt: skip

    restarts = run("restarts", "test_vit.r160_in1k", "blocks.1", {"restarts": 2})
    assert [p.label for p in restarts.panels] == ["blocks.1 #1", "blocks.1 #2"]
    sweep = run("tv_sweep", "test_convnext.r160_in1k", "stages.1", {"values": [0.5, 50.0]})
    assert [p.values["lambda_tv"] for p in sweep.panels] == [0.5, 50.0]
    betas = run("tv_beta", "test_vit.r160_in1k", "blocks.0", {"values": [1.0, 2.0]})
    assert [p.values["tv_beta"] for p in betas.panels] == [1.0, 2.0]
    assert betas.panels[1].values["lambda_tv"] == 0.5  # β = 2: the layer's own preset, unconverted
    alpha = run("alpha_norm", "test_resnet.r160_in1k", "layer1")
    assert alpha.panels[0].values["lambda_alpha"] > 0 and alpha.panels[1].values["lambda_alpha"] == 0.0
    shown = run("visualisations", "test_resnet.r160_in1k", "layer2")
    assert [p.label.split(": ")[1].split(" ")[0] for p in shown.panels] == ["inversion", "caricature", "channel"]
    for result in (restarts, sweep, betas, alpha):
        assert all(np.isfinite(p.relative_error) for p in result.panels)
