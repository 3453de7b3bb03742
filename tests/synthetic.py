"""Synthetic grey test images for HOG and DSIFT, ``[1, 1, H, W]`` float in pixel units."""
from __future__ import annotations

import math

import torch


def smooth_image(height: int, width: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """A textured ``[1, 1, H, W]`` image in pixel units (random noise, lightly blurred)."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 1, height + 2, width + 2, generator=gen, dtype=torch.float64)
    blurred = torch.nn.functional.avg_pool2d(noise, 3, stride=1)
    return ((blurred - blurred.mean()) * 600.0).to(dtype)


def ramp(height: int, width: int, angle_deg: float) -> torch.Tensor:
    """A linear ramp whose intensity increases along ``angle_deg`` (x right, y down)."""
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij")
    a = math.radians(angle_deg)
    img = 3.0 * (x * math.cos(a) + y * math.sin(a))
    return (img - img.mean()).view(1, 1, height, width)
