"""fluoseg.evaluation.instances and .objects: instances, split, properties, scores."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.errors import InputError
from fluoseg.evaluation.instances import connected_components, instances, split_touching
from fluoseg.evaluation.objects import iou_matrix, match, object_scores, object_table


def ball(shape, centre, radius, scale=(1.0, 1.0, 1.0)):
    """Boolean ball (ellipsoid when ``scale`` differs per axis)."""
    grid = np.indices(shape).astype(float)
    d2 = sum(((g - c) / s) ** 2 for g, c, s in zip(grid, centre, scale, strict=True))
    return d2 <= radius**2


def test_connected_components_counts_and_min_size():
    m = np.zeros((10, 10, 10), bool)
    m[1:3, 1:3, 1:3] = True  # 8 voxels
    m[6:9, 6:9, 6:9] = True  # 27 voxels
    m[0, 9, 9] = True  # 1 voxel
    lab = connected_components(m)
    assert lab.dtype == np.int32 and lab.max() == 3
    lab = connected_components(m, min_size=5)
    assert lab.max() == 2
    assert sorted(np.bincount(lab.ravel())[1:]) == [8, 27]


def test_diagonal_voxels_join_only_with_full_connectivity():
    m = np.zeros((3, 3, 3), bool)
    m[0, 0, 0] = m[1, 1, 1] = True
    assert connected_components(m, connectivity=1).max() == 2
    assert connected_components(m, connectivity=3).max() == 1


def test_watershed_splits_two_touching_balls_and_keeps_one_ball_whole():
    shape = (24, 24, 36)
    two = ball(shape, (12, 12, 11), 6) | ball(shape, (12, 12, 21), 6)
    assert connected_components(two).max() == 1  # merged by CC
    lab = split_touching(two, min_distance=3, h=1.0)
    assert lab.max() == 2
    # the cut lies at the neck, x = 16: each half belongs to one object
    assert len(np.unique(lab[:, :, :15][two[:, :, :15]])) == 1
    assert len(np.unique(lab[:, :, 18:][two[:, :, 18:]])) == 1
    assert lab[12, 12, 11] != lab[12, 12, 21]
    assert (lab > 0).sum() == two.sum()  # nothing lost
    one = ball(shape, (12, 12, 16), 7)
    assert split_touching(one, min_distance=3, h=1.0).max() == 1


def test_h_suppresses_seeds_of_an_elongated_object():
    shape = (20, 20, 40)
    # a capsule: a cylinder with round ends has a ridge of equal-height maxima
    grid = np.indices(shape).astype(float)
    xc = np.clip(grid[2], 10, 29)
    capsule = (grid[0] - 10) ** 2 + (grid[1] - 10) ** 2 + (grid[2] - xc) ** 2 <= 25
    assert split_touching(capsule, min_distance=2, h=0.0).max() > 1
    assert split_touching(capsule, min_distance=2, h=1.0).max() == 1


def test_split_respects_voxel_size():
    # two balls in physical space on a grid with z voxels twice as thick
    shape = (14, 28, 40)
    scale = (0.5, 1.0, 1.0)  # z index units are half µm-units
    two = ball(shape, (7, 14, 13), 6, scale) | ball(shape, (7, 14, 25), 6, scale)
    lab = split_touching(two, min_distance=3, h=1.0, voxel_size=(2.0, 1.0, 1.0))
    assert lab.max() == 2


def test_instances_per_channel_and_empty_mask():
    shape = (20, 20, 30)
    m = np.zeros(shape + (2,), np.uint8)
    m[..., 0] = ball(shape, (10, 10, 9), 5) | ball(shape, (10, 10, 18), 5)
    m[..., 1] = ball(shape, (3, 3, 3), 2)
    lab = instances(m, split=(True, False))
    assert lab.shape == m.shape and lab.dtype == np.int32
    assert lab[..., 0].max() == 2 and lab[..., 1].max() == 1
    assert instances(m, split=False)[..., 0].max() == 1
    assert instances(np.zeros((4, 4, 4, 2)), split=True).max() == 0
    with pytest.raises(InputError, match="one per channel"):
        instances(m, split=(True,))
    with pytest.raises(InputError, match="4D"):
        instances(m[..., 0])


def test_object_table_exact_values():
    lab = np.zeros((6, 8, 10), np.int32)
    lab[1:3, 2:4, 3:7] = 1  # 2*2*4 = 16 voxels, centroid (1.5, 2.5, 4.5)
    lab[5, 7, 9] = 2
    df = object_table(lab, voxel_size=(2.0, 0.5, 0.25))
    assert list(df["label"]) == [1, 2]
    assert list(df["volume_voxels"]) == [16, 1]
    assert df["volume_um3"].tolist() == pytest.approx([16 * 0.25, 0.25])
    r = df.iloc[0]
    assert (r.centroid_z, r.centroid_y, r.centroid_x) == (1.5, 2.5, 4.5)
    assert (r.centroid_z_um, r.centroid_y_um, r.centroid_x_um) == (3.0, 1.25, 1.125)
    assert [r[f"bbox_{k}"] for k in ("z0", "y0", "x0", "z1", "y1", "x1")] == [
        1,
        2,
        3,
        3,
        4,
        7,
    ]
    assert len(object_table(np.zeros((3, 3, 3), np.int32))) == 0
    with pytest.raises(InputError, match="voxel size"):
        object_table(lab, voxel_size=(1, 0, 1))


def test_iou_matrix_exact():
    t = np.zeros((1, 1, 10), np.int32)
    p = np.zeros_like(t)
    t[0, 0, 0:4] = 1
    t[0, 0, 6:10] = 2
    p[0, 0, 2:6] = 1  # overlaps true 1 by 2 of 6 voxels
    p[0, 0, 6:10] = 2  # identical to true 2
    iou = iou_matrix(p, t)
    assert iou == pytest.approx(np.array([[2 / 6, 0.0], [0.0, 1.0]]))


def test_match_prefers_more_matches_over_higher_iou():
    # greedy on IoU would take (0,0) and leave both others unmatched
    iou = np.array([[0.9, 0.6], [0.6, 0.0]])
    rows, cols = match(iou, 0.5)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]
    rows, cols = match(iou, 0.7)
    assert list(zip(rows, cols, strict=True)) == [(0, 0)]


def test_object_scores_counts_and_thresholds():
    shape = (10, 10, 40)
    t = np.zeros(shape, np.int32)
    p = np.zeros(shape, np.int32)
    t[2:6, 2:6, 0:4] = 1
    p[2:6, 2:6, 0:4] = 1  # perfect
    t[2:6, 2:6, 10:14] = 2
    p[2:6, 2:6, 11:15] = 2  # shifted by one: IoU = 3/5
    t[2:6, 2:6, 20:24] = 3  # missed
    p[2:6, 2:6, 30:34] = 3  # spurious
    df = object_scores(p, t, thresholds=(0.5, 0.75), class_names=["nuclei"])
    lo, hi = df.iloc[0], df.iloc[1]
    assert (lo.tp, lo.fp, lo.fn) == (2, 1, 1)
    assert (hi.tp, hi.fp, hi.fn) == (1, 2, 2)
    assert lo.precision == pytest.approx(2 / 3) and lo.recall == pytest.approx(2 / 3)
    assert lo.f1 == pytest.approx(2 / 3)
    assert lo.mean_matched_iou == pytest.approx((1 + 0.6) / 2)
    assert hi.f1 == pytest.approx(1 / 3)


def test_object_scores_per_class_and_identity():
    rng = np.random.default_rng(0)
    m = (rng.random((12, 12, 12, 2)) > 0.7).astype(np.uint8)
    lab = instances(m)
    df = object_scores(lab, lab)
    assert list(df["class"].unique()) == ["nuclei", "golgi"]
    assert (df["f1"] == 1.0).all() and (df["fp"] == 0).all()
    empty = object_scores(np.zeros((4, 4, 4), int), np.zeros((4, 4, 4), int))
    assert (empty[["precision", "recall", "f1"]] == 1.0).all().all()
    with pytest.raises(InputError, match="differ in shape"):
        object_scores(lab, lab[:-1])
