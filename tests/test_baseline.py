"""The classical baseline: smoothing + an automatic threshold per channel."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.baseline import METHODS, choose_method, classical_segment
from fluoseg.errors import InputError


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy 2-channel volume with one bright ball per channel and its mask."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:24, :32, :32]
    mask = np.zeros((24, 32, 32, 2), np.uint8)
    mask[..., 0] = (z - 12) ** 2 + (y - 10) ** 2 + (x - 10) ** 2 < 25
    mask[..., 1] = (z - 12) ** 2 + (y - 22) ** 2 + (x - 22) ** 2 < 9
    image = 0.1 + 0.8 * mask + rng.normal(0, 0.05, mask.shape)
    return image.astype(np.float32), mask


@pytest.mark.parametrize("method", METHODS)
def test_classical_segment_is_stretch_smooth_threshold(method):
    from scipy import ndimage
    from skimage import filters

    from fluoseg.transforms import normalize_percentile

    image, mask = _blobs()
    pred = classical_segment(image, method, sigma=1.5)
    assert pred.shape == mask.shape and pred.dtype == np.uint8
    x = normalize_percentile(image, axis=(0, 1, 2))
    for c in range(2):
        smooth = ndimage.gaussian_filter(x[..., c], 1.5)
        expected = smooth > getattr(filters, f"threshold_{method}")(smooth)
        np.testing.assert_array_equal(pred[..., c], expected)


def test_thresholds_of_large_volumes_come_from_an_even_sample(monkeypatch):
    import fluoseg.baseline as baseline

    image, _ = _blobs()
    full = classical_segment(image, "yen")
    monkeypatch.setattr(baseline, "THRESHOLD_SAMPLE", 24 * 32 * 32 // 4)
    seen = []
    real = baseline._threshold_function("yen")

    def recording(method):
        return lambda v: seen.append(v.size) or real(v)

    monkeypatch.setattr(baseline, "_threshold_function", recording)
    sampled = classical_segment(image, "yen")
    assert seen == [24 * 32 * 32 // 4] * 2
    assert np.mean(sampled != full) < 0.01  # nearly the same mask


def test_otsu_finds_a_large_ball_but_not_a_tiny_one():
    # Otsu splits the background when the foreground is a tiny share of the voxels
    # (here 0.5 %): the reason the baseline's method is chosen per dataset
    image, mask = _blobs()
    pred = classical_segment(image, "otsu")

    def dice(c: int) -> float:
        inter = np.sum(pred[..., c] & mask[..., c])
        return 2 * inter / (pred[..., c].sum() + mask[..., c].sum())

    assert dice(0) > 0.95  # 2 % of the voxels
    assert dice(1) < 0.1
    assert classical_segment(image, "otsu", stretch=False)[..., 0].sum() > 0


def test_choose_method_returns_the_best_scoring_method():
    image, mask = _blobs(1)
    # a dim ramp under channel 0 makes some methods flood part of the background
    image[..., 0] += np.linspace(0, 0.5, 32)[None, None, :]
    (best, stretch), scores = choose_method([image], [mask])
    assert set(scores) == set(METHODS) | {f"{m} (raw)" for m in METHODS}
    assert scores[best if stretch else f"{best} (raw)"] == max(scores.values())
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_bad_inputs_are_named():
    image, _ = _blobs()
    with pytest.raises(InputError, match="threshold method"):
        classical_segment(image, "magic")
    with pytest.raises(InputError, match=r"\(Z, Y, X, C\)"):
        classical_segment(image[..., 0])
    with pytest.raises(InputError, match="sigma"):
        classical_segment(image, sigma=-1)


def test_baseline_experiment_chooses_on_validation_and_scores_test(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("FLUOSEG_RUNS", str(tmp_path))
    from fluoseg.baseline import BASELINE_RESULT, baseline_experiment
    from fluoseg.report.tables import with_thesis

    r = baseline_experiment("smoke", methods=("otsu", "triangle"))
    assert r.name == BASELINE_RESULT and r.profile == "smoke"
    assert r.extra["method"] in ("otsu", "triangle")
    assert set(r.extra["validation_dice"]) == {
        "otsu", "triangle", "otsu (raw)", "triangle (raw)"
    }  # fmt: skip
    assert isinstance(r.extra["stretch"], bool)
    assert r.extra["chosen_on"] not in r.timings["test_seconds"]  # never a test crop
    assert list(r.metrics.index) == ["nuclei", "golgi"]
    assert r.extra["label"].startswith("Baseline")
    table = with_thesis([r], "smoke")
    assert table.index[0].endswith(r.extra["label"])
    again = baseline_experiment("smoke", methods=("yen",))  # saved: not recomputed
    assert again.extra["method"] == r.extra["method"]


@pytest.mark.slow
def test_baseline_experiment_in_a_kernel_computes_in_a_child(monkeypatch, tmp_path):
    import fluoseg.data.loaders as D
    from fluoseg.baseline import baseline_experiment

    monkeypatch.setenv("FLUOSEG_RUNS", str(tmp_path))
    monkeypatch.setenv("FLUOSEG_TRAIN_SUBPROCESS", "1")  # as inside a Jupyter kernel

    def not_here(*a, **k):
        raise AssertionError("crops read in this process")

    monkeypatch.setattr(D, "load_split", not_here)
    r = baseline_experiment("smoke", methods=("otsu",))
    assert r.extra["method"] == "otsu"
    assert (tmp_path / "smoke" / "results" / "baseline-2class.json").is_file()
