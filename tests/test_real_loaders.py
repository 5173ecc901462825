"""Tests of the real-data loaders (fluoseg.data.real) on small files written here."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg import io
from fluoseg.data import real
from fluoseg.data.loaders import load_split
from fluoseg.errors import InputError


def _volume(seed: int, shape=(5, 8, 9)):
    rng = np.random.default_rng(seed)
    img = (rng.integers(0, 256, shape + (2,)) / 255).astype(np.float32)
    mask = np.zeros(shape + (3,), dtype=np.uint8)
    mask[1:3, 2:5, 3:6, 0] = 1
    mask[2, 5:7, 6:8, 1] = 1
    mask[..., 2] = mask[..., 0] | mask[..., 1]
    return img, mask


def test_mask_name_rule():
    assert real._mask_names("crop3_image.tif")[0] == "crop3_mask.tif"
    assert real._mask_names("Image_I1.tiff")[:2] == [
        "Mask_I1.tiff",
        "Annotator_I1.tiff",
    ]
    assert real._mask_names("IMAGE.tif")[0] == "MASK.tif"
    assert real._mask_names("stack.tif") == []


def test_tiff_crops_in_train_test_folders(tmp_path):
    for split, names in (("train", ["a", "b"]), ("test", ["I1"])):
        (tmp_path / split).mkdir()
        for i, n in enumerate(names):
            img, mask = _volume(i)
            io.write_image(
                tmp_path / split / f"{n}_image.tif", img, voxel_size=(2, 1, 1)
            )
            io.write_mask(tmp_path / split / f"{n}_mask.tif", mask)
    (tmp_path / "train" / "notes_image.tif").write_bytes(b"")  # no mask: ignored
    train = real.load_real_split(tmp_path, "train", n_classes=3)
    assert [c.name for c in train] == ["a", "b"]
    img, mask = _volume(0)
    assert np.array_equal(train[0].image, img)  # uint8 round trip is exact
    assert np.array_equal(train[0].mask, mask)
    assert train[0].voxel_size == pytest.approx((2.0, 1.0, 1.0))
    test = load_split("test", data_dir=tmp_path, n_classes=2)  # via the dataset API
    assert [c.name for c in test] == ["I1"] and test[0].mask.shape == (5, 8, 9, 2)
    assert real.layout(tmp_path / "train") == "tiff"


def test_npy_subvolumes_3dngmic_layout(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    arrays = {}
    for i in range(5):
        rng = np.random.default_rng(i)
        img = rng.integers(0, 256, (6, 7, 4, 2), dtype=np.uint8)  # (X, Y, Z, [g, n])
        msk = np.zeros((6, 7, 4, 2), dtype=np.uint8)
        msk[1, 2, 3, 0] = 255  # a Golgi voxel
        msk[4, 5, 0, 1] = 255  # a nucleus voxel
        np.save(tmp_path / "images" / f"{i}.npy", img)
        np.save(tmp_path / "masks" / f"{i}.npy", msk)
        arrays[f"{i}"] = img
    assert real.layout(tmp_path) == "npy"
    train = real.load_real_split(tmp_path, "train")
    test = real.load_real_split(tmp_path, "test")
    assert [c.name for c in train] == ["0", "1", "2", "3"] and [
        c.name for c in test
    ] == ["4"]
    c = train[1]
    assert c.image.shape == (4, 6, 7, 2) and c.image.dtype == np.float32
    # code order [nuclei, golgi]: nuclei = release channel 1, axis order (Z, X, Y)
    assert c.image[2, 3, 5, 0] == pytest.approx(arrays["1"][3, 5, 2, 1] / 255)
    assert c.image[2, 3, 5, 1] == pytest.approx(arrays["1"][3, 5, 2, 0] / 255)
    assert c.mask[3, 1, 2].tolist() == [0, 1] and c.mask[0, 4, 5].tolist() == [1, 0]
    assert c.mask.sum() == 2
    with pytest.raises(InputError, match="no pair channel"):
        real.load_real_split(tmp_path, "train", n_classes=3)


def test_bad_folders_and_arrays(tmp_path):
    with pytest.raises(InputError, match="no train crops"):
        real.load_real_split(tmp_path, "train")
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    np.save(tmp_path / "images" / "x.npy", np.zeros((4, 4, 4), np.uint8))
    np.save(tmp_path / "masks" / "x.npy", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(InputError, match="3DNGMic subvolume"):
        real.load_real_split(tmp_path, "train")


def test_fluoseg_data_pointing_at_real_crops_is_used_as_is(monkeypatch, tmp_path):
    from fluoseg.data import ensure_dataset

    for i, n in enumerate(["c1", "c2"]):
        img, mask = _volume(i)
        io.write_image(tmp_path / f"{n}_image.tif", img)
        io.write_mask(tmp_path / f"{n}_mask.tif", mask)
    monkeypatch.setenv("FLUOSEG_DATA", str(tmp_path))
    assert ensure_dataset("smoke", progress=False) == tmp_path
    assert not (tmp_path / "smoke").exists()  # nothing generated
    train = load_split("train", profile="smoke")
    test = load_split("test", profile="smoke")
    assert [c.name for c in train] == ["c1"] and [c.name for c in test] == ["c2"]
