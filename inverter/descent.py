"""The engine's per-step arithmetic: regulariser gradients and the heavy-ball update, in place.

Everything here acts on the canvas ``x``, ``[K, C, H', W']`` float32 in pixel units, and
runs under ``torch.no_grad``. It computes exactly what :mod:`inverter.objectives`'
``alpha_norm_grad``/``total_variation_grad`` and the engine's update compute, but with
preallocated buffers and few, fused, in-place tensor operations: on a CPU every
elementwise operation over a few hundred thousand values is a parallel region whose
thread synchronisation can cost far more than its arithmetic when the cores are shared,
and on a GPU every operation is a kernel launch. The squared colour norm of every pixel,
``S = Σ_c x²``, is computed once per step and shared by the pixel clip and the α-norm.
"""
from __future__ import annotations

import torch

from .objectives import total_variation_grad
from .parameterisation import PARAMETERISATIONS, FourierBasis

#: The step rules, by method (see :class:`Descent`).
RULES = ("cvpr", "ijcv")


class Descent:
    """Descent on ``E = data + λ_α·R_α(x·c0) + λ_TV·R_TV^β(x·c0)``, ``c0 = 1/σ0``.

    Two step rules, by method:

    * ``"cvpr"``: heavy-ball momentum, ``v ← μ·v − rate·σ²·∇E``, ``x ← x + v`` (CVPR 2015).
    * ``"ijcv"``: the IJCV 2016 code's adaptive step, ``G ← μ·G + (∇E)²``,
      ``v ← μ·v − ∇E / (1/ℓ + √G)``, ``x ← x + v`` elementwise, with ``ℓ = rate·H·W`` (the
      authors' ``numPixels · learningRate``): Adagrad with a decaying sum, its steps bounded by
      ``ℓ·|∇E|`` where the gradients have been small. :meth:`reset_momentum` resets ``v``
      only, as the authors' code does.

    Args:
        x: the canvas, ``[K, C, H', W']``; updated in place by :meth:`step`.
        alpha, lambda_alpha: exponent and (size-scaled) weight of the α-norm.
        beta, lambda_tv: exponent and (size-scaled) weight of the total variation.
        inv_sigma0: ``c0``, the regularisers' unit conversion (1/pixel units).
        momentum: μ of ``v ← μ·v − rate·σ²·∇E``.
        sigma: σ, so that the pixel step is ``rate·σ²·∇E``.
        clip: scale every pixel's colour vector down to this norm after each step (pixel
            units), or ``None``.
        rule: ``"cvpr"`` or ``"ijcv"`` (see above).
        pixels: ``H·W`` of the pre-image, the IJCV rule's rate factor.
        parameterisation: ``"pixels"`` (the step is taken on ``x``) or ``"fourier"`` (on the
            coefficients of :class:`inverter.parameterisation.FourierBasis`, ``x`` following).
        spectrum_decay: γ of the Fourier basis's frequency scale (ignored on pixels).
    """

    def __init__(self, x: torch.Tensor, *, alpha: float, lambda_alpha: float, beta: float, lambda_tv: float,
                 inv_sigma0: float, momentum: float, sigma: float, clip: float | None, rule: str = "cvpr",
                 pixels: int = 1, parameterisation: str = "pixels", spectrum_decay: float = 1.0) -> None:  # fmt: skip
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        if parameterisation not in PARAMETERISATIONS:
            raise ValueError(f"parameterisation must be one of {PARAMETERISATIONS}, got {parameterisation!r}")
        self.x = x
        self.rule, self.pixels = rule, int(pixels)
        self.basis = (FourierBasis(tuple(x.shape), x.device, spectrum_decay) if parameterisation == "fourier"
                      else None)  # fmt: skip
        # the variable the step is taken on: the image itself, or its coefficients
        self.variable = x if self.basis is None else self.basis.coefficients(x)
        # On coefficients, x = T(p) + D: D sums what the clips took off (image units). It stands
        # for transforming every clipped image back (p ← T⁻¹(x), an FFT a step): T(T⁻¹(D)) = D, so
        # the images are the same, and p's other part, outside the image, never reaches x.
        self._clipped = torch.zeros_like(x) if self.basis is not None and clip is not None else None
        self.velocity = torch.zeros_like(self.variable)
        fused = self.basis is None and rule == "cvpr"  # the fast path: every term straight into v
        self._gradient = None if fused else torch.empty_like(x)  # ∇_x E, formed in full
        # the IJCV rule's decaying sum of squares and its step's denominator
        self._squares = torch.zeros_like(self.variable) if rule == "ijcv" else None
        self._denominator = torch.empty_like(self.variable) if rule == "ijcv" else None
        self.alpha, self.beta = float(alpha), float(beta)
        self.lambda_alpha, self.lambda_tv = float(lambda_alpha), float(lambda_tv)
        self.c0 = float(inv_sigma0)
        self.momentum, self.step_scale = float(momentum), float(sigma) ** 2
        self.clip = clip
        k, c, h, w = x.shape
        # Forward differences with a zero border: dx[..., j] = x[..., j] − x[..., j−1] for
        # 1 ≤ j < W', 0 at j = 0 and j = W' (the same for rows), so that the TV gradient is
        # one subtraction of two shifted views (the CVPR code's replicate boundary).
        self._dx = torch.zeros((k, c, h, w + 1), dtype=x.dtype, device=x.device) if lambda_tv and beta == 2 else None
        self._dy = torch.zeros((k, c, h + 1, w), dtype=x.dtype, device=x.device) if lambda_tv and beta == 2 else None
        self._tv = torch.empty_like(x) if lambda_tv and beta == 2 else None  # the unscaled TV gradient
        self._norm2 = torch.empty((k, 1, h, w), dtype=x.dtype, device=x.device)
        self._weight = torch.empty_like(self._norm2)
        self._norm2_valid = False  # _norm2 = Σ_c x² of the current x

    def reset_momentum(self) -> None:
        """v ← 0 (at every change of the learning rate)."""
        self.velocity.zero_()

    def _colour_norm2(self) -> torch.Tensor:
        """``S = Σ_c x²``, ``[K, 1, H', W']``, computed once per ``x``."""
        if not self._norm2_valid:
            # a product and one fused multiply-add per further channel: a third of the memory
            # traffic of square-then-reduce over the channel axis
            x, norm2 = self.x, self._norm2
            torch.mul(x[:, :1], x[:, :1], out=norm2)
            for c in range(1, x.shape[1]):
                norm2.addcmul_(x[:, c : c + 1], x[:, c : c + 1])
            self._norm2_valid = True
        return self._norm2

    def regulariser_gradient(self) -> torch.Tensor:
        """∇_x of ``λ_α·R_α(x·c0) + λ_TV·R_TV^β(x·c0)``, a new ``[K, C, H', W']`` tensor.

        :meth:`step` adds the same terms straight into the velocity instead.
        """
        out = torch.zeros_like(self.x)
        self._accumulate_regulariser_gradient(out, 1.0)
        return out

    def _accumulate_regulariser_gradient(self, out: torch.Tensor, scale: float) -> None:
        """``out += scale·∇R`` (``out`` a ``[K, C, H', W']`` tensor of its own)."""
        x, c0 = self.x, self.c0
        norm2 = self._colour_norm2() if self.lambda_alpha else None
        if self.lambda_tv and self.beta == 2:
            # ∂/∂x Σ (c0·Δx)² = 2c0²·(Δx[j] − Δx[j+1]) per axis, Δ's zero outside the image;
            # formed unscaled in its own buffer, its constant goes into the one add to ``out``
            dx, dy, tv, width, height = self._dx, self._dy, self._tv, x.shape[-1], x.shape[-2]
            torch.sub(x[..., :, 1:], x[..., :, :-1], out=dx[..., :, 1:width])
            torch.sub(dx[..., :, :width], dx[..., :, 1:], out=tv)
            torch.sub(x[..., 1:, :], x[..., :-1, :], out=dy[..., 1:height, :])
            tv.add_(dy[..., :height, :]).sub_(dy[..., 1:, :])
            out.add_(tv, alpha=scale * 2.0 * self.lambda_tv * c0 * c0)
        elif self.lambda_tv:
            out.add_(total_variation_grad(x * c0, self.beta), alpha=scale * self.lambda_tv * c0)
        if self.lambda_alpha:
            # ∂/∂x Σ (c0²·S)^(α/2) = α·c0²·(c0²·S)^p·x, S = Σ_c x², p = α/2 − 1 (c0²·S ≥ 1e-30 for α < 2)
            power, factor = self.alpha / 2 - 1, scale * self.alpha * self.lambda_alpha * c0 * c0
            if power == 0:
                out.add_(x, alpha=factor)
            elif power == 1:
                out.addcmul_(x, norm2, value=factor * c0 * c0)
            elif power == 2:  # α = 6, the paper's: one product, c0⁴ folded into the scalar
                out.addcmul_(x, torch.mul(norm2, norm2, out=self._weight), value=factor * c0**4)
            else:
                weight = torch.mul(norm2, c0 * c0, out=self._weight)
                if self.alpha < 2:
                    weight.clamp_min_(1e-30)
                out.addcmul_(x, weight.pow_(power), value=factor)

    def step(self, rate: float, data_grad: torch.Tensor, top: int, left: int, data_scale: float = 1.0,
             size: float = 1.0) -> None:
        """One update by the rule (see the class), then the clip.

        Args:
            rate: learning rate of this step (η, or the IJCV rate before the ``H·W`` factor).
            data_grad: ∇ of the data term w.r.t. the crop ``x[..., top:top+h, left:left+w]``,
                up to the scalar factor ``data_scale`` (``s``), which costs nothing here.
            size: the update's multiplier (the schedule's step boost): the term added to ``v``
                is ``size`` times the rule's.
        """
        height, width = data_grad.shape[-2:]
        velocity = self.velocity.mul_(self.momentum)
        if self._gradient is None:
            # each gradient term is added into v with its factor −rate·σ²·(…): no separate
            # gradient sum is formed and scaled
            step = -rate * self.step_scale * size
            self._accumulate_regulariser_gradient(velocity, step)
            velocity[..., top : top + height, left : left + width].add_(data_grad, alpha=step * data_scale)
        else:
            gradient = self._gradient.zero_()
            self._accumulate_regulariser_gradient(gradient, 1.0)
            gradient[..., top : top + height, left : left + width].add_(data_grad, alpha=data_scale)
            if self.basis is not None:
                gradient = self.basis.adjoint(gradient)
            if self.rule == "cvpr":
                velocity.add_(gradient, alpha=-rate * self.step_scale * size)
            else:
                squares = self._squares.mul_(self.momentum).addcmul_(gradient, gradient)
                denominator = torch.sqrt(squares, out=self._denominator).add_(1.0 / (rate * self.pixels))
                velocity.addcdiv_(gradient, denominator, value=-size)
        self.variable.add_(velocity)
        if self.basis is not None:
            image = self.basis.image(self.variable)
            if self._clipped is None:
                self.x.copy_(image)
            else:
                torch.add(image, self._clipped, out=self.x)
        self._norm2_valid = False
        if self.clip is not None:
            # scale = min(clip/‖x_pixel‖, 1) = clip/√max(S, clip²); afterwards S = min(S, clip²)
            norm2 = self._colour_norm2()
            clip2 = self.clip * self.clip
            scale = torch.clamp(norm2, min=clip2, out=self._weight).rsqrt_().mul_(self.clip)
            if self._clipped is not None:
                self._clipped.sub_(self.x)
            self.x.mul_(scale)
            if self._clipped is not None:
                self._clipped.add_(self.x)
            norm2.clamp_(max=clip2)
