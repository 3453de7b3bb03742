"""What every representation tells its callers: its device and its code's shape for an input size."""
from __future__ import annotations

import pytest
import torch

from conftest import TinyCNN
from inverter.errors import SettingError
from inverter.representations import load_representation


@pytest.mark.parametrize("name", ["alexnet:pool5", "vgg16:conv3_3", "squeezenet1_1:logits", "hog", "hogb", "dsift"])
@pytest.mark.parametrize("size", [(227, 227), (96, 80)])
def test_code_shape_is_the_shape_of_the_code(name, size):
    rep = load_representation(name, weights="random", device="cpu") if ":" in name else load_representation(name)
    with torch.no_grad():
        code = rep(torch.zeros(1, rep.channels, *size))
    assert rep.code_shape(size) == tuple(code.shape[1:])
    assert rep.code_shape() == rep.code_shape(rep.input_size)


def test_code_shape_of_a_too_small_input_is_a_setting_error_naming_the_size():
    for rep in (load_representation("dsift"), load_representation("alexnet:conv1", weights="random", device="cpu")):
        with pytest.raises(SettingError, match=r"image_size 4×4 does not fit"):
            rep.code_shape((4, 4))


def test_code_shape_runs_no_arithmetic(tiny_cnn):
    calls = []
    tiny_cnn.register_forward_hook(lambda module, args, out: calls.append(out.device.type))
    assert tiny_cnn.code_shape((32, 32)) == (16, 8, 8)
    assert tiny_cnn.code_shape((32, 32)) == (16, 8, 8)  # computed once per size
    assert calls == ["meta"]


def test_device_is_where_the_weights_are():
    assert TinyCNN().device == torch.device("cpu")
    assert load_representation("hog").device.type in ("cpu", "cuda")  # no weights: the default device
