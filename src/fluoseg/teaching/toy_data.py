"""Two-dimensional toy data sets: two moons, a 1D mixture, blob images and masks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fluoseg.errors import InputError


def two_moons(
    n: int, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles: points (n, 2) float32 and labels (n,) in {0, 1}."""
    if n < 2:
        raise InputError(f"two_moons: expected n >= 2, got {n}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(labels == 0, np.cos(t), 1.0 - np.cos(t))
    y = np.where(labels == 0, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x, y], axis=1) + rng.normal(0.0, noise, (n, 2))
    order = rng.permutation(n)
    return pts[order].astype("float32"), labels[order].astype("int64")


def mixture_1d(
    n: int,
    seed: int = 0,
    means: Sequence[float] = (-2.0, 2.0),
    std: float = 0.4,
) -> np.ndarray:
    """``n`` samples (n, 1) float32 from an equal-weight mixture of 1D Gaussians."""
    rng = np.random.default_rng(seed)
    centres = np.asarray(means, dtype=np.float64)[rng.integers(0, len(means), n)]
    return (centres + rng.normal(0.0, std, n)).astype("float32")[:, None]


def blob_images(
    n: int, size: int = 16, seed: int = 0, noise: float = 0.15, max_blobs: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """2D toy "nuclei": blurred bright discs plus noise, and their binary masks.

    Returns images (n, size, size, 1) float32 in [0, 1] and masks of the same shape in
    {0, 1}. Each image holds 1 to ``max_blobs`` discs of radius 2 to size/5.
    """
    from scipy.ndimage import gaussian_filter

    if size < 8:
        raise InputError(f"blob_images: expected size >= 8, got {size}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.empty((n, size, size, 1), dtype="float32")
    masks = np.zeros((n, size, size, 1), dtype="float32")
    for i in range(n):
        m = np.zeros((size, size), dtype=bool)
        for _ in range(int(rng.integers(1, max_blobs + 1))):
            r = rng.uniform(2.0, max(2.5, size / 5))
            cy, cx = rng.uniform(r, size - r, 2)
            m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        img = gaussian_filter(m.astype(float) * rng.uniform(0.6, 1.0), 1.0)
        img = img + rng.normal(0.0, noise, img.shape)
        images[i, ..., 0] = np.clip(img, 0.0, 1.0)
        masks[i, ..., 0] = m
    return images, masks
