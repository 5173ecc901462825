"""fluoseg.io: round trips in every accepted layout and one clear error per bad file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from fluoseg import io
from fluoseg.errors import InputError

VS = (2.0, 0.5, 0.25)


@pytest.mark.parametrize(
    ("dtype", "tol"), [("uint8", 0.5 / 255), ("uint16", 0.5 / 65535), ("float32", 0)]
)
def test_write_read_image_round_trip(tmp_path, tiny_volume, dtype, tol):
    path = io.write_image(tmp_path / "i.tif", tiny_volume, voxel_size=VS, dtype=dtype)
    vol = io.read_image(path)
    assert vol.data.dtype == np.float32
    assert vol.data.shape == tiny_volume.shape
    assert np.abs(vol.data - tiny_volume).max() <= tol + 1e-7
    assert vol.voxel_size == pytest.approx(VS)
    assert vol.source == str(path)


def test_written_image_is_rgb_with_golgi_red_nuclei_green(tmp_path, tiny_volume):
    path = io.write_image(tmp_path / "i.tif", tiny_volume, voxel_size=VS)
    raw = tifffile.imread(path)
    assert raw.shape == tiny_volume.shape[:3] + (3,)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw[..., 0], np.round(tiny_volume[..., 1] * 255))
    np.testing.assert_array_equal(raw[..., 1], np.round(tiny_volume[..., 0] * 255))
    assert not raw[..., 2].any()
    with tifffile.TiffFile(path) as tif:  # ImageJ can read the voxel size
        assert tif.imagej_metadata["spacing"] == pytest.approx(VS[0])
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(VS[2])


def test_plain_zyxc_uint16_scaled_by_dtype_max(tmp_path):
    raw = np.zeros((4, 5, 6, 3), dtype=np.uint16)
    raw[..., 0] = 65535  # R = Golgi
    raw[..., 1] = 32768  # G = nuclei
    tifffile.imwrite(tmp_path / "p.tif", raw, photometric="rgb")
    vol = io.read_image(tmp_path / "p.tif")
    assert vol.voxel_size is None
    np.testing.assert_allclose(vol.data[..., 0], 32768 / 65535, rtol=1e-6)
    np.testing.assert_allclose(vol.data[..., 1], 1.0)


def test_zcyx_imagej_hyperstack(tmp_path, tiny_volume):
    rgb = np.stack([tiny_volume[..., 1], tiny_volume[..., 0]], axis=1)  # Z, C, Y, X
    tifffile.imwrite(
        tmp_path / "h.tif",
        rgb,
        imagej=True,
        resolution=(1 / VS[2], 1 / VS[1]),
        metadata={"axes": "ZCYX", "spacing": VS[0], "unit": "micron"},
    )
    vol = io.read_image(tmp_path / "h.tif")
    np.testing.assert_array_equal(vol.data, tiny_volume)
    assert vol.voxel_size == pytest.approx(VS)


def test_ome_zcyx_with_channel_mapping(tmp_path, tiny_volume):
    data = np.transpose(tiny_volume, (0, 3, 1, 2))  # nuclei first in this file
    tifffile.imwrite(
        tmp_path / "o.ome.tif",
        data,
        ome=True,
        metadata={
            "axes": "ZCYX",
            "PhysicalSizeX": VS[2],
            "PhysicalSizeY": VS[1],
            "PhysicalSizeZ": VS[0],
        },
    )
    vol = io.read_image(tmp_path / "o.ome.tif", channels="nuclei=0,golgi=1")
    np.testing.assert_array_equal(vol.data, tiny_volume)
    assert vol.voxel_size == pytest.approx(VS)
    swapped = io.read_image(tmp_path / "o.ome.tif", channels={"nuclei": 1, "golgi": 0})
    np.testing.assert_array_equal(swapped.data, tiny_volume[..., ::-1])


def test_zcyx_without_metadata_by_shape(tmp_path, tiny_volume):
    data = np.stack([tiny_volume[..., 1], tiny_volume[..., 0]], axis=1)
    tifffile.imwrite(tmp_path / "z.tif", data)
    np.testing.assert_array_equal(io.read_image(tmp_path / "z.tif").data, tiny_volume)


def test_imagej_tzcyxs_singletons_dropped(tmp_path, tiny_volume):
    data = np.stack([tiny_volume[..., 1], tiny_volume[..., 0]], axis=1)[None, ...]
    tifffile.imwrite(tmp_path / "t.tif", data, imagej=True, metadata={"axes": "TZCYX"})
    np.testing.assert_array_equal(io.read_image(tmp_path / "t.tif").data, tiny_volume)


def test_one_channel_file_with_mapping_fills_zeros(tmp_path, tiny_volume):
    tifffile.imwrite(tmp_path / "n.tif", tiny_volume[..., 0])  # (Z, Y, X)
    vol = io.read_image(tmp_path / "n.tif", channels="nuclei=0")
    np.testing.assert_array_equal(vol.data[..., 0], tiny_volume[..., 0])
    assert not vol.data[..., 1].any()


def test_mask_round_trip_and_file_order(tmp_path, tiny_mask):
    path = io.write_mask(tmp_path / "m.tif", tiny_mask, voxel_size=VS)
    raw = tifffile.imread(path)
    assert set(np.unique(raw)) == {0, 255}
    np.testing.assert_array_equal(raw[..., 0] == 255, tiny_mask[..., 1] == 1)  # R
    np.testing.assert_array_equal(raw[..., 1] == 255, tiny_mask[..., 0] == 1)  # G
    np.testing.assert_array_equal(io.read_mask(path), tiny_mask)  # pair present -> 3
    np.testing.assert_array_equal(io.read_mask(path, 2), tiny_mask[..., :2])
    path2 = io.write_mask(tmp_path / "m2.tif", tiny_mask[..., :2])
    assert io.read_mask(path2).shape[-1] == 2  # empty B channel -> 2 classes
    assert io.read_mask(path2, 3)[..., 2].sum() == 0


def test_mask_any_nonzero_is_one(tmp_path):
    raw = np.zeros((3, 5, 6, 3), dtype=np.uint16)
    raw[0, 0, 0, 1] = 7
    raw[1, 1, 1, 0] = 1000
    tifffile.imwrite(tmp_path / "m.tif", raw, photometric="rgb")
    m = io.read_mask(tmp_path / "m.tif", 2)
    assert m.dtype == np.uint8
    assert m[0, 0, 0, 0] == 1 and m[1, 1, 1, 1] == 1 and m.sum() == 2


def test_refuses_to_overwrite(tmp_path, tiny_volume, tiny_mask):
    path = io.write_image(tmp_path / "i.tif", tiny_volume)
    with pytest.raises(InputError, match="--overwrite"):
        io.write_image(path, tiny_volume * 0)
    with pytest.raises(InputError, match="--overwrite"):
        io.write_mask(path, tiny_mask)
    io.write_image(path, tiny_volume * 0, overwrite=True)
    assert io.read_image(path).data.max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.tif"]  # no temp left


def test_failed_write_leaves_nothing(tmp_path, tiny_volume):
    with pytest.raises(InputError, match=r"expected \[0, 1\]"):
        io.write_image(tmp_path / "i.tif", tiny_volume * 3)
    with pytest.raises(InputError, match="dtype"):
        io.write_image(tmp_path / "i.tif", tiny_volume, dtype="int8")
    assert list(tmp_path.iterdir()) == []


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found") as exc:
        io.read_image(tmp_path / "nope.tif")
    _one_line(exc)


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9])
def test_truncated_file(tmp_path, tiny_volume, keep):
    path = io.write_image(tmp_path / "i.tif", tiny_volume)
    data = path.read_bytes()
    bad = tmp_path / "cut.tif"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError, match="truncated|not a readable TIFF") as exc:
        io.read_image(bad)
    _one_line(exc)


def test_not_a_tiff(tmp_path):
    bad = tmp_path / "x.tif"
    bad.write_text("hello, I am not an image\n")
    with pytest.raises(InputError, match="not a readable TIFF"):
        io.read_mask(bad)


@pytest.mark.parametrize("shape", [(10, 12), (10, 12, 3), (1, 10, 12, 3)])
def test_2d_rejected(tmp_path, shape):
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros(shape, dtype=np.uint8))
    with pytest.raises(InputError, match="2D image") as exc:
        io.read_image(tmp_path / "flat.tif")
    assert "(Z, Y, X, C)" in _one_line(exc)


def test_5d_non_singleton_rejected(tmp_path):
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((2, 3, 2, 8, 9), dtype=np.uint8))
    with pytest.raises(InputError, match="expected"):
        io.read_image(tmp_path / "t.tif")


@pytest.mark.parametrize("n", [1, 4])
def test_wrong_channel_count(tmp_path, n):
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((3, 8, 9, n), dtype=np.uint8))
    with pytest.raises(InputError, match=f"{n} channel") as exc:
        io.read_image(tmp_path / "c.tif")
    assert "expected 2 or 3 channels" in _one_line(exc)
    with pytest.raises(InputError, match=f"{n} channel"):
        io.read_mask(tmp_path / "c.tif")


def test_mask_needs_three_channels_for_pair(tmp_path, tiny_mask):
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, tiny_mask[..., :2] * 255)
    with pytest.raises(InputError, match="expected 3 channels"):
        io.read_mask(path, 3)


def test_channel_index_out_of_range(tmp_path, tiny_volume):
    path = io.write_image(tmp_path / "i.tif", tiny_volume)
    with pytest.raises(InputError, match="channel 5 requested for golgi"):
        io.read_image(path, channels="nuclei=1,golgi=5")
    with pytest.raises(InputError, match="nuclei=1,golgi=0"):
        io.read_image(path, channels="nuclei:1")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_rejected(tmp_path, tiny_volume, bad):
    data = np.transpose(tiny_volume, (0, 3, 1, 2)).copy()
    data[1, 0, 2, 3] = bad
    tifffile.imwrite(tmp_path / "n.tif", data)
    with pytest.raises(InputError, match="NaN and .* Inf") as exc:
        io.read_image(tmp_path / "n.tif")
    _one_line(exc)


@pytest.mark.filterwarnings("ignore:.*zero-size array")
def test_empty_rejected(tmp_path):
    tifffile.imwrite(tmp_path / "e.tif", np.zeros((0, 8, 9, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="empty|2D|no image"):
        io.read_image(tmp_path / "e.tif")
    (tmp_path / "z.tif").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        io.read_image(tmp_path / "z.tif")


def test_check_same_shape(tiny_volume, tiny_mask):
    io.check_same_shape(tiny_volume, tiny_mask)
    vol = io.Volume(tiny_volume, None, "x")
    io.check_same_shape(vol, tiny_mask)
    with pytest.raises(InputError, match=r"pred.tif has shape .*truth.tif"):
        io.check_same_shape(
            tiny_mask[:, :-1], tiny_mask, names=("pred.tif", "truth.tif")
        )


def test_volume_is_frozen(tiny_volume):
    vol = io.Volume(tiny_volume, VS, "x")
    with pytest.raises(AttributeError):
        vol.voxel_size = None  # type: ignore[misc]
    assert vol.shape == tiny_volume.shape


def test_atomic_write_generic(tmp_path):
    target = tmp_path / "t.csv"
    io.atomic_write(target, lambda tmp: open(tmp, "w").write("a\n"))
    assert target.read_text() == "a\n"
    with pytest.raises(InputError, match="--overwrite"):
        io.atomic_write(target, lambda tmp: None)

    def boom(tmp):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.atomic_write(target, boom, overwrite=True)
    assert target.read_text() == "a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_imagej_rgb_stack_without_axes_reads_slices_as_z(tmp_path, rng):
    # tifffile labels the slices of such a stack as channels ('CYXS')
    raw = (rng.random((5, 6, 7, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", raw, imagej=True, photometric="rgb")
    vol = io.read_image(tmp_path / "a.tif")
    np.testing.assert_allclose(vol.data[..., 0], raw[..., 1] / 255, atol=1e-7)
    np.testing.assert_allclose(vol.data[..., 1], raw[..., 0] / 255, atol=1e-7)


def test_imagej_grey_stack_needs_a_mapping(tmp_path, rng):
    grey = (rng.random((5, 6, 7)) * 65535).astype(np.uint16)
    tifffile.imwrite(
        tmp_path / "g.tif",
        grey,
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": "ZYX", "spacing": 2.0, "unit": "nm"},
    )
    with pytest.raises(InputError, match="1 channel"):
        io.read_image(tmp_path / "g.tif")
    vol = io.read_image(tmp_path / "g.tif", channels="golgi=0")
    np.testing.assert_allclose(vol.data[..., 1], grey / 65535, atol=1e-7)
    assert not vol.data[..., 0].any()
    assert vol.voxel_size == pytest.approx((2e-3, 0.25e-3, 0.25e-3))  # nm -> µm
