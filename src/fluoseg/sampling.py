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

Validation split: with two or more training crops the last one (by name) is held out
and a fixed set of patches is drawn from it once (seeded); with a single crop the
validation patches come from that crop (documented leak, smoke data only). On the
regular grid 10 % of the grid patches (seeded) are held out instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fluoseg.coded import CodedImage
from fluoseg.errors import InputError, require_tensorflow

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

Shape3 = tuple[int, int, int]
VALIDATION_STREAM = 2**31 - 1
GRID_VALIDATION_FRACTION = 0.1


def pad_to_at_least(volume: np.ndarray, patch_shape: Sequence[int]) -> np.ndarray:
    """Reflect-pad ``volume`` (Z, Y, X, C) at the end of each axis to ``patch_shape``.

    Axes already as large as the patch are left alone. Reflection repeats when the
    volume is shorter than the padding needs (``numpy.pad`` in ``symmetric`` mode).
    """
    pads = [
        (0, max(0, int(p) - s))
        for s, p in zip(volume.shape[:3], patch_shape, strict=True)
    ]
    if not any(after for _, after in pads):
        return volume
    pads.append((0, 0))
    mode = (
        "reflect"
        if all(a < s for (_, a), s in zip(pads, volume.shape, strict=True))
        else ("symmetric")
    )
    return np.pad(volume, pads, mode=mode)


def preprocess_image(image: np.ndarray, raw: bool, clip: bool = True) -> np.ndarray:
    """The image as a model sees it: percentile-stretched to [0, 1] unless ``raw``
    (``clip=False``: the stretch is clipped only below 0, see
    ``fluoseg.preprocess.normalize_percentile``)."""
    if raw:
        return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    from fluoseg.preprocess import normalize_percentile

    return np.asarray(normalize_percentile(image, clip=clip), dtype=np.float32)


def bright_proposals(
    image: np.ndarray, sigma: float = 1.0, quantile: float = 99.7
) -> np.ndarray:
    """Annotation-free patch centres: per channel, the voxels of the Gaussian-smoothed
    ``image`` (Z, Y, X, C) above its ``quantile`` percentile, as a (Z, Y, X, C) uint8
    mask. The unsupervised CycleGAN centres its image patches on these instead of on
    annotated objects."""
    from scipy import ndimage

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
    small Golgi class is centred as often as the nuclei, as in
    ``fluoseg.patches.sample_origins``), then one of its voxels; otherwise the origin is
    uniform over all valid origins. Origins are clipped so the patch lies inside the
    volume. ``foreground`` passes ``class_voxels(mask)`` precomputed (the sampler caches
    it: the crops are large). Unlike ``fluoseg.patches.sample_origins`` (exactly
    ``round(n * fraction)`` centred patches) the draw is a Bernoulli per patch, so
    single draws keep the profile's fraction on average.
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


def _cut(volume: np.ndarray, origin: Sequence[int], patch_shape: Sequence[int]):
    z, y, x = (int(o) for o in origin)
    dz, dy, dx = (int(p) for p in patch_shape)
    return volume[z : z + dz, y : y + dy, x : x + dx]


def _flip(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    axes = tuple(int(a) for a in np.flatnonzero(rng.random(3) < 0.5))
    if not axes:
        return arrays
    return [np.flip(a, axis=axes) for a in arrays]


@dataclass
class _Volume:
    image: np.ndarray | CodedImage | None
    mask: np.ndarray
    foreground: list[np.ndarray]


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


def _volume(
    image: np.ndarray | CodedImage | None,
    mask: np.ndarray | Positions,
    patch_shape,
    balance: bool = True,
) -> _Volume:
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
    return _Volume(image, mask, foreground)


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
            _volume(i, m, self.patch_shape, balance_classes)
            for i, m in zip(images, masks, strict=True)
        ]
        self.n_classes = int(self.volumes[0].mask.shape[-1])
        self.unpaired = None
        if unpaired_masks is not None:
            if len(unpaired_masks) == 0:
                raise InputError("no masks to draw the unpaired mask side from")
            self.unpaired = [
                _volume(None, m, self.patch_shape, balance_classes)
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

    def _draw_origins(self, rng: np.random.Generator, count: int):
        """``count`` (volume index, origin) pairs, as :meth:`_draw_pair` cuts them."""
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
        for c, o in self._draw_origins(rng, count):
            v = self.volumes[c]
            images.append(_cut(v.image, o, self.patch_shape))
            masks.append(_cut(v.mask, o, self.patch_shape))
        return images, masks

    def _grid_pairs(self, step: int, batch_size: int):
        n = len(self.grid_patches)
        images, masks = [], []
        for i in range(step * batch_size, (step + 1) * batch_size):
            order = np.random.default_rng([self.seed, i // n, 1]).permutation(n)
            c, *o = self.grid_patches[order[i % n]]
            v = self.volumes[int(c)]
            images.append(_cut(v.image, o, self.patch_shape))
            masks.append(_cut(v.mask, o, self.patch_shape))
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
            out.append(_cut(v.mask, o, self.patch_shape))
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
    rng = np.random.default_rng([int(seed), VALIDATION_STREAM])
    x, y = sampler._draw_pair(rng, n)
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
    patch by :func:`pad_to_at_least`) per patch, without the images, so that other
    volumes of the same shapes can be cut at the same places."""
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
    rng = np.random.default_rng([int(seed), VALIDATION_STREAM])
    return sampler._draw_origins(rng, int(n))


def cut_patch(
    volume: np.ndarray, origin: Sequence[int], patch_shape: Sequence[int]
) -> np.ndarray:
    """The patch at ``origin`` (from :func:`fixed_origins`) of ``volume`` reflect-padded
    to the patch, as float32: what :func:`fixed_patches` cuts there."""
    shape = tuple(int(p) for p in patch_shape)
    padded = pad_to_at_least(np.asarray(volume, dtype=np.float32), shape)
    return np.array(_cut(padded, origin, shape), dtype=np.float32)


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
    vols = [_volume(None, m, shape, balance_classes) for m in masks]
    sizes = np.array([v.mask[..., 0].size for v in vols], dtype=float)
    rng = np.random.default_rng([int(seed), VALIDATION_STREAM, 1])
    out = []
    for c in rng.choice(len(vols), size=int(n), p=sizes / sizes.sum()):
        v = vols[int(c)]
        (o,) = sample_origins(
            v.mask, shape, 1, foreground_fraction, rng, foreground=v.foreground
        )
        out.append(_cut(v.mask, o, shape))
    return np.stack(out).astype(np.float32)


def split_crops(names: Sequence[str]) -> tuple[list[int], list[int]]:
    """Indices of (training, validation) crops: the last crop by name is held out
    when there are at least two; a single crop serves both."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    if len(order) < 2:
        return order, order
    return order[:-1], order[-1:]


def grid_split(n_patches: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (training, validation) grid patches: 10 % held out, seeded."""
    order = np.random.default_rng([int(seed), VALIDATION_STREAM]).permutation(n_patches)
    if n_patches < 2:
        return order, order
    n_val = max(1, round(GRID_VALIDATION_FRACTION * n_patches))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
