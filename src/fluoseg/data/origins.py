"""Where training patches are cut: foreground voxels per class, random
foreground-aware origins (:func:`sample_origins`, what training runs), the regular
grid, the unsupervised CycleGAN's bright-blob proposals, and cutting a patch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from fluoseg.errors import InputError
from fluoseg.transforms import pad_to_at_least

Shape3 = tuple[int, int, int]


def bright_proposals(
    image: np.ndarray, sigma: float = 1.0, quantile: float = 99.7
) -> np.ndarray:
    """Annotation-free patch centres: per channel, the voxels of the Gaussian-smoothed
    ``image`` (Z, Y, X, C) above its ``quantile`` percentile, as a (Z, Y, X, C) uint8
    mask. The unsupervised CycleGAN centres its image patches on these instead of on
    annotated objects."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 4:
        raise InputError(f"image must be (Z, Y, X, C), got shape {img.shape}")
    out = np.zeros(img.shape, dtype=np.uint8)
    for c in range(img.shape[-1]):
        smooth = ndimage.gaussian_filter(img[..., c], sigma)
        out[..., c] = smooth > np.percentile(smooth, quantile)
    return out


def class_voxels(mask: np.ndarray, balance: bool = True) -> list[np.ndarray]:
    """Flat indices of the foreground voxels of each class present in ``mask``.

    With ``balance=False`` one list holds every foreground voxel (any class), so a
    centred patch picks a voxel uniformly and the classes keep their natural share.
    """
    dtype = np.int32 if mask[..., 0].size < 2**31 else np.int64
    if not balance:
        out = [np.flatnonzero(mask.any(axis=-1)).astype(dtype)]
    else:
        out = [
            np.flatnonzero(mask[..., c]).astype(dtype) for c in range(mask.shape[-1])
        ]
    return [v for v in out if v.size]


def sample_origins(
    mask: np.ndarray,
    patch_shape: Sequence[int],
    n: int,
    foreground_fraction: float,
    rng: np.random.Generator,
    foreground: list[np.ndarray] | None = None,
) -> np.ndarray:
    """``n`` patch origins (n, 3) in a volume whose spatial shape is ``mask.shape[:3]``.

    Each patch independently, with probability ``foreground_fraction``, is centred on a
    foreground voxel: a class is drawn uniformly among the classes present (so the
    small Golgi class is centred as often as the large nuclei), then one of its voxels;
    otherwise the origin is uniform over all valid origins. Origins are clipped so the
    patch lies inside the volume (pad it first:
    :func:`fluoseg.transforms.pad_to_at_least`). ``foreground`` passes
    ``class_voxels(mask)`` precomputed (the sampler caches it: the crops are large).
    The draw is a Bernoulli per patch, so even single draws keep the profile's
    fraction on average. The same ``rng`` state gives the same origins.
    """
    shape = np.asarray(mask.shape[:3])
    patch = np.asarray(patch_shape, dtype=np.int64)
    if np.any(patch > shape):
        raise InputError(
            f"patch {tuple(patch)} is larger than the volume {tuple(shape)}: pad first"
        )
    if not 0.0 <= foreground_fraction <= 1.0:
        raise InputError(
            f"foreground_fraction must be in [0, 1], got {foreground_fraction}"
        )
    high = shape - patch + 1
    origins = rng.integers(0, high, size=(n, 3))
    use_fg = np.flatnonzero(rng.random(n) < foreground_fraction)
    if use_fg.size:
        classes = class_voxels(mask) if foreground is None else foreground
        if classes:
            picks = rng.integers(0, len(classes), use_fg.size)
            for row, c in zip(use_fg, picks, strict=True):
                voxels = classes[int(c)]
                flat = voxels[rng.integers(0, voxels.size)]
                centre = np.array(np.unravel_index(flat, tuple(shape)))
                origins[row] = np.clip(centre - patch // 2, 0, high - 1)
    return origins.astype(np.int64)


def grid_origins(shape: Sequence[int], patch_shape: Sequence[int]) -> np.ndarray:
    """Origins (n, 3) of the non-overlapping regular grid of ``patch_shape`` patches.

    A remainder narrower than a patch is dropped (the volume must already be at least
    one patch large along each axis).
    """
    counts = [int(s) // int(p) for s, p in zip(shape[:3], patch_shape, strict=True)]
    if min(counts) < 1:
        raise InputError(f"volume {tuple(shape[:3])} is smaller than a patch")
    axes = [np.arange(c) * int(p) for c, p in zip(counts, patch_shape, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    return grid.reshape(-1, 3).astype(np.int64)


def cut_window(
    volume: np.ndarray, origin: Sequence[int], patch_shape: Sequence[int]
) -> np.ndarray:
    """The window of ``patch_shape`` at ``origin`` (a view, no padding)."""
    z, y, x = (int(o) for o in origin)
    dz, dy, dx = (int(p) for p in patch_shape)
    return volume[z : z + dz, y : y + dy, x : x + dx]


@dataclass(frozen=True, eq=False)
class Positions:
    """Where a mask's foreground lies, without the mask (:func:`mask_positions`): a
    stand-in for a mask whose patches are never used, e.g. the bright-blob proposals
    that only place an unsupervised CycleGAN's image patches. A sampler cuts zeros
    where such a mask would be; its origins are those the mask gives."""

    shape: tuple[int, ...]  # of the mask padded to the patch, channels last
    foreground: list[np.ndarray]  # class_voxels(padded mask, balance=True)

    def voxels(self, balance: bool) -> list[np.ndarray]:
        """``class_voxels`` of the padded mask (``balance=False``: their sorted union,
        which is ``flatnonzero(mask.any(-1))``)."""
        if balance or not self.foreground:
            return self.foreground
        return [np.unique(np.concatenate(self.foreground))]


def mask_positions(mask: np.ndarray, patch_shape: Sequence[int]) -> Positions:
    """:class:`Positions` of ``mask`` (Z, Y, X, n) as a sampler pads it to the patch."""
    mask = pad_to_at_least(np.asarray(mask, dtype=np.uint8), patch_shape)
    return Positions(tuple(mask.shape), class_voxels(mask, True))


def cut_patch(
    volume: np.ndarray, origin: Sequence[int], patch_shape: Sequence[int]
) -> np.ndarray:
    """The patch at ``origin`` (from :func:`fluoseg.data.validation.fixed_origins`) of
    ``volume`` reflect-padded to the patch, as float32: what
    :func:`fluoseg.data.validation.fixed_patches` cuts there."""
    shape = tuple(int(p) for p in patch_shape)
    padded = pad_to_at_least(np.asarray(volume, dtype=np.float32), shape)
    return np.array(cut_window(padded, origin, shape), dtype=np.float32)
