"""fluoseg.patches: split/reassemble identity, padding, origins and the sampler."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.errors import InputError
from fluoseg.patches import (
    crop_to,
    pad_to_patch,
    patch_origins,
    reassemble,
    sample_origins,
    split,
)

CASES = [
    ((5, 7, 9, 2), (4, 4, 4), None),
    ((3, 20, 17, 1), (8, 6, 5), (3, 2, 4)),  # crop shallower than the patch in z
    ((1, 2, 3, 2), (4, 4, 4), None),  # smaller than a patch everywhere
    ((9, 9, 9), (3, 4, 5), (1, 3, 2)),  # no channel axis, heavy overlap
    ((6, 11, 13, 3), (6, 11, 13), 1),  # patch = volume
]


@pytest.mark.parametrize(("shape", "patch", "stride"), CASES)
def test_split_then_reassemble_is_identity(rng, shape, patch, stride):
    vol = rng.random(shape).astype(np.float32)
    patches, origins = split(vol, patch, stride)
    assert patches.shape[1:4] == tuple(patch)
    assert patches.shape[4:] == vol.shape[3:]
    assert origins.shape == (len(patches), 3)
    np.testing.assert_array_equal(reassemble(patches, origins, vol.shape), vol)


def test_reassemble_averages_overlaps():
    patches = np.stack([np.full((2, 2, 2), 1.0), np.full((2, 2, 2), 3.0)])
    origins = np.array([[0, 0, 0], [0, 0, 1]])
    out = reassemble(patches, origins, (2, 2, 3))
    np.testing.assert_array_equal(out[0, 0], [1.0, 2.0, 3.0])


def test_patch_origins_cover_and_last_is_flush():
    o = patch_origins((10, 64, 100), (10, 32, 32), (5, 32, 30))
    zs, ys, xs = (sorted(set(o[:, i])) for i in range(3))
    assert zs == [0] and ys == [0, 32] and xs == [0, 30, 60, 68]
    assert len(o) == 1 * 2 * 4
    covered = np.zeros((10, 64, 100), bool)
    for z, y, x in o:
        covered[z : z + 10, y : y + 32, x : x + 32] = True
    assert covered.all()


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


def test_bad_shapes_raise():
    with pytest.raises(InputError, match="patch_shape"):
        split(np.zeros((4, 4, 4)), (0, 4, 4))
    with pytest.raises(InputError, match="expected"):
        split(np.zeros((4, 4)), (2, 2, 2))
    with pytest.raises(InputError, match="no larger"):
        crop_to(np.zeros((2, 2, 2)), (3, 2, 2))


def _mask():
    m = np.zeros((30, 40, 40, 2), dtype=np.uint8)
    m[5:25, 5:35, 5:35, 0] = 1  # a big nucleus
    m[12:14, 30:32, 30:32, 1] = 1  # a tiny Golgi (8 voxels)
    return m


def test_sampler_is_deterministic_and_in_bounds():
    m = _mask()
    a = sample_origins(m, (8, 16, 16), 50, 0.6, np.random.default_rng(3))
    b = sample_origins(m, (8, 16, 16), 50, 0.6, 3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 3) and a.dtype == np.int64
    assert (a >= 0).all() and (a <= [22, 24, 24]).all()


def test_sampler_balances_classes():
    m = _mask()
    patch = (8, 8, 8)
    o = sample_origins(m, patch, 400, 1.0, 0)
    hits_golgi = [m[z : z + 8, y : y + 8, x : x + 8, 1].any() for z, y, x in o]
    # Golgi is 8 of ~12 000 foreground voxels, yet about half the patches contain it
    assert 0.4 < np.mean(hits_golgi) < 0.6
    uniform = sample_origins(m, patch, 400, 0.0, 0)
    hits_u = [m[z : z + 8, y : y + 8, x : x + 8, 1].any() for z, y, x in uniform]
    assert np.mean(hits_u) < 0.1


def test_sampler_without_foreground_is_uniform_and_small_axes_get_zero():
    m = np.zeros((4, 20, 20), dtype=np.uint8)
    o = sample_origins(m, (8, 8, 8), 20, 1.0, 0)
    assert (o[:, 0] == 0).all() and o[:, 1:].max() <= 12
    with pytest.raises(InputError, match="foreground_fraction"):
        sample_origins(m, (8, 8, 8), 5, 1.5, 0)
