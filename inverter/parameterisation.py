"""How the optimisation variable maps to the pre-image: pixels (the papers) or a decorrelated Fourier basis.

With ``"fourier"`` the descent runs on coefficients ``p`` and the image is
``x = T(p) = M · crop(irfft2(S ⊙ p))`` per pixel, as in Olah et al.'s feature visualisation
("Feature Visualization", Distill 2017): ``S`` scales each frequency by ``1/max(f, 1/n)^γ``,
γ = 1 theirs (so that every frequency has the same share of the step: natural images' spectra
fall as ``1/f``; γ is the ``spectrum_decay`` setting), ``M`` is the square root of ImageNet's
colour covariance (so that steps are taken in decorrelated colour), and ``crop`` keeps the
top-left ``H×W`` of a canvas ``H'×W'`` of fast FFT sizes. ``T`` is linear and has a right
inverse (zero padding); the objective and its regularisers stay on the image ``x``, their
gradient reaches ``p`` through ``Tᵀ``.

Shapes: images ``[K, C, H, W]`` in pixel units; coefficients ``[K, C, H', W'//2 + 1]`` complex,
stored as ``[K, C, H', W'//2 + 1, 2]`` real.
"""
from __future__ import annotations

import torch

PARAMETERISATIONS = ("pixels", "fourier")

#: The square root of ImageNet's RGB colour covariance (the matrix of Olah et al.'s
#: ``color_correlation_svd_sqrt``), its columns normalised to unit max norm.
_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR_BASIS = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()


def fast_fft_size(n: int) -> int:
    """The smallest ``m ≥ n`` whose prime factors are 2, 3 and 5: an FFT of that length is
    several times faster than one of a prime length (227, the CVPR size, is prime)."""
    m = max(int(n), 1)
    while True:
        rest = m
        for factor in (2, 3, 5):
            while rest % factor == 0:
                rest //= factor
        if rest == 1:
            return m
        m += 1


class FourierBasis:
    """The linear map ``T`` from Fourier coefficients to images of one shape (see the module docstring).

    The spectrum lives on a canvas of fast FFT sizes (:func:`fast_fft_size`, e.g. 240 for 227)
    whose top-left ``H×W`` is the image; :meth:`coefficients` pads an image with zeros to it,
    so ``image(coefficients(x)) = x`` still holds exactly.

    Args:
        shape: ``(K, C, H, W)`` of the images.
        device: where the tensors live.
        decay: γ of the frequency scale ``S = 1/max(f, 1/n)^γ``: 1 is Olah et al.'s (every
            frequency an equal share of the step for a ``1/f`` spectrum); a larger γ gives the low
            frequencies, the layout, a larger share and smooths the pre-image; 0 scales none.
    """

    def __init__(self, shape: tuple[int, int, int, int], device: torch.device | str = "cpu",
                 decay: float = 1.0) -> None:  # fmt: skip
        k, c, h, w = shape
        self.shape = shape
        self.canvas = (fast_fft_size(h), fast_fft_size(w))
        fy = torch.fft.fftfreq(self.canvas[0], device=device)[:, None]
        fx = torch.fft.rfftfreq(self.canvas[1], device=device)[None, :]
        frequency = torch.sqrt(fx * fx + fy * fy)
        # the scale, normalised so that T keeps the image's overall size (rms over frequencies = 1)
        scale = torch.clamp(frequency, min=1.0 / max(self.canvas)) ** -float(decay)
        scale = (scale / scale.square().mean().sqrt())[None, None, :, :, None]
        # both parts of a coefficient at once: an innermost broadcast axis is several times slower
        self.scale = scale.expand(1, 1, *scale.shape[2:4], 2).contiguous()
        # Tᵀ's scale: the columns that irfft2 counts twice (every one but the zero and, for an
        # even width, the last frequency) doubled
        twice = self.canvas[1] - scale.shape[3]
        self._adjoint_scale = self.scale.clone()
        self._adjoint_scale[:, :, :, 1 : 1 + twice] *= 2
        colours = COLOUR_BASIS.to(device) if c == 3 else torch.eye(c, device=device)
        self.colours, self.colours_inverse = colours, torch.linalg.inv(colours)

    @property
    def coefficient_shape(self) -> tuple[int, ...]:
        """``(K, C, H', W'//2 + 1, 2)``, ``(H', W')`` the canvas."""
        return (*self.shape[:2], self.canvas[0], self.canvas[1] // 2 + 1, 2)

    def _pad(self, image: torch.Tensor) -> torch.Tensor:
        h, w = self.shape[-2:]
        return torch.nn.functional.pad(image, (0, self.canvas[1] - w, 0, self.canvas[0] - h))

    def image(self, coefficients: torch.Tensor) -> torch.Tensor:
        """``T(p)``: ``[K, C, H', W'//2+1, 2]`` coefficients → ``[K, C, H, W]`` image."""
        spectrum = torch.view_as_complex(coefficients * self.scale)
        pixels = torch.fft.irfft2(spectrum, s=self.canvas, norm="ortho")[..., : self.shape[2], : self.shape[3]]
        return torch.einsum("ij,kjhw->kihw", self.colours, pixels)

    def coefficients(self, image: torch.Tensor) -> torch.Tensor:
        """``T⁻¹(x)``: ``[K, C, H, W]`` image → coefficients with ``T(p) = x`` (zero outside the image)."""
        pixels = self._pad(torch.einsum("ij,kjhw->kihw", self.colours_inverse, image))
        return torch.view_as_real(torch.fft.rfft2(pixels, norm="ortho")) / self.scale

    def adjoint(self, gradient: torch.Tensor) -> torch.Tensor:
        """``Tᵀ(g)``: the gradient w.r.t. the coefficients of ``⟨g, T(p)⟩``, ``g`` an image gradient.

        Written out, not traced: ``S ⊙ rfft2(pad(Mᵀg))``, with the columns that ``irfft2``
        counts twice (every one but the zero and, for an even width, the last frequency)
        doubled — what autograd's backward of ``irfft2`` computes, without the forward
        transform it needs.
        """
        pixels = self._pad(torch.einsum("ji,kjhw->kihw", self.colours, gradient))
        return torch.view_as_real(torch.fft.rfft2(pixels, norm="ortho")) * self._adjoint_scale
