"""fluoseg.evaluation.pairing and .pair_scores: matching, vectors, pairing, scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fluoseg.data.calibration import MAX_PAIR_DISTANCE
from fluoseg.errors import InputError
from fluoseg.evaluation.matching import assign
from fluoseg.evaluation.pair_scores import angular_error, evaluate_pairs, pool
from fluoseg.evaluation.pairing import (
    PAIR_COLUMNS,
    default_max_distance,
    find_pairs,
    pair_centroids,
    pair_table,
    pairs_from_labels,
    to_pair_table,
    vectors,
)


def cube(arr, centre, r, value=1):
    z, y, x = centre
    arr[z - r : z + r + 1, y - r : y + r + 1, x - r : x + r + 1] = value


def test_assign_maximises_count_then_minimises_cost():
    cost = np.array([[1.0, 2.0], [1.5, 100.0]])
    allowed = np.array([[True, True], [True, False]])
    r, c = assign(cost, allowed)
    assert list(zip(r, c, strict=True)) == [(0, 1), (1, 0)]
    r, c = assign(cost, np.ones((2, 2), bool))
    assert list(zip(r, c, strict=True)) == [(0, 1), (1, 0)]  # 3.5 < 101
    r, c = assign(np.ones((0, 3)), np.ones((0, 3), bool))
    assert len(r) == 0


def test_pair_centroids_optimal_not_greedy_and_gated():
    # greedy nearest-first would pair n0-g0 (d=1) and leave n1 with g1 at d=5
    nuclei = np.array([[0, 0, 0], [0, 0, 4]], float)
    golgi = np.array([[0, 0, 1], [0, 0, -2]], float)
    i, j = pair_centroids(nuclei, golgi, max_distance=3.5)
    assert list(zip(i, j, strict=True)) == [(0, 1), (1, 0)]
    # a far Golgi stays unpaired
    i, j = pair_centroids(nuclei, np.array([[0, 0, 20.0]]), max_distance=10)
    assert len(i) == 0


def test_pair_centroids_uses_physical_distance():
    nuclei = np.array([[0, 0, 0]], float)
    golgi = np.array([[3, 0, 0]], float)  # 3 voxels in z
    assert len(pair_centroids(nuclei, golgi, max_distance=4)[0]) == 1
    # 2 µm z-voxels: 6 µm apart, too far for 4 µm
    i, _ = pair_centroids(nuclei, golgi, voxel_size=(2, 0.5, 0.5), max_distance=4)
    assert len(i) == 0


def test_vectors_exact_values():
    v = vectors([[1, 1, 1], [0, 0, 0]], [[1, 4, 5], [2, 0, 0]], voxel_size=None)
    assert v.loc[0, ["dz", "dy", "dx"]].tolist() == [0, 3, 4]
    assert v.loc[0, "length"] == 5
    assert v.loc[0, ["uz", "uy", "ux"]].tolist() == pytest.approx([0, 0.6, 0.8])
    assert v.loc[0, "angle_xy_deg"] == pytest.approx(np.degrees(np.arctan2(3, 4)))
    assert v.loc[1, "angle_xy_deg"] == 0.0  # pure z vector
    assert v.loc[0, "unit"] == "voxel"
    w = vectors([[0, 0, 0]], [[1, 0, -1]], voxel_size=(2.0, 1.0, 0.5))
    assert w.loc[0, ["dz", "dy", "dx"]].tolist() == [2.0, 0.0, -0.5]
    assert w.loc[0, "angle_xy_deg"] == 180.0  # in (-180, 180]
    assert w.loc[0, "unit"] == "um"


def test_angular_error_exact():
    a = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], float)
    b = np.array([[0, 0, 2], [0, 0, 1], [-3, 0, 0]], float)
    assert angular_error(a, b) == pytest.approx([0, 90, 180])


def test_default_max_distance_from_real_pairs():
    assert default_max_distance() == MAX_PAIR_DISTANCE == pytest.approx(42.2, abs=0.05)
    assert default_max_distance((1.0, 0.5, 0.3)) == pytest.approx(
        MAX_PAIR_DISTANCE * 0.4
    )


def two_cells(shape=(12, 24, 40)):
    """Mask with two nucleus–Golgi pairs and one lone Golgi; (Z, Y, X, 3)."""
    m = np.zeros(shape + (3,), np.uint8)
    cube(m[..., 0], (6, 8, 8), 3)  # nucleus A, centroid (6, 8, 8)
    cube(m[..., 1], (6, 8, 14), 1)  # its Golgi, +6 in x
    cube(m[..., 0], (6, 16, 28), 3)  # nucleus B
    cube(m[..., 1], (6, 10, 28), 1)  # its Golgi, -6 in y
    cube(m[..., 1], (6, 20, 36), 1)  # a lone Golgi near B (~8.9 away)
    # pair channel: each nucleus joined to its Golgi
    m[3:10, 5:12, 5:16, 2] = 1
    m[3:10, 8:20, 25:32, 2] = 1
    return m


def test_find_pairs_geometry_exact():
    m = two_cells()
    df = find_pairs(m, method="geometry", max_distance=7)
    assert list(df.columns) == list(PAIR_COLUMNS)
    assert len(df) == 2
    a, b = df.iloc[0], df.iloc[1]
    assert (a.nucleus_z, a.nucleus_y, a.nucleus_x) == (6, 8, 8)
    assert (a.dz, a.dy, a.dx, a.length) == (0, 0, 6, 6)
    assert (b.dz, b.dy, b.dx) == (0, -6, 0)
    assert b.angle_xy_deg == -90.0
    # a generous gate lets the lone Golgi steal nothing: B still takes its own
    df = find_pairs(m, method="geometry", max_distance=20)
    assert len(df) == 2 and df.iloc[1].dy == -6


def test_pair_channel_method_forbids_pairs_across_components():
    m = two_cells()
    # move nucleus B's Golgi out of its pair component: geometry still pairs it,
    # the pair channel does not
    m[..., 1] = 0
    cube(m[..., 1], (6, 8, 14), 1)
    cube(m[..., 1], (6, 16, 22), 1)  # 6 voxels left of B, outside B's component
    geo = find_pairs(m, method="geometry", max_distance=7)
    pc = find_pairs(m, method="pair_channel", max_distance=7)
    assert len(geo) == 2
    assert len(pc) == 1 and pc.iloc[0].dx == 6
    with pytest.raises(InputError, match="3-class"):
        find_pairs(m[..., :2], method="pair_channel")
    with pytest.raises(InputError, match="unknown pairing method"):
        find_pairs(m, method="nearest")


def test_pair_channel_excludes_unpaired_objects_and_joins_separate_pieces():
    m = np.zeros((12, 16, 32, 3), np.uint8)
    cube(m[..., 0], (6, 8, 8), 3)  # nucleus A, centroid x = 8
    cube(m[..., 1], (6, 8, 16), 1)  # A's Golgi, not touching A
    cube(m[..., 0], (6, 8, 24), 3)  # lone nucleus C, nearer to the Golgi (8 vs 8)
    m[..., 0][6, 8, 27] = 0  # C's centroid moves a little left: nearer still
    m[..., 2] = m[..., 0] * 0
    cube(m[..., 2], (6, 8, 8), 3)  # pair channel: A and its Golgi, two pieces
    cube(m[..., 2], (6, 8, 16), 1)
    geo = find_pairs(m, method="geometry", max_distance=10, split_nuclei=False)
    pc = find_pairs(m, method="pair_channel", max_distance=10, split_nuclei=False)
    assert geo["nucleus_x"].round(2).tolist() == [pytest.approx(23.99, abs=0.01)]
    assert pc["nucleus_x"].tolist() == [8.0] and pc["dx"].tolist() == [8.0]


def test_pairs_from_labels_ids_and_voxel_size():
    lab = np.zeros((10, 10, 20, 2), np.int32)
    cube(lab[..., 0], (5, 5, 5), 2, value=7)
    cube(lab[..., 1], (5, 5, 9), 1, value=3)
    df = pairs_from_labels(lab, voxel_size=(1.0, 0.5, 0.5), max_distance=3)
    assert df[["nucleus_id", "golgi_id"]].values.tolist() == [[7, 3]]
    assert df.iloc[0].dx == 2.0 and df.iloc[0].unit == "um"
    assert len(pairs_from_labels(lab, voxel_size=(1, 0.5, 0.5), max_distance=1.5)) == 0


def test_evaluate_pairs_counts_and_angles():
    truth = pair_table(
        [1, 2, 3], [[0, 0, 0], [0, 20, 0], [0, 40, 0]],
        [1, 2, 3], [[0, 0, 5], [0, 25, 0], [0, 40, 5]],
    )  # fmt: skip
    pred = pair_table(
        [1, 2, 9], [[0, 0, 1], [0, 20, 0], [0, 70, 0]],
        [1, 2, 9], [[0, 1, 6], [0, 20, 5], [0, 70, 5]],
    )  # fmt: skip
    s = evaluate_pairs(pred, truth, tolerance=2.0)
    # pred 0 ~ truth 0 (errors 1 and 1.41); pred 1 has the right nucleus but its Golgi
    # is 7 from truth 1's Golgi; pred 2 is nowhere
    assert (s.tp, s.n_pred, s.n_true) == (1, 3, 3)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 3)
    expected = angular_error([[0, 1, 5]], [[0, 0, 5]])[0]
    assert s.median_angular_error_deg == pytest.approx(expected)
    assert s.matches[["pred_index", "true_index"]].values.tolist() == [[0, 0]]
    # a larger tolerance accepts pred 1 too (Golgi error sqrt(50) ~ 7.07)
    s = evaluate_pairs(pred, truth, tolerance=7.1)
    assert s.tp == 2
    assert sorted(s.angular_errors_deg.round(6)) == pytest.approx(
        sorted([expected, 90.0])
    )
    perfect = evaluate_pairs(truth, truth, tolerance=0.5)
    assert perfect.f1 == 1.0 and perfect.median_angular_error_deg == 0.0
    empty = evaluate_pairs(truth.iloc[:0], truth, tolerance=1)
    assert empty.recall == 0.0 and np.isnan(empty.median_angular_error_deg)
    with pytest.raises(InputError, match="lacks columns"):
        evaluate_pairs(pd.DataFrame({"x": [1]}), truth, tolerance=1)


def test_pool_sums_counts_and_pools_errors():
    t = pair_table([1, 2], [[0, 0, 0], [0, 20, 0]], [1, 2], [[0, 0, 5], [0, 25, 0]])
    p = pair_table([1], [[0, 0, 0]], [1], [[0, 5, 5]])  # 45 degrees off truth 0
    a = evaluate_pairs(t, t, tolerance=6)
    b = evaluate_pairs(p, t, tolerance=6)
    both = pool([a, b])
    assert (both.tp, both.n_pred, both.n_true) == (3, 3, 4)
    assert both.precision == 1.0 and both.recall == 0.75
    assert sorted(both.angular_errors_deg.round(9)) == [0, 0, 45]
    assert both.median_angular_error_deg == 0.0
    assert both.matches["part"].tolist() == [0, 0, 1]
    assert pool([]).n_true == 0


def test_to_pair_table_from_a_simulator_like_table():
    sim = pd.DataFrame({
        "nucleus_id": [4], "golgi_id": [9], "paired": [True],
        "nucleus_z": [1.0], "nucleus_y": [2.0], "nucleus_x": [3.0],
        "golgi_z": [1.0], "golgi_y": [2.0], "golgi_x": [1.0],
    })  # fmt: skip
    t = to_pair_table(sim, voxel_size=(1, 0.5, 0.5))
    assert list(t.columns) == list(PAIR_COLUMNS)
    assert t.loc[0, ["nucleus_id", "golgi_id"]].tolist() == [4, 9]
    assert (t.loc[0, "dx"], t.loc[0, "angle_xy_deg"]) == (-1.0, 180.0)
    assert to_pair_table(sim.drop(columns=["nucleus_id"])).loc[0, "nucleus_id"] == 0


def test_find_pairs_recovers_random_simulated_pairs():
    """Balls and small Golgi at random offsets: geometry pairing finds them all."""
    rng = np.random.default_rng(1)
    shape = (16, 64, 64)
    mask = np.zeros(shape + (2,), np.uint8)
    grid = np.indices(shape)
    true_n, true_g = [], []
    for cz, cy, cx in [(8, 12, 12), (8, 12, 50), (8, 50, 12), (8, 50, 50), (8, 31, 31)]:
        ang = rng.uniform(-np.pi, np.pi)
        g = np.array([cz, cy + 7 * np.sin(ang), cx + 7 * np.cos(ang)]).round()
        d_n = ((grid[0] - cz) ** 2 + (grid[1] - cy) ** 2 + (grid[2] - cx) ** 2) <= 16
        d_g = sum((grid[k] - g[k]) ** 2 for k in range(3)) <= 4
        mask[..., 0] |= d_n & ~d_g
        mask[..., 1] |= d_g
        true_n.append((cz, cy, cx))
        true_g.append(tuple(g))
    truth = pair_table(range(1, 6), true_n, range(1, 6), true_g)
    pred = find_pairs(mask, max_distance=12)
    s = evaluate_pairs(pred, truth, tolerance=1.5)
    assert (s.tp, s.n_pred) == (5, 5)
    assert s.median_angular_error_deg < 10
