"""How the optimisation variable maps to the pre-image: pixels (the papers) or a decorrelated Fourier basis.

With ``"fourier"`` the descent runs on coefficients ``p`` and the image is
``x = T(p) = M · irfft2(S ⊙ p)`` per pixel, as in Olah et al.'s feature visualisation
("Feature Visualization", Distill 2017): ``S`` scales each frequency by ``1/max(f, 1/n)``
(so that every frequency has the same share of the step: natural images' spectra fall as
``1/f``), ``M`` is the square root of ImageNet's colour covariance (so that steps are taken
in decorrelated colour). ``T`` is linear and invertible; the objective and its regularisers
stay on the image ``x``, their gradient reaches ``p`` through ``Tᵀ``.

Shapes: images ``[K, C, H, W]`` in pixel units; coefficients ``[K, C, H, W//2 + 1]`` complex,
stored as ``[K, C, H, W//2 + 1, 2]`` real.
"""
from __future__ import annotations

import torch

PARAMETERISATIONS = ("pixels", "fourier")

#: The square root of ImageNet's RGB colour covariance (the matrix of Olah et al.'s
#: ``color_correlation_svd_sqrt``), its columns normalised to unit max norm.
_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR_BASIS = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()


class FourierBasis:
    """The linear map ``T`` from Fourier coefficients to images of one shape (see the module docstring).

    Args:
        shape: ``(K, C, H, W)`` of the images.
        device: where the tensors live.
    """

    def __init__(self, shape: tuple[int, int, int, int], device: torch.device | str = "cpu") -> None:
        k, c, h, w = shape
        self.shape = shape
        fy = torch.fft.fftfreq(h, device=device)[:, None]
        fx = torch.fft.rfftfreq(w, device=device)[None, :]
        frequency = torch.sqrt(fx * fx + fy * fy)
        # the scale, normalised so that T keeps the image's overall size (rms over frequencies = 1)
        scale = 1.0 / torch.clamp(frequency, min=1.0 / max(h, w))
        self.scale = (scale / scale.square().mean().sqrt())[None, None, :, :, None]
        colours = COLOUR_BASIS.to(device) if c == 3 else torch.eye(c, device=device)
        self.colours, self.colours_inverse = colours, torch.linalg.inv(colours)

    def image(self, coefficients: torch.Tensor) -> torch.Tensor:
        """``T(p)``: ``[K, C, H, W//2+1, 2]`` coefficients → ``[K, C, H, W]`` image."""
        spectrum = torch.view_as_complex((coefficients * self.scale).contiguous())
        pixels = torch.fft.irfft2(spectrum, s=self.shape[-2:], norm="ortho")
        return torch.einsum("ij,kjhw->kihw", self.colours, pixels)

    def coefficients(self, image: torch.Tensor) -> torch.Tensor:
        """``T⁻¹(x)``: ``[K, C, H, W]`` image → coefficients with ``T(p) = x``."""
        pixels = torch.einsum("ij,kjhw->kihw", self.colours_inverse, image)
        return torch.view_as_real(torch.fft.rfft2(pixels, norm="ortho")) / self.scale

    def adjoint(self, gradient: torch.Tensor) -> torch.Tensor:
        """``Tᵀ(g)``: the gradient w.r.t. the coefficients of ``⟨g, T(p)⟩``, ``g`` an image gradient."""
        with torch.enable_grad():
            probe = torch.zeros((*self.shape[:2], self.shape[2], self.shape[3] // 2 + 1, 2), dtype=gradient.dtype,
                                device=gradient.device, requires_grad=True)  # fmt: skip
            (result,) = torch.autograd.grad(self.image(probe), probe, grad_outputs=gradient)
        return result
