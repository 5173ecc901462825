"""Tests of the CycleGAN's synthetic masks (fluoseg.data.synthetic_masks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from fluoseg.data.synthetic_masks import (
    SyntheticMaskParams,
    example_pair,
    n_pairs_for,
    synthetic_mask,
)
from fluoseg.errors import InputError

SHAPE = (32, 160, 160)


@pytest.fixture(scope="module")
def mask():
    return synthetic_mask(SHAPE, seed=7)


def test_shape_values_and_pair_channel(mask):
    assert mask.shape == SHAPE + (3,) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 1}
    assert np.array_equal(mask[..., 2], mask[..., 0] | mask[..., 1])
    two = synthetic_mask(SHAPE, seed=7, n_classes=2)
    assert np.array_equal(two, mask[..., :2])


def test_deterministic(mask):
    assert np.array_equal(synthetic_mask(SHAPE, seed=7), mask)
    assert not np.array_equal(synthetic_mask(SHAPE, seed=8), mask)


def test_every_golgi_sits_near_a_nucleus(mask):
    p = SyntheticMaskParams()
    nuc = mask[..., 0] > 0
    lab, n_golgi = ndimage.label(mask[..., 1])
    _, n_nuc = ndimage.label(nuc)
    assert n_golgi >= 3 and n_nuc >= 3
    # distance (physical units, z scaled) from each Golgi to the nearest nucleus voxel
    dist = ndimage.distance_transform_edt(~nuc, sampling=(p.z_spacing, 1, 1))
    for i in range(1, n_golgi + 1):
        assert dist[lab == i].min() <= p.distance[1]


def test_pair_count_in_thesis_range_for_thesis_sized_crops():
    p = SyntheticMaskParams()
    rng = np.random.default_rng(0)
    counts = [n_pairs_for((58, 590, 600), rng, p) for _ in range(100)]
    assert min(counts) >= 40 and max(counts) <= 90 and len(set(counts)) > 10


def test_undeformed_pair_is_an_ellipsoid_and_a_sphere():
    p = SyntheticMaskParams()
    before, after = example_pair(seed=2)
    nuc, gol = before[..., 0] > 0, before[..., 1] > 0
    # the Golgi is a sphere: its physical extent is the same along z, y and x
    idx = np.argwhere(gol) * np.array([p.z_spacing, 1, 1])
    ext = idx.max(0) - idx.min(0)
    assert np.ptp(ext) <= p.z_spacing + 1
    # the deformation changes the shape but keeps the volume roughly
    assert not np.array_equal(before, after)
    for ch in range(2):
        vb, va = int(before[..., ch].sum()), int(after[..., ch].sum())
        assert abs(va - vb) / vb < 0.35
    r = (idx.max(0) - idx.min(0)).max() / 2
    assert 4 / 3 * math.pi * r**3 / p.z_spacing == pytest.approx(gol.sum(), rel=0.5)
    assert nuc.sum() > gol.sum()


def test_no_elastic_means_smooth_convex_objects():
    p = SyntheticMaskParams(elastic_sigma=0.0)
    m = synthetic_mask((24, 96, 96), seed=1, params=p)
    lab, n = ndimage.label(m[..., 0])
    for i in range(1, n + 1):
        obj = lab == i
        filled = ndimage.binary_fill_holes(obj)
        assert filled.sum() == obj.sum()  # no holes


def test_bad_input():
    with pytest.raises(InputError, match="n_classes"):
        synthetic_mask((8, 16, 16), n_classes=4)
    with pytest.raises(InputError, match="shape"):
        synthetic_mask((8, 16), seed=0)
    with pytest.raises(InputError, match="elastic"):
        SyntheticMaskParams(elastic_points=1)
