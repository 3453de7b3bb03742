"""The objective's terms against values computed by hand on tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch

from inverter.objectives import (
    CVPR_SIGMA_227,
    alpha_norm,
    data_term,
    image_sigma,
    regulariser_scale,
    total_variation,
)


def test_total_variation_horizontal_only():
    # One channel, a horizontal step of 3: only the difference across columns 0→1 counts.
    u = torch.tensor([[[[0.0, 3.0], [0.0, 3.0]]]])
    assert total_variation(u, beta=2).item() == pytest.approx(9.0 + 9.0)
    assert total_variation(u, beta=1).item() == pytest.approx(3.0 + 3.0, rel=1e-5)


def test_total_variation_vertical_only():
    u = torch.tensor([[[[0.0, 0.0], [2.0, 2.0]]]])
    assert total_variation(u, beta=2).item() == pytest.approx(4.0 + 4.0)


def test_total_variation_combines_both_directions_per_pixel():
    # Pixel (0,0): dx = 3, dy = 4 → (9 + 16)^(β/2); pixel (0,1): dy = 4 - 3 = 1 … by hand.
    u = torch.tensor([[[[0.0, 3.0], [4.0, 4.0]]]])
    # (0,0): dx=3, dy=4; (0,1): dx=0 (edge), dy=1; (1,0): dx=0, dy=0 (edge); (1,1): 0
    expected_b1 = math.sqrt(9 + 16) + 1.0
    expected_b2 = 25.0 + 1.0
    assert total_variation(u, beta=1).item() == pytest.approx(expected_b1, rel=1e-5)
    assert total_variation(u, beta=2).item() == pytest.approx(expected_b2)


def test_total_variation_is_per_channel_and_per_batch():
    u = torch.zeros(2, 3, 4, 4)
    u[1, 2, :, 2:] = 1.0  # only restart 1, channel 2, has an edge (4 rows × dx=1)
    tv = total_variation(u, beta=2)
    assert tv.tolist() == pytest.approx([0.0, 4.0])


def test_total_variation_gradient_is_finite_on_flat_images_for_beta_one():
    u = torch.zeros(1, 1, 5, 5, requires_grad=True)
    total_variation(u, beta=1).sum().backward()
    assert torch.isfinite(u.grad).all()


def test_alpha_norm_is_alpha_power_of_pixel_colour_norm():
    u = torch.zeros(1, 3, 1, 2)
    u[0, :, 0, 0] = torch.tensor([1.0, 2.0, 2.0])  # colour norm 3
    u[0, 0, 0, 1] = -2.0  # colour norm 2
    assert alpha_norm(u, alpha=6).item() == pytest.approx(3.0**6 + 2.0**6)
    assert alpha_norm(u, alpha=2).item() == pytest.approx(9.0 + 4.0)


def test_data_term_normalised_by_target_energy():
    target = torch.tensor([[3.0, 4.0]])  # ‖Φ0‖² = 25
    code = torch.tensor([[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]])
    assert data_term(code, target).tolist() == pytest.approx([0.0, 1.0, 1.0])


def test_data_term_with_mask_sees_only_selected_units():
    target = torch.tensor([[1.0, 10.0]])
    code = torch.tensor([[2.0, 1000.0]])
    mask = torch.tensor([[1.0, 0.0]])
    assert data_term(code, target, mask).item() == pytest.approx(1.0)


def test_sigma_matches_the_cvpr_constant_and_scales_with_size():
    assert image_sigma(3, 227, 227) == pytest.approx(CVPR_SIGMA_227)
    assert image_sigma(3, 454, 454) == pytest.approx(2 * CVPR_SIGMA_227)
    assert image_sigma(1, 227, 227) == pytest.approx(CVPR_SIGMA_227 / math.sqrt(3))


def test_regulariser_scale_is_one_at_the_paper_size():
    assert regulariser_scale(227, 227) == 1.0
    assert regulariser_scale(227 * 2, 227) == 0.5


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0])
def test_analytic_tv_gradient_equals_autograd(beta):
    from inverter.objectives import total_variation_grad

    u = torch.randn(2, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(total_variation(u, beta).sum(), u)
    torch.testing.assert_close(total_variation_grad(u.detach(), beta), expected)


@pytest.mark.parametrize("alpha", [2.0, 3.0, 6.0])
def test_analytic_alpha_gradient_equals_autograd(alpha):
    from inverter.objectives import alpha_norm_grad

    u = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(alpha_norm(u, alpha).sum(), u)
    torch.testing.assert_close(alpha_norm_grad(u.detach(), alpha), expected)
