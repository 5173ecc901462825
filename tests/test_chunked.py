"""Tests of ``fluoseg.chunked`` and ``fluoseg predict`` on OME-Zarr: chunk-by-chunk
prediction with dask equals the in-memory sliding window."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.cli import main
from fluoseg.errors import InputError
from fluoseg.inference import predict_volume

da = pytest.importorskip("dask.array")
pytest.importorskip("zarr")

from fluoseg.chunked import (  # noqa: E402
    percentiles,
    predict_chunked,
    read_ome_zarr,
    to_zyxc,
    write_ome_zarr,
)


def _fn(batch: np.ndarray) -> np.ndarray:
    """A window-dependent stand-in network: each output depends on its whole window."""
    mean = batch.mean(axis=(1, 2, 3), keepdims=True)
    return np.concatenate(
        [
            np.tanh(batch[..., :1] + mean[..., :1]),
            batch[..., 1:2] * mean[..., 1:2],
            np.roll(batch[..., :1], 3, axis=2),
        ],
        axis=-1,
    ).astype(np.float32)


@pytest.mark.parametrize("blending", ["gaussian", "constant"])
def test_chunked_equals_in_memory(blending) -> None:
    vol = np.random.default_rng(0).random((21, 70, 37, 2)).astype(np.float32)
    patch = (8, 16, 12)
    ref = predict_volume(_fn, vol, patch, overlap=0.25, batch_size=3, blending=blending)
    lazy = predict_chunked(
        _fn,
        da.from_array(vol, chunks=(10, 24, 20, 2)),
        patch,
        3,
        overlap=0.25,
        batch_size=3,
        blending=blending,
    )
    assert lazy.chunks[:3] == ((10, 11), (24, 24, 22), (20, 17))  # short one merged
    got = lazy.compute(scheduler="threads")
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)
    mask = predict_chunked(
        _fn,
        da.from_array(vol, chunks=(10, 24, 20, 2)),
        patch,
        3,
        overlap=0.25,
        batch_size=3,
        blending=blending,
        threshold=0.5,
    ).compute()
    assert mask.dtype == np.uint8
    assert np.mean(mask == (ref > 0.5)) > 0.9999


def test_chunked_refuses_thesis_blending_and_small_volumes() -> None:
    vol = da.zeros((4, 30, 30, 2), chunks=(4, 10, 10, 2), dtype=np.float32)
    with pytest.raises(InputError, match="thesis"):
        predict_chunked(_fn, vol, 4, 3, blending="thesis")
    with pytest.raises(InputError, match="window"):
        predict_chunked(_fn, vol, 8, 3)


def test_percentiles_exact_for_integers() -> None:
    raw = np.random.default_rng(1).integers(0, 4000, (9, 31, 17, 2), dtype=np.uint16)
    a, b = percentiles(da.from_array(raw, chunks=(4, 10, 9, 2)))
    want = np.percentile(raw, [5, 98], axis=(0, 1, 2))
    np.testing.assert_allclose(a, want[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(b, want[1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("fmt", [2, 3])
def test_ome_zarr_round_trip(tmp_path, fmt) -> None:
    data = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)
    path = write_ome_zarr(
        tmp_path / "a.zarr",
        data,
        voxel_size=(1.0, 0.5, 0.25),
        channel_names=["nuclei", "golgi"],
        zarr_format=fmt,
        chunks=(2, 2, 2, 5),
    )
    img = read_ome_zarr(path)
    assert img.axes == ("c", "z", "y", "x") and img.zarr_format == fmt
    assert img.voxel_size == (1.0, 0.5, 0.25)
    assert img.channel_names == ("nuclei", "golgi")
    np.testing.assert_array_equal(to_zyxc(img, "a").compute(), np.moveaxis(data, 0, -1))
    with pytest.raises(InputError, match="overwrite"):
        write_ome_zarr(path, data)
    write_ome_zarr(path, data[:1], overwrite=True)
    assert read_ome_zarr(path).data.shape == (1, 3, 4, 5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr"]


@pytest.mark.slow
def test_predict_ome_zarr_matches_the_in_memory_path(smoke_unet_run, tmp_path, capsys):
    from distributed import Client, LocalCluster

    from fluoseg.chunked import RunNetwork, stretch
    from fluoseg.io import read_mask

    run = smoke_unet_run
    rng = np.random.default_rng(0)
    zyxc = rng.integers(0, 900, (20, 60, 36, 2)).astype(np.uint16)
    zyxc[4:12, 10:30, 6:20, 0] += 3000
    zyxc[6:10, 30:36, 8:14, 1] += 3000
    src = write_ome_zarr(
        tmp_path / "in.zarr",
        np.moveaxis(zyxc, -1, 0),
        voxel_size=(1.0, 0.5, 0.5),
        chunks=(2, 10, 20, 18),
    )
    # the library path: chunked probabilities equal predict_volume to 1e-6
    x = zyxc.astype(np.float32) / 65535
    a, b = percentiles(da.from_array(zyxc, chunks=(10, 20, 18, 2)))
    pre = stretch(x, a / 65535, b / 65535)
    net = RunNetwork(str(run.path))
    window = run._window()
    ref = predict_volume(net, pre, window, overlap=0.25, batch_size=4)
    got = predict_chunked(
        net,
        da.from_array(pre, chunks=(10, 20, 18, 2)),
        window,
        2,
        overlap=0.25,
        batch_size=4,
    ).compute()
    np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)
    # the command line, local threads, then a dask.distributed scheduler
    argv = [
        "predict",
        "--model",
        str(run.path),
        "--input",
        str(src),
        "--channels",
        "nuclei=0,golgi=1",
    ]
    assert main([*argv, "--output", str(tmp_path / "m.zarr")]) == 0, capsys.readouterr()
    img = read_ome_zarr(tmp_path / "m.zarr")
    assert img.channel_names == ("golgi", "nuclei")
    assert img.voxel_size == (1.0, 0.5, 0.5)
    mask = to_zyxc(img, "m").compute()[..., ::-1] // 255
    from fluoseg.io import write_image

    write_image(tmp_path / "img.tif", x, dtype="float32")
    assert (
        main(
            [
                "predict",
                "--model",
                str(run.path),
                "--input",
                str(tmp_path / "img.tif"),
                "--output",
                str(tmp_path / "m.tif"),
            ]
        )
        == 0
    )
    direct = read_mask(tmp_path / "m.tif", 2)
    # a one-epoch smoke model sits near 0.5: compare where rounding cannot flip it
    sure = np.abs(run.predict(x) - 0.5) > 1e-4
    assert sure.mean() > 0.5
    np.testing.assert_array_equal(mask[sure], direct[sure])
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        with Client(cluster):
            pass
        out = tmp_path / "d.zarr"
        code = main(
            [*argv, "--output", str(out), "--scheduler", cluster.scheduler_address]
        )
        assert code == 0, capsys.readouterr().err
    np.testing.assert_array_equal(read_ome_zarr(out).data.compute(), img.data.compute())
    capsys.readouterr()
    assert main([*argv, "--output", str(tmp_path / "x.tif")]) == 2
    assert "OME-Zarr" in capsys.readouterr().err
