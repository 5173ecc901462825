"""The training data wiring holds one raw crop at a time and gives the arrays the
earlier all-at-once loading gave (issue 16: a chapter's training child within ~2 GiB).
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

from fluoseg.coded import CodedImage
from fluoseg.config import get_profile
from fluoseg.data.origins import Positions, mask_positions
from fluoseg.models import model_config
from fluoseg.training.data import load_data, proposal_masks, training_arrays
from fluoseg.training.plan import train_config
from fluoseg.training.trainer import run_config

CONFIGS = [
    ("unet", 2, False),
    ("unet", 3, False),
    ("cyclegan", 2, True),
    ("cyclegan", 3, True),
]


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke dataset, generated once for the module."""
    from fluoseg.data.dataset import generate_dataset

    root = tmp_path_factory.mktemp("train_data") / "data"
    generate_dataset(root, "smoke", workers=1)
    return root


def _cfg(model: str, n: int, unsup: bool, data: Path, raw: bool = False) -> dict:
    prof = get_profile("smoke")
    tc = train_config(model, prof, 1)
    mcfg = model_config(model, prof, n)
    return run_config(model, n, prof, raw, unsup, 0, data, "annotator", tc, mcfg)


def _all_at_once(cfg: dict, data: Path) -> tuple[list, list, list]:
    """The arrays as ``load_data`` built them before streaming: every crop loaded,
    then every image pre-processed."""
    from fluoseg.data.loaders import load_split
    from fluoseg.transforms import preprocess_image

    n = cfg["n_classes"]
    crops = load_split("train", data_dir=data, truth=cfg["truth"], n_classes=n)
    clip = bool(cfg["model_config"].get("stretch_clip", True))
    images = [preprocess_image(c.image, cfg["raw"], clip) for c in crops]
    if cfg["model"] == "cyclegan" and cfg["unsupervised"]:
        masks = [proposal_masks(im, n) for im in images]
    else:
        masks = [np.asarray(c.mask, dtype=np.uint8) for c in crops]
    return [c.name for c in crops], images, masks


@pytest.mark.parametrize(("model", "n", "unsup"), CONFIGS)
@pytest.mark.parametrize("raw", [False, True])
def test_training_arrays_equal_the_all_at_once_loading(
    smoke_data: Path, model: str, n: int, unsup: bool, raw: bool
) -> None:
    cfg = _cfg(model, n, unsup, smoke_data, raw)
    names, images, masks = training_arrays(cfg, get_profile("smoke"), smoke_data)
    ref_names, ref_images, ref_masks = _all_at_once(cfg, smoke_data)
    assert names == ref_names
    if unsup:  # only where the proposals lie is kept, not the masks
        patch = get_profile("smoke").patch_shape
        for got, want in zip(masks, ref_masks, strict=True):
            ref = mask_positions(want, patch)
            assert isinstance(got, Positions) and got.shape == ref.shape
            assert [a.tobytes() for a in got.foreground] == [
                a.tobytes() for a in ref.foreground
            ]
        masks, ref_masks = [], []
    assert all(isinstance(im, CodedImage) for im in images)  # 8-bit synthetic crops
    images = [np.asarray(im) for im in images]
    for got, want in zip(images + masks, ref_images + ref_masks, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()  # bit-identical
    assert all(m.dtype == np.uint8 for m in masks)
    assert all(im.dtype == np.float32 for im in images)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("sampling", ["random", "grid"])
@pytest.mark.parametrize("balance", [True, False])
def test_unsupervised_cyclegan_batches_equal_those_of_full_proposal_masks(
    smoke_data: Path, n: int, sampling: str, balance: bool, monkeypatch
) -> None:
    """The sampler placed by proposal positions draws the batches and validation
    arrays it drew from the full proposal masks, bit for bit."""
    import dataclasses

    import fluoseg.training.data as T

    prof = get_profile("smoke")
    cfg = _cfg("cyclegan", n, True, smoke_data)
    tc = dataclasses.replace(
        train_config("cyclegan", prof, 1), sampling=sampling, balance_classes=balance
    )
    lean, lean_val, lean_steps = load_data(cfg, prof, smoke_data, tc, 3)
    assert all(
        isinstance(m, Positions) for m in T.training_arrays(cfg, prof, smoke_data)[2]
    )
    monkeypatch.setattr(T, "training_arrays", lambda c, p, d: _all_at_once(c, d))
    full, full_val, full_steps = load_data(cfg, prof, smoke_data, tc, 3)
    assert lean_steps == full_steps and len(lean) == len(full)
    for a, b in zip(lean_val, full_val, strict=True):
        assert a.tobytes() == b.tobytes()
    for step in range(8):
        for a, b in zip(lean.batch(step, 2), full.batch(step, 2), strict=True):
            assert a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize(("model", "n", "unsup"), CONFIGS)
def test_batches_equal_those_of_float32_images(
    smoke_data: Path, model: str, n: int, unsup: bool, monkeypatch
) -> None:
    """Coded images (and proposal positions) give the batches and validation arrays
    of the float32 images (and full masks), bit for bit."""
    import fluoseg.training.data as T

    prof = get_profile("smoke")
    cfg = _cfg(model, n, unsup, smoke_data)
    tc = train_config(model, prof, 1)
    lean, lean_val, _ = load_data(cfg, prof, smoke_data, tc, 1)
    assert all(isinstance(v.image, CodedImage) for v in lean.volumes)
    monkeypatch.setattr(T, "training_arrays", lambda c, p, d: _all_at_once(c, d))
    full, full_val, _ = load_data(cfg, prof, smoke_data, tc, 1)
    assert all(isinstance(v.image, np.ndarray) for v in full.volumes)
    for a, b in zip(lean_val, full_val, strict=True):
        assert a.tobytes() == b.tobytes()
    for step in range(6):
        for a, b in zip(lean.batch(step, 3), full.batch(step, 3), strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_positions_give_the_voxels_of_the_mask(tiny_mask: np.ndarray) -> None:
    from fluoseg.data.origins import class_voxels
    from fluoseg.transforms import pad_to_at_least

    gen = np.random.default_rng(0)
    overlapping = (gen.random((3, 5, 4, 3)) > 0.7).astype(np.uint8)  # classes overlap
    empty = np.zeros((3, 5, 4, 2), np.uint8)
    one_class = empty.copy()
    one_class[1, 2, 3, 1] = 1
    for mask in (tiny_mask, overlapping, empty, one_class):
        pos = mask_positions(mask, (4, 6, 6))
        padded = pad_to_at_least(mask, (4, 6, 6))
        assert pos.shape == padded.shape
        for balance in (True, False):
            got, want = pos.voxels(balance), class_voxels(padded, balance)
            assert [a.dtype for a in got] == [a.dtype for a in want]
            assert [a.tobytes() for a in got] == [a.tobytes() for a in want]


@pytest.mark.parametrize(("model", "n", "unsup"), CONFIGS)
def test_at_most_one_raw_image_is_alive(
    smoke_data: Path, model: str, n: int, unsup: bool, monkeypatch
) -> None:
    """Each raw image is freed before the next crop is read, and none outlives
    ``load_data``."""
    from fluoseg import io

    read_image = io.read_image
    raw: list[weakref.ref] = []

    def alive() -> int:
        gc.collect()
        return sum(r() is not None for r in raw)

    def reading(*args, **kwargs):  # noqa: ANN202
        assert alive() == 0, "a raw image is still held when the next is read"
        vol = read_image(*args, **kwargs)
        raw.append(weakref.ref(vol.data))
        return vol

    monkeypatch.setattr(io, "read_image", reading)
    prof = get_profile("smoke")
    cfg = _cfg(model, n, unsup, smoke_data)
    tc = train_config(model, prof, 1)
    sampler, val, _ = load_data(cfg, prof, smoke_data, tc, 0)
    assert len(raw) >= 2 and alive() == 0
    images = [v.image for v in sampler.volumes]
    assert all(im.dtype == np.float32 for im in images)
    if unsup:  # no full-size proposal mask is kept either
        assert all(v.mask.strides == (0, 0, 0, 0) for v in sampler.volumes)


def test_normalize_percentile_is_the_thesis_formula_bit_for_bit() -> None:
    """The in-place stretch gives exactly the out-of-place expression's float32s."""
    from fluoseg.transforms import normalize_percentile

    gen = np.random.default_rng(3)
    sparse = (gen.random((4, 6, 6, 2)) > 0.99).astype(np.float32)  # b == a: threshold
    for x in (gen.random((5, 7, 9, 2), dtype=np.float32) * 3, sparse):
        for clip in (True, False):
            a, b = np.percentile(x, [5.0, 98.0], axis=(0, 1, 2), keepdims=True)
            a, b = a.astype(np.float32), b.astype(np.float32)
            flat = (b - a) <= 0
            want = (x - a) / np.where(flat, np.float32(1.0), b - a)
            want = np.where(flat, (x > a).astype(np.float32), want)
            want = np.clip(want, 0.0, 1.0 if clip else None).astype(np.float32)
            got = normalize_percentile(x, clip=clip)
            assert got.dtype == np.float32
            assert got.tobytes() == want.tobytes()


def test_unpaired_sampler_drops_the_paired_masks_not_its_batches(
    tiny_volume: np.ndarray, tiny_mask: np.ndarray
) -> None:
    """With an unpaired mask side (CycleGAN) the sampler holds no copy of the images'
    own masks, and its batches are those it drew with them."""
    from fluoseg.data.pipeline import PatchSampler

    masks = [tiny_mask[..., :2], tiny_mask[::-1, :, :, :2].copy()]
    images = [tiny_volume, tiny_volume[::-1].copy()]
    unpaired = [np.ascontiguousarray(tiny_mask[:, ::-1, :, :2])]
    kw = {"augment": True, "unpaired_masks": unpaired}
    lean = PatchSampler(images, masks, (4, 6, 6), 0.7, 5, **kw)
    assert all(v.mask.strides == (0, 0, 0, 0) for v in lean.volumes)
    full = PatchSampler(images, masks, (4, 6, 6), 0.7, 5, **kw)
    for v, m in zip(full.volumes, masks, strict=True):
        v.mask = m  # what the sampler held before
    for step in range(6):
        for a, b in zip(lean.batch(step, 3), full.batch(step, 3), strict=True):
            assert a.tobytes() == b.tobytes()
