"""A plug-in for the evaluation tests: registers ``tinyeval``, a two-layer CNN with random weights.

Imported by file path (``--plugin tests/evaluation_plugin.py`` / ``plugins=(PATH,)``) in the
test process and in every worker process or Ray worker, which start from a fresh
interpreter: that is how a family that is not part of the package reaches them. The
family declares Hub weights it never fetches; the tests use ``weights="random"``, whose
initialisation :func:`inverter.evaluation.tasks.load_network` seeds, so every process
builds the same network.
"""
from __future__ import annotations

import os
import time

import torch
from torch import nn

from inverter.errors import WeightsError
from inverter.representations import Family, LayerSpec, Preset, Representation, register
from inverter.representations.base import IMAGENET_STD_255
from inverter.weights import HubFile, RandomInit

SIZE = 32
#: Seconds each forward pass waits (``$TINYEVAL_FORWARD_DELAY``, default none): a test that kills a
#: worker after its first result slows the tasks so that some are still to run when the kill lands.
DELAY = float(os.environ.get("TINYEVAL_FORWARD_DELAY", "0"))
PRESET = Preset(lambda_tv=0.5, phases=((1.0, 6), (0.1, 4)))
#: (layer, stride): conv1 → [8, 16, 16], conv2 → [12, 8, 8] at 32×32.
LAYERS = (("conv1", 2), ("conv2", 4))


class TinyEval(Representation):
    """Conv-ReLU layers truncated at ``layer``; ``[B, 3, H, W]`` pixel units → code."""

    def __init__(self, layer: str):
        super().__init__()
        names = [n for n, _ in LAYERS]
        modules = [nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU()), nn.Sequential(nn.Conv2d(8, 12, 3, 2, 1), nn.ReLU())]
        self.body = nn.Sequential(*modules[: names.index(layer) + 1])
        self.family, self.layer, self.channels = "tinyeval", layer, 3
        self.input_size, self.stride, self.preset = (SIZE, SIZE), dict(LAYERS)[layer], PRESET
        self.register_buffer("inv_std", 1.0 / torch.tensor(IMAGENET_STD_255).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if DELAY:
            time.sleep(DELAY)
        return self.body(x * self.inv_std)


def _build(layer: str, weights) -> TinyEval:
    if not isinstance(weights, RandomInit):
        raise WeightsError("tinyeval has random weights only: use weights='random'")
    return TinyEval(layer)  # torch's default init, from the RNG the loader seeded


FAMILY = register(Family("tinyeval", tuple(LayerSpec(n, s, PRESET) for n, s in LAYERS), _build, "evaluation test net",
                default_layer="conv2", input_size=(SIZE, SIZE), weights=HubFile("none/none", "tinyeval.safetensors")))  # fmt: skip
