"""fluoseg.inference: sliding-window prediction reproduces known maps exactly."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from fluoseg.errors import InputError
from fluoseg.inference import (
    gaussian_weights,
    predict_volume,
    reflect_indices,
    resolve_step,
    window_starts,
)

MODES = ("gaussian", "constant", "thesis")


def linear(batch):
    """A per-voxel map: any correct stitching reproduces it exactly."""
    return 2.0 * batch[..., :1] + 1.0


@pytest.mark.parametrize("blending", MODES)
@pytest.mark.parametrize("tta", [False, True])
@pytest.mark.parametrize(
    "shape", [(6, 10, 12, 2), (20, 33, 41, 1), (1, 1, 1, 2), (3, 40, 5, 1)]
)
def test_linear_callable_is_reproduced(rng, blending, tta, shape):
    vol = rng.random(shape).astype(np.float32)
    out = predict_volume(
        linear, vol, (8, 16, 16), blending=blending, tta=tta, batch_size=3
    )
    assert out.shape == shape[:3] + (1,) and out.dtype == np.float32
    np.testing.assert_allclose(out, 2 * vol[..., :1] + 1, rtol=2e-6)


def test_threshold_gives_exact_uint8(tiny_volume):
    out = predict_volume(lambda b: b, tiny_volume, (4, 8, 8), threshold=0.5)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, (tiny_volume > 0.5).astype(np.uint8))


def test_identity_with_anisotropic_window_and_explicit_step(rng):
    vol = rng.random((7, 30, 19, 2)).astype(np.float32)
    for step in [(1, 3, 5), 2, (3, 8, 4)]:
        out = predict_volume(lambda b: b, vol, (3, 8, 5), step=step)
        np.testing.assert_allclose(out, vol, rtol=2e-6)


def _reference_thesis(fn, vol, patch, step):
    """The thesis's method written naively: pad, slide, average."""
    starts = window_starts(vol.shape, patch, step, "thesis")
    ext = [s[-1] + p for s, p in zip(starts, patch, strict=True)]
    pad = [(0, e - n) for e, n in zip(ext, vol.shape[:3], strict=True)] + [(0, 0)]
    padded = np.pad(vol, pad, mode="reflect")
    acc = np.zeros(padded.shape[:3] + (1,))
    cnt = np.zeros(padded.shape[:3] + (1,))
    pz, py, px = patch
    for z in starts[0]:
        for y in starts[1]:
            for x in starts[2]:
                win = padded[None, z : z + pz, y : y + py, x : x + px]
                acc[z : z + pz, y : y + py, x : x + px] += fn(win)[0]
                cnt[z : z + pz, y : y + py, x : x + px] += 1
    return (acc / cnt)[: vol.shape[0], : vol.shape[1], : vol.shape[2]]


def edge_artefact(batch):
    """A toy network that is wrong near window borders: adds a ramp across x."""
    ramp = np.linspace(-0.5, 0.5, batch.shape[3], dtype=np.float32)
    return batch[..., :1] + ramp[None, None, None, :, None]


def test_thesis_mode_matches_naive_reference(rng):
    vol = rng.random((5, 21, 27, 1)).astype(np.float32)
    patch, step = (8, 8, 8), (4, 4, 4)
    out = predict_volume(edge_artefact, vol, patch, step=step, blending="thesis")
    ref = _reference_thesis(edge_artefact, vol, patch, step)
    np.testing.assert_allclose(out, ref, atol=2e-6)
    assert window_starts(vol.shape, patch, step, "thesis")[2].tolist() == [
        0,
        4,
        8,
        12,
        16,
        20,
    ]


def test_gaussian_blending_reduces_seams(rng):
    vol = np.zeros((4, 8, 64, 1), dtype=np.float32)
    err = {}
    for mode in ("constant", "gaussian"):
        out = predict_volume(edge_artefact, vol, (4, 8, 16), overlap=0.5, blending=mode)
        err[mode] = float(np.abs(out[:, :, 8:56]).mean())  # interior: 2 windows
    np.testing.assert_allclose(err["constant"], 2 / 15, rtol=1e-5)
    assert err["gaussian"] < 0.75 * err["constant"]


def test_tta_averages_flips():
    # a callable that is not flip-equivariant: it returns the z-index ramp
    def zramp(batch):
        z = np.arange(batch.shape[1], dtype=np.float32)
        return np.broadcast_to(z[None, :, None, None, None], batch.shape[:4] + (1,))

    vol = np.zeros((4, 4, 4, 1), dtype=np.float32)
    plain = predict_volume(zramp, vol, (4, 4, 4), blending="constant")
    flipped = predict_volume(zramp, vol, (4, 4, 4), blending="constant", tta=True)
    np.testing.assert_array_equal(plain[:, 0, 0, 0], [0, 1, 2, 3])
    np.testing.assert_allclose(flipped, 1.5)  # mean of ramp and reversed ramp


def test_batches_are_bounded_and_every_window_is_seen():
    calls = []

    def spy(batch):
        calls.append(batch.shape[0])
        return batch

    vol = np.zeros((8, 40, 40, 1), dtype=np.float32)
    predict_volume(spy, vol, (8, 16, 16), overlap=0.5, batch_size=4)
    # starts in y and x: 0, 8, 16, 24 -> 16 windows
    assert max(calls) <= 4 and sum(calls) == 16


def test_short_last_batch_is_padded_to_one_shape(rng):
    shapes = []

    def spy(batch):
        shapes.append(batch.shape)
        return linear(batch)

    vol = rng.random((8, 16, 40, 1)).astype(np.float32)
    # x starts 0, 8, 16, 24: 4 windows per row, batches of 3 -> 3 + 1 (padded)
    out = predict_volume(spy, vol, (8, 16, 16), overlap=0.5, batch_size=3)
    assert shapes == [(3, 8, 16, 16, 1)] * 2
    np.testing.assert_allclose(out, 2 * vol + 1, rtol=2e-6)
    # fewer windows than the batch: the batch shrinks to them, nothing is padded
    shapes.clear()
    predict_volume(spy, vol[:, :, :16], (8, 16, 16), batch_size=4)
    assert shapes == [(1, 8, 16, 16, 1)]


def test_memory_is_bounded_by_slab_not_windows():
    vol = np.zeros((4, 1024, 32, 1), dtype=np.uint8)  # 128 KiB, 381 windows
    tracemalloc.start()
    out = predict_volume(
        lambda b: b, vol, (4, 16, 16), overlap=0.5, threshold=0.5, batch_size=2
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.shape == (4, 1024, 32, 1) and out.dtype == np.uint8
    all_windows = 127 * 3 * 4 * 16 * 16 * 4  # 1.5 MB if materialised as float32
    assert peak < all_windows / 2


def test_integer_input_is_scaled():
    vol = np.full((2, 3, 4, 1), 255, dtype=np.uint8)
    np.testing.assert_allclose(predict_volume(lambda b: b, vol, (2, 2, 2)), 1.0)


def test_keras_like_object_uses_predict_on_batch(rng):
    class Model:
        def predict_on_batch(self, batch):
            return np.concatenate([batch, 1 - batch], axis=-1)

    vol = rng.random((3, 5, 6, 1)).astype(np.float32)
    out = predict_volume(Model(), vol, (2, 4, 4))
    np.testing.assert_allclose(out[..., 1], 1 - vol[..., 0], atol=1e-6)


def test_helpers():
    np.testing.assert_array_equal(reflect_indices(8, 3), [0, 1, 2, 1, 0, 1, 2, 1])
    np.testing.assert_array_equal(reflect_indices(3, 1), [0, 0, 0])
    w = gaussian_weights((9, 9, 9))
    assert w[4, 4, 4] == 1.0 and w.min() >= 1e-3 and w[0, 4, 4] < w[2, 4, 4]
    assert resolve_step((64, 64, 64), 0.5) == (32, 32, 32)
    with pytest.raises(InputError, match="step"):
        resolve_step((8, 8, 8), step=9)
    with pytest.raises(InputError, match="overlap"):
        resolve_step((8, 8, 8), overlap=1.0)
    with pytest.raises(InputError, match="blending"):
        predict_volume(linear, np.zeros((2, 2, 2, 1)), 2, blending="median")


def test_callable_with_wrong_output_shape_fails_clearly():
    with pytest.raises(ValueError, match="expected"):
        predict_volume(lambda b: b[:, :1], np.zeros((4, 4, 4, 1)), 2)


def test_real_keras_model(rng):
    keras = pytest.importorskip("keras")
    inp = keras.Input((4, 8, 8, 2))
    layer = keras.layers.Conv3D(1, 1, use_bias=True)
    model = keras.Model(inp, layer(inp))
    layer.set_weights([np.array([2.0, -1.0]).reshape(1, 1, 1, 2, 1), np.array([0.5])])
    vol = rng.random((5, 11, 9, 2)).astype(np.float32)
    out = predict_volume(model, vol, (4, 8, 8), overlap=0.5, batch_size=4)
    np.testing.assert_allclose(
        out[..., 0], 2 * vol[..., 0] - vol[..., 1] + 0.5, atol=1e-5
    )


def test_accepts_a_volume_and_a_memory_map(tmp_path, tiny_volume):
    from fluoseg.io import Volume

    out = predict_volume(lambda b: b, Volume(tiny_volume, None, "x"), (4, 8, 8))
    np.testing.assert_allclose(out, tiny_volume, rtol=2e-6)
    mm = np.lib.format.open_memmap(
        tmp_path / "v.npy", mode="w+", dtype=np.uint8, shape=(6, 20, 9, 1)
    )
    mm[:, ::3] = 255
    mm.flush()
    ro = np.load(tmp_path / "v.npy", mmap_mode="r")
    out = predict_volume(lambda b: b, ro, (4, 8, 8), threshold=0.5)
    np.testing.assert_array_equal(out, (np.asarray(ro) == 255).astype(np.uint8))


def test_progress_bar_counts_windows(capsys):
    vol = np.zeros((8, 40, 40, 1), dtype=np.float32)
    out = predict_volume(lambda b: b + 1, vol, (8, 16, 16), overlap=0.5, progress=True)
    np.testing.assert_allclose(out, 1.0, rtol=1e-6)
    assert "16/16" in capsys.readouterr().err


def test_threshold_by_share_keeps_the_expected_share_of_most_probable_voxels():
    from fluoseg.errors import InputError
    from fluoseg.inference import threshold_by_share

    rng = np.random.default_rng(0)
    probs = rng.random((10, 20, 20, 2)).astype(np.float32)
    mask = threshold_by_share(probs, [0.01, 0.2])
    assert mask.dtype == np.uint8 and mask.shape == probs.shape
    assert mask[..., 0].mean() == pytest.approx(0.01, abs=1e-3)
    assert mask[..., 1].mean() == pytest.approx(0.2, abs=1e-3)
    # the kept voxels are the most probable ones
    kept, dropped = probs[..., 0][mask[..., 0] == 1], probs[..., 0][mask[..., 0] == 0]
    assert kept.min() > dropped.max()
    # ties at the top all count; an all-zero channel stays empty
    flat = np.zeros((4, 4, 4, 2), np.float32)
    flat[:2, ..., 0] = 1.0
    out = threshold_by_share(flat, [0.1, 0.1])
    assert out[..., 0].sum() == 32 and out[..., 1].sum() == 0
    with pytest.raises(InputError, match="one foreground share"):
        threshold_by_share(probs, [0.1])
    with pytest.raises(InputError, match="one foreground share"):
        threshold_by_share(probs, [0.0, 0.5])
    with pytest.raises(InputError, match=r"\(Z, Y, X, n\)"):
        threshold_by_share(probs[0], [0.1, 0.1])
