"""The terms of the inversion objective, as plain functions of batched tensors.

All images are ``[B, C, H, W]``; every function returns one value per batch element
(shape ``[B]``) so that restarts optimised as one batch stay independent.

The regularisers are written on ``u = x / σ0`` (the CVPR code's units), with ``x`` in
pixel units (0–255 scale, mean subtracted) and ``σ0 = image_sigma(C, 227, 227)``; the
engine weights them by ``227²/(H·W)`` (:func:`regulariser_scale`) so that a λ means the
same at every image size and equals the CVPR code's value at 227×227.
"""
from __future__ import annotations

import math

import torch

#: Norm of an average mean-subtracted 227×227×3 image in the CVPR code (``x0_sigma.mat``).
CVPR_SIGMA_227 = 27098.1157
#: The same as a root-mean-square per pixel value (0–255 units): σ / √(227·227·3).
PIXEL_RMS = CVPR_SIGMA_227 / math.sqrt(227 * 227 * 3)


def image_sigma(channels: int, height: int, width: int) -> float:
    """The normalising scale σ for an image of this shape, in pixel units.

    σ = 27098.1157 for 227×227×3 exactly (the CVPR constant) and grows as the square root
    of the number of values; the engine's step is ``η·σ²·∇E``, which keeps the per-pixel
    dynamics of the 227×227 case at every size.
    """
    return PIXEL_RMS * math.sqrt(channels * height * width)


REFERENCE_SIDE = 227


def regulariser_scale(height: int, width: int) -> float:
    """Weight of the regularisers at this size: ``227² / (H·W)`` (1 at the paper's size)."""
    return REFERENCE_SIDE * REFERENCE_SIDE / (height * width)


def alpha_norm(u: torch.Tensor, alpha: float) -> torch.Tensor:
    """R_α(u) = Σ_pixels (Σ_channels u²)^(α/2): the α-th power of the α-norm, ``[B]``."""
    sq = u.square().sum(dim=1)
    return sq.pow(alpha / 2).flatten(1).sum(dim=1)


def total_variation(u: torch.Tensor, beta: float, eps: float = 1e-12) -> torch.Tensor:
    """R_TV^β(u) = Σ_{c,i,j} ((u_{i,j+1} − u_{ij})² + (u_{i+1,j} − u_{ij})²)^(β/2), ``[B]``.

    Horizontal and vertical forward differences per channel; the difference across the
    last column/row is zero (the image is extended by replication, as the CVPR code does).
    For β < 2 a tiny ``eps`` keeps the gradient finite where both differences vanish.
    """
    dx = u[..., :, 1:] - u[..., :, :-1]
    dy = u[..., 1:, :] - u[..., :-1, :]
    if beta == 2:  # the sum separates: no need to align the two differences pixel by pixel
        return dx.square().flatten(1).sum(dim=1) + dy.square().flatten(1).sum(dim=1)
    sq = torch.nn.functional.pad(dx, (0, 1, 0, 0)).square() + torch.nn.functional.pad(dy, (0, 0, 0, 1)).square()
    return (sq + eps).pow(beta / 2).flatten(1).sum(dim=1)


def masked_residual(code: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """M⊙(Φ(x) − Φ0), same shape as ``code``; ``mask`` (0/1, broadcastable) ``None`` = all units."""
    diff = code - target
    return diff * mask if mask is not None else diff


def squared_norm(values: torch.Tensor) -> torch.Tensor:
    """‖v‖² per batch element, ``[B]``."""
    return values.square().flatten(1).sum(dim=1)


def data_term(code: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """‖M⊙(Φ(x) − Φ0)‖² / ‖M⊙Φ0‖², ``[B]``; its square root is the relative error.

    The engine computes exactly this from the same two pieces (:func:`masked_residual`,
    :func:`squared_norm`), with ‖M⊙Φ0‖² computed once per inversion.

    Args:
        code: Φ(x), ``[B, ...]``.
        target: Φ0, ``[1, ...]`` or ``[B, ...]``.
        mask: optional 0/1 tensor broadcastable to ``code`` (selected units = 1).
    """
    reference = target * mask if mask is not None else target
    return squared_norm(masked_residual(code, target, mask)) / squared_norm(reference).clamp_min(1e-30)


def alpha_norm_grad(u: torch.Tensor, alpha: float) -> torch.Tensor:
    """∂R_α/∂u = α·(Σ_c u²)^(α/2 − 1)·u, same shape as ``u`` (no autograd graph)."""
    sq = u.square().sum(dim=1, keepdim=True)
    if alpha < 2:
        sq = sq.clamp_min(1e-30)
    power = alpha / 2 - 1
    weight = sq.square() if power == 2 else sq if power == 1 else sq.pow(power)
    return weight * u * alpha


def total_variation_grad(u: torch.Tensor, beta: float, eps: float = 1e-12) -> torch.Tensor:
    """∂R_TV^β/∂u, same shape as ``u``, for the forward differences of :func:`total_variation`."""
    dx = u[..., :, 1:] - u[..., :, :-1]
    dy = u[..., 1:, :] - u[..., :-1, :]
    if beta == 2:
        gx, gy = dx * 2.0, dy * 2.0
    else:
        sq = torch.nn.functional.pad(dx.square(), (0, 1, 0, 0)) + torch.nn.functional.pad(dy.square(), (0, 0, 0, 1))
        weight = (sq + eps).pow(beta / 2 - 1) * beta
        gx, gy = weight[..., :, :-1] * dx, weight[..., :-1, :] * dy
    grad = torch.zeros_like(u)
    grad[..., :, 1:] += gx
    grad[..., :, :-1] -= gx
    grad[..., 1:, :] += gy
    grad[..., :-1, :] -= gy
    return grad


# ------------------------------------------------------------------------------ the data terms
#: What the data term asks of the code (IJCV 2016's three visualisations on one prior).
OBJECTIVES = ("invert", "activation", "caricature")


class DataTerm:
    """The data term of one objective on codes ``c = Φ(x)``, ``[K, ...]``.

    Φ's backward is fed :meth:`seed` and the result multiplied by :attr:`scale` to give
    ∇_x of the weighted term (Φ's backward is linear, so the scalar costs nothing there).

    * ``"invert"``: ``C·‖M⊙(c − Φ0)‖²/‖M⊙Φ0‖²``; seed ``M⊙(c − Φ0)``, scale ``2C/‖M⊙Φ0‖²``;
      score = the relative error ``√(‖M⊙(c − Φ0)‖²/‖M⊙Φ0‖²)`` (lower is better).
    * ``"activation"``: ``−C·⟨c, e⟩/Z`` for a selector ``e`` (one unit, or one class) and the
      unit's typical scale ``Z`` (its largest value on natural photographs, as the paper
      normalises by dataset statistics); seed ``M⊙e``, scale ``−C/Z``; score ``⟨c, M⊙e⟩/Z``
      (1 = the photographs' largest). Its preset C is 10⁴/227², the authors' ``10⁴/rf²``
      at rf = 227 (see :attr:`inverter.representations.base.Preset.activation_weight`).
    * ``"caricature"``: ``−C·⟨c, M⊙Φ0⁺⟩/‖M⊙Φ0⁺‖²`` with ``Φ0⁺ = max(Φ0, 0)`` (the IJCV code's
      normalisation); seed ``M⊙Φ0⁺``, scale ``−C/‖M⊙Φ0⁺‖²``; score ``⟨c, M⊙Φ0⁺⟩/‖M⊙Φ0⁺‖²``
      (1 at the image itself, more when the code's pattern is exaggerated).

    Args:
        kind: one of :data:`OBJECTIVES`.
        reference: Φ0 = Φ(x0), ``[1, ...]`` (the image's code).
        weight: C.
        mask: 0/1 ``[1, ...]`` or ``None``.
        selector: ``e`` for ``"activation"``, ``[1, ...]``.
        unit_scale: ``Z`` for ``"activation"``.
    """

    def __init__(self, kind: str, reference: torch.Tensor, weight: float, mask: torch.Tensor | None = None,
                 selector: torch.Tensor | None = None, unit_scale: float = 1.0) -> None:  # fmt: skip
        if kind not in OBJECTIVES:
            raise ValueError(f"the data term must be one of {OBJECTIVES}, got {kind!r}")
        self.kind, self.reference, self.mask, self.weight = kind, reference, mask, float(weight)
        masked = reference * mask if mask is not None else reference
        self.reference_norm2 = squared_norm(masked).clamp_min(1e-30)  # ‖M⊙Φ0‖², [1]
        if kind == "invert":
            self._seed, self.scale = None, 2.0 * self.weight / float(self.reference_norm2)
        elif kind == "activation":
            assert selector is not None, "activation needs a selector"
            self._seed = selector * mask if mask is not None else selector
            self.normaliser = float(unit_scale)
            self.scale = -self.weight / self.normaliser
        else:
            positive = masked.clamp_min(0.0)
            self._seed = positive
            self.normaliser = float(squared_norm(positive).clamp_min(1e-30))
            self.scale = -self.weight / self.normaliser

    def seed(self, code: torch.Tensor) -> torch.Tensor:
        """What Φ's backward is fed for the codes ``code`` (``[K, ...]``)."""
        return masked_residual(code, self.reference, self.mask) if self._seed is None else self._seed.expand_as(code)

    def relative_error(self, code: torch.Tensor) -> torch.Tensor:
        """√(‖M⊙(c − Φ0)‖²/‖M⊙Φ0‖²), ``[K]``, for every objective."""
        return (squared_norm(masked_residual(code, self.reference, self.mask)) / self.reference_norm2).sqrt()

    def score(self, code: torch.Tensor) -> torch.Tensor:
        """The objective's own figure of merit, ``[K]`` (see the class)."""
        if self._seed is None:
            return self.relative_error(code)
        return (code * self._seed).flatten(1).sum(dim=1) / self.normaliser

    def loss(self, code: torch.Tensor) -> torch.Tensor:
        """The weighted data term, ``[K]``."""
        if self._seed is None:
            return self.weight * self.relative_error(code).square()
        return -self.weight * self.score(code)

    @property
    def lower_is_better(self) -> bool:
        """Whether a lower :meth:`score` is better (inversion), else higher."""
        return self._seed is None
