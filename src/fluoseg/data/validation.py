"""Validation data of a training run: which crops (or grid patches) are held out,
and the fixed, seeded validation patches cut from them."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from fluoseg.config import Profile
from fluoseg.data.crops import Crop
from fluoseg.data.loaders import iter_split, load_masks
from fluoseg.data.origins import Positions, cut_window, sample_origins
from fluoseg.data.pipeline import PatchSampler, sampling_volume
from fluoseg.errors import InputError

VALIDATION_STREAM = 2**31 - 1
GRID_VALIDATION_FRACTION = 0.1


def fixed_patches(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray | Positions],
    patch_shape: Sequence[int],
    n: int,
    foreground_fraction: float,
    seed: int,
    balance_classes: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded validation patches (images, masks as float32), not augmented."""
    sampler = PatchSampler(
        images,
        masks,
        patch_shape,
        foreground_fraction,
        seed,
        balance_classes=balance_classes,
    )
    x, y = [], []
    for c, o in _validation_origins(sampler, seed, n):
        v = sampler.volumes[c]
        x.append(cut_window(v.image, o, sampler.patch_shape))
        y.append(cut_window(v.mask, o, sampler.patch_shape))
    return np.stack(x).astype(np.float32), np.stack(y).astype(np.float32)


def fixed_origins(
    masks: Sequence[np.ndarray],
    patch_shape: Sequence[int],
    n: int,
    foreground_fraction: float,
    seed: int,
    balance_classes: bool = True,
) -> list[tuple[int, np.ndarray]]:
    """Where :func:`fixed_patches` cuts its ``n`` patches from images paired with
    ``masks``: (index of the mask, origin (z, y, x) in the mask reflect-padded to the
    patch by :func:`fluoseg.transforms.pad_to_at_least`) per patch, without the
    images, so that other volumes of the same shapes can be cut at the same places."""
    if len(masks) == 0:
        raise InputError("no masks to draw validation patches from")
    sampler = PatchSampler(
        [None] * len(masks),  # type: ignore[list-item]  (origins read masks only)
        masks,
        patch_shape,
        foreground_fraction,
        seed,
        balance_classes=balance_classes,
    )
    return _validation_origins(sampler, seed, n)


def _validation_origins(
    sampler: PatchSampler, seed: int, n: int
) -> list[tuple[int, np.ndarray]]:
    """The first ``n`` (volume index, origin) pairs of the validation stream of
    ``seed`` (one stream for :func:`fixed_patches` and :func:`fixed_origins`)."""
    rng = np.random.default_rng([int(seed), VALIDATION_STREAM])
    return sampler.draw_origins(rng, int(n))


def fixed_mask_patches(
    masks: Sequence[np.ndarray],
    patch_shape: Sequence[int],
    n: int,
    foreground_fraction: float,
    seed: int,
    balance_classes: bool = True,
) -> np.ndarray:
    """``n`` seeded mask patches (n, *patch, classes) float32 drawn from ``masks``
    alone, as ``fixed_patches`` draws its pairs (the CycleGAN's validation masks from
    the unpaired domain)."""
    if len(masks) == 0:
        raise InputError("no masks to draw validation patches from")
    shape = tuple(int(p) for p in patch_shape)
    vols = [sampling_volume(None, m, shape, balance_classes) for m in masks]
    sizes = np.array([v.mask[..., 0].size for v in vols], dtype=float)
    rng = np.random.default_rng([int(seed), VALIDATION_STREAM, 1])
    out = []
    for c in rng.choice(len(vols), size=int(n), p=sizes / sizes.sum()):
        v = vols[int(c)]
        (o,) = sample_origins(
            v.mask, shape, 1, foreground_fraction, rng, foreground=v.foreground
        )
        out.append(cut_window(v.mask, o, shape))
    return np.stack(out).astype(np.float32)


def split_crops(names: Sequence[str]) -> tuple[list[int], list[int]]:
    """Indices of (training, validation) crops: the last crop by name is held out
    when there are at least two; a single crop serves both."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    if len(order) < 2:
        return order, order
    return order[:-1], order[-1:]


def validation_crop(
    *,
    profile: Profile | str | None = None,
    data_dir: str | os.PathLike | None = None,
    truth: str = "annotator",
    n_classes: int = 2,
) -> Crop:
    """The training crop the trainer holds out (:func:`split_crops`), read alone: only
    the masks of the other training crops are read, to learn their names."""
    kw = {"profile": profile, "data_dir": data_dir, "n_classes": n_classes}
    names = list(load_masks("train", truth=truth, **kw))
    _, (val_i,) = split_crops(names)
    return next(iter_split("train", truth=truth, names=[names[val_i]], **kw))


def grid_split(n_patches: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (training, validation) grid patches: 10 % held out, seeded."""
    order = np.random.default_rng([int(seed), VALIDATION_STREAM]).permutation(n_patches)
    if n_patches < 2:
        return order, order
    n_val = max(1, round(GRID_VALIDATION_FRACTION * n_patches))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
