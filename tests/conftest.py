"""Shared fixtures: tiny networks built in the test, and the optional real weights."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from inverter.representations.base import IMAGENET_STD_255, Preset, Representation

torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
SHARED_WEIGHTS = REPO.parent / "shared" / "weights"
SQUEEZENET_FILE = SHARED_WEIGHTS / "squeezenet1_1-imagenet.safetensors"


class TinyCNN(Representation):
    """A two-layer conv net, ``[B, 3, H, W]`` pixel units → ``[B, 16, H/4, W/4]``."""

    def __init__(self, seed: int = 0, size: int = 32):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 12, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(12, 16, 3, stride=2, padding=1)
        for conv in (self.conv1, self.conv2):
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.3)
                conv.bias.zero_()
        self.family, self.layer, self.channels = "tiny", "conv2", 3
        self.input_size, self.stride = (size, size), 4
        self.preset = Preset(lambda_tv=0.5, phases=((1.0, 60), (0.1, 40)))
        self.register_buffer("inv_std", 1.0 / torch.tensor(IMAGENET_STD_255).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(x * self.inv_std)))


@pytest.fixture
def tiny_cnn() -> TinyCNN:
    return TinyCNN().freeze()


@pytest.fixture
def photo() -> np.ndarray:
    """A real photograph, ``[H, W, 3]`` uint8 (scikit-image's astronaut)."""
    from skimage import data

    return data.astronaut()


HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def cache_hub_file(root: Path, repo_id: str, filename: str, write) -> Path:
    """Put a file into a Hugging Face cache under ``root`` as the ``main`` revision of
    model repo ``repo_id``: ``write(path)`` writes it. Returns ``root``."""
    repo_dir = root / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / HUB_COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(HUB_COMMIT)
    write(snapshot / filename)
    return root


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty offline Hub cache, its state dicts read afresh; returns its root (see :func:`cache_hub_file`).

    huggingface_hub reads ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` at import and looks them up
    on its ``constants`` module at call time: in-process tests patch those attributes.
    """
    import huggingface_hub.constants as constants

    from inverter import weights

    root = tmp_path / "hf-cache"
    root.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    weights.clear_cache()
    yield root
    weights.clear_cache()


@pytest.fixture
def squeezenet_weights() -> Path:
    """Path of the real SqueezeNet 1.1 ImageNet weights; skips where ../shared is absent."""
    if not SQUEEZENET_FILE.is_file():
        pytest.skip(f"real weights not found at {SQUEEZENET_FILE} (only in the project's workspace)")
    return SQUEEZENET_FILE
