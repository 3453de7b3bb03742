"""Hugging Face ZeroGPU: ``spaces.GPU`` where the ``spaces`` package is installed."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def gpu(duration: int | Callable[..., int] = 120) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``spaces.GPU(duration=...)`` where the ``spaces`` package is installed; a no-op
    otherwise. ``spaces.GPU`` itself is a no-op unless ``SPACES_ZERO_GPU`` is set (Spaces)."""
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)
