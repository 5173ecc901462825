"""Tests of the dataset on disk (fluoseg.data.dataset, ``fluoseg data``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fluoseg.cli import main
from fluoseg.data.crops import read_instances
from fluoseg.data.dataset import (
    dataset_spec,
    ensure_dataset,
    generate_dataset,
    read_manifest,
    sha256,
)
from fluoseg.data.loaders import (
    iter_split,
    load_masks,
    load_split,
    load_synthetic_masks,
)
from fluoseg.errors import InputError


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    generate_dataset(out, "smoke", workers=1)
    return out


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_bit_identical_files(smoke_dir, tmp_path):
    generate_dataset(tmp_path, "smoke", workers=1)
    a, b = _hashes(smoke_dir), _hashes(tmp_path)
    assert a == b
    assert len(a) == 1 + 4 * 5 + 4  # manifest, 4 crops x 5 files, 4 synthetic masks


def test_layout_and_manifest(smoke_dir):
    m = read_manifest(smoke_dir)
    assert m["dataset"] == "smoke"
    assert [c["name"] for c in m["crops"]] == ["T1", "T2", "I1", "I2"]
    assert {c["split"] for c in m["crops"]} == {"train", "test"}
    for c in m["crops"]:
        for kind in ("image", "truth", "annotator", "instances", "pairs"):
            f = c["files"][kind]
            assert f["sha256"] == sha256(smoke_dir / f["path"])
    assert (smoke_dir / "test" / "I1_annotator.tif").is_file()
    assert len(m["synthetic"]) == 4


def test_rerun_keeps_valid_files_and_repairs_a_corrupt_one(tmp_path):
    r1 = generate_dataset(tmp_path, "smoke", workers=1)
    assert r1.kept == [] and len(r1.generated) == 8
    before = _hashes(tmp_path)
    victim = tmp_path / "train" / "T2_truth.tif"
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF  # same size, different bytes: only the checksum sees it
    victim.write_bytes(bytes(data))
    r2 = generate_dataset(tmp_path, "smoke", workers=1)
    assert r2.generated == ["T2"]
    assert len(r2.kept) == 7
    assert _hashes(tmp_path) == before


def test_load_split_train_and_test(smoke_dir):
    train = load_split("train", data_dir=smoke_dir)
    test = load_split("test", data_dir=smoke_dir, n_classes=3)
    assert [c.name for c in train] == ["T1", "T2"]
    assert [c.name for c in test] == ["I1", "I2"]
    c = test[0]
    assert c.image.dtype == np.float32 and c.image.shape == (24, 64, 72, 2)
    assert c.mask.dtype == np.uint8 and c.mask.shape == (24, 64, 72, 3)
    assert 0 <= c.image.min() and c.image.max() <= 1
    assert c.voxel_size == pytest.approx((1.0, 0.5, 0.5))
    perfect = load_split("test", data_dir=smoke_dir, truth="truth", n_classes=3)[0]
    assert not np.array_equal(perfect.mask, c.mask)
    # the perfect mask on disk is the instance labels
    inst = c.instances()
    assert inst.dtype == np.uint16 and inst.shape == (24, 64, 72, 2)
    assert np.array_equal(perfect.mask[..., :2], (inst > 0).astype(np.uint8))
    assert set(c.pairs()["nucleus_id"]) - {0} == set(np.unique(inst[..., 0])) - {0}


def test_load_masks_matches_load_split_without_the_images(smoke_dir, monkeypatch):
    for truth in ("annotator", "truth"):
        for n in (2, 3):
            crops = load_split("test", data_dir=smoke_dir, truth=truth, n_classes=n)
            masks = load_masks("test", data_dir=smoke_dir, truth=truth, n_classes=n)
            assert list(masks) == [c.name for c in crops]
            for c in crops:
                np.testing.assert_array_equal(masks[c.name], c.mask)
    from fluoseg import io

    def no_image(*a, **k):
        raise AssertionError("an image was read")

    monkeypatch.setattr(io, "read_image", no_image)
    assert set(load_masks("test", data_dir=smoke_dir)) == {"I1", "I2"}
    with pytest.raises(InputError, match="truth"):
        load_masks("test", data_dir=smoke_dir, truth="gold")


def test_iter_split_reads_crop_by_crop_as_load_split(smoke_dir, monkeypatch):
    for n in (2, 3):
        crops = load_split("test", data_dir=smoke_dir, n_classes=n)
        lazy = list(iter_split("test", data_dir=smoke_dir, n_classes=n))
        assert [c.name for c in lazy] == [c.name for c in crops]
        for a, b in zip(lazy, crops, strict=True):
            np.testing.assert_array_equal(a.image, b.image)
            np.testing.assert_array_equal(a.mask, b.mask)
    from fluoseg import io

    read = []
    real_read = io.read_image
    monkeypatch.setattr(io, "read_image", lambda p: read.append(p) or real_read(p))
    gen = iter_split("train", data_dir=smoke_dir)
    assert read == []  # nothing read before the loop asks
    assert next(gen).name == "T1" and len(read) == 1
    only = list(iter_split("train", data_dir=smoke_dir, names=["T2"]))
    assert [c.name for c in only] == ["T2"] and len(read) == 2
    with pytest.raises(InputError, match="T9"):
        iter_split("train", data_dir=smoke_dir, names=["T9"])
    with pytest.raises(InputError, match="split"):
        iter_split("val", data_dir=smoke_dir)


def test_validation_crop_reads_only_the_held_out_crop(smoke_dir, monkeypatch):
    from fluoseg import io
    from fluoseg.data.validation import split_crops, validation_crop

    crops = load_split("train", data_dir=smoke_dir, n_classes=3)
    _, (val_i,) = split_crops([c.name for c in crops])
    read = []
    real_read = io.read_image
    monkeypatch.setattr(io, "read_image", lambda p: read.append(p) or real_read(p))
    val = validation_crop(data_dir=smoke_dir, n_classes=3)
    assert val.name == crops[val_i].name and len(read) == 1
    np.testing.assert_array_equal(val.image, crops[val_i].image)
    np.testing.assert_array_equal(val.mask, crops[val_i].mask)


def test_load_split_bad_arguments(smoke_dir):
    with pytest.raises(InputError, match="split"):
        load_split("val", data_dir=smoke_dir)
    with pytest.raises(InputError, match="truth"):
        load_split("train", data_dir=smoke_dir, truth="gold")
    with pytest.raises(InputError, match="n_classes"):
        load_split("train", data_dir=smoke_dir, n_classes=4)


def test_synthetic_masks(smoke_dir):
    masks = load_synthetic_masks(data_dir=smoke_dir, n_classes=3)
    assert len(masks) == 4
    for m in masks:
        assert m.shape == (24, 64, 64, 3) and m.dtype == np.uint8
        assert m[..., 0].any() and m[..., 1].any()
        assert np.array_equal(m[..., 2], m[..., 0] | m[..., 1])


def test_ensure_dataset_uses_fluoseg_data(monkeypatch, tmp_path):
    monkeypatch.setenv("FLUOSEG_DATA", str(tmp_path))
    folder = ensure_dataset("smoke", progress=False)
    assert folder == tmp_path / "smoke"
    assert read_manifest(folder)["dataset"] == "smoke"
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert ensure_dataset("smoke", progress=False) == folder  # nothing to do
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp


def test_cli_generates_and_rejects_bad_input(tmp_path, capsys):
    assert main(["data", "--profile", "smoke", "--out", str(tmp_path)]) == 0
    assert "8 item(s) generated" in capsys.readouterr().out
    assert main(["data", "--profile", "smoke", "--out", str(tmp_path)]) == 0
    assert "0 item(s) generated, 8 kept" in capsys.readouterr().out
    assert main(["data", "--profile", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown profile" in capsys.readouterr().err


def test_instances_round_trip(tmp_path):
    from fluoseg.data.crops import write_instances

    inst = np.zeros((3, 5, 6, 2), dtype=np.uint16)
    inst[1, 2, 3, 0] = 700
    inst[2, 4, 5, 1] = 65535
    write_instances(tmp_path / "x.tif", inst, (1.0, 0.5, 0.5))
    assert np.array_equal(read_instances(tmp_path / "x.tif"), inst)


def test_standard_spec_matches_thesis_sizes_and_433_patches():
    spec = dataset_spec("standard")
    train = [c for c in spec.crops if c.split == "train"]
    test = [c for c in spec.crops if c.split == "test"]
    assert len(train) == 6 and [c.name for c in test] == ["I1", "I2"]
    for c in spec.crops:
        z, y, x = c.shape
        assert 55 <= z <= 61 and 257 <= x <= 627 and 505 <= y <= 818
    assert sum((y // 64) * (x // 64) for _, y, x in (c.shape for c in train)) == 433
    assert len({c.seed for c in spec.crops + spec.synthetic}) == 14
    json.dumps([c.__dict__ for c in spec.crops])  # plain data


def test_test_crops_come_from_a_brighter_acquisition_session(smoke_dir):
    from fluoseg.data.dataset import SESSION_GAIN, simulation_params

    assert SESSION_GAIN["test"][0] > SESSION_GAIN["train"][1]
    for c in read_manifest(smoke_dir)["crops"]:
        lo, hi = SESSION_GAIN[c["split"]]
        assert c["params"]["gain_range"] == [lo, hi]
        assert lo <= c["info"]["gain"] <= hi
    assert simulation_params((8, 8, 8), "test").gain_range == SESSION_GAIN["test"]
    with pytest.raises(InputError, match="split"):
        simulation_params((8, 8, 8), "validation")
