"""Tests of the calibration statistics and of the simulator against real data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from fluoseg.data import calibration as cal
from fluoseg.data.simulate import SimulationParams, simulate_crop

REAL = cal.default_folder()
needs_real = pytest.mark.skipif(
    REAL is None, reason="../shared/calibration (real measurements) is absent"
)


def test_offset_statistics_exact_small_case():
    offs = np.array([[0.0, 3.0, 4.0], [0.0, -3.0, -4.0], [5.0, 0.0, 0.0]])
    s = cal.offset_statistics(offs)
    assert s["distance_median"] == pytest.approx(5.0)
    assert s["elevation_median_deg"] == pytest.approx(0.0)
    assert cal.polarity_r(offs[:2]) == pytest.approx(0.0, abs=1e-12)
    assert cal.polarity_r(np.array([[1, 0, 2], [0, 0, 5]])) == pytest.approx(1.0)


def test_elongation_of_boxes_and_spacing():
    box = np.zeros((5, 5, 21), dtype=bool)
    box[:, :, :] = True
    # uniform box: std along an axis is proportional to its length (21 vs 5)
    assert cal.elongation(box) == pytest.approx(math.sqrt((21**2 - 1) / (5**2 - 1)))
    # 4 slices 2 apart against 8 voxels 1 apart: variances 4 * (4^2 - 1) / 12 and
    # (8^2 - 1) / 12
    cube = np.ones((4, 8, 8), dtype=bool)
    assert cal.elongation(cube, spacing=(2, 1, 1)) == pytest.approx(math.sqrt(63 / 60))


def test_nn_distance():
    pts = np.array([[0, 0, 0], [0, 0, 3], [0, 4, 0]], dtype=float)
    assert cal.nn_distance(pts).tolist() == [3.0, 3.0, 4.0]


def test_max_pair_distance_is_the_real_99th_percentile():
    assert cal.MAX_PAIR_DISTANCE == cal.REAL_PAIR_DISTANCE_P99
    assert cal.REAL_VOLUME_RATIO == pytest.approx(674.0 / 137.5)
    q = cal.REAL_PAIR_DXY_QUANTILES
    assert len(q) == 21 and list(q) == sorted(q)


@needs_real
def test_constants_match_the_real_files():
    r = cal.real_statistics(REAL)
    assert r["pairs_per_crop"] == list(cal.REAL_PAIRS_PER_CROP)
    assert r["distance_median"] == pytest.approx(
        cal.REAL_PAIR_DISTANCE_MEDIAN, abs=0.01
    )
    assert r["distance_p99"] == pytest.approx(cal.REAL_PAIR_DISTANCE_P99, abs=0.01)
    assert r["elevation_median_deg"] == pytest.approx(
        cal.REAL_PAIR_ELEVATION_MEDIAN_DEG, abs=0.01
    )
    assert r["polarity_r_per_crop"] == pytest.approx(cal.REAL_POLARITY_R, abs=1e-3)
    assert r["nucleus_volume_median"] == cal.REAL_NUCLEUS_VOLUME_MEDIAN
    assert r["golgi_volume_median"] == cal.REAL_GOLGI_VOLUME_MEDIAN
    assert r["nucleus_elongation_median"] == pytest.approx(
        cal.REAL_NUCLEUS_ELONGATION_MEDIAN, abs=0.01
    )
    assert r["golgi_elongation_median"] == pytest.approx(
        cal.REAL_GOLGI_ELONGATION_MEDIAN, abs=0.01
    )
    offs = r["offsets"]
    dxy = np.linalg.norm(offs[:, 1:], axis=1)
    qs = np.percentile(dxy, np.linspace(0, 100, 21))
    assert np.allclose(qs, cal.REAL_PAIR_DXY_QUANTILES, atol=0.01)
    assert np.allclose(
        np.percentile(offs[:, 0], np.linspace(0, 100, 21)),
        cal.REAL_PAIR_DZ_QUANTILES,
        atol=0.01,
    )


@pytest.fixture(scope="module")
def simulated():
    # small crops with the pair count of thesis-sized ones (denser than the dataset)
    shape = (40, 320, 320)
    params = SimulationParams(shape=shape, reference_volume=int(np.prod(shape)))
    crops = [simulate_crop(params, seed=s) for s in (11, 12)]
    return cal.crop_statistics(crops)


@needs_real
def test_simulator_does_not_drift_from_the_real_data(simulated):
    r = cal.real_statistics(REAL)
    s = simulated
    assert s["n_pairs"] >= 60
    dist_s = np.linalg.norm(s["offsets"], axis=1)
    dist_r = np.linalg.norm(r["offsets"], axis=1)
    assert ks_2samp(dist_s, dist_r).statistic <= 0.25
    assert abs(s["volume_ratio"] / r["volume_ratio"] - 1) <= 0.25

    def elevation(o):
        return np.degrees(np.arctan2(np.abs(o[:, 0]), np.linalg.norm(o[:, 1:], axis=1)))

    assert ks_2samp(elevation(s["offsets"]), elevation(r["offsets"])).statistic <= 0.25
    assert max(s["polarity_r_per_crop"]) <= 0.8  # no crop has all Golgi on one side
    for key in ("nucleus_elongation_median", "golgi_elongation_median"):
        assert abs(s[key] / r[key] - 1) <= 0.15, key
    assert ks_2samp(s["nucleus_elongations"], r["nucleus_elongations"]).statistic <= 0.3


def test_comparison_table_has_real_and_simulated_columns(simulated):
    t = cal.comparison_table(simulated)
    assert list(t.columns) == ["real (3D_U-Vec / 3DNGMic)", "simulated"]
    assert t.loc["nucleus / Golgi volume (medians)", "real (3D_U-Vec / 3DNGMic)"] == (
        f"{cal.REAL_VOLUME_RATIO:.2f}"
    )
