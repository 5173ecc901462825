"""Training input pipeline: foreground-aware patch sampling as a ``tf.data.Dataset``.

The training crops are large (hundreds of voxels in Y and X) and mostly background, so
a model never sees a whole crop: it sees *patches* of the profile's ``patch_shape``.

- **Random foreground-aware sampling** (``smoke`` and ``cpu`` profiles): a patch is
  centred on a random foreground voxel with probability ``profile.foreground_fraction``
  (class drawn uniformly first, so the small Golgi are not swamped by the nuclei),
  otherwise it is placed uniformly at random. Near the
  border the origin is clipped into the crop, so the centre may move off the object.
- **Regular grid** (``paper`` profile, ``foreground_fraction == 0``): the thesis cut
  every training crop into non-overlapping 64^3 patches, after reflection padding along
  Z (the crops have 55-61 slices), which gave 433 patches from six crops. We cut the
  same grid (a remainder narrower than a patch in Y or X is dropped) and visit the
  patches in a fresh random order each pass.
- **Augmentation** (flag): random flips along Z, Y and X, the same for image and mask.
- **Unpaired masks** (CycleGAN): the mask of each pair is drawn independently of the
  image, either from the annotator masks of other random patches (supervised but
  unpaired) or from synthetic masks (``unsupervised=True``).

Determinism and resume: the batch of global step ``k`` is a pure function of
``(seed, k)`` (its generator is ``numpy.random.default_rng([seed, k])``), so the
sampler's whole state is the next step number, prefetching does not disturb it, and a
resumed run sees exactly the batches an uninterrupted run would have seen.

Where patches are cut is :mod:`fluoseg.data.origins`' job; the validation split
(:mod:`fluoseg.data.validation`): with two or more training crops the last one (by
name) is held out and a fixed set of patches is drawn from it once (seeded); with a
single crop the validation patches come from that crop (documented leak, smoke data
only). On the regular grid 10 % of the grid patches (seeded) are held out instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fluoseg.coded import CodedImage
from fluoseg.data.origins import (
    Positions,
    Shape3,
    class_voxels,
    cut_window,
    grid_origins,
    sample_origins,
)
from fluoseg.errors import InputError, require_tensorflow
from fluoseg.transforms import pad_to_at_least

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf


def _flip(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The arrays flipped along the same random subset of the three spatial axes."""
    axes = tuple(int(a) for a in np.flatnonzero(rng.random(3) < 0.5))
    if not axes:
        return arrays
    return [np.flip(a, axis=axes) for a in arrays]


@dataclass
class SamplingVolume:
    """One (image, mask) pair as a sampler holds it: padded to the patch, with the
    mask's foreground voxels cached."""

    image: np.ndarray | CodedImage | None
    mask: np.ndarray
    foreground: list[np.ndarray]


def sampling_volume(
    image: np.ndarray | CodedImage | None,
    mask: np.ndarray | Positions,
    patch_shape: Sequence[int],
    balance: bool = True,
) -> SamplingVolume:
    """``image`` and ``mask`` padded to ``patch_shape`` (:func:`pad_to_at_least`), with
    the mask's :func:`class_voxels` (a :class:`Positions` stands in for its mask)."""
    if isinstance(mask, Positions):
        foreground = mask.voxels(balance)
        mask = np.broadcast_to(np.zeros((), np.uint8), mask.shape)
    else:
        mask = pad_to_at_least(np.asarray(mask, dtype=np.uint8), patch_shape)
        foreground = class_voxels(mask, balance)
    if isinstance(image, CodedImage):
        image = image.padded(patch_shape)
    elif image is not None:
        image = pad_to_at_least(np.asarray(image, dtype=np.float32), patch_shape)
    if image is not None:
        if image.shape[:3] != mask.shape[:3]:
            raise InputError(
                f"image {image.shape[:3]} and mask {mask.shape[:3]} differ in shape"
            )
    return SamplingVolume(image, mask, foreground)


class PatchSampler:
    """Draws training batches; batch ``k`` depends only on ``(seed, k)``.

    Args:
        images: pre-processed images (Z, Y, X, 2) float32 in [0, 1] (or their
            :class:`~fluoseg.coded.CodedImage`).
        masks: masks (Z, Y, X, n) uint8 {0, 1}, paired with ``images``, or their
            :class:`Positions` where the masks' patches are not wanted (unpaired).
        patch_shape: patch size (Z, Y, X).
        foreground_fraction: share of patches centred on an object (random mode).
        seed: the seed of the stream.
        augment: random flips along the three axes.
        grid: cut the thesis's regular grid instead of random patches.
        unpaired_masks: ``None`` for paired (image, mask) batches; otherwise the masks
            the mask side is drawn from independently of the image (CycleGAN). Pass
            ``masks`` again for supervised-but-unpaired training.
        grid_indices: with ``grid``, the subset of grid patches to use (train split).
        balance_classes: centre patches on a class drawn uniformly first (default);
            ``False`` picks a foreground voxel uniformly (natural class shares).
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | Positions],
        patch_shape: Sequence[int],
        foreground_fraction: float,
        seed: int,
        augment: bool = False,
        grid: bool = False,
        unpaired_masks: Sequence[np.ndarray] | None = None,
        grid_indices: np.ndarray | None = None,
        balance_classes: bool = True,
    ) -> None:
        if len(images) == 0 or len(images) != len(masks):
            raise InputError(
                f"need one mask per image and at least one pair, got {len(images)} "
                f"images and {len(masks)} masks"
            )
        self.patch_shape: Shape3 = tuple(int(p) for p in patch_shape)  # type: ignore
        self.foreground_fraction = float(foreground_fraction)
        self.seed = int(seed)
        self.augment = bool(augment)
        self.grid = bool(grid)
        self.volumes = [
            sampling_volume(i, m, self.patch_shape, balance_classes)
            for i, m in zip(images, masks, strict=True)
        ]
        self.n_classes = int(self.volumes[0].mask.shape[-1])
        self.unpaired = None
        if unpaired_masks is not None:
            if len(unpaired_masks) == 0:
                raise InputError("no masks to draw the unpaired mask side from")
            self.unpaired = [
                sampling_volume(None, m, self.patch_shape, balance_classes)
                for m in unpaired_masks
            ]
            if any(v.mask.shape[-1] != self.n_classes for v in self.unpaired):
                raise InputError(
                    f"unpaired masks must have {self.n_classes} channels like the "
                    "training masks"
                )
        self.grid_patches = np.zeros((0, 4), dtype=np.int64)
        if self.grid:
            rows = [
                np.concatenate([np.full((len(o), 1), i), o], axis=1)
                for i, v in enumerate(self.volumes)
                for o in [grid_origins(v.mask.shape, self.patch_shape)]
            ]
            self.grid_patches = np.concatenate(rows, axis=0)
            if grid_indices is not None:
                self.grid_patches = self.grid_patches[np.asarray(grid_indices)]
        sizes = np.array([v.mask[..., 0].size for v in self.volumes], dtype=float)
        self._crop_p = sizes / sizes.sum()
        if self.unpaired is not None:
            # an image's own mask only places its patches (its foreground voxels are
            # cached) and their mask side is drawn unpaired: keep a zero-stride stand-in
            for v in self.volumes:
                v.mask = np.broadcast_to(np.zeros((), np.uint8), v.mask.shape)

    def __len__(self) -> int:
        """Patches in one pass over the grid (0 in random mode: no fixed epoch)."""
        return len(self.grid_patches)

    def draw_origins(self, rng: np.random.Generator, count: int):
        """``count`` (volume index, origin) pairs drawn with ``rng`` (random mode), as
        :meth:`batch` cuts them."""
        if self.grid:
            raise AssertionError("grid batches are drawn by _grid_pairs")
        crops = rng.choice(len(self.volumes), size=count, p=self._crop_p)
        out = []
        for c in crops:
            v = self.volumes[int(c)]
            (o,) = sample_origins(
                v.mask,
                self.patch_shape,
                1,
                self.foreground_fraction,
                rng,
                foreground=v.foreground,
            )
            out.append((int(c), o))
        return out

    def _draw_pair(self, rng: np.random.Generator, count: int):
        images, masks = [], []
        for c, o in self.draw_origins(rng, count):
            v = self.volumes[c]
            images.append(cut_window(v.image, o, self.patch_shape))
            masks.append(cut_window(v.mask, o, self.patch_shape))
        return images, masks

    def _grid_pairs(self, step: int, batch_size: int):
        n = len(self.grid_patches)
        images, masks = [], []
        for i in range(step * batch_size, (step + 1) * batch_size):
            order = np.random.default_rng([self.seed, i // n, 1]).permutation(n)
            c, *o = self.grid_patches[order[i % n]]
            v = self.volumes[int(c)]
            images.append(cut_window(v.image, o, self.patch_shape))
            masks.append(cut_window(v.mask, o, self.patch_shape))
        return images, masks

    def _unpaired_masks(self, rng: np.random.Generator, count: int):
        assert self.unpaired is not None
        out = []
        for c in rng.integers(0, len(self.unpaired), size=count):
            v = self.unpaired[int(c)]
            (o,) = sample_origins(
                v.mask,
                self.patch_shape,
                1,
                self.foreground_fraction,
                rng,
                foreground=v.foreground,
            )
            out.append(cut_window(v.mask, o, self.patch_shape))
        return out

    def batch(self, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """The batch of global step ``step``: images (B, *patch, 2) float32 and masks
        (B, *patch, n) float32."""
        rng = np.random.default_rng([self.seed, int(step)])
        if self.grid:
            images, masks = self._grid_pairs(int(step), batch_size)
        else:
            images, masks = self._draw_pair(rng, batch_size)
        if self.unpaired is not None:
            masks = self._unpaired_masks(rng, batch_size)
        if self.augment:
            pairs = [_flip([i, m], rng) for i, m in zip(images, masks, strict=True)]
            images = [p[0] for p in pairs]
            masks = [p[1] for p in pairs]
            if self.unpaired is not None:  # flip the unpaired side independently
                masks = [_flip([m], rng)[0] for m in masks]
        x = np.stack(images).astype(np.float32)
        y = np.stack(masks).astype(np.float32)
        return x, y

    def batches(self, start: int, stop: int, batch_size: int) -> Iterator[Any]:
        """Batches of steps ``start`` .. ``stop - 1``."""
        for k in range(start, stop):
            yield self.batch(k, batch_size)

    def dataset(
        self, start: int, stop: int, batch_size: int, prefetch: int = 2
    ) -> tf.data.Dataset:
        """Steps ``start`` .. ``stop - 1`` as a prefetched ``tf.data.Dataset``."""
        require_tensorflow()
        import tensorflow as tf

        spec = (
            tf.TensorSpec((batch_size, *self.patch_shape, 2), tf.float32),
            tf.TensorSpec((batch_size, *self.patch_shape, self.n_classes), tf.float32),
        )
        ds = tf.data.Dataset.from_generator(
            lambda: self.batches(start, stop, batch_size), output_signature=spec
        )
        return ds.prefetch(prefetch)
