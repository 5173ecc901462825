"""fluoseg.transforms: the percentile stretch on known arrays, value-range maps,
padding to a patch."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.errors import InputError
from fluoseg.transforms import (
    crop_to,
    from_symmetric,
    normalize_percentile,
    pad_to_patch,
    scale_to_unit,
    to_symmetric,
    to_unit,
)


def test_stretch_on_a_ramp_is_exact():
    # 0..100: the 5th percentile is 5 and the 98th is 98 (linear interpolation)
    x = np.arange(101, dtype=np.float32).reshape(1, 1, 101, 1)
    y = normalize_percentile(x)
    expected = np.clip((np.arange(101) - 5.0) / 93.0, 0, 1)
    np.testing.assert_allclose(y[0, 0, :, 0], expected, atol=1e-6)
    assert y.dtype == np.float32


def test_stretch_is_per_channel():
    ramp = np.arange(101, dtype=np.float32)
    x = np.stack([ramp, 10 * ramp + 7], axis=-1).reshape(1, 1, 101, 2)
    y = normalize_percentile(x, pmin=0, pmax=100)
    np.testing.assert_allclose(y[..., 0], y[..., 1], atol=1e-6)
    np.testing.assert_allclose(y[0, 0, :, 0], ramp / 100, atol=1e-6)


def test_stretch_batch_is_per_sample():
    ramp = np.arange(11, dtype=np.float32).reshape(1, 1, 11, 1)
    x = np.concatenate([ramp, 3 * ramp])[:, None]  # (2, 1, 1, 11, 1)
    y = normalize_percentile(x, 0, 100)
    np.testing.assert_allclose(y[0], y[1], atol=1e-6)


def test_stretch_with_explicit_axis_is_global():
    x = np.array([[0.0, 1.0], [0.0, 3.0]], dtype=np.float32)
    y = normalize_percentile(x, 0, 100, axis=None)
    np.testing.assert_allclose(y, x / 3)
    y0 = normalize_percentile(x, 0, 100, axis=0)
    np.testing.assert_allclose(y0, [[0, 0], [0, 1]])


def test_flat_percentiles_become_a_threshold():
    # 99 % background: the 5th and 98th percentiles are both 0
    x = np.zeros((1, 10, 10, 2), dtype=np.float32)
    x[0, 0, 0, 0] = 0.3
    y = normalize_percentile(x)
    assert y[0, 0, 0, 0] == 1.0 and y.sum() == 1.0
    const = np.full((2, 3, 4, 1), 7.0)
    assert not normalize_percentile(const).any()


def test_stretch_does_not_modify_input_and_rejects_bad_args():
    x = np.arange(20, dtype=np.float32).reshape(1, 1, 20, 1)
    before = x.copy()
    normalize_percentile(x)
    np.testing.assert_array_equal(x, before)
    with pytest.raises(InputError, match="pmin < pmax"):
        normalize_percentile(x, 50, 10)
    with pytest.raises(InputError, match="NaN"):
        normalize_percentile(np.array([1.0, np.nan]))


def test_scale_to_unit_by_dtype():
    np.testing.assert_allclose(
        scale_to_unit(np.array([0, 51, 255], np.uint8)), [0, 0.2, 1]
    )
    np.testing.assert_allclose(scale_to_unit(np.array([65535], np.uint16)), [1.0])
    np.testing.assert_allclose(scale_to_unit(np.array([-5, 32767], np.int16)), [0, 1])
    np.testing.assert_array_equal(scale_to_unit(np.array([True, False])), [1, 0])
    np.testing.assert_allclose(scale_to_unit(np.array([0.25, 0.5])), [0.25, 0.5])
    np.testing.assert_allclose(scale_to_unit(np.array([-1.0, 0.0, 3.0])), [0, 0.25, 1])
    assert to_unit is scale_to_unit
    with pytest.raises(InputError, match="NaN"):
        scale_to_unit(np.array([np.inf]))


def test_symmetric_round_trip(rng):
    x = rng.random((3, 4, 5, 2)).astype(np.float32)
    s = to_symmetric(x)
    assert s.dtype == np.float32
    np.testing.assert_allclose(to_symmetric(np.array([0.0, 0.5, 1.0])), [-1, 0, 1])
    np.testing.assert_allclose(from_symmetric(s), x, atol=1e-7)


def test_stretch_without_upper_clip_keeps_the_order_of_bright_voxels() -> None:
    from fluoseg.chunked import stretch
    from fluoseg.export import package_preprocess
    from fluoseg.transforms import preprocess_image

    x = np.linspace(0.0, 1.0, 2 * 10 * 10 * 2, dtype=np.float32).reshape(2, 10, 10, 2)
    clipped = normalize_percentile(x)
    open_top = normalize_percentile(x, clip=False)
    top = x >= np.percentile(x[..., 0], 98)
    assert clipped.max() == 1.0 and open_top.max() > 1.0
    assert open_top.min() == 0.0  # still clipped below
    np.testing.assert_array_equal(open_top[open_top <= 1], clipped[open_top <= 1])
    bright = open_top[..., 0][top[..., 0]]
    assert np.all(np.diff(np.sort(bright)) > 0)  # distinct, ordered
    np.testing.assert_array_equal(preprocess_image(x, False, clip=False), open_top)
    assert preprocess_image(x, True, clip=False).max() <= 1.0  # raw: always [0, 1]
    a, b = np.percentile(x, [5, 98], axis=(0, 1, 2))
    assert stretch(x, a, b, clip=False).max() > 1.0 and stretch(x, a, b).max() == 1.0
    batch = x[None]
    assert package_preprocess(batch, clip=False).max() > 1.0
    assert package_preprocess(batch).max() == 1.0


def test_only_the_cpu_unet_leaves_the_stretch_open_at_the_top() -> None:
    from fluoseg.models import model_config

    assert model_config("unet", "cpu").stretch_clip is False
    assert model_config("unet", "paper").stretch_clip is True  # the thesis
    assert model_config("unet", "smoke").stretch_clip is True
    assert model_config("unet", "gpu").stretch_clip is False


def test_pad_to_patch_reflects_at_the_end_like_the_thesis():
    vol = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1)
    padded, widths = pad_to_patch(vol, (8, 1, 1))
    assert widths == ((0, 3), (0, 0), (0, 0), (0, 0))
    np.testing.assert_array_equal(padded.ravel(), [0, 1, 2, 3, 4, 3, 2, 1])
    np.testing.assert_array_equal(crop_to(padded, vol.shape), vol)
    # 55 slices, as the thesis's shortest crop, padded to 64
    thesis, w = pad_to_patch(np.zeros((55, 4, 4, 2)), (64, 4, 4))
    assert thesis.shape == (64, 4, 4, 2) and w[0] == (0, 9)


def test_pad_single_voxel_axis_uses_edge():
    vol = np.full((1, 2, 2), 7.0)
    padded, _ = pad_to_patch(vol, (4, 2, 2))
    assert padded.shape == (4, 2, 2) and (padded == 7).all()


def test_pad_longer_than_the_axis():
    vol = np.arange(3, dtype=np.float32).reshape(1, 1, 3)
    padded, _ = pad_to_patch(vol, (1, 1, 8))
    np.testing.assert_array_equal(padded.ravel(), [0, 1, 2, 1, 0, 1, 2, 1])
