"""End-to-end behaviour of the inversion engine on a tiny CNN built in the test."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inverter import CodeMask, InversionConfig, invert, reconstruct, resolve_settings
from inverter.settings import auto_jitter

SMALL = dict(image_size=(32, 32))


def test_inversion_lowers_the_relative_error_by_a_large_factor(tiny_cnn, photo):
    shots = list(invert(tiny_cnn, photo, snapshot_every=20, **SMALL))
    first, last = shots[0], shots[-1]
    assert first.step == 0 and not first.done
    assert last.done and last.step == last.total_steps == tiny_cnn.preset.iterations
    assert first.relative_error[0] > 1.0
    assert last.relative_error[0] < first.relative_error[0] / 4


def test_fixed_seed_is_deterministic_and_seeds_differ(tiny_cnn, photo):
    a = reconstruct(tiny_cnn, photo, seed=3, iterations=20, **SMALL)
    b = reconstruct(tiny_cnn, photo, seed=3, iterations=20, **SMALL)
    c = reconstruct(tiny_cnn, photo, seed=4, iterations=20, **SMALL)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_array_equal(a.relative_error, b.relative_error)
    assert not np.array_equal(a.pixels, c.pixels)


def test_snapshots_come_every_n_steps_and_at_the_end(tiny_cnn, photo):
    steps = [s.step for s in invert(tiny_cnn, photo, iterations=50, snapshot_every=20, **SMALL)]
    assert steps == [0, 20, 40, 50]


def test_restarts_are_a_batch_of_independent_inversions(tiny_cnn, photo):
    batch = reconstruct(tiny_cnn, photo, restarts=3, seed=1, iterations=15, **SMALL)
    assert batch.images.shape == (3, 32, 32, 3) and batch.images.dtype == np.uint8
    assert batch.relative_error.shape == (3,)
    assert len({img.tobytes() for img in batch.images}) == 3
    assert batch.best == int(np.argmin(batch.relative_error))
    assert batch.image is batch.images[batch.best] or np.array_equal(batch.image, batch.images[batch.best])


def test_loss_terms_add_up(tiny_cnn, photo):
    shot = reconstruct(tiny_cnn, photo, iterations=10, **SMALL)
    np.testing.assert_allclose(shot.loss, shot.data_loss + shot.alpha_loss + shot.tv_loss, rtol=1e-5)
    np.testing.assert_allclose(shot.data_loss, shot.relative_error**2 * shot.settings.data_weight, rtol=1e-4)


def test_disabled_regularisers_report_zero(tiny_cnn, photo):
    shot = reconstruct(tiny_cnn, photo, iterations=5, lambda_tv=0, lambda_alpha=0, **SMALL)
    assert shot.alpha_loss.tolist() == [0.0] and shot.tv_loss.tolist() == [0.0]


def test_stronger_tv_gives_a_smoother_image(tiny_cnn, photo):
    def roughness(shot):
        img = shot.pixels[0]
        return float(np.abs(np.diff(img, axis=-1)).mean() + np.abs(np.diff(img, axis=-2)).mean())

    weak = reconstruct(tiny_cnn, photo, lambda_tv=0.05, iterations=60, **SMALL)
    strong = reconstruct(tiny_cnn, photo, lambda_tv=5.0, iterations=60, **SMALL)
    assert roughness(strong) < 0.7 * roughness(weak)


def test_jitter_enlarges_the_canvas_but_returns_the_image_size(tiny_cnn, photo):
    shot = reconstruct(tiny_cnn, photo, jitter=4, iterations=12, **SMALL)
    assert shot.pixels.shape == (1, 3, 32, 32)
    assert shot.settings.jitter == 4
    assert resolve_settings(tiny_cnn, InversionConfig(jitter="auto")).jitter == auto_jitter(tiny_cnn.stride)
    assert auto_jitter(32) == 8 and auto_jitter(2) == 1 and auto_jitter(1) == 1


def test_clip_bounds_every_pixel_colour_norm(tiny_cnn, photo):
    shot = reconstruct(tiny_cnn, photo, clip=20.0, iterations=10, **SMALL)
    norms = np.linalg.norm(shot.pixels, axis=1)
    assert norms.max() <= 20.0 + 1e-3


def test_mask_restricts_the_data_term(tiny_cnn, photo):
    full = reconstruct(tiny_cnn, photo, iterations=30, seed=0, **SMALL)
    half = reconstruct(tiny_cnn, photo, iterations=30, seed=0, mask=CodeMask(channels=(0, 8)), **SMALL)
    assert half.settings.mask == {"channels": (0, 8), "neighbourhood": None, "tokens": None}
    assert not np.array_equal(full.pixels, half.pixels)


def test_weights_never_require_gradients_and_target_is_graph_free(tiny_cnn, photo):
    reconstruct(tiny_cnn, photo, iterations=3, **SMALL)
    assert all(not p.requires_grad for p in tiny_cnn.parameters())
    assert all(p.grad is None for p in tiny_cnn.parameters())


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(iterations=-1), "iterations"),
        (dict(restarts=0), "restarts"),
        (dict(lambda_tv=-1.0), "lambda_tv"),
        (dict(learning_rate=float("nan")), "learning_rate"),
        (dict(momentum=1.0), "momentum"),
        (dict(jitter=0), "jitter"),
        (dict(jitter="lots"), "jitter"),
        (dict(image_size=(4, 4)), "image_size"),
        (dict(display="pretty"), "display"),
        (dict(device="tpu9"), "device"),
    ],
)
def test_bad_settings_raise_clear_errors(tiny_cnn, photo, bad, match):
    with pytest.raises(ValueError, match=match):
        next(invert(tiny_cnn, photo, **bad))


def test_divergence_is_reported_not_hidden(tiny_cnn, photo):
    from inverter.engine import DivergenceError

    with pytest.raises(DivergenceError, match="diverged"):
        reconstruct(tiny_cnn, photo, learning_rate=1e3, clip=0, iterations=30, snapshot_every=5, **SMALL)


def test_display_modes(tiny_cnn, photo):
    minmax = reconstruct(tiny_cnn, photo, iterations=5, display="minmax", **SMALL)
    assert minmax.images.min() == 0 and minmax.images.max() == 255
    assert minmax.reference.shape == (32, 32, 3)


def test_runs_on_cuda_when_available(tiny_cnn, photo):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    shot = reconstruct(tiny_cnn, photo, iterations=5, device="cuda", **SMALL)
    assert shot.settings.device.startswith("cuda")
    assert isinstance(shot.pixels, np.ndarray)


def _cuda_syncs(representation, image, iterations: int) -> int:
    """Host–device synchronisations of one inversion with two snapshots (step 0 and the end),
    as counted by PyTorch's sync debug mode."""
    import warnings

    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            shots = list(invert(representation, image, iterations=iterations, snapshot_every=iterations,
                                device="cuda", jitter=2, **SMALL))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert len(shots) == 2  # step 0 and the final one
    return sum("synchroniz" in str(w.message).lower() for w in caught)


def test_cuda_steps_between_snapshots_never_synchronise(tiny_cnn, photo):
    """Twice the steps with the same snapshots: any synchronisation inside a step would
    show as more synchronisations in the longer run."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    _cuda_syncs(tiny_cnn, photo, 5)  # one-time CUDA/cuDNN initialisation, not counted
    short = _cuda_syncs(tiny_cnn, photo, 20)
    long = _cuda_syncs(tiny_cnn, photo, 40)
    assert short > 0, "the sync debug mode reported nothing: the count would prove nothing"
    assert long == short, f"{long - short} more synchronisations for 20 more steps"


@pytest.mark.parametrize("mode", ["minmax", "clip"])
@pytest.mark.parametrize("channels", [3, 1])
def test_snapshot_display_is_to_uint8_of_the_papers_mapping(mode, channels):
    """The batched float32 display path equals images.to_uint8 applied image by image
    (float64) to the paper's mapping, up to a rounding tie (≤ 1 level, rarely)."""
    from inverter.engine import _display
    from inverter.images import to_uint8

    rng = np.random.default_rng(0)
    pixels = (rng.normal(size=(2, channels, 20, 30)) * 90).astype(np.float32)
    mean = np.full((1, channels, 1, 1), 110.0, dtype=np.float32)
    img = (pixels + mean).astype(np.float64)
    if mode == "minmax":
        lo = img.min(axis=(1, 2, 3), keepdims=True)
        img = (img - lo) / (img.max(axis=(1, 2, 3), keepdims=True) - lo)
    else:
        img = img / 255.0
    expected = np.stack([to_uint8(a) for a in img.transpose(0, 2, 3, 1)])
    got = _display(pixels.copy(), mean, mode)
    assert got.shape == (2, 20, 30, 3) and got.dtype == np.uint8 and got.flags["C_CONTIGUOUS"]
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert (got != expected).mean() < 1e-3
    assert expected.min() == 0 and expected.max() == 255  # both ends of the range are exercised


class _DtypeRecordingCNN:
    """Wraps a TinyCNN's forward; records the dtypes of its output and of its weights during the call
    (calls on the ``meta`` device, which only work out the code's shape, compute nothing and are not recorded)."""

    def __init__(self, cnn):
        self.cnn, self.inner, self.seen, self.weights = cnn, cnn.forward, [], []

    def __call__(self, x):
        out = self.inner(x)
        if out.device.type == "meta":
            return out
        self.seen.append(out.dtype)
        self.weights.append(self.cnn.conv1.weight.dtype)
        return out


def test_bfloat16_precision_runs_phi_under_autocast_and_still_inverts(tiny_cnn, photo):
    recorder = _DtypeRecordingCNN(tiny_cnn)
    tiny_cnn.forward = recorder  # instance attribute: nn.Module.__call__ finds it
    shots = list(invert(tiny_cnn, photo, precision="bfloat16", iterations=60, snapshot_every=30, **SMALL))
    assert set(recorder.seen) == {torch.bfloat16}, "Φ did not run in bfloat16"
    assert set(recorder.weights) == {torch.bfloat16}, "the weights were cast at every call, not once"
    assert tiny_cnn.conv1.weight.dtype == torch.float32  # the representation itself is left as it was
    first, last = shots[0], shots[-1]
    assert last.settings.precision == "bfloat16"
    assert last.pixels.dtype == np.float32 and last.relative_error.dtype == np.float64
    assert last.relative_error[0] < first.relative_error[0] / 3


def test_float32_is_the_default_and_runs_phi_in_float32(tiny_cnn, photo):
    recorder = _DtypeRecordingCNN(tiny_cnn)
    tiny_cnn.forward = recorder
    shot = reconstruct(tiny_cnn, photo, iterations=3, **SMALL)
    assert shot.settings.precision == "float32"
    assert set(recorder.seen) == {torch.float32}


def test_unknown_precision_is_refused(tiny_cnn, photo):
    with pytest.raises(ValueError, match="precision must be one of"):
        next(invert(tiny_cnn, photo, precision="float16", **SMALL))
