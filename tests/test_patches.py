"""fluoseg.patches: split/reassemble identity and window origins."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.errors import InputError
from fluoseg.patches import patch_origins, reassemble, split
from fluoseg.transforms import crop_to

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


def test_bad_shapes_raise():
    with pytest.raises(InputError, match="patch_shape"):
        split(np.zeros((4, 4, 4)), (0, 4, 4))
    with pytest.raises(InputError, match="expected"):
        split(np.zeros((4, 4)), (2, 2, 2))
    with pytest.raises(InputError, match="no larger"):
        crop_to(np.zeros((2, 2, 2)), (3, 2, 2))
