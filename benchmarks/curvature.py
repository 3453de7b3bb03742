"""Why one CVPR learning rate cannot fit every layer: the curvature of the data term, layer by layer (issue 15).

For each layer the script estimates ``L``, the largest eigenvalue of the Hessian of the
normalised data term ``D(u) = ‖Φ(σu) − Φ0‖²/‖Φ0‖²`` in the CVPR code's units ``u = x/σ``
(the units the CVPR rate η is in), by power iteration on Hessian-vector products (double
backward; for a ReLU network this is the Gauss–Newton matrix ``2σ²JᵀJ/‖Φ0‖²``). It does so at
two points: the CVPR start (Gaussian noise of norm σ) and the photograph itself (plus 1% of
that noise), where an inversion ends up. Heavy-ball momentum ``v ← μv − η∇E`` on a quadratic
of curvature ``L`` converges only for ``η < 2(1 + μ)/L`` (3.8/L at μ = 0.9): the script prints
that bound next to the CVPR preset's base rate and its last phase's rate. Example (the
README's table)::

    python benchmarks/curvature.py --weights ../shared/weights/squeezenet1_1-imagenet.safetensors \\
        --layers conv1,fire3,fire5,fire7,fire9,logits --images rocket,camera --threads 1
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)

from inverter import InversionConfig, resolve_settings  # noqa: E402
from inverter.objectives import data_term, image_sigma  # noqa: E402
from inverter.representations.base import Representation  # noqa: E402


def top_curvature(rep: Representation, x: torch.Tensor, target: torch.Tensor, sigma: float, iterations: int,
                  seed: int = 0) -> float:  # fmt: skip
    """Largest Hessian eigenvalue of ``D(u)`` at ``u = x/σ`` (power iteration, ``iterations`` Hessian-vector products)."""
    x = x.detach().clone().requires_grad_(True)
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)).to(x.device)
    v /= v.norm()
    value = 0.0
    for _ in range(iterations):
        (grad,) = torch.autograd.grad(data_term(rep(x), target).sum(), x, create_graph=True)
        (hv,) = torch.autograd.grad((grad * v).sum(), x)
        value = float(hv.norm())
        v = hv / max(value, 1e-30)
    return value * sigma**2  # d²/du² = σ²·d²/dx²


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 with a one-line message on bad input)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--representation", default="squeezenet1_1", help="a family (every layer) or family:layer")
    p.add_argument("--layers", help="comma-separated layers (default: all)")
    p.add_argument("--weights", default="random", help="CNN weights: a .safetensors file, hf://… or 'random'")
    p.add_argument("--images", default="rocket,camera", help="sample photographs, comma-separated")
    p.add_argument("--iterations", type=int, default=15, help="power iterations")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args, command = harness.parse(p, argv)
    try:
        family, layers = harness.family_layers(args.representation, args.layers)
        images = harness.photos(args.images)
        print(f"`python benchmarks/curvature.py {command}`\n")
        print(f"L: the largest eigenvalue of ∇²D in u = x/σ units, mean over {', '.join(n for n, _ in images)} "
              f"({args.iterations} power iterations); heavy-ball bound 2(1 + μ)/L.\n")
        print("| layer | L at the noise | L at the photograph | bound at the noise | bound at the photograph "
              "| CVPR base rate | CVPR last rate | base ÷ bound at the noise | last ÷ bound at the photograph |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for layer in layers:
            rep = harness.representation(f"{family.name}:{layer}", args.device, args.weights)
            paper = resolve_settings(rep, InversionConfig(**harness.parse_settings("--method cvpr")))
            sigma, size = image_sigma(rep.channels, *paper.image_size), paper.image_size
            noise_l, image_l = [], []
            for _, image in images:
                x0 = rep.image_to_pixels(image, size).to(args.device)
                with torch.no_grad():
                    target = rep(x0)
                noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)).to(args.device)
                noise *= sigma / noise.norm()
                noise_l.append(top_curvature(rep, noise, target, sigma, args.iterations))
                image_l.append(top_curvature(rep, x0 + 0.01 * noise, target, sigma, args.iterations))
            ln, li = float(np.mean(noise_l)), float(np.mean(image_l))
            bound_n, bound_i = 2 * (1 + paper.momentum) / ln, 2 * (1 + paper.momentum) / li
            base, last = paper.learning_rate, paper.learning_rate * paper.phases[-1][0]
            print(f"| {layer} | {ln:.3g} | {li:.3g} | {bound_n:.2g} | {bound_i:.2g} | {base:g} | {last:g} | "
                  f"{base / bound_n:.2g} | {last / bound_i:.2g} |", flush=True)
    except harness.BAD_INPUT as err:
        return harness.bad_input(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
