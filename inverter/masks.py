"""Masks over a code: invert from a group of channels or a neighbourhood of units."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import SettingError


#: What a mask may select of a transformer's tokens (``None`` = all of them).
TOKEN_CHOICES = (None, "cls", "patch")


@dataclass(frozen=True)
class CodeMask:
    """Which units of a code ``[C, H, W]`` (or ``[C]``) the data term sees.

    Attributes:
        channels: ``(start, stop)`` channel range, Python slice semantics; ``None`` = all.
            The paper's two AlexNet filter groups are ``(0, C//2)`` and ``(C//2, C)``.
        neighbourhood: keep only the central ``N × N`` units of each channel (the CVPR
            code's centring rule); ``None`` = all. Ignored for codes without space.
        tokens: for a transformer's token code, ``"cls"`` (the class/prefix tokens only)
            or ``"patch"`` (the patch tokens only); ``None`` = every token. The
            representation applies it (:meth:`inverter.representations.Representation.mask_tensor`).
    """

    channels: tuple[int, int] | None = None
    neighbourhood: int | None = None
    tokens: str | None = None

    def __post_init__(self) -> None:
        if self.channels is not None:
            start, stop = self.channels
            if start < 0 or stop <= start:
                raise SettingError(f"channel range must satisfy 0 ≤ start < stop, got {self.channels}")
        if self.neighbourhood is not None and self.neighbourhood < 1:
            raise SettingError(f"neighbourhood must be ≥ 1 unit, got {self.neighbourhood}")
        if self.tokens not in TOKEN_CHOICES:
            raise SettingError(f"tokens must be one of {', '.join(map(repr, TOKEN_CHOICES))}, got {self.tokens!r}")

    @property
    def is_full(self) -> bool:
        """True when the mask selects every unit."""
        return self.channels is None and self.neighbourhood is None and self.tokens is None

    def check(self, code_shape: tuple[int, ...]) -> None:
        """Raise :class:`SettingError` unless the mask selects units of a code of ``code_shape`` (no batch)."""
        n_channels = code_shape[0]
        if self.channels is not None and self.channels[0] >= n_channels:
            raise SettingError(
                f"channel range {self.channels} is outside the code's {n_channels} channels: "
                f"the first channel must be between 0 and {n_channels - 1}"
            )

    def tensor(self, code_shape: tuple[int, ...], device: torch.device | str | None = None) -> torch.Tensor:
        """The 0/1 float mask of shape ``[1, *code_shape]`` (``code_shape`` without batch) of
        a ``(C, H, W)`` or ``(C,)`` code (channels and neighbourhood; not ``tokens``).

        Raises:
            SettingError: the channel range lies outside the code.
        """
        self.check(code_shape)
        mask = torch.zeros((1, *code_shape), dtype=torch.float32, device=device)
        start, stop = self.channels if self.channels is not None else (0, code_shape[0])
        stop = min(stop, code_shape[0])
        if len(code_shape) == 3 and self.neighbourhood is not None:
            h, w = code_shape[1:]
            ny, nx = min(self.neighbourhood, h), min(self.neighbourhood, w)
            # CVPR code (1-based): s = (0:n-1) + ceil((size - n + 1) / 2)
            y0 = math.ceil((h - ny + 1) / 2) - 1
            x0 = math.ceil((w - nx + 1) / 2) - 1
            mask[:, start:stop, y0 : y0 + ny, x0 : x0 + nx] = 1.0
        else:
            mask[:, start:stop] = 1.0
        return mask
