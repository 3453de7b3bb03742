"""The inversion engine: one generator that optimises pre-images and yields snapshots.

Objective (Mahendran & Vedaldi 2015, with the CVPR code's normalisation), per restart::

    E(x) = C·‖M⊙(Φ(x) − Φ0)‖²/‖M⊙Φ0‖² + s·λ_α·R_α(x/σ0) + s·λ_TV·R_TV^β(x/σ0)

``x`` is the image in pixel units (0–255, the representation's mean subtracted),
``σ`` the image-norm scale of :func:`inverter.objectives.image_sigma` (27098.1 at
227×227×3), ``σ0`` its value at 227×227 and ``s = 227²/(H·W)``: at the paper's size this
is exactly the CVPR code's objective, and at other sizes the λ's keep their meaning. Heavy-ball momentum: ``v ← μ·v − η·σ²·∇_x E``, ``x ← x + v``, which is plain
momentum with rate η in the normalised units ``x/σ``; ``v`` resets to zero whenever the
rate changes. Restarts are optimised as one batch and do not interact.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .descent import Descent
from .errors import DivergenceError, SettingError
from .images import load_image
from .masks import CodeMask
from .objectives import (
    REFERENCE_SIDE,
    alpha_norm,
    image_sigma,
    masked_residual,
    regulariser_scale,
    squared_norm,
    total_variation,
)
from .representations import ijcv
from .representations.base import Representation
from .schedule import learning_rates, phase_starts
from .settings import DISPLAY_MODES, INIT_MODES, PRECISIONS, InversionConfig, Settings, resolve_settings

__all__ = [
    "DISPLAY_MODES", "INIT_MODES", "PRECISIONS", "DivergenceError", "InversionConfig", "Settings", "Snapshot",
    "forward_in_precision", "invert", "reconstruct", "resolve_settings",
]

@dataclass
class Snapshot:
    """The state of an inversion after ``step`` steps.

    Attributes:
        step: steps completed (0 = the initial noise).
        total_steps: steps the inversion will take.
        images: ``[K, H, W, 3]`` uint8 RGB pre-images (grey ones replicated), display mapping.
        reference: ``[H, W, 3]`` uint8, the input as the representation sees it.
        relative_error: ``[K]``, √(‖M⊙(Φ(x)−Φ0)‖²/‖M⊙Φ0‖²) (IJCV's error), unitless.
        data_loss, alpha_loss, tv_loss, loss: ``[K]`` the weighted objective terms and their sum.
        learning_rate: the rate of the step just taken.
        elapsed: seconds since :func:`invert` was called.
        done: True on the last snapshot, computed at the final image.
        pixels: ``[K, C, H, W]`` float32 pre-images in pixel units (mean subtracted).
        settings: the resolved hyper-parameters.
    """

    step: int
    total_steps: int
    images: np.ndarray
    reference: np.ndarray
    relative_error: np.ndarray
    data_loss: np.ndarray
    alpha_loss: np.ndarray
    tv_loss: np.ndarray
    loss: np.ndarray
    learning_rate: float
    elapsed: float
    done: bool
    pixels: np.ndarray = field(repr=False)
    settings: Settings = field(repr=False)

    @property
    def best(self) -> int:
        """Index of the restart with the lowest relative error."""
        return int(np.argmin(self.relative_error))

    @property
    def image(self) -> np.ndarray:
        """The best restart's pre-image, ``[H, W, 3]`` uint8."""
        return self.images[self.best]


def forward_in_precision(representation: Representation, precision: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``pixels ↦ Φ(pixels)`` as float32, with Φ's arithmetic in ``precision`` (one of :data:`PRECISIONS`).

    ``"bfloat16"``: Φ runs under :func:`torch.autocast` with a bfloat16 copy of its weights
    made here, once — autocast itself would cast frozen weights again at every call (it
    caches only casts of weights that require grad). The representation is left as it is.
    """
    if precision == "float32":
        return representation
    if precision != "bfloat16":
        raise SettingError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    weights = {name: w.detach().to(torch.bfloat16) for name, w in representation.named_parameters()}

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(pixels.device.type, dtype=torch.bfloat16):
            return torch.func.functional_call(representation, weights, (pixels,)).float()

    return forward


def _display(pixels: np.ndarray, mean: np.ndarray, mode: str) -> np.ndarray:
    """``[K, C, H, W]`` float32 pixel units → ``[K, H, W, 3]`` uint8 (the paper's min–max, or clip).

    NumPy on a host copy: a snapshot costs one device-to-host copy and no device work.
    The arithmetic is :func:`inverter.images.to_uint8`'s (clip to [0, 1], ×255, round), done
    in place in float32 for the whole batch.
    """
    img = pixels + mean
    if mode == "minmax":
        flat = img.reshape(len(img), -1)
        lo = flat.min(axis=1).reshape(-1, 1, 1, 1)
        hi = flat.max(axis=1).reshape(-1, 1, 1, 1)
        img -= lo
        img *= np.float32(255.0) / np.maximum(hi - lo, np.float32(1e-8))
    np.clip(img, 0.0, 255.0, out=img)
    np.rint(img, out=img)
    rgb = img.astype(np.uint8).transpose(0, 2, 3, 1)
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    return np.ascontiguousarray(rgb)


def _initial_noise(settings: Settings, channels: int, canvas: tuple[int, int]) -> torch.Tensor:
    """``[K, C, H', W']`` noise in pixel units (CPU generator: reproducible).

    ``"gaussian"`` (CVPR): each restart rescaled to norm σ. ``"uniform"`` (IJCV): uniform in
    [−1, 1], each restart divided by its 95% quantile and multiplied by ``B/√C`` (``B`` the
    typical pixel norm, 80), as the authors' code does.
    """
    gen = torch.Generator().manual_seed(settings.seed)
    shape = (settings.restarts, channels, *canvas)
    if settings.init == "gaussian":
        noise = torch.randn(shape, generator=gen)
        norms = noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        return noise / norms * (settings.sigma * np.sqrt(canvas[0] * canvas[1] / np.prod(settings.image_size)))
    noise = 2.0 * torch.rand(shape, generator=gen) - 1.0
    quantile = torch.quantile(noise.flatten(1), 0.95, dim=1).view(-1, 1, 1, 1)
    return noise / quantile * (ijcv.B / np.sqrt(channels))


def invert(
    representation: Representation | str,
    image: np.ndarray | str | Path,
    config: InversionConfig | None = None,
    **overrides: Any,
) -> Iterator[Snapshot]:
    """Reconstruct ``image`` from its code and yield progressive snapshots.

    Args:
        representation: a :class:`Representation` or a registry name (``"hog"``,
            ``"alexnet:conv3"``); it is put in eval mode with frozen weights.
        image: ``[H, W, 3]``/``[H, W]`` array (uint8, or float in ``[0, 1]``) or a file path.
            It is centre-cropped to the pre-image's aspect and resized.
        config: settings; ``overrides`` replace fields of it (``iterations=50``).

    Yields:
        :class:`Snapshot` at step 0, every ``snapshot_every`` steps, and a final one with
        ``done=True`` computed at the final pre-images.

    Raises:
        inverter.errors.SettingError: a bad setting; inverter.errors.ImageError: a bad image;
        inverter.errors.DivergenceError: the optimisation diverged.
    """
    start = time.perf_counter()
    config = config or InversionConfig()
    if overrides:
        config = config.replace(**overrides)
    if isinstance(representation, str):
        from .representations import load_representation

        representation = load_representation(representation, device=config.device)
    settings = resolve_settings(representation, config)
    device = torch.device(settings.device)
    rep = representation.freeze().to(device)  # eval mode (no dropout), weights never require grad
    if isinstance(image, (str, Path)):
        image = load_image(image)

    code = forward_in_precision(rep, settings.precision)
    target_pixels = rep.image_to_pixels(image, settings.image_size).to(device)
    with torch.no_grad():
        target = code(target_pixels)
    mask = rep.mask_tensor(CodeMask(**settings.mask), settings.image_size, device) if settings.mask else None
    target_norm2 = squared_norm(target * mask if mask is not None else target).clamp_min(1e-30)
    # ∂(C·‖r‖²/‖Φ0‖²)/∂Φ = 2C·r/‖Φ0‖², r the (masked) residual. Φ's backward is linear, so it is
    # fed r and the one scalar (one target for all restarts) is applied in the update, for free.
    data_scale = 2.0 * settings.data_weight / float(target_norm2)  # a host sync before the loop, none in it
    mean_array = rep.mean_tensor().numpy()
    reference = _display(target_pixels.cpu().numpy(), mean_array, "clip")[0]

    height, width = settings.image_size
    jitter = settings.jitter
    canvas = (height + jitter - 1, width + jitter - 1)
    x = _initial_noise(settings, rep.channels, canvas).to(device)
    rates = learning_rates(settings.learning_rate, settings.phases)
    starts = phase_starts(settings.phases)
    resets, last_phase = set(starts), (starts[-1] if starts else 0)
    offsets = random.Random(settings.seed)
    centre = (jitter - 1) // 2
    sigma = settings.sigma
    inv_sigma0 = 1.0 / image_sigma(rep.channels, REFERENCE_SIDE, REFERENCE_SIDE)
    lambda_alpha = settings.lambda_alpha * regulariser_scale(height, width)
    lambda_tv = settings.lambda_tv * regulariser_scale(height, width)
    descent = Descent(x, alpha=settings.alpha, lambda_alpha=lambda_alpha, beta=settings.tv_beta,
                      lambda_tv=lambda_tv, inv_sigma0=inv_sigma0, momentum=settings.momentum, sigma=sigma,
                      clip=settings.clip or None, rule=settings.method, pixels=height * width,
                      parameterisation=settings.parameterisation)

    def data_residual(crop: torch.Tensor) -> torch.Tensor:
        return masked_residual(code(crop), target, mask)

    def terms(diff: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The objective's terms per restart, ``[K]`` each (only at snapshots)."""
        with torch.no_grad():
            data = squared_norm(diff) / target_norm2
            u = x * inv_sigma0
            reg_alpha = alpha_norm(u, settings.alpha) * lambda_alpha if lambda_alpha else data * 0
            reg_tv = total_variation(u, settings.tv_beta) * lambda_tv if lambda_tv else data * 0
            data_weighted = data * settings.data_weight
            return data, data_weighted, reg_alpha, reg_tv, data_weighted + reg_alpha + reg_tv

    def forward(top: int, left: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The crop at ``(top, left)`` as a leaf that requires grad, and its residual with Φ's graph."""
        crop = x[:, :, top : top + height, left : left + width].detach().requires_grad_(True)
        with torch.enable_grad():
            return crop, data_residual(crop)

    def backward(crop: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
        """∇ of the data term w.r.t. the crop divided by ``data_scale``: Φ's backward fed ``r``."""
        (grad_crop,) = torch.autograd.grad(diff, crop, grad_outputs=diff.detach())
        return grad_crop

    def snapshot(step: int, diff: torch.Tensor, rate: float, done: bool) -> Snapshot:
        data, data_w, reg_a, reg_tv, total = (t.cpu().numpy().astype(np.float64) for t in terms(diff))
        if not np.isfinite(total).all():
            raise DivergenceError(
                f"the optimisation diverged by step {step} (objective {total.tolist()}); "
                "lower the learning rate, or enable pixel clipping (clip > 0)"
            )
        pixels = x[:, :, centre : centre + height, centre : centre + width].to("cpu", copy=True).numpy()
        return Snapshot(
            step=step,
            total_steps=settings.iterations,
            images=_display(pixels, mean_array, settings.display),
            reference=reference,
            relative_error=np.sqrt(data),
            data_loss=data_w,
            alpha_loss=reg_a,
            tv_loss=reg_tv,
            loss=total,
            learning_rate=rate,
            elapsed=time.perf_counter() - start,
            done=done,
            pixels=pixels,
            settings=settings,
        )

    # Grad mode is set per statement, never around a ``yield``: the caller runs in its own mode.
    for step, rate in enumerate(rates):
        if step in resets:
            descent.reset_momentum()
        if jitter > 1 and step < last_phase:
            top, left = offsets.randrange(jitter), offsets.randrange(jitter)
        else:
            top = left = centre
        crop, diff = forward(top, left)
        if step % settings.snapshot_every == 0:  # before Φ's backward: the first snapshot waits for no backward
            yield snapshot(step, diff.detach(), rate, done=False)
        data_grad = backward(crop, diff)
        del crop, diff
        with torch.no_grad():
            descent.step(rate, data_grad, top, left, data_scale)
    with torch.no_grad():
        diff = data_residual(x[:, :, centre : centre + height, centre : centre + width])
    yield snapshot(settings.iterations, diff, rates[-1] if rates else 0.0, done=True)


def reconstruct(
    representation: Representation | str,
    image: np.ndarray | str | Path,
    config: InversionConfig | None = None,
    **overrides: Any,
) -> Snapshot:
    """Run :func:`invert` to the end and return its final snapshot."""
    last = None
    for last in invert(representation, image, config, **overrides):
        pass
    assert last is not None and last.done
    return last
