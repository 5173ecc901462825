"""A classical baseline: smoothing and an automatic threshold per channel.

What deep learning has to beat. Each channel of the percentile-stretched image is
smoothed by a Gaussian (``sigma`` voxels) and thresholded by one of scikit-image's
automatic histogram thresholds (``method``): no training, no annotation. The
method is chosen on a training-session crop (``choose_method``), never on the test
crops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fluoseg.data.validation import validation_crop
from fluoseg.errors import InputError
from fluoseg.evaluation.evaluate import score_test_crops
from fluoseg.evaluation.metrics import evaluate
from fluoseg.hardware import describe
from fluoseg.report.store import frame_to_json, get_or_compute, load_result
from fluoseg.training.isolate import run_in_subprocess, should_isolate
from fluoseg.transforms import normalize_percentile

# Histogram thresholds of scikit-image. Li's iterative method is left out: on raw
# float intensities its tolerance is tiny and it ran for over 10 minutes on one crop.
METHODS: tuple[str, ...] = ("otsu", "triangle", "yen")
# Thresholds are computed on at most this many voxels (an even stride through the
# volume), so a large crop costs no more than a 2-million-voxel one.
THRESHOLD_SAMPLE: int = 2**21


def _threshold_function(method: str) -> Callable[[np.ndarray], float]:
    from skimage import filters

    if method not in METHODS:
        raise InputError(
            f"threshold method {method!r}: expected one of {', '.join(METHODS)}"
        )
    return getattr(filters, f"threshold_{method}")


def classical_segment(
    volume: np.ndarray,
    method: str = "triangle",
    sigma: float = 1.0,
    stretch: bool = True,
) -> np.ndarray:
    """Mask (Z, Y, X, C) uint8 {0, 1} of an image (Z, Y, X, C): per channel, the
    Gaussian-smoothed (``sigma`` voxels) image above its automatic ``method``
    threshold (computed on the whole volume, or an even sample of
    ``THRESHOLD_SAMPLE`` voxels of a larger one). ``stretch`` applies the package's
    percentile stretch first (``fluoseg.transforms.normalize_percentile``)."""
    from scipy import ndimage

    x = np.asarray(volume, dtype=np.float32)
    if x.ndim != 4:
        raise InputError(f"image of shape {x.shape}: expected (Z, Y, X, C)")
    if sigma < 0:
        raise InputError(f"sigma must be >= 0, got {sigma}")
    threshold = _threshold_function(method)
    if stretch:
        x = normalize_percentile(x, axis=(0, 1, 2))
    out = np.zeros(x.shape, dtype=np.uint8)
    for c in range(x.shape[-1]):
        smooth = ndimage.gaussian_filter(x[..., c], sigma) if sigma > 0 else x[..., c]
        sample = smooth.ravel()[:: max(1, smooth.size // THRESHOLD_SAMPLE)]
        out[..., c] = smooth > threshold(sample)
    return out


def choose_method(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    methods: Sequence[str] = METHODS,
    sigma: float = 1.0,
    stretches: Sequence[bool] = (True, False),
) -> tuple[tuple[str, bool], dict[str, float]]:
    """The ``(method, stretch)`` among ``methods`` x ``stretches`` with the best mean
    Dice (over channels and crops) on ``images`` and their ``masks`` (training or
    validation crops, never the test crops), and every candidate's mean Dice, keyed
    ``"<method>"`` (stretched) or ``"<method> (raw)"``.

    The percentile stretch saturates every voxel above the 98th percentile, bright
    background included, which can leave a histogram threshold nothing to separate:
    raw intensities are a candidate too."""
    if len(images) == 0 or len(images) != len(masks):
        raise InputError("choose_method needs one mask per image and at least one")
    scores: dict[str, float] = {}
    keys: dict[str, tuple[str, bool]] = {}
    for stretch in stretches:
        for m in methods:
            dice = []
            for image, mask in zip(images, masks, strict=True):
                n = min(image.shape[-1], mask.shape[-1])
                pred = classical_segment(image, m, sigma, stretch)[..., :n]
                dice.append(evaluate(pred, np.asarray(mask)[..., :n])["dice"].mean())
            key = m if stretch else f"{m} (raw)"
            scores[key], keys[key] = float(np.mean(dice)), (m, bool(stretch))
    return keys[max(scores, key=scores.__getitem__)], scores


BASELINE_RESULT = "baseline-2class"


def baseline_experiment(
    profile: Any = None,
    data_dir: str | None = None,
    methods: Sequence[str] = METHODS,
    sigma: float = 1.0,
) -> Any:
    """The classical baseline's saved result (``fluoseg.report.store.Result``), computed
    if missing: the threshold method and the stretch are chosen on the validation
    crop (the last training crop by name, the crop the trainer holds out) against
    its annotator masks, then every test crop is segmented and scored as the models
    are.

    Inside a Jupyter kernel (as ``fluoseg.training.trainer.train``'s ``isolate``) a
    missing result
    is computed in a child process: it reads every training crop (over 1 GiB at cpu)
    and imports TensorFlow to describe the hardware, which the kernel then keeps.
    """
    if load_result(BASELINE_RESULT, profile) is None and should_isolate(None):
        kwargs = {"profile": profile, "data_dir": data_dir, "methods": tuple(methods)}
        kwargs["sigma"] = sigma
        run_in_subprocess("fluoseg.baseline", "baseline_experiment", kwargs)

    def compute() -> dict[str, Any]:
        val = validation_crop(profile=profile, data_dir=data_dir, n_classes=2)
        (best, stretch), scores = choose_method(
            [val.image], [val.mask], methods, sigma
        )
        avg, per_crop, avg_truth, seconds, _ = score_test_crops(
            lambda image: classical_segment(image, best, sigma, stretch),
            2,
            profile,
            data_dir,
        )
        on = "stretched" if stretch else "raw"
        label = f"Baseline: Gaussian (sigma {sigma:g}) + {best} threshold, {on}"
        return {
            "metrics_df": avg,
            "timings": {
                "train_seconds": 0.0,
                "test_seconds": seconds,
                "test_seconds_per_crop": float(np.mean(list(seconds.values()))),
            },
            "hardware": describe(),
            "extra": {
                "label": label,
                "method": best,
                "stretch": stretch,
                "sigma": sigma,
                "chosen_on": val.name,
                "validation_dice": scores,
                "per_crop": frame_to_json(per_crop),
                "average_truth": frame_to_json(avg_truth),
            },
        }

    return get_or_compute(BASELINE_RESULT, compute, profile)
