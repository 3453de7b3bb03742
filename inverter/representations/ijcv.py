"""The IJCV 2016 method's presets ("natural pre-images"), in this package's units.

The authors' code (``aravindhm/nnpreimage``: ``get_defaults.m``, ``get_preimage_opts.m``)
works on images in pixel units with a typical pixel norm ``B = 80`` and a clip at
``B+ = 160``: ``λ_α = (1/B)^α`` and ``λ_V = (6.5/B)^β``, both over ``H·W``; a data-term
weight ``C`` (it runs C ∈ {1, 20, 100, 300} on CNN layers, C = 100 on HOG/DSIFT); jitter
``max(round(stride/4), 1)``; uniform initial noise; an adaptive (Adagrad-like, momentum 0.9)
step with base rate ``0.05·B²/α`` for 300 steps, then 50 steps at 0.1× without jitter.

The engine writes the regularisers on ``x/σ0`` with the weight ``227²/(H·W)`` (see
:mod:`inverter.objectives`), so the same objective has ``λ_α = (σ0/B)^α / 227²`` and
``λ_TV = (6.5·σ0/B)^β / 227²`` here: the values below are the authors', converted.
"""
from __future__ import annotations

from ..objectives import CVPR_SIGMA_227, REFERENCE_SIDE
from .base import Preset

#: Typical pixel norm B, the clip B+, and the TV normalisation's edge (all pixel units).
B, B_PLUS, TV_EDGE = 80.0, 160.0, 6.5
ALPHA, BETA = 6.0, 2.0
#: 300 steps at the base rate, then 50 at 0.1× (the last phase runs without jitter).
PHASES: tuple[tuple[float, int], ...] = ((1.0, 300), (0.1, 50))
#: μ of the adaptive step: the decay of its velocity and of its sum of squared gradients.
MOMENTUM = 0.9
#: C by depth (shallow, middle, deep third): the largest of the authors' values where the
#: code keeps most of the image, the smaller ones deeper, where the priors matter more.
DATA_WEIGHT_BY_TIER = (300.0, 100.0, 20.0)
#: C on HOG, HOGb and DSIFT (the authors' value).
SHALLOW_DATA_WEIGHT = 100.0
#: C of a caricature by depth: the authors run C = 1 (deep layers); shallow codes, which keep
#: most of the image, need a stronger data term to move it against the priors (measured on the
#: real SqueezeNet: conv1 at C = 1 loses the image's pattern, ×0.6, at C = 20 exaggerates it, ×1.5).
CARICATURE_WEIGHT_BY_TIER = (20.0, 5.0, 1.0)
#: The ReLU leak of activation maximisation (the authors' ``opts.leak`` for it).
ACTIVATION_LEAK = 0.05
#: The CVPR presets' λ_TV by depth, which tell a layer's tier.
CVPR_TV_BY_TIER = (0.5, 5.0, 50.0)


def lambda_alpha(alpha: float = ALPHA) -> float:
    """IJCV's ``(1/B)^α`` over H·W, in this package's units: ``(σ0/B)^α / 227²``."""
    return (CVPR_SIGMA_227 / B) ** alpha / REFERENCE_SIDE**2


def lambda_tv(beta: float = BETA) -> float:
    """IJCV's ``(6.5/B)^β`` over H·W, in this package's units: ``(6.5·σ0/B)^β / 227²``."""
    return (TV_EDGE * CVPR_SIGMA_227 / B) ** beta / REFERENCE_SIDE**2


def preset(data_weight: float, caricature_weight: float = 1.0) -> Preset:
    """The IJCV preset with data-term weight ``C`` (and a caricature's)."""
    return Preset(
        method="ijcv", data_weight=data_weight, lambda_tv=lambda_tv(), tv_beta=BETA, lambda_alpha=lambda_alpha(),
        alpha=ALPHA, learning_rate=0.05 * B**2 / ALPHA, phases=PHASES, momentum=MOMENTUM, jitter="auto", clip=B_PLUS,
        init="uniform", caricature_weight=caricature_weight, name="ijcv",
    )  # fmt: skip


def tier(cvpr: Preset) -> int:
    """A layer's depth tier (0 shallow, 1 middle, 2 deep) from its CVPR preset's λ_TV."""
    return min(range(3), key=lambda t: abs(CVPR_TV_BY_TIER[t] - cvpr.lambda_tv))


def from_cvpr(cvpr: Preset) -> Preset:
    """The IJCV preset of the layer whose CVPR preset is ``cvpr`` (C by its depth tier)."""
    depth = tier(cvpr)
    return preset(DATA_WEIGHT_BY_TIER[depth], CARICATURE_WEIGHT_BY_TIER[depth])
