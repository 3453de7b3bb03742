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
from .errors import DivergenceError, ImageError, SettingError
from .images import SAMPLE_PHOTOS, load_image, sample_photo
from .masks import CodeMask
from .objectives import REFERENCE_SIDE, DataTerm, alpha_norm, image_sigma, regulariser_scale, total_variation
from .representations import ijcv
from .representations.base import Representation
from .schedule import learning_rates, phase_starts, step_boosts
from .settings import DISPLAY_MODES, INIT_MODES, PRECISIONS, InversionConfig, Settings, Target, resolve_settings

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
        score: ``[K]``, the objective's own figure of merit (see
            :class:`inverter.objectives.DataTerm`): the relative error for an inversion, the
            target's activation over its typical scale, the caricature's ⟨Φ(x), Φ0⁺⟩/‖Φ0⁺‖².
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
    score: np.ndarray
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
        """Index of the best restart: the lowest relative error (inversion), the highest score (the others)."""
        if self.settings.objective == "invert":
            return int(np.argmin(self.relative_error))
        return int(np.argmax(self.score))

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


def _initial_image(settings: Settings, image: torch.Tensor, canvas: tuple[int, int]) -> torch.Tensor:
    """The start, ``[K, C, H', W']`` in pixel units (CPU generator: reproducible).

    ``"gaussian"`` (CVPR): noise, each restart rescaled to norm σ. ``"uniform"`` (IJCV):
    uniform in [−1, 1], each restart divided by its 95% quantile and multiplied by ``B/√C``
    (``B`` the typical pixel norm, 80), as the authors' code does. Either noise is then
    multiplied by ``settings.init_scale`` (1: the papers'). ``"image"``: the image
    ``[1, C, H, W]`` itself at the canvas's centre, zero around it (the authors' caricatures).
    """
    channels = image.shape[1]
    shape = (settings.restarts, channels, *canvas)
    if settings.init == "image":
        top, left = (canvas[0] - image.shape[2]) // 2, (canvas[1] - image.shape[3]) // 2
        start = torch.zeros(shape)
        start[:, :, top : top + image.shape[2], left : left + image.shape[3]] = image.cpu()
        return start
    gen = torch.Generator().manual_seed(settings.seed)
    if settings.init == "gaussian":
        noise = torch.randn(shape, generator=gen)
        norms = noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        size = settings.sigma * np.sqrt(canvas[0] * canvas[1] / np.prod(settings.image_size))
        return noise / norms * (size * settings.init_scale)
    noise = 2.0 * torch.rand(shape, generator=gen) - 1.0
    quantile = torch.quantile(noise.flatten(1), 0.95, dim=1).view(-1, 1, 1, 1)
    return noise / quantile * (ijcv.B / np.sqrt(channels) * settings.init_scale)


def typical_scale(representation: Representation, phi: Callable[[torch.Tensor], torch.Tensor],
                  selector: torch.Tensor, size: tuple[int, int]) -> float:  # fmt: skip
    """The typical size of the unit ``selector`` picks (``[1, *code_shape]``, one-hot): the
    largest value of its channel (or class) anywhere on :data:`inverter.images.SAMPLE_PHOTOS`
    at ``size`` — the paper normalises by the filter's largest activation over a data set —
    or the layer's largest there if that channel never fires. Computed once per representation,
    channel and size."""
    channel = int(selector.nonzero()[0, 1])
    key = (tuple(size), channel)
    cache = representation.__dict__.setdefault("_typical_scales", {})
    if key not in cache:
        device = selector.device
        with torch.no_grad():
            codes = torch.cat([phi(representation.image_to_pixels(sample_photo(name), size).to(device))
                               for name in SAMPLE_PHOTOS])  # fmt: skip
        largest = float(codes[:, channel].max())
        cache[key] = largest if largest > 1e-6 else float(codes.abs().max().clamp_min(1e-6))
    return cache[key]


def invert(
    representation: Representation | str,
    image: np.ndarray | str | Path | None,
    config: InversionConfig | None = None,
    **overrides: Any,
) -> Iterator[Snapshot]:
    """Reconstruct ``image`` from its code and yield progressive snapshots.

    Args:
        representation: a :class:`Representation` or a registry name (``"hog"``,
            ``"alexnet:conv3"``); it is put in eval mode with frozen weights.
        image: ``[H, W, 3]``/``[H, W]`` array (uint8, or float in ``[0, 1]``) or a file path.
            It is centre-cropped to the pre-image's aspect and resized. ``None`` only for
            activation maximisation (the reference is then mid-grey).
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
    if image is None:
        if settings.objective != "activation":
            raise ImageError(f"objective {settings.objective!r} needs an image; only activation maximisation "
                             "starts without one")  # fmt: skip
        image = np.full((*settings.image_size, 3), 0.5)  # a mid-grey reference

    # activation maximisation runs Φ with leaking ReLUs, as the IJCV code (a unit that starts dead moves)
    phi = rep.leaky(ijcv.ACTIVATION_LEAK) if settings.objective == "activation" else rep
    code = forward_in_precision(phi, settings.precision)
    target_pixels = rep.image_to_pixels(image, settings.image_size).to(device)
    with torch.no_grad():
        reference_code = code(target_pixels)
    mask = rep.mask_tensor(CodeMask(**settings.mask), settings.image_size, device) if settings.mask else None
    selector, unit_scale = None, 1.0
    if settings.objective == "activation":
        selector = rep.unit_selector(*Target.parse(settings.target), settings.image_size).to(device)
        unit_scale = typical_scale(rep, code, selector, settings.image_size)
    # Φ's backward is linear: it is fed the data term's seed, and the one scalar (one target for all
    # restarts) is applied in the update, for free
    data = DataTerm(settings.objective, reference_code, settings.data_weight, mask, selector, unit_scale)
    data_scale = data.scale  # a host sync before the loop, none in it
    mean_array = rep.mean_tensor().numpy()
    reference = _display(target_pixels.cpu().numpy(), mean_array, "clip")[0]

    height, width = settings.image_size
    jitter = settings.jitter
    canvas = (height + jitter - 1, width + jitter - 1)
    x = _initial_image(settings, target_pixels, canvas).to(device)
    rates = learning_rates(settings.learning_rate, settings.phases)
    starts = phase_starts(settings.phases)
    boosts = step_boosts(settings.step_boost, settings.phases, settings.step_boost_share)
    # the last of several phases runs without jitter (IJCV's second stage); a single phase jitters
    # throughout (the authors' activation maximisation and caricatures, one stage at the base rate)
    resets, unjittered = set(starts), (starts[-1] if len(starts) > 1 else len(rates))
    offsets = random.Random(settings.seed)
    centre = (jitter - 1) // 2
    sigma = settings.sigma
    inv_sigma0 = 1.0 / image_sigma(rep.channels, REFERENCE_SIDE, REFERENCE_SIDE)
    lambda_alpha = settings.lambda_alpha * regulariser_scale(height, width)
    lambda_tv = settings.lambda_tv * regulariser_scale(height, width)
    descent = Descent(x, alpha=settings.alpha, lambda_alpha=lambda_alpha, beta=settings.tv_beta,
                      lambda_tv=lambda_tv, inv_sigma0=inv_sigma0, momentum=settings.momentum, sigma=sigma,
                      clip=settings.clip or None, rule=settings.method, pixels=height * width,
                      parameterisation=settings.parameterisation, spectrum_decay=settings.spectrum_decay)

    def terms(codes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The objective's terms per restart, ``[K]`` each (only at snapshots)."""
        with torch.no_grad():
            u = x * inv_sigma0
            data_weighted = data.loss(codes)
            reg_alpha = alpha_norm(u, settings.alpha) * lambda_alpha if lambda_alpha else data_weighted * 0
            reg_tv = total_variation(u, settings.tv_beta) * lambda_tv if lambda_tv else data_weighted * 0
            return (data.relative_error(codes), data.score(codes), data_weighted, reg_alpha, reg_tv,
                    data_weighted + reg_alpha + reg_tv)  # fmt: skip

    def forward(top: int, left: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The crop at ``(top, left)`` as a leaf that requires grad, and its codes with Φ's graph."""
        crop = x[:, :, top : top + height, left : left + width].detach().requires_grad_(True)
        with torch.enable_grad():
            return crop, code(crop)

    def backward(crop: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """∇ of the data term w.r.t. the crop divided by ``data_scale``: Φ's backward fed the seed."""
        (grad_crop,) = torch.autograd.grad(codes, crop, grad_outputs=data.seed(codes.detach()))
        return grad_crop

    def snapshot(step: int, codes: torch.Tensor, rate: float, done: bool) -> Snapshot:
        error, score, data_w, reg_a, reg_tv, total = (t.cpu().numpy().astype(np.float64) for t in terms(codes))
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
            relative_error=error,
            score=score,
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
        if jitter > 1 and step < unjittered:
            top, left = offsets.randrange(jitter), offsets.randrange(jitter)
        else:
            top = left = centre
        crop, codes = forward(top, left)
        if step % settings.snapshot_every == 0:  # before Φ's backward: the first snapshot waits for no backward
            yield snapshot(step, codes.detach(), rate, done=False)
        data_grad = backward(crop, codes)
        del crop, codes
        with torch.no_grad():
            descent.step(rate, data_grad, top, left, data_scale, boosts[step])
    with torch.no_grad():
        codes = code(x[:, :, centre : centre + height, centre : centre + width])
    yield snapshot(settings.iterations, codes, rates[-1] if rates else 0.0, done=True)


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
