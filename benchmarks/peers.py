"""Time to quality against the public PyTorch code (issue 15): the same image, network and layer,
three kinds of optimisation, interleaved in one process.

Contenders, on every image at every layer:

1. ``peer``: the loop of ``utkuozbulak/pytorch-cnn-visualizations``, ``src/inverted_representation.py``
   (the most used public PyTorch implementation of the CVPR paper), re-typed with its
   constants: the variable is the network's *normalised* input ``z`` (torchvision's
   ``(rgb − mean)/std``), initialised as ``0.1·randn``; SGD with ``lr = 1e4``, momentum 0.9;
   201 steps, the rate divided by 10 after every step ``i`` with ``i % 40 == 0`` (so after the
   very first step too); loss ``0.1·‖Φ(z)−Φ0‖²/‖Φ0‖² + 1e-7·Σ z⁶ + 1e-8·TV(z)``, where
   ``Σ z⁶`` runs over every value (not over pixel colour norms) and ``TV`` is its
   ``total_variation_norm`` *as written*: on the 4-D ``[1, 3, H, W]`` tensor its
   ``[:, :-1, :-1]`` slices take differences between neighbouring colour *channels* and
   between rows (no column differences), summed as ``((a − b)² + (a − c)²)^(β/2)``, β = 2.
   Adapted: ``Φ`` is our layer (the peer walks ``model.features`` to an index; SqueezeNet's
   classifier layers are reached the same way here), fed ``z`` through our pixel units
   ``x = 255·std·z`` (exactly the network's input); ``.reshape(-1)`` where it writes
   ``.view(-1)`` (our codes are channels-last); the image is the representation's input size
   (227 for SqueezeNet; the peer's example uses 224); the seed gives its ``randn``.
2. ``adam``: a plain hand-written loop, :class:`torch.optim.Adam` at a constant rate
   (``--adam-lr``, pixel units) on the CVPR objective with the layer's CVPR preset (C,
   λ_α, α, λ_TV, β, the same normalisation as the engine), from the CVPR start (Gaussian
   noise of norm σ), for as many steps as the CVPR preset.
3. inverter, one contender per ``--candidate LABEL=OPTIONS`` (``inverter invert``'s options;
   default: each method with each parameterisation, and the layer's default preset).

Each contender advances ``--every`` steps at a time, in turn (the order flips every round),
in one process with the same torch threads, so that the machine's load drifts over all of
them alike; its time is what its own blocks took. After each block (outside the timing)
the error √(‖Φ(x)−Φ0‖²/‖Φ0‖²) of its current image is measured (at the canvas centre).
Printed per layer, means over the images: the final error, the seconds per image and per
step, the seconds to reach the peer's final error and the speed-up that makes (the peer's
seconds over them), and the step at which the CVPR preset's final error is reached.
Example (the README's table)::

    python benchmarks/peers.py --weights ../shared/weights/squeezenet1_1-imagenet.safetensors \\
        --layers conv1,fire3,fire5,fire7,fire9,logits --images rocket,motorcycle,camera,clock --threads 1

``--quick`` runs random weights at 32 px with 30-step schedules (the peer keeps its 201): a smoke run, no figures.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness.py, also when loaded by file path
import harness  # noqa: E402  (puts the repository root on sys.path)
from harness import Candidate, code_error, log  # noqa: E402

from inverter import InversionConfig, invert, resolve_settings  # noqa: E402
from inverter.objectives import REFERENCE_SIDE, alpha_norm, data_term, image_sigma, regulariser_scale, total_variation  # noqa: E402
from inverter.representations.base import IMAGENET_STD_255, Representation  # noqa: E402
from inverter.representations.cnn import TorchvisionCNN  # noqa: E402

#: The inverter contenders when no ``--candidate`` is given: each method × parameterisation, and the default.
DEFAULT_CANDIDATES = (
    "cvpr=--method cvpr", "cvpr+fourier=--method cvpr --parameterisation fourier", "ijcv=--method ijcv",
    "ijcv+fourier=--method ijcv --parameterisation fourier", "default=",
)
PEER, ADAM = "peer", "adam"
#: Adam's constant rate, pixel units (0–255 scale) per step; see the README for how it was picked.
ADAM_LR = 1.0
#: The peer's constants (``inverted_representation.py``).
PEER_STEPS, PEER_LR, PEER_MOMENTUM, PEER_DECAY_EVERY = 201, 1e4, 0.9, 40
PEER_INIT, PEER_DATA, PEER_ALPHA, PEER_LAMBDA_ALPHA, PEER_BETA, PEER_LAMBDA_TV = 1e-1, 1e-1, 6, 1e-7, 2, 1e-8

#: A contender's run: after each block of steps, ``(steps done, its current image [1, C, H, W] in pixel units)``.
Progress = Iterator[tuple[int, torch.Tensor]]


# --------------------------------------------------------------------------- the peer's loop, re-typed


def peer_alpha_norm(input_matrix: torch.Tensor, alpha: float) -> torch.Tensor:
    """Its ``alpha_norm``: ``((input_matrix.view(-1))**alpha).sum()`` (over every value)."""
    return (input_matrix.reshape(-1) ** alpha).sum()


def peer_total_variation_norm(input_matrix: torch.Tensor, beta: float) -> torch.Tensor:
    """Its ``total_variation_norm``, as written, on the 4-D ``[1, 3, H, W]`` variable (see the module docstring)."""
    to_check = input_matrix[:, :-1, :-1]
    one_bottom = input_matrix[:, 1:, :-1]
    one_right = input_matrix[:, :-1, 1:]
    return (((to_check - one_bottom) ** 2 + (to_check - one_right) ** 2) ** (beta / 2)).sum()


def peer_euclidian_loss(org_matrix: torch.Tensor, target_matrix: torch.Tensor) -> torch.Tensor:
    """Its ``euclidian_loss``: ``‖target − org‖² / ‖org‖²``."""
    return peer_alpha_norm(target_matrix - org_matrix, 2) / peer_alpha_norm(org_matrix, 2)


def peer_loop(rep: Representation, target: torch.Tensor, size: tuple[int, int], seed: int, every: int,
              steps: int = PEER_STEPS) -> Progress:  # fmt: skip
    """``generate_inverted_image_specific_layer``'s loop on ``rep``; its variable ``z`` is mapped to pixel units."""
    if not isinstance(rep, TorchvisionCNN):
        raise ValueError(f"the peer's loop takes torchvision's normalised input; {rep.name} is not a torchvision CNN")
    scale = torch.tensor(IMAGENET_STD_255, device=target.device).view(1, 3, 1, 1)  # x = 255·std·z
    gen = torch.Generator().manual_seed(seed)
    opt_img = (PEER_INIT * torch.randn(1, 3, *size, generator=gen)).to(target.device).requires_grad_(True)
    optimizer = torch.optim.SGD([opt_img], lr=PEER_LR, momentum=PEER_MOMENTUM)
    yield 0, (opt_img * scale).detach()
    for i in range(steps):
        optimizer.zero_grad()
        output = rep(opt_img * scale)
        euc_loss = PEER_DATA * peer_euclidian_loss(target, output)
        reg_alpha = PEER_LAMBDA_ALPHA * peer_alpha_norm(opt_img, PEER_ALPHA)
        reg_total_variation = PEER_LAMBDA_TV * peer_total_variation_norm(opt_img, PEER_BETA)
        loss = euc_loss + reg_alpha + reg_total_variation
        loss.backward()
        optimizer.step()
        if i % PEER_DECAY_EVERY == 0:
            for param_group in optimizer.param_groups:
                param_group["lr"] *= 1 / 10
        if (i + 1) % every == 0 or i + 1 == steps:
            yield i + 1, (opt_img * scale).detach()


# --------------------------------------------------------------------------- a plain Adam loop


def adam_loop(rep: Representation, target: torch.Tensor, size: tuple[int, int], seed: int, every: int, lr: float,
              steps: int | None = None) -> Progress:  # fmt: skip
    """Adam at a constant rate on the CVPR objective with the layer's CVPR preset, from the CVPR start."""
    paper = resolve_settings(rep, InversionConfig(**harness.parse_settings("--method cvpr"), image_size=size))
    steps = paper.iterations if steps is None else steps
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, rep.channels, *size, generator=gen)
    x = (noise / noise.norm() * image_sigma(rep.channels, *size)).to(target.device).requires_grad_(True)
    inv_sigma0 = 1.0 / image_sigma(rep.channels, REFERENCE_SIDE, REFERENCE_SIDE)
    s = regulariser_scale(*size)
    optimizer = torch.optim.Adam([x], lr=lr)
    yield 0, x.detach()
    for step in range(steps):
        u = x * inv_sigma0
        loss = (paper.data_weight * data_term(rep(x), target) + s * paper.lambda_alpha * alpha_norm(u, paper.alpha)
                + s * paper.lambda_tv * total_variation(u, paper.tv_beta))  # fmt: skip
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
        if (step + 1) % every == 0 or step + 1 == steps:
            yield step + 1, x.detach()


# --------------------------------------------------------------------------- inverter


def engine_loop(rep: Representation, image: np.ndarray, overrides: dict, every: int) -> Progress:
    """:func:`inverter.invert` with a snapshot every ``every`` steps; each snapshot's pixels."""
    for shot in invert(rep, image, **{**overrides, "snapshot_every": every, "restarts": 1}):
        yield shot.step, torch.from_numpy(shot.pixels)


# --------------------------------------------------------------------------- the race


@dataclass
class Trace:
    """One contender on one image: ``(step, seconds so far, error)`` after every block."""

    points: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def error(self) -> float:
        return self.points[-1][2]

    @property
    def seconds(self) -> float:
        return self.points[-1][1]

    @property
    def steps(self) -> int:
        return self.points[-1][0]

    @property
    def curve(self) -> list[tuple[float, float]]:
        return [(step, error) for step, _, error in self.points]

    def seconds_at(self, step: float | None) -> float | None:
        """Seconds spent when ``step`` was reached, interpolated between blocks (``None`` for ``None``)."""
        if step is None:
            return None
        steps = [p[0] for p in self.points]
        return float(np.interp(step, steps, [p[1] for p in self.points]))


def race(contenders: dict[str, Progress], rep: Representation, target: torch.Tensor,
         device: torch.device) -> dict[str, Trace]:  # fmt: skip
    """Advance every contender a block at a time, in turn (order flipped every round), until all are done."""
    traces = {name: Trace() for name in contenders}
    live, elapsed, reverse = dict(contenders), dict.fromkeys(contenders, 0.0), False
    while live:
        for name in list(reversed(live) if reverse else live):
            harness.synchronise(device)
            start = time.perf_counter()
            try:
                step, pixels = next(live[name])
            except StopIteration:
                del live[name]
                continue
            harness.synchronise(device)
            elapsed[name] += time.perf_counter() - start
            traces[name].points.append((step, elapsed[name], float(code_error(rep, target, pixels)[0])))
        reverse = not reverse
    return traces


def image_line(traces: dict[str, Trace]) -> str:
    """One image's race in a line: each contender's final error and seconds, and for the others the
    seconds and the step at which they reached the peer's final error (so that a subset of the images
    can be read off the log)."""
    goal = traces[PEER].error

    def reached(trace: Trace) -> str:
        step = harness.steps_to_reach(trace.curve, goal) if np.isfinite(goal) else None
        return "never" if step is None else f"{trace.seconds_at(step):.2f} s, step {step:.0f}"

    return ", ".join(f"{name} {100 * t.error:.1f}% in {t.seconds:.2f} s"
                     + ("" if name == PEER else f" (the peer's error: {reached(t)})") for name, t in traces.items())


class LayerRace(harness.LayerRuns):
    """Every contender's traces at one layer, one per image."""

    def seconds_to(self, name: str, goal: str) -> list[float | None]:
        """Per image, the seconds ``name`` took to reach ``goal``'s final error (``None``: never, or ``goal`` diverged)."""
        return [t.seconds_at(s) for t, s in zip(self.runs[name], self.steps_to(name, goal))]

    def peer_converged(self) -> list[bool]:
        """Per image, whether the peer's loop ended at a finite error (its rate of 1e4 can diverge)."""
        return [bool(np.isfinite(t.error)) for t in self.runs[PEER]]

    def where_peer_converged(self, values: Sequence) -> list:
        """``values`` (one per image) on the images where the peer converged: there is no error to reach
        where it diverged, so those images are left out of every time and speed-up."""
        return [v for v, ok in zip(values, self.peer_converged()) if ok]

    def peer_seconds_to(self, name: str) -> list[float | None]:
        """:meth:`seconds_to` the peer's error, on the images where the peer converged."""
        return self.where_peer_converged(self.seconds_to(name, PEER))

    def speedup(self, name: str) -> tuple[float, float] | None:
        """(the peer's seconds over ``name``'s seconds to reach its error, summed over the images where the
        peer converged; the worst image's), ``None`` where ``name`` never got there on one of them, or the
        peer converged on none."""
        times = self.peer_seconds_to(name)
        if not times or any(t is None for t in times):
            return None
        peer = [t.seconds for t in self.where_peer_converged(self.runs[PEER])]
        return sum(peer) / max(sum(times), 1e-9), min(p / max(t, 1e-9) for p, t in zip(peer, times))

    def divergence_note(self, images: Sequence[str] | None = None) -> str:
        """A line naming the images on which the peer diverged (empty if none)."""
        diverged = [i for i, ok in enumerate(self.peer_converged()) if not ok]
        if not diverged:
            return ""
        which = ", ".join(images[i] for i in diverged) if images else f"{len(diverged)} of {len(self.runs[PEER])}"
        return (f"The peer's loop diverged (a non-finite error) on {which}: left out of the seconds to its error "
                f"and of the speed-ups.")


def layer_table(result: LayerRace, names: Sequence[str], options: dict[str, str], reference: str | None,
                images: Sequence[str] | None = None) -> str:  # fmt: skip
    ref_head = f" | step reaching `{reference}`'s final error" if reference else ""
    lines = [f"### {result.layer}", "",
             "| contender | options | steps | final IJCV error % (mean; per image) | s/image | ms/step | s to the peer's "
             "final error | speed-up vs the peer (worst image)" + ref_head + " |",
             "|---|---|---:|---|---:|---:|---:|---:|" + "---:|" * bool(reference)]  # fmt: skip
    for name in names:
        traces = result.runs[name]
        per_image = " / ".join(f"{100 * t.error:.1f}" for t in traces)
        times, speed = result.peer_seconds_to(name), result.speedup(name)
        reach = f"{np.mean(times):.2f}" if speed else f"not reached ({sum(t is None for t in times)}/{len(times)})"
        speed_text = "–" if name == PEER else f"**{speed[0]:.1f}×** ({speed[1]:.1f}×)" if speed else "–"
        row = (f"| `{name}` | {options.get(name, '')} | {result.mean(name, 'steps'):.0f} | "
               f"**{100 * result.mean(name, 'error'):.1f}** ({per_image}) | {result.mean(name, 'seconds'):.2f} | "
               f"{1e3 * sum(t.seconds for t in traces) / sum(t.steps for t in traces):.1f} | {reach} | {speed_text}")
        if reference:
            steps = result.steps_to(name, reference)
            row += (f" | {np.mean(steps):.0f} ({np.mean(steps) / result.mean(reference, 'steps'):.2f}×)"
                    if all(s is not None for s in steps) else f" | not reached ({sum(s is None for s in steps)})")
        lines.append(row + " |")
    note = result.divergence_note(images)
    return "\n".join(lines + (["", note] if note else []))


def summary_table(results: Sequence[LayerRace], names: Sequence[str]) -> str:
    """Per layer: the peer's final error, then each contender's final error and speed-up over the peer."""
    others = [n for n in names if n != PEER]
    lines = ["| layer | `peer` error | " + " | ".join(f"`{n}` error, speed-up" for n in others) + " |",
             "|---|---:|" + "---:|" * len(others)]
    for r in results:
        cells = []
        for n in others:
            speed = r.speedup(n)
            cells.append(f"{100 * r.mean(n, 'error'):.1f}%, " + (f"**{speed[0]:.1f}×**" if speed else "not reached"))
        errors = [t.error for t in r.where_peer_converged(r.runs[PEER])]
        peer = 100 * float(np.mean(errors)) if errors else np.nan
        diverged = r.peer_converged().count(False)
        diverged = f" (diverged on {diverged})" if diverged else ""
        lines.append(f"| {r.layer} | {peer:.1f}%{diverged} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--representation", default="squeezenet1_1", help="a torchvision CNN family")
    p.add_argument("--layers", default="conv1,fire3,fire5,fire7,fire9,logits", help="comma-separated layers")
    p.add_argument("--weights", default="random", help="a .safetensors file, hf://… or 'random'")
    p.add_argument("--images", default="rocket,motorcycle,camera,clock", help="sample photographs, comma-separated")
    p.add_argument("--candidate", action="append", metavar="LABEL=OPTIONS",
                   help="an inverter contender (default: " + " ".join(DEFAULT_CANDIDATES) + ")")
    p.add_argument("--adam-lr", type=float, default=ADAM_LR, help="Adam's constant rate, pixel units per step")
    p.add_argument("--every", type=int, default=5, help="steps per block (and per error measurement)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, help="image side, pixels (default: the network's input size)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="random weights, 32 px, 30-step schedules (the peer keeps its 201): a smoke run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 with a one-line message on bad input)."""
    args, command = harness.parse(_parser(), argv)
    try:
        quick = {"iterations": 30} if args.quick else {}
        if args.quick:
            args.weights, args.size = "random", args.size or 32
        family, layers = harness.family_layers(args.representation, args.layers)
        candidates = [Candidate.parse(text) for text in (args.candidate or DEFAULT_CANDIDATES)]
        names = [PEER, ADAM] + [c.label for c in candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"contender labels must differ (and not be {PEER!r} or {ADAM!r}), got {names}")
        options = {PEER: "its own", ADAM: f"lr {args.adam_lr:g}"} | {
            c.label: f"`{c.options}`" if c.options else "the layer's default" for c in candidates}
        reference = next((c.label for c in candidates if c.overrides == harness.parse_settings("--method cvpr")), None)
        images = harness.photos(args.images)
        device = torch.device(args.device)
        print(f"`python benchmarks/peers.py {command}`\n")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device `{device}`, weights "
              f"`{Path(args.weights).name}`, images {', '.join(n for n, _ in images)}, seed {args.seed}, "
              f"{args.every} steps per block; {time.strftime('%Y-%m-%d %H:%M')}; _{harness.load_line()}_\n")
        results, twins = [], {layer: {} for layer in layers}
        for layer in layers:
            rep = harness.representation(f"{family.name}:{layer}", device, args.weights)
            size = (args.size, args.size) if args.size else rep.input_size
            traces: dict[str, list[Trace]] = {name: [] for name in names}
            for image_name, image in images:
                with torch.no_grad():
                    target = rep(rep.image_to_pixels(image, size).to(device))
                common = {"seed": args.seed, "image_size": size, "device": str(device), **quick}
                contenders = {PEER: peer_loop(rep, target, size, args.seed, args.every),
                              ADAM: adam_loop(rep, target, size, args.seed, args.every, args.adam_lr,
                                              quick.get("iterations"))}  # fmt: skip
                alike = harness.first_alike(rep, {c.label: {**common, **c.overrides} for c in candidates})
                for c in candidates:  # a candidate that repeats another is not run twice
                    if alike[c.label] == c.label:
                        contenders[c.label] = engine_loop(rep, image, {**common, **c.overrides}, args.every)
                    else:
                        twins[layer][c.label] = alike[c.label]
                for name, trace in race(contenders, rep, target, device).items():
                    traces[name].append(trace)
                for label, twin in twins[layer].items():
                    traces[label].append(traces[twin][-1])
                log(f"{layer} {image_name}: " + image_line({n: traces[n][-1] for n in names}))
            results.append(LayerRace(layer, traces))
            notes = {label: f"{options[label]} (the same settings as `{twin}`: its run)"
                     for label, twin in twins[layer].items()}  # fmt: skip
            print(layer_table(results[-1], names, options | notes, reference, [n for n, _ in images]) + "\n",
                  flush=True)  # fmt: skip
    except harness.BAD_INPUT as err:
        return harness.bad_input(err)
    print("## Summary (means over the images)\n")
    print(summary_table(results, names))
    print(f"\n_{harness.load_line()} at the end._")
    return 0


if __name__ == "__main__":
    sys.exit(main())
