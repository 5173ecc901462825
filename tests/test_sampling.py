"""Tests of the training input pipeline (fluoseg.data.pipeline, fluoseg.data.origins,
fluoseg.data.validation)."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.data.origins import (
    bright_proposals,
    cut_patch,
    grid_origins,
    sample_origins,
)
from fluoseg.data.pipeline import PatchSampler
from fluoseg.data.validation import (
    fixed_mask_patches,
    fixed_origins,
    fixed_patches,
    grid_split,
    split_crops,
)
from fluoseg.errors import InputError
from fluoseg.transforms import pad_to_at_least

PATCH = (8, 8, 8)


def _cube_volume() -> tuple[np.ndarray, np.ndarray]:
    """A 20x40x40 image whose only object is a 4^3 cube in the middle."""
    mask = np.zeros((20, 40, 40, 2), dtype=np.uint8)
    mask[8:12, 18:22, 18:22, 0] = 1
    image = np.zeros((20, 40, 40, 2), dtype=np.float32)
    image[..., 0] = mask[..., 0] * 0.9
    image[..., 1] = np.linspace(0, 1, 40)[None, None, :]
    return image, mask


def _centre_on_fg(mask: np.ndarray, origins: np.ndarray) -> np.ndarray:
    c = origins + np.array(PATCH) // 2
    return mask.any(-1)[c[:, 0], c[:, 1], c[:, 2]]


def _uniform_rate(mask: np.ndarray) -> float:
    """Exact share of all valid origins whose patch centre is foreground."""
    fg = mask.any(-1)
    high = np.array(mask.shape[:3]) - np.array(PATCH) + 1
    z, y, x = np.meshgrid(*[np.arange(h) for h in high], indexing="ij")
    half = np.array(PATCH) // 2
    return float(fg[z + half[0], y + half[1], x + half[2]].mean())


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.8])
def test_foreground_fraction_matches_profile(fraction: float) -> None:
    _, mask = _cube_volume()
    n = 4000
    origins = sample_origins(mask, PATCH, n, fraction, np.random.default_rng(3))
    measured = _centre_on_fg(mask, origins).mean()
    # a fg-centred draw always hits (cube far from the border); a uniform one hits at q
    q = _uniform_rate(mask)
    expected = fraction + (1 - fraction) * q
    assert q < 0.01
    assert abs(measured - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-3


def test_sampler_foreground_fraction_and_patch_geometry() -> None:
    image, mask = _cube_volume()
    sampler = PatchSampler([image], [mask], PATCH, 0.8, seed=1)
    hits = []
    for step in range(300):
        x, y = sampler.batch(step, 4)
        assert x.shape == (4, *PATCH, 2) and y.shape == (4, *PATCH, 2)
        assert x.dtype == np.float32 and y.dtype == np.float32
        # the image's object channel is exactly 0.9 * mask: image and mask are aligned
        np.testing.assert_allclose(x[..., 0], 0.9 * y[..., 0], atol=1e-6)
        hits.extend(y[:, 4, 4, 4, 0] > 0)
    assert abs(np.mean(hits) - 0.8) < 0.04


def test_batches_are_deterministic_per_seed_and_step() -> None:
    image, mask = _cube_volume()
    a = PatchSampler([image], [mask], PATCH, 0.5, seed=7, augment=True)
    b = PatchSampler([image], [mask], PATCH, 0.5, seed=7, augment=True)
    c = PatchSampler([image], [mask], PATCH, 0.5, seed=8, augment=True)
    later = a.batch(5, 4)  # order of calls does not matter: batch k = f(seed, k)
    for k in range(6):
        xb, yb = b.batch(k, 4)
        if k == 5:
            np.testing.assert_array_equal(later[0], xb)
            np.testing.assert_array_equal(later[1], yb)
    assert not np.array_equal(a.batch(0, 4)[0], c.batch(0, 4)[0])


def test_class_balanced_centring_favours_the_small_class() -> None:
    mask = np.zeros((16, 48, 48, 2), dtype=np.uint8)
    mask[4:12, 4:44, 4:44, 0] = 1  # a large "nucleus" class
    mask[7:9, 23:25, 23:25, 0] = 0
    mask[7:9, 23:25, 23:25, 1] = 1  # a 2x2x2 "Golgi"
    origins = sample_origins(mask, PATCH, 2000, 1.0, np.random.default_rng(0))
    c = origins + np.array(PATCH) // 2
    on_small = mask[c[:, 0], c[:, 1], c[:, 2], 1].mean()
    assert abs(on_small - 0.5) < 0.05  # uniform over voxels would give 8/12800
    # without balancing, a voxel is drawn uniformly: the 8 Golgi voxels of 12800
    natural = PatchSampler(
        [np.zeros((*mask.shape[:3], 2), np.float32)],
        [mask],
        PATCH,
        1.0,
        seed=0,
        balance_classes=False,
    )
    centres = [natural.batch(k, 50)[1][:, 4, 4, 4, 1] for k in range(40)]
    assert np.mean(np.concatenate(centres)) < 0.01


def test_flips_keep_image_and_mask_aligned() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((12, 16, 16, 2)).astype(np.float32)
    mask = (image > 0.5).astype(np.uint8)
    sampler = PatchSampler([image], [mask], PATCH, 0.0, seed=2, augment=True)
    flipped = 0
    for step in range(20):
        x, y = sampler.batch(step, 2)
        np.testing.assert_array_equal(y, (x > 0.5).astype(np.float32))
        plain = PatchSampler([image], [mask], PATCH, 0.0, seed=2).batch(step, 2)[0]
        flipped += not np.array_equal(x, plain)
    assert flipped > 10  # 7 of 8 flip combinations change the patch


def test_unpaired_masks_come_from_the_other_pool() -> None:
    image, mask = _cube_volume()
    pool = np.zeros((10, 10, 10, 2), dtype=np.uint8)
    pool[..., 1] = 1  # only the second class everywhere: recognisable
    sampler = PatchSampler([image], [mask], PATCH, 0.8, seed=0, unpaired_masks=[pool])
    x, y = sampler.batch(0, 4)
    assert np.all(y[..., 1] == 1) and np.all(y[..., 0] == 0)
    assert x.shape == (4, *PATCH, 2)


def test_pad_to_at_least_reflects_at_the_end() -> None:
    v = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1)
    out = pad_to_at_least(v, (8, 1, 1))
    assert out.shape == (8, 1, 1, 1)
    np.testing.assert_array_equal(out[:, 0, 0, 0], [0, 1, 2, 3, 4, 3, 2, 1])
    tiny = pad_to_at_least(np.ones((2, 2, 2, 1)), (7, 2, 2))  # longer than the volume
    assert tiny.shape == (7, 2, 2, 1)
    same = np.ones((9, 9, 9, 2))
    assert pad_to_at_least(same, (8, 8, 8)) is same


def test_grid_origins_counts_and_thesis_padding() -> None:
    o = grid_origins((20, 70, 130), (16, 32, 32))
    assert len(o) == 1 * 2 * 4
    assert o.max(axis=0).tolist() == [0, 32, 96]
    # a thesis-like crop: 57 slices reflect-padded to 64, 257 x 505 voxels
    padded = pad_to_at_least(np.zeros((57, 257, 505, 1)), (64, 64, 64))
    assert padded.shape[:3] == (64, 257, 505)
    assert len(grid_origins(padded.shape, (64, 64, 64))) == 4 * 7


def test_grid_sampler_visits_every_patch_once_per_pass() -> None:
    image = np.random.default_rng(0).random((16, 32, 32, 2)).astype(np.float32)
    mask = np.zeros((16, 32, 32, 2), dtype=np.uint8)
    sampler = PatchSampler([image], [mask], PATCH, 0.0, seed=4, grid=True)
    assert len(sampler) == 2 * 4 * 4
    first = np.concatenate([sampler.batch(k, 4)[0] for k in range(8)])
    second = np.concatenate([sampler.batch(k, 4)[0] for k in range(8, 16)])
    keys = {p[0, 0, 0, 0].item() for p in first}
    assert len(keys) == 32  # 32 distinct patches, each once
    assert {p[0, 0, 0, 0].item() for p in second} == keys
    assert not np.array_equal(first, second)  # a new order each pass


def test_validation_split_and_fixed_patches() -> None:
    assert split_crops(["c3", "c1", "c2"]) == ([1, 2], [0])
    assert split_crops(["only"]) == ([0], [0])
    train, val = grid_split(433, seed=0)
    assert len(val) == 43 and len(train) == 390
    assert not set(train) & set(val)
    assert np.array_equal(grid_split(433, seed=0)[1], val)
    image, mask = _cube_volume()
    a = fixed_patches([image], [mask], PATCH, 6, 0.8, seed=1)
    b = fixed_patches([image], [mask], PATCH, 6, 0.8, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (6, *PATCH, 2) and a[1].shape == (6, *PATCH, 2)


def test_fixed_mask_patches_are_seeded_and_object_centred() -> None:
    _, mask = _cube_volume()
    a = fixed_mask_patches([mask], PATCH, 10, 1.0, seed=3)
    np.testing.assert_array_equal(a, fixed_mask_patches([mask], PATCH, 10, 1.0, 3))
    assert a.shape == (10, *PATCH, 2) and a.dtype == np.float32
    # every patch centred on the cube (foreground fraction 1) holds part of it
    assert (a[..., 0].reshape(10, -1).sum(1) > 0).all()
    assert a[..., 1].sum() == 0
    empty = fixed_mask_patches([mask], PATCH, 10, 0.0, seed=3)
    assert empty[..., 0].sum() < a[..., 0].sum()
    with pytest.raises(InputError, match="no masks"):
        fixed_mask_patches([], PATCH, 2, 0.5, seed=0)


def test_bright_proposals_find_the_bright_cube_without_its_mask() -> None:
    image, mask = _cube_volume()
    rng = np.random.default_rng(0)
    image = image + rng.normal(0.0, 0.05, image.shape).astype(np.float32)
    prop = bright_proposals(image, sigma=1.0, quantile=99.9)
    assert prop.shape == image.shape and prop.dtype == np.uint8
    # 0.1 % of 32000 voxels = 32 per channel, the brightest after smoothing
    assert prop[..., 0].sum() == 32
    assert mask[..., 0][prop[..., 0] == 1].all()  # all inside the 64-voxel cube...
    assert prop[10, 20, 20, 0] == 1  # ...and its centre among them
    with pytest.raises(InputError, match="Z, Y, X, C"):
        bright_proposals(image[..., 0])


def test_bad_input_raises_input_error() -> None:
    image, mask = _cube_volume()
    with pytest.raises(InputError, match="foreground_fraction"):
        sample_origins(mask, PATCH, 2, 1.5, np.random.default_rng(0))
    with pytest.raises(InputError, match="one mask per image"):
        PatchSampler([image], [], PATCH, 0.5, seed=0)
    with pytest.raises(InputError, match="differ in shape"):
        PatchSampler([image], [mask[:10]], PATCH, 0.5, seed=0)


def test_tf_dataset_yields_the_same_batches() -> None:
    image, mask = _cube_volume()
    sampler = PatchSampler([image], [mask], PATCH, 0.8, seed=5, augment=True)
    ds = sampler.dataset(3, 6, batch_size=2)
    got = [(x.numpy(), y.numpy()) for x, y in ds]
    assert len(got) == 3
    for (x, y), k in zip(got, range(3, 6), strict=True):
        ex, ey = sampler.batch(k, 2)
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


def test_fixed_origins_are_where_fixed_patches_cuts():
    rng = np.random.default_rng(0)
    shapes = [(20, 40, 40), (6, 30, 50), (12, 12, 12)]  # the last two get padded
    images = [rng.random((*s, 2), dtype=np.float32) for s in shapes]
    masks = [(rng.random((*s, 2)) > 0.97).astype(np.uint8) for s in shapes]
    patch = (8, 16, 16)
    for ff in (0.0, 0.5, 1.0):
        x, _ = fixed_patches(images, masks, patch, 12, ff, seed=3)
        origins = fixed_origins(masks, patch, 12, ff, seed=3)
        cut = np.stack([cut_patch(images[c], o, patch) for c, o in origins])
        assert cut.dtype == np.float32
        np.testing.assert_array_equal(cut, x)


# origins as fluoseg.patches.sample_origins was tested (one sampler now)


def _mask():
    m = np.zeros((30, 40, 40, 2), dtype=np.uint8)
    m[5:25, 5:35, 5:35, 0] = 1  # a big nucleus
    m[12:14, 30:32, 30:32, 1] = 1  # a tiny Golgi (8 voxels)
    return m


def test_origins_is_deterministic_and_in_bounds():
    m = _mask()
    a = sample_origins(m, (8, 16, 16), 50, 0.6, np.random.default_rng(3))
    b = sample_origins(m, (8, 16, 16), 50, 0.6, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 3) and a.dtype == np.int64
    assert (a >= 0).all() and (a <= [22, 24, 24]).all()


def test_origins_balances_classes():
    m = _mask()
    patch = (8, 8, 8)
    o = sample_origins(m, patch, 400, 1.0, np.random.default_rng(0))
    hits_golgi = [m[z : z + 8, y : y + 8, x : x + 8, 1].any() for z, y, x in o]
    # Golgi is 8 of ~12 000 foreground voxels, yet about half the patches contain it
    assert 0.4 < np.mean(hits_golgi) < 0.6
    uniform = sample_origins(m, patch, 400, 0.0, np.random.default_rng(0))
    hits_u = [m[z : z + 8, y : y + 8, x : x + 8, 1].any() for z, y, x in uniform]
    assert np.mean(hits_u) < 0.1


def test_origins_without_foreground_is_uniform_and_small_axes_are_padded_first():
    m = np.zeros((4, 20, 20, 1), dtype=np.uint8)
    with pytest.raises(InputError, match="pad first"):
        sample_origins(m, (8, 8, 8), 20, 1.0, np.random.default_rng(0))
    padded = pad_to_at_least(m, (8, 8, 8))
    o = sample_origins(padded, (8, 8, 8), 20, 1.0, np.random.default_rng(0))
    assert (o[:, 0] == 0).all() and o[:, 1:].max() <= 12
    with pytest.raises(InputError, match="foreground_fraction"):
        sample_origins(padded, (8, 8, 8), 5, 1.5, np.random.default_rng(0))
