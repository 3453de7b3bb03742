"""Truncated CNN representations compute exactly what the full torchvision model computes.

Random weights only (offline, CPU). Each full model is built once per module with a fixed
seed and saved as a ``.safetensors`` file; every layer is then built the way a user builds
it (``load_representation("family:layer", weights=PATH)``) and compared bit for bit with
the activation a forward hook captured inside the full model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.transforms.functional import normalize

from inverter import weights as hub
from inverter.representations import get_family, list_representations, load_representation
from inverter.representations.base import IMAGENET_STD_255

CNN_FAMILIES = ("alexnet", "vgg16", "squeezenet1_1")
#: Small, non-square input: every family accepts it (the fc layers' adaptive pooling
#: takes any size ≥ one pool5 cell), and a swapped H/W would change the output shape.
INPUT_HW = (64, 80)
CASES = [(family, layer) for family in CNN_FAMILIES for layer in list_representations()[family]]


@dataclass
class Reference:
    """What one full model with random weights computes, and where its weights are.

    The model itself is not kept (VGG-16 is 0.5 GB): everything the tests need is
    captured once when it is built.
    """

    family: str
    weights: Path  # the full model's state dict, .safetensors
    pixels: torch.Tensor  # [2, 3, H, W] random input in pixel units
    activations: dict[str, torch.Tensor]  # every layer's node → tensor captured in the full model
    image: np.ndarray  # [H, W, 3] random image in [0, 1]
    convention: torch.Tensor  # default layer's activation for ``image`` fed the torchvision way


def _capture(model: nn.Module, nodes: list[str], normalised: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ``model`` once, cloning each node's output (torchvision's ReLUs are inplace)."""
    modules = dict(model.named_modules())
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for node in nodes:
        if node in modules:
            hook = lambda _m, _i, out, node=node: captured.__setitem__(node, out.detach().clone())  # noqa: E731
            handles.append(modules[node].register_forward_hook(hook))
    try:
        with torch.no_grad():
            output = model(normalised)
    finally:
        for handle in handles:
            handle.remove()
    for node in nodes:
        if node not in modules:  # a functional node (SqueezeNet's "flatten"): the model's output
            assert node == nodes[-1], f"{node} is neither a module nor the last node"
            captured[node] = output.clone()
    return captured


def _build_reference(family: str, directory: Path) -> Reference:
    from safetensors.torch import save_file

    fam = get_family(family)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = fam.extra["constructor"]().eval()
    weights = directory / f"{family}-random.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    gen = torch.Generator().manual_seed(1)
    pixels = torch.randn(2, 3, *INPUT_HW, generator=gen) * 60.0
    # The representation's forward is body(x · 1/(255·std)); give the full model that very
    # tensor so that any difference comes from truncation alone.
    normalised = pixels * (1.0 / torch.tensor(IMAGENET_STD_255).view(1, 3, 1, 1))
    activations = _capture(model, [spec.node for spec in fam.layers], normalised)
    image = np.random.default_rng(0).random((*INPUT_HW, 3))
    unit = torch.from_numpy(image.transpose(2, 0, 1)).float()[None]
    tv_input = normalize(unit, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    node = fam.layer(None).node
    convention = _capture(model, [node], tv_input)[node]
    return Reference(family, weights, pixels, activations, image, convention)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """``reference(family)``, built once per family on first use."""
    cache: dict[str, Reference] = {}
    directory = tmp_path_factory.mktemp("cnn_weights")

    def get(family: str) -> Reference:
        if family not in cache:
            hub.clear_cache()  # the previous family's state dict, read from its file
            cache[family] = _build_reference(family, directory)
        return cache[family]

    yield get
    hub.clear_cache()


@pytest.mark.parametrize(("family", "layer"), CASES, ids=[f"{f}:{l}" for f, l in CASES])
def test_truncated_layer_equals_full_model_activation(reference, family: str, layer: str):
    ref = reference(family)
    rep = load_representation(f"{family}:{layer}", weights=ref.weights, device="cpu")
    rep.set_channels_last(False)  # the reference model's layout: bit-identical kernels
    expected = ref.activations[rep.node]
    assert expected.abs().sum() > 0, "a vacuous comparison: the reference activation is all zeros"
    with torch.no_grad():
        got = rep(ref.pixels)
    assert got.shape == expected.shape
    assert torch.equal(got, expected), f"{family}:{layer} differs by up to {(got - expected).abs().max():.3g}"


@pytest.mark.parametrize("family", CNN_FAMILIES)
def test_channels_last_layout_computes_the_same_code_and_gradient(reference, family: str):
    """The default channels-last layout changes speed, not values: code and input gradient
    agree with torchvision's layout up to float rounding (at a layer with no max-pool
    between, where rounding could flip an arg-max and move a gradient to another pixel)."""
    ref = reference(family)
    layer = get_family(family).layers[1].name  # conv + ReLU: no pooling ties
    rep = load_representation(f"{family}:{layer}", weights=ref.weights, device="cpu")
    weight = next(p for p in rep.parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last), "channels-last is not the default"
    results = []
    for channels_last in (True, False):
        rep.set_channels_last(channels_last)
        pixels = ref.pixels.clone().requires_grad_(True)
        code = rep(pixels)
        (grad,) = torch.autograd.grad(code, pixels, grad_outputs=torch.ones_like(code))
        results.append((code.detach(), grad))
    (code_cl, grad_cl), (code, grad) = results
    assert grad.abs().sum() > 0
    torch.testing.assert_close(code_cl, code, atol=1e-5 * float(code.abs().max()), rtol=1e-5)
    torch.testing.assert_close(grad_cl, grad, atol=1e-5 * float(grad.abs().max()), rtol=1e-5)
    deep = load_representation(family, weights=ref.weights, device="cpu")  # the default, deeper layer
    with torch.no_grad():
        code_cl = deep(ref.pixels)
        code = deep.set_channels_last(False)(ref.pixels)
    torch.testing.assert_close(code_cl, code, atol=1e-5 * float(code.abs().max()), rtol=1e-5)


@pytest.mark.parametrize("family", CNN_FAMILIES)
def test_random_init_loaded_with_full_weights_matches_at_default_layer(reference, family: str):
    """The ``weights="random"`` path truncates the same graph; with the full model's
    weights loaded into it, it computes the same tensor."""
    from safetensors.torch import load_file

    ref = reference(family)
    torch.manual_seed(1234)  # not the reference's seed, whatever earlier tests left in the global RNG
    rep = load_representation(family, weights="random", device="cpu")
    own = rep.body.state_dict()
    full = load_file(str(ref.weights))
    assert any(not torch.equal(own[k], full[k]) for k in own if k.endswith("weight")), (
        "weights='random' should not already be the reference model's weights"
    )
    rep.body.load_state_dict({k: full[k] for k in own}, strict=True)
    rep.set_channels_last(False)
    with torch.no_grad():
        got = rep(ref.pixels)
    assert torch.equal(got, ref.activations[rep.node])


@pytest.mark.parametrize("family", CNN_FAMILIES)
def test_pixel_units_match_torchvision_input_convention(reference, family: str):
    """Pixel units (0–255 minus the mean) fold into the model as torchvision's [0, 1] +
    mean/std normalisation does (equal up to float rounding)."""
    ref = reference(family)
    rep = load_representation(family, weights=ref.weights, device="cpu")
    with torch.no_grad():
        got = rep(rep.image_to_pixels(ref.image, INPUT_HW))
    scale = float(ref.convention.abs().max())
    assert scale > 0
    torch.testing.assert_close(got, ref.convention, atol=1e-4 * scale, rtol=1e-4)


def _walked_stride(model: nn.Module, node: str) -> int:
    """Receptive-field stride at ``node``: the product of the strides of every conv and
    pool module that runs up to and including it (registration order = execution order
    for these sequential models; a functional node walks the whole model)."""
    stride = 1
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
            step = module.stride
            step = step if isinstance(step, int) else step[0]
            assert isinstance(module.stride, int) or len(set(module.stride)) == 1, f"{name}: anisotropic stride"
            stride *= step
        if name == node:
            break
    return stride


@pytest.mark.parametrize("family", CNN_FAMILIES)
def test_hard_coded_strides_match_the_architecture(family):
    fam = get_family(family)
    with torch.device("meta"):
        model = fam.extra["constructor"]()
    walked = {spec.name: _walked_stride(model, spec.node) for spec in fam.layers}
    declared = {spec.name: spec.stride for spec in fam.layers}
    assert declared == walked


@pytest.mark.parametrize("family", CNN_FAMILIES)
def test_default_layer_exists_and_presets_grow_with_depth(family):
    fam = get_family(family)
    names = [spec.name for spec in fam.layers]
    assert fam.default_layer in names
    assert fam.layer(None).name == fam.default_layer
    assert len(set(names)) == len(names)
    tvs = [spec.preset.lambda_tv for spec in fam.layers]
    assert tvs == sorted(tvs), f"λ_TV should not decrease with depth: {tvs}"
    assert tvs[0] < tvs[-1]


@pytest.mark.parametrize("family", CNN_FAMILIES)
def test_layers_are_listed_shallow_to_deep(family):
    """Rows point at distinct nodes in execution order (a copy-paste slip would alias
    two names or swap two layers)."""
    fam = get_family(family)
    with torch.device("meta"):
        order = [name for name, _ in fam.extra["constructor"]().named_modules()]
    nodes = [spec.node for spec in fam.layers]
    positions = [order.index(n) if n in order else len(order) for n in nodes]
    assert positions == sorted(positions) and len(set(positions)) == len(positions), nodes


def test_building_a_layer_while_another_thread_runs_one_is_safe():
    """A server builds representations while inversions run in other threads: building must
    not change how modules run elsewhere (FX tracing patches nn.Module.__call__ globally)."""
    import threading

    running = load_representation("squeezenet1_1:fire3", weights="random", device="cpu")
    errors, stop = [], threading.Event()

    def run() -> None:
        x = torch.randn(1, 3, 64, 64)
        while not stop.is_set():
            try:
                with torch.no_grad():
                    running(x)
            except Exception as err:  # noqa: BLE001 - any failure is the finding
                errors.append(err)
                return

    thread = threading.Thread(target=run)
    thread.start()
    try:
        for name in ("alexnet:fc6", "vgg16:conv2_1", "squeezenet1_1:logits", "alexnet:pool5", "vgg16:fc7"):
            load_representation(name, weights="random", device="cpu")
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
