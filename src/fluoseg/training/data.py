"""The data a training reads: the training crops as model inputs, the patch sampler,
the fixed validation patches, and the mask statistics a run's configuration records.

Crops are read one at a time and only the arrays a model needs are kept; an unpaired
model (``ModelSpec.unpaired``: the CycleGAN) draws its mask side independently of its
images, from the synthetic masks when unsupervised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fluoseg.coded import encode
from fluoseg.config import Profile
from fluoseg.data.dataset import ensure_dataset
from fluoseg.data.loaders import iter_split, load_masks, load_synthetic_masks
from fluoseg.data.origins import bright_proposals, mask_positions
from fluoseg.data.pipeline import PatchSampler
from fluoseg.data.validation import (
    fixed_mask_patches,
    fixed_patches,
    grid_split,
    split_crops,
)
from fluoseg.errors import InputError
from fluoseg.models.registry import spec
from fluoseg.training.plan import TrainConfig
from fluoseg.transforms import preprocess_image


def unpaired_side(
    cfg: dict, synthetic: list[np.ndarray] | None, own: list[np.ndarray]
) -> list[np.ndarray] | None:
    """Masks an unpaired model's (the CycleGAN's) mask side is drawn from
    (``None``: paired models)."""
    if not spec(cfg["model"]).unpaired:
        return None
    return synthetic if cfg["unsupervised"] else own


def load_data(
    cfg: dict, profile: Profile, data_dir: Path, tc: TrainConfig, seed: int
) -> tuple[PatchSampler, tuple[np.ndarray, np.ndarray], int]:
    """The training sampler, the fixed validation arrays and the steps per epoch of
    a run."""
    n = int(cfg["n_classes"])
    names, images, masks = training_arrays(cfg, profile, data_dir)
    patch = tuple(profile.patch_shape)
    unpaired = None
    paired = not spec(cfg["model"]).unpaired
    if not paired:
        if cfg["unsupervised"]:
            unpaired = [
                np.asarray(getattr(m, "mask", m), dtype=np.uint8)
                for m in load_synthetic_masks(
                    profile=profile, data_dir=data_dir, n_classes=n
                )
            ]
        else:
            unpaired = masks
    batch = tc.batch_size
    if tc.sampling == "grid":
        full = PatchSampler(images, masks, patch, 0.0, seed, grid=True)
        train_idx, val_idx = grid_split(len(full), seed)
        sampler = PatchSampler(
            images,
            masks,
            patch,
            0.0,
            seed,
            augment=tc.augment,
            grid=True,
            unpaired_masks=unpaired_side(cfg, unpaired, masks),
            grid_indices=train_idx,
        )
        val_sampler = PatchSampler(
            images, masks, patch, 0.0, seed, grid=True, grid_indices=val_idx
        )
        vx, vy = val_sampler._grid_pairs(0, len(val_sampler))  # each patch once
        val = (np.stack(vx).astype(np.float32), np.stack(vy).astype(np.float32))
        steps = tc.steps_per_epoch or max(1, len(sampler) // batch)
    else:
        train_i, val_i = split_crops(names)
        sampler = PatchSampler(
            [images[i] for i in train_i],
            [masks[i] for i in train_i],
            patch,
            profile.foreground_fraction,
            seed,
            augment=tc.augment,
            unpaired_masks=unpaired_side(cfg, unpaired, [masks[i] for i in train_i]),
            balance_classes=tc.balance_classes,
        )
        n_val = int(tc.validation_steps or 1) * batch
        val = fixed_patches(
            [images[i] for i in val_i],
            [masks[i] for i in val_i],
            patch,
            n_val,
            profile.foreground_fraction,
            seed,
            balance_classes=tc.balance_classes,
        )
        steps = int(tc.steps_per_epoch or 1)
    if not paired:
        held_out = masks if tc.sampling == "grid" else [masks[i] for i in val_i]
        source = unpaired if cfg["unsupervised"] and unpaired else held_out
        val = (val[0], unpaired_validation(source, len(val[1]), profile, seed))
    return sampler, val, steps


def training_arrays(
    cfg: dict, profile: Profile, data_dir: Path
) -> tuple[list[str], list[Any], list[Any]]:
    """The training crops' names, pre-processed float32 images (as
    :class:`~fluoseg.coded.CodedImage` where they take few values) and uint8 masks
    (for the unsupervised CycleGAN the :class:`~fluoseg.data.origins.Positions` of its
    bright-blob proposals: they only place the image patches).

    Crops are read one at a time and only these arrays are kept, so the raw images
    (and, unsupervised, the unused annotations and full proposal masks) are never all
    in memory at once.
    """
    n = int(cfg["n_classes"])
    clip = bool(cfg["model_config"].get("stretch_clip", True))
    proposals = spec(cfg["model"]).unsupervised and cfg["unsupervised"]
    names: list[str] = []
    images: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    crops = iter_split(
        "train", profile=profile, data_dir=data_dir, truth=cfg["truth"], n_classes=n
    )
    for crop in crops:
        names.append(crop.name)
        image = preprocess_image(crop.image, cfg["raw"], clip)
        # no annotation at all when unsupervised: patches centre on bright blobs
        mask = None if proposals else np.asarray(crop.mask, dtype=np.uint8)
        del crop  # the raw image goes before the next crop is read
        if mask is None:  # one crop's proposal mask at a time
            mask = mask_positions(proposal_masks(image, n), profile.patch_shape)
        masks.append(mask)
        images.append(encode(image))  # the same float32 values, in 1-2 bytes each
        del image
    if not images:
        raise InputError(f"{data_dir}/train: no training crops found")
    return names, images, masks


def proposal_masks(image: np.ndarray, n_classes: int) -> np.ndarray:
    """``bright_proposals`` of ``image`` with ``n_classes`` channels (an empty pair
    channel: nothing is centred on it)."""
    prop = bright_proposals(image)
    if n_classes > prop.shape[-1]:
        extra = np.zeros(prop.shape[:3] + (n_classes - prop.shape[-1],), np.uint8)
        prop = np.concatenate([prop, extra], axis=-1)
    return prop[..., :n_classes]


def unpaired_validation(
    source: list[np.ndarray], n: int, profile: Profile, seed: int
) -> np.ndarray:
    """The CycleGAN's ``n`` validation masks, drawn from ``source`` independently of
    the validation images: its unpaired domain (the synthetic masks when
    unsupervised, so the checkpoint rule uses no annotation), or, supervised, the
    held-out masks."""
    return fixed_mask_patches(
        source, profile.patch_shape, n, profile.foreground_fraction, seed
    )


def mask_share(
    data_dir: Path, profile: Profile, n_classes: int, unsupervised: bool, truth: str
) -> list[float]:
    """Per-class foreground share of the masks a CycleGAN learns from (synthetic
    when unsupervised, else the training crops' masks), for ``threshold_by_share``."""
    if not Path(data_dir).is_dir():
        ensure_dataset(profile)
    kw = {"profile": profile, "data_dir": data_dir, "n_classes": n_classes}
    if unsupervised:
        masks = load_synthetic_masks(**kw)
    else:  # the masks only: the images are ~1 GB as float32 at the cpu profile
        masks = list(load_masks("train", truth=truth, **kw).values())
    total = sum(m[..., 0].size for m in masks)
    return [
        round(max(sum(float(m[..., c].sum()) for m in masks) / total, 1e-6), 8)
        for c in range(n_classes)
    ]
