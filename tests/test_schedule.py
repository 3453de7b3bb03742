"""Step schedules, and the engine's momentum reset at every rate change."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from inverter import engine
from inverter.representations.base import CNN_PHASES, SHALLOW_PHASES
from inverter.descent import Descent
from inverter.schedule import learning_rates, phase_starts, scale_phases, step_boosts


def test_cvpr_cnn_schedule_rates_change_at_the_right_steps():
    rates = learning_rates(0.004, CNN_PHASES)
    assert len(rates) == 400
    assert rates[0] == rates[99] == pytest.approx(0.004)
    assert rates[100] == rates[299] == pytest.approx(0.0004)
    assert rates[300] == rates[399] == pytest.approx(0.00004)
    assert phase_starts(CNN_PHASES) == [0, 100, 300]


def test_shallow_schedule_has_800_steps_in_four_phases():
    rates = learning_rates(0.004, SHALLOW_PHASES)
    assert len(rates) == 800
    assert sorted(set(np.round(np.array(rates) / 0.004, 6)), reverse=True) == [1.0, 0.1, 0.01, 0.001]
    assert phase_starts(SHALLOW_PHASES) == [0, 200, 400, 600]


@pytest.mark.parametrize("iterations", [0, 1, 2, 3, 7, 40, 401, 1000])
def test_scaled_phases_sum_to_the_requested_iterations(iterations):
    phases = scale_phases(CNN_PHASES, iterations)
    assert sum(n for _, n in phases) == iterations
    multipliers = [m for m, _ in phases]
    assert multipliers == sorted(multipliers, reverse=True)


def test_scaled_phases_keep_their_shares():
    assert scale_phases(CNN_PHASES, 40) == ((1.0, 10), (0.1, 20), (0.01, 10))


def test_negative_iterations_are_rejected():
    with pytest.raises(ValueError, match="iterations"):
        scale_phases(CNN_PHASES, -1)


def test_momentum_is_zero_right_after_each_rate_change(tiny_cnn, photo, monkeypatch):
    """Record the velocity seen by every update: it must be zero at each phase start."""
    seen: list[float] = []
    original = torch.Tensor.mul_

    def spy(self, other, *args, **kwargs):
        if isinstance(other, float) and other == pytest.approx(0.9):
            seen.append(float(self.abs().max()))
        return original(self, other, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "mul_", spy)
    phases = ((1.0, 4), (0.1, 3), (0.01, 3))
    monkeypatch.setattr(tiny_cnn, "preset", dataclasses.replace(tiny_cnn.preset, phases=phases))
    list(engine.invert(tiny_cnn, photo, image_size=(16, 16), snapshot_every=100, clip=0))
    assert len(seen) == 10
    for step in phase_starts(phases):
        assert seen[step] == 0.0, f"velocity not reset at step {step}"
    assert all(seen[s] > 0 for s in range(10) if s not in phase_starts(phases))


def test_the_step_boost_falls_linearly_to_one_over_the_first_phase():
    assert step_boosts(4.0, ((1.0, 4), (0.1, 2))) == pytest.approx([4.0, 3.25, 2.5, 1.75, 1.0, 1.0])
    assert step_boosts(0.5, ((1.0, 2),)) == pytest.approx([0.5, 0.75])
    assert step_boosts(1.0, CNN_PHASES) == [1.0] * 400
    assert step_boosts(3.0, ()) == []


def test_a_share_of_the_first_phase_takes_the_boost_down_to_one_sooner():
    # 8 steps in the first phase, a quarter of them: the fall over 2 steps, then the plain size
    assert step_boosts(5.0, ((1.0, 8), (0.1, 2)), share=0.25) == pytest.approx([5.0, 3.0] + [1.0] * 8)
    assert step_boosts(5.0, ((1.0, 8),), share=1.0) == step_boosts(5.0, ((1.0, 8),))
    assert step_boosts(5.0, ((1.0, 8),), share=0.01) == pytest.approx([5.0] + [1.0] * 7)  # at least one step
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="share"):
            step_boosts(2.0, ((1.0, 8),), share=bad)


def test_the_engine_steps_with_the_boost_of_each_step(tiny_cnn, photo, monkeypatch):
    """The multiplier handed to every update is the schedule's, by method; a boost of 1 changes nothing."""
    sizes: list[float] = []
    original = Descent.step

    def spy(self, rate, data_grad, top, left, data_scale=1.0, size=1.0):
        sizes.append(size)
        return original(self, rate, data_grad, top, left, data_scale, size)

    monkeypatch.setattr(Descent, "step", spy)
    for method in ("cvpr", "ijcv"):  # the IJCV preset's 300 + 50 steps stretched to 6: 5 + 1
        small = dict(image_size=(16, 16), method=method, iterations=6)
        sizes.clear()
        boosted = engine.reconstruct(tiny_cnn, photo, step_boost=4.0, **small)
        assert len(boosted.settings.phases) == 2 and sizes == pytest.approx(step_boosts(4.0, boosted.settings.phases))
        assert sizes[0] == 4.0
        sizes.clear()
        sooner = engine.reconstruct(tiny_cnn, photo, step_boost=4.0, step_boost_share=0.4, **small)
        assert sizes == pytest.approx(step_boosts(4.0, sooner.settings.phases, 0.4)) and sizes[2:] == [1.0] * 4
        assert not np.array_equal(sooner.pixels, boosted.pixels)
        plain = engine.reconstruct(tiny_cnn, photo, step_boost=1.0, **small)
        default = engine.reconstruct(tiny_cnn, photo, **small)
        assert np.array_equal(plain.pixels, default.pixels) and not np.array_equal(boosted.pixels, default.pixels)
