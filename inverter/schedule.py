"""Step schedules: piecewise-constant learning rates, as in the CVPR code."""
from __future__ import annotations

from collections.abc import Sequence


def scale_phases(phases: Sequence[tuple[float, int]], iterations: int) -> tuple[tuple[float, int], ...]:
    """Stretch or shrink ``(multiplier, steps)`` phases to ``iterations`` steps in all.

    Each phase keeps its share of the total (rounded, at least one step for a phase
    when ``iterations`` allows); the first phase takes the rounding remainder.
    """
    if iterations < 0:
        raise ValueError(f"iterations must be ≥ 0, got {iterations}")
    total = sum(steps for _, steps in phases)
    if iterations == total or total == 0:
        return tuple(phases)
    counts = [max(1, round(steps * iterations / total)) if iterations >= len(phases) else 0 for _, steps in phases]
    if iterations < len(phases):
        counts = [1] * iterations + [0] * (len(phases) - iterations)
    counts[0] += iterations - sum(counts)
    return tuple((mult, n) for (mult, _), n in zip(phases, counts) if n > 0)


def learning_rates(base_rate: float, phases: Sequence[tuple[float, int]]) -> list[float]:
    """The rate at every step: ``base_rate · multiplier`` repeated ``steps`` times per phase."""
    return [base_rate * mult for mult, steps in phases for _ in range(steps)]


def phase_starts(phases: Sequence[tuple[float, int]]) -> list[int]:
    """0-based steps at which a new phase begins (where momentum resets)."""
    starts, step = [], 0
    for _, steps in phases:
        starts.append(step)
        step += steps
    return starts


def step_boosts(step_boost: float, phases: Sequence[tuple[float, int]], share: float = 1.0) -> list[float]:
    """The step's multiplier at every step: ``step_boost`` at step 0, falling linearly to 1 over
    the first ``m = max(1, round(share·n))`` steps of the first phase (of ``n`` steps:
    ``1 + (step_boost − 1)·(1 − t/m)`` at step ``t < m``), 1 afterwards. All ones for
    ``step_boost = 1``; ``share = 1`` spreads the fall over the whole first phase."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share:g}")
    first = phases[0][1] if phases else 0
    total = sum(steps for _, steps in phases)
    span = max(1, round(share * first))
    return [1.0 + (step_boost - 1.0) * (1.0 - t / span) if t < span else 1.0 for t in range(total)]
