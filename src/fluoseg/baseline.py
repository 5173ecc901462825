"""A classical baseline: smoothing and an automatic threshold per channel.

What deep learning has to beat. Each channel of the percentile-stretched image is
smoothed by a Gaussian (``sigma`` voxels) and thresholded by one of scikit-image's
automatic histogram thresholds (``method``): no training, no annotation. The
method is chosen on a training-session crop (``choose_method``), never on the test
crops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fluoseg.errors import InputError

METHODS: tuple[str, ...] = ("otsu", "triangle", "li", "yen")


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
    threshold (computed on the whole volume). ``stretch`` applies the package's
    percentile stretch first (``fluoseg.preprocess.normalize_percentile``)."""
    from scipy import ndimage

    from fluoseg.preprocess import normalize_percentile

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
        out[..., c] = smooth > threshold(smooth)
    return out


def choose_method(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    methods: Sequence[str] = METHODS,
    sigma: float = 1.0,
) -> tuple[str, dict[str, float]]:
    """The method of ``methods`` with the best mean Dice (over channels and crops)
    on ``images`` and their ``masks`` (training or validation crops, never the test
    crops), and every method's mean Dice."""
    from fluoseg.metrics import evaluate

    if len(images) == 0 or len(images) != len(masks):
        raise InputError("choose_method needs one mask per image and at least one")
    scores: dict[str, float] = {}
    for m in methods:
        dice = []
        for image, mask in zip(images, masks, strict=True):
            n = min(image.shape[-1], mask.shape[-1])
            pred = classical_segment(image, m, sigma)[..., :n]
            dice.append(evaluate(pred, np.asarray(mask)[..., :n])["dice"].mean())
        scores[m] = float(np.mean(dice))
    return max(scores, key=scores.__getitem__), scores
