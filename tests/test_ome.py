"""Tests of ``fluoseg.ome`` and of ``fluoseg predict`` on OME-TIFF: axes, voxel size and
channel names kept, instance labels, progress bar on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
import tifffile

from fluoseg.cli import main
from fluoseg.errors import InputError
from fluoseg.io import read_mask
from fluoseg.ome import (
    instance_labels,
    ome_info,
    output_axes,
    write_instances,
    write_ome_mask,
)

VOXEL = (1.0, 0.5, 0.25)


def _write_ome(path: Path, zyxc: np.ndarray, axes: str = "ZCYX") -> None:
    data = np.moveaxis(zyxc, -1, 1) if axes == "ZCYX" else zyxc
    tifffile.imwrite(
        path,
        data,
        ome=True,
        photometric="minisblack",
        metadata={
            "axes": axes,
            "PhysicalSizeZ": VOXEL[0],
            "PhysicalSizeY": VOXEL[1],
            "PhysicalSizeX": VOXEL[2],
            "Channel": {"Name": ["GFP", "mCherry"]},
        },
    )


def test_ome_info_reads_axes_voxel_size_and_names(tmp_path, tiny_volume) -> None:
    _write_ome(tmp_path / "a.ome.tif", (tiny_volume * 65535).astype(np.uint16))
    info = ome_info(tmp_path / "a.ome.tif")
    assert info is not None
    assert info.axes == "ZCYX" and info.shape == (6, 2, 10, 12)
    assert info.voxel_size == pytest.approx(VOXEL)
    assert info.channel_names == ("GFP", "mCherry")
    tifffile.imwrite(tmp_path / "plain.tif", tiny_volume)
    assert ome_info(tmp_path / "plain.tif") is None
    assert ome_info(tmp_path / "missing.tif") is None


def test_output_axes() -> None:
    assert output_axes("ZCYX") == "ZCYX"
    assert output_axes("TZCYX") == "TZCYX"
    assert output_axes("ZYXS") == "ZCYX"
    assert output_axes("ZYX") == "ZCYX"


@pytest.mark.parametrize("axes", ["ZCYX", "CZYX"])
def test_ome_mask_round_trip(tmp_path, tiny_mask, axes) -> None:
    info = ome_info_for(tmp_path, axes)
    path = write_ome_mask(tmp_path / "m.ome.tif", tiny_mask, info)
    back = ome_info(path)
    assert back.axes == axes and back.voxel_size == pytest.approx(VOXEL)
    assert back.channel_names == ("golgi", "nuclei", "pair")
    np.testing.assert_array_equal(read_mask(path, 3), tiny_mask)
    with pytest.raises(InputError, match="overwrite"):
        write_ome_mask(path, tiny_mask, info)
    write_ome_mask(path, tiny_mask[..., :2], info, overwrite=True)
    np.testing.assert_array_equal(read_mask(path, 2), tiny_mask[..., :2])


def ome_info_for(tmp_path: Path, axes: str):
    from fluoseg.ome import OmeInfo

    return OmeInfo(axes, (), VOXEL, ())


def test_instance_labels_one_id_per_object() -> None:
    mask = np.zeros((4, 8, 8, 2), np.uint8)
    mask[1:3, 1:3, 1:3, 0] = 1
    mask[1:3, 5:7, 5:7, 0] = 1
    mask[0, 0, 7, 0] = 1
    mask[2:4, 2:6, 2:6, 1] = 1
    labels = instance_labels(mask)
    assert labels.dtype == np.uint32
    assert sorted(np.unique(labels[..., 0]).tolist()) == [0, 1, 2, 3]
    assert np.unique(labels[..., 1]).tolist() == [0, 4]
    np.testing.assert_array_equal(labels > 0, mask > 0)


def test_write_instances_is_uint32_czyx_with_voxel_size(tmp_path) -> None:
    labels = np.zeros((3, 5, 6, 2), np.uint32)
    labels[1, 1:3, 1:3, 0] = 7
    path = write_instances(tmp_path / "l.ome.tif", labels, voxel_size=VOXEL)
    info = ome_info(path)
    assert info.axes == "CZYX" and info.voxel_size == pytest.approx(VOXEL)
    assert info.channel_names == ("nuclei", "golgi")
    data = tifffile.imread(path)
    assert data.dtype == np.uint32  # napari's reader opens 32-bit integers as Labels
    np.testing.assert_array_equal(data, np.moveaxis(labels, -1, 0))


@pytest.mark.slow
def test_predict_ome_in_ome_out_with_instances(smoke_unet_run, tmp_path, capsys):
    rng = np.random.default_rng(0)
    image = rng.random((11, 19, 23, 2)).astype(np.float32)
    image[3:8, 4:12, 5:14, 0] += 1.0
    image = (image / image.max() * 65535).astype(np.uint16)
    _write_ome(tmp_path / "in.ome.tif", image)
    argv = [
        "predict",
        "--model",
        str(smoke_unet_run.path),
        "--input",
        str(tmp_path / "in.ome.tif"),
        "--channels",
        "nuclei=0,golgi=1",
    ]
    code = main(
        [
            *argv,
            "--output",
            str(tmp_path / "m.tif"),
            "--instances",
            str(tmp_path / "labels.tif"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "OME-TIFF" in out and "objects:" in out
    info = ome_info(tmp_path / "m.tif")
    assert info is not None and info.axes == "ZCYX"
    assert info.shape == (11, 2, 19, 23)
    assert info.voxel_size == pytest.approx(VOXEL)
    mask = read_mask(tmp_path / "m.tif", 2)
    direct = smoke_unet_run.segment(image.astype(np.float32)[..., :2] / 65535)
    np.testing.assert_array_equal(mask, direct)
    labels = tifffile.imread(tmp_path / "labels.tif")
    assert labels.dtype == np.uint32 and labels.shape == (2, 11, 19, 23)
    np.testing.assert_array_equal(np.moveaxis(labels, 0, -1) > 0, mask > 0)
    assert ome_info(tmp_path / "labels.tif").voxel_size == pytest.approx(VOXEL)
    # the same output twice is refused, one line, nothing written
    code = main(
        [
            *argv,
            "--output",
            str(tmp_path / "x.tif"),
            "--instances",
            str(tmp_path / "x.tif"),
        ]
    )
    assert code == 2 and not (tmp_path / "x.tif").exists()


@pytest.mark.slow
def test_progress_bar_on_a_terminal_only(smoke_unet_run, tmp_path) -> None:
    from fluoseg.io import write_image

    write_image(tmp_path / "img.tif", np.full((8, 20, 20, 2), 0.5, np.float32))
    argv = [
        sys.executable,
        "-m",
        "fluoseg",
        "predict",
        "--model",
        str(smoke_unet_run.path),
        "--input",
        str(tmp_path / "img.tif"),
    ]
    master, slave = pty.openpty()
    # a terminal 100 columns wide (a new pty has 0, where tqdm draws nothing)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    done = subprocess.run(
        [*argv, "--output", str(tmp_path / "a.tif")],
        stderr=slave,
        stdout=subprocess.PIPE,
        timeout=300,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            block = os.read(master, 65536)
        except OSError:
            break
        if not block:
            break
        chunks.append(block)
    os.close(master)
    assert done.returncode == 0
    assert b"windows" in b"".join(chunks)
    piped = subprocess.run(
        [*argv, "--output", str(tmp_path / "b.tif")], capture_output=True, timeout=300
    )
    assert piped.returncode == 0 and b"windows:" not in piped.stderr
