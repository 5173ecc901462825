"""Tests of the crop simulator (fluoseg.data.simulate)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fluoseg.data.simulate import PAIR_COLUMNS, SimulationParams, simulate_crop
from fluoseg.data.simulate.annotate import coarse_labels
from fluoseg.data.simulate.layout import count_objects
from fluoseg.errors import InputError

SHAPE = (24, 96, 96)


@pytest.fixture(scope="module")
def crop():
    return simulate_crop(SimulationParams(shape=SHAPE), seed=3)


def test_same_seed_same_arrays_other_seed_differs(crop):
    again = simulate_crop(SimulationParams(shape=SHAPE), seed=3)
    for name in ("image", "truth", "annotator", "instances"):
        assert np.array_equal(getattr(crop, name), getattr(again, name)), name
    assert crop.pairs.equals(again.pairs)
    other = simulate_crop(SimulationParams(shape=SHAPE), seed=4)
    assert not np.array_equal(crop.image, other.image)


def test_shapes_dtypes_and_value_sets(crop):
    assert crop.image.shape == SHAPE + (2,) and crop.image.dtype == np.float32
    assert crop.truth.shape == SHAPE + (3,) and crop.truth.dtype == np.uint8
    assert crop.annotator.shape == SHAPE + (3,) and crop.annotator.dtype == np.uint8
    assert crop.instances.shape == SHAPE + (2,) and crop.instances.dtype == np.uint16
    assert set(np.unique(crop.truth)) <= {0, 1}
    assert set(np.unique(crop.annotator)) <= {0, 1}
    assert 0.0 <= crop.image.min() and crop.image.max() <= 1.0
    # 8-bit quantised: every value is k / 255
    k = crop.image * 255
    assert np.allclose(k, np.round(k), atol=1e-4)


def test_truth_masks_are_the_instances(crop):
    assert np.array_equal(crop.truth[..., 0], (crop.instances[..., 0] > 0))
    assert np.array_equal(crop.truth[..., 1], (crop.instances[..., 1] > 0))


def test_pair_channel_is_union_of_paired_objects_only(crop):
    pairs = crop.pairs
    paired = pairs[pairs["paired"]]
    nuc = np.isin(crop.instances[..., 0], paired["nucleus_id"].to_numpy())
    gol = np.isin(crop.instances[..., 1], paired["golgi_id"].to_numpy())
    assert np.array_equal(crop.truth[..., 2].astype(bool), nuc | gol)
    unpaired = pairs[(~pairs["paired"]) & (pairs["nucleus_id"] > 0)]
    if len(unpaired):
        lone = np.isin(crop.instances[..., 0], unpaired["nucleus_id"].to_numpy())
        assert not np.any(crop.truth[..., 2].astype(bool) & lone & ~gol)


def test_pairs_table_matches_instances(crop):
    pairs = crop.pairs
    assert list(pairs.columns) == list(PAIR_COLUMNS)
    ids = set(np.unique(crop.instances[..., 0])) - {0}
    assert set(pairs.loc[pairs["nucleus_id"] > 0, "nucleus_id"]) == ids
    gids = set(np.unique(crop.instances[..., 1])) - {0}
    assert set(pairs.loc[pairs["golgi_id"] > 0, "golgi_id"]) == gids
    assert int(pairs["paired"].sum()) == crop.info["n_pairs"] >= 3
    # centroids are the objects' own centres of mass (where not overlapped)
    row = pairs[pairs["paired"]].iloc[0]
    com = ndimage.center_of_mass(crop.instances[..., 1] == row["golgi_id"])
    assert np.allclose(
        com, row[["golgi_z", "golgi_y", "golgi_x"]].to_numpy(float), atol=0.6
    )


def test_raw_image_is_dark_and_objects_stand_out(crop):
    img = crop.image
    # most voxels near zero, as in the thesis's Fig. 5.1 histogram
    assert np.percentile(img, 50) < 0.05
    assert np.percentile(img, 98) < 0.25
    for ch in range(2):
        inside = img[..., ch][crop.truth[..., ch] > 0]
        outside = img[..., ch][crop.truth[..., ch] == 0]
        # a typical object voxel is brighter than 95 % of the background
        assert np.median(inside) > np.percentile(outside, 95)


def test_red_channel_has_golgi_like_dust_outside_the_masks():
    c = simulate_crop(SimulationParams(shape=(24, 128, 128)), seed=5)
    golgi = ndimage.binary_dilation(c.truth[..., 1] > 0, iterations=3)
    gol_level = np.percentile(c.image[..., 1][c.truth[..., 1] > 0], 75)
    bright = (c.image[..., 1] >= gol_level) & ~golgi
    _, n = ndimage.label(ndimage.binary_opening(bright))
    assert c.info["n_dust"] > 0 and n >= 1


def test_annotator_outlines_are_blocky_on_a_2x_grid(crop):
    ann = crop.annotator[..., :2]
    blocks = ann.reshape(SHAPE[0], SHAPE[1] // 2, 2, SHAPE[2] // 2, 2, 2)
    assert np.all(blocks.min(axis=(2, 4)) == blocks.max(axis=(2, 4)))
    # imperfect: not equal to the truth but overlapping it well
    for ch in range(2):
        t, a = crop.truth[..., ch] > 0, ann[..., ch] > 0
        dice = 2 * (t & a).sum() / (t.sum() + a.sum())
        assert 0.5 < dice < 0.99


def test_missed_objects_are_absent_from_the_annotator_mask(crop):
    pairs = crop.pairs
    missed = pairs[(pairs["nucleus_id"] > 0) & ~pairs["nucleus_annotated"]]
    for nid in missed["nucleus_id"]:
        obj = crop.instances[..., 0] == nid
        assert crop.annotator[..., 0][obj].mean() < 0.5


def test_coarse_majority_rule_exact():
    lab = np.zeros((1, 4, 4), dtype=np.uint16)
    lab[0, 0, 0:2] = 5  # 2 of 4 voxels: half -> drawn
    lab[0, 2, 2] = 7  # 1 of 4: not drawn
    out = coarse_labels(lab, 2)
    assert out.tolist() == [[[5, 0], [0, 0]]]


def test_pair_count_is_thesis_range_for_big_crops_and_scaled_for_small():
    rng = np.random.default_rng(0)
    big_p = SimulationParams(shape=(61, 818, 627))
    big = [count_objects(rng, big_p)[0] for _ in range(50)]
    assert 40 <= min(big) and max(big) <= 90
    small_p = SimulationParams(shape=(24, 64, 64))
    small = [count_objects(rng, small_p)[0] for _ in range(20)]
    assert max(small) == 3  # min_pairs


def test_bad_params_raise_input_error():
    with pytest.raises(InputError, match="shape"):
        SimulationParams(shape=(4, 64, 64))
    with pytest.raises(InputError, match="pairs_range"):
        SimulationParams(pairs_range=(9, 3))
    with pytest.raises(InputError, match="seed"):
        simulate_crop(SimulationParams(shape=(16, 32, 32)), seed=-1)


def test_params_dict_round_trip():
    p = SimulationParams(shape=(30, 40, 50), bleed=(0.1, 0.2))
    assert SimulationParams.from_dict(p.to_dict()) == p


def test_exposure_differs_between_crops_and_the_stretch_removes_it():
    """Crops differ several-fold in raw brightness (gain, channel balance, offset);
    the 5/98 percentile stretch brings their object intensities together."""
    from fluoseg.transforms import normalize_percentile

    p = SimulationParams(shape=(16, 64, 64))
    crops = [simulate_crop(p, seed=s) for s in range(8)]
    gains = np.array([c.info["channel_gain"] for c in crops])
    assert gains.shape == (8, 2)
    assert np.all((gains > 0) & (gains < 1))
    assert gains.max(axis=0).min() / gains.min(axis=0).max() > 2.0
    offsets = np.array([c.info["offset"] for c in crops])
    assert np.all((offsets >= 0) & (offsets <= p.offset_range[1]))

    def object_medians(images):
        pairs = zip(images, crops, strict=True)
        return np.array([np.median(im[..., 0][c.truth[..., 0] > 0]) for im, c in pairs])

    raw = object_medians([c.image for c in crops])
    stretched = object_medians([normalize_percentile(c.image) for c in crops])
    spread = lambda v: v.max() / v.min()  # noqa: E731
    assert spread(raw) > 2.0
    assert spread(stretched) < spread(raw) / 1.5


def test_gain_range_must_be_positive():
    with pytest.raises(InputError, match="gain_range"):
        SimulationParams(gain_range=(0.0, 0.3))
