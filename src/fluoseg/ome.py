"""OME metadata in and out: masks that keep an OME-TIFF's axes, voxel size and channel
names, and instance-label images that napari opens as Labels.

- :func:`ome_info` reads what an OME-TIFF says about itself (axis order, shape, voxel
  size in µm, channel names), or ``None`` for a file that is not OME-TIFF.
- :func:`write_ome_mask` writes a (Z, Y, X, n) mask as an OME-TIFF with the input's
  axis order (OME-TIFF stores Y and X last: samples ``S`` of an RGB file and a
  missing channel axis become ``C`` before ``Y``), its voxel size and one named
  channel per class. Channels follow the dataset's file order
  (``golgi, nuclei(, pair)``, as R, G, B of the RGB masks), so
  :func:`fluoseg.io.read_mask` reads it back, and values are 0/255 uint8.
- :func:`instance_labels` numbers the connected objects of every class (6-connected,
  as :func:`fluoseg.evaluation.instances.connected_components`), one id per object
  over the whole image; :func:`write_instances` stores them as a (C, Z, Y, X) uint32
  OME-TIFF with the voxel size and the class names. napari opens 32-bit integer
  images as Labels.

Writes are atomic and refuse an existing file without ``overwrite``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fluoseg import CLASS_NAMES
from fluoseg.chunked import (
    RunNetwork,
    percentiles,
    predict_chunked,
    read_ome_zarr,
    stretch,
    to_zyxc,
    write_ome_zarr,
)
from fluoseg.errors import InputError
from fluoseg.evaluation.instances import connected_components
from fluoseg.io import FILE_CHANNELS, atomic_write
from fluoseg.tiff_format import ome_voxel_size


@dataclass(frozen=True)
class OmeInfo:
    """What an OME-TIFF's first series says about itself.

    Attributes:
        axes: axis letters of the stored array, e.g. ``"ZCYX"``.
        shape: the stored array's shape.
        voxel_size: (z, y, x) in µm, or ``None`` when a size is missing.
        channel_names: the ``Channel`` names, or ``()``.
    """

    axes: str
    shape: tuple[int, ...]
    voxel_size: tuple[float, float, float] | None
    channel_names: tuple[str, ...]


def ome_info(path: str | os.PathLike) -> OmeInfo | None:
    """The OME metadata of ``path``, or ``None`` if it is not an OME-TIFF."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.is_ome or not tif.series:
                return None
            series = tif.series[0]
            axes, shape = str(series.axes).upper(), tuple(series.shape)
            xml = tif.ome_metadata
    except Exception:  # noqa: BLE001 - not readable as OME: the TIFF reader decides
        return None
    voxel = None
    names: list[str] = []
    try:
        root = ET.fromstring(xml or "")
    except ET.ParseError:
        root = None
    pixels = (
        None
        if root is None
        else next((e for e in root.iter() if e.tag.endswith("Pixels")), None)
    )
    if pixels is not None:
        voxel = ome_voxel_size(pixels)
        names = [c.get("Name", "") for c in pixels if c.tag.endswith("Channel")]
    return OmeInfo(axes, shape, voxel, tuple(names))


def output_axes(axes: str) -> str:
    """The axis order of an output written for an input with ``axes``."""
    out = axes.replace("S", "")
    if "C" not in out:
        out = out.replace("Y", "CY", 1)
    return out


def _arrange(data: np.ndarray, axes: str) -> np.ndarray:
    """(Z, Y, X, C) ``data`` reordered to ``axes``, other letters as length-1 axes."""
    src = "ZYXC"
    extra = [a for a in axes if a not in src]
    arr = data.reshape(data.shape + (1,) * len(extra))
    src += "".join(extra)
    return np.ascontiguousarray(np.transpose(arr, [src.index(a) for a in axes]))


def _ome_metadata(
    axes: str, voxel_size: Sequence[float] | None, names: Sequence[str]
) -> dict:
    meta: dict = {"axes": axes, "Channel": {"Name": list(names)}}
    if voxel_size is not None:
        z, y, x = (float(v) for v in voxel_size)
        for ax, v in zip("ZYX", (z, y, x), strict=True):
            meta[f"PhysicalSize{ax}"] = v
            meta[f"PhysicalSize{ax}Unit"] = "µm"
    return meta


def _write(path: Path, data: np.ndarray, meta: dict, overwrite: bool) -> Path:
    import tifffile

    def write(tmp: str) -> None:
        tifffile.imwrite(tmp, data, ome=True, photometric="minisblack", metadata=meta)

    return atomic_write(path, write, overwrite=overwrite, suffix=".ome.tif")


def write_ome_mask(
    path: str | os.PathLike,
    mask: np.ndarray,
    info: OmeInfo,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a (Z, Y, X, n) ``[nuclei, golgi(, pair)]`` mask as an OME-TIFF laid out as
    the input ``info`` (axis order, voxel size), channels ``golgi, nuclei(, pair)``."""
    arr = np.asarray(mask)
    if arr.ndim != 4 or arr.shape[-1] not in (2, 3):
        raise InputError(
            f"mask of shape {arr.shape}: expected (Z, Y, X, 2) or (Z, Y, X, 3)"
        )
    n = arr.shape[-1]
    names = sorted(CLASS_NAMES[:n], key=lambda k: FILE_CHANNELS[k])
    order = [CLASS_NAMES.index(k) for k in names]
    data = np.where(arr[..., order] != 0, 255, 0).astype(np.uint8)
    axes = output_axes(info.axes)
    meta = _ome_metadata(axes, info.voxel_size, names)
    return _write(Path(path), _arrange(data, axes), meta, overwrite)


def instance_labels(mask: np.ndarray) -> np.ndarray:
    """(Z, Y, X, C) uint32: the 6-connected objects of every channel of a (Z, Y, X, C)
    mask, numbered 1..n over the whole image (channel 0's objects first)."""
    arr = np.asarray(mask)
    if arr.ndim != 4:
        raise InputError(f"mask of shape {arr.shape}: expected (Z, Y, X, C)")
    out = np.zeros(arr.shape, dtype=np.uint32)
    offset = 0
    for c in range(arr.shape[-1]):
        labels = connected_components(arr[..., c]).astype(np.uint32)
        out[..., c] = np.where(labels > 0, labels + offset, 0)
        offset += int(labels.max())
    return out


def write_instances(
    path: str | os.PathLike,
    labels: np.ndarray,
    *,
    voxel_size: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write (Z, Y, X, C) instance labels as a (C, Z, Y, X) uint32 OME-TIFF."""
    arr = np.asarray(labels)
    if arr.ndim != 4 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"labels of shape {arr.shape}: expected (Z, Y, X, C) integers")
    names = list(class_names or CLASS_NAMES[: arr.shape[-1]])
    meta = _ome_metadata("CZYX", voxel_size, names)
    return _write(Path(path), _arrange(arr.astype(np.uint32), "CZYX"), meta, overwrite)


def predict_ome_zarr(
    run: Any,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    channels: dict[str, int] | None = None,
    threshold: float = 0.5,
    precision: str = "float32",
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> tuple[Path, tuple[int, ...]]:
    """Segment an OME-Zarr image into an OME-Zarr mask, chunk by chunk with dask.

    The run's preprocessing (percentile stretch, :func:`fluoseg.chunked.percentiles`)
    and sliding window (:func:`fluoseg.chunked.predict_chunked`) as ``Run.segment``;
    the mask is (c, z, y, x) uint8 0/255 with channels ``golgi, nuclei(, pair)``, the
    input's voxel size, Zarr format and chunks. Returns (path, (Z, Y, X)).
    """
    from contextlib import nullcontext

    import dask.array as da

    name = str(src)
    image = read_ome_zarr(src)
    vol = to_zyxc(image, name)
    n = vol.shape[-1]
    mapping = channels or {"nuclei": FILE_CHANNELS["nuclei"], "golgi": 0}
    if channels is None and n not in (2, 3):
        raise InputError(
            f"{name}: {n} channel(s) (expected 2 or 3 channels R = Golgi, G = nuclei; "
            "pass --channels nuclei=I,golgi=J to choose others)"
        )
    for k, idx in mapping.items():
        if idx >= n:
            raise InputError(
                f"{name}: channel {idx} requested for {k} but the image has {n} "
                f"channel(s) (expected an index in 0..{n - 1})"
            )
    zero = da.zeros(vol.shape[:3], dtype=vol.dtype, chunks=vol.chunks[:3])
    raw = da.stack(
        [vol[..., mapping[k]] if k in mapping else zero for k in ("nuclei", "golgi")],
        axis=-1,
    ).rechunk({3: -1})
    top = 1.0
    if np.issubdtype(raw.dtype, np.integer):
        top = float(np.iinfo(raw.dtype).max)
    x = (raw.astype(np.float64) / top).astype(np.float32)
    if run.raw:
        x = da.clip(x, 0.0, 1.0)
    else:
        a, b = percentiles(raw)
        lo, hi = (a / top).astype(np.float32), (b / top).astype(np.float32)
        clip = run.stretch_clip
        x = x.map_blocks(lambda blk: stretch(blk, lo, hi, clip), dtype=np.float32)
    window = run._window()
    prof = run.profile
    if any(s < w for s, w in zip(x.shape[:3], window, strict=True)):
        raise InputError(
            f"{name}: volume {x.shape[:3]} is smaller than the window {window} "
            "(expected a large volume for OME-Zarr; write a small one as TIFF)"
        )
    mask = predict_chunked(
        RunNetwork(str(run.path), precision),
        x,
        window,
        run.n_classes,
        overlap=prof.inference_overlap,
        batch_size=prof.inference_batch,
        threshold=threshold,
    )
    names = sorted(CLASS_NAMES[: run.n_classes], key=lambda k: FILE_CHANNELS[k])
    order = [CLASS_NAMES.index(k) for k in names]
    czyx = (mask[..., order] * np.uint8(255)).transpose(3, 0, 1, 2)
    chunks = (len(order), *(c[0] for c in mask.chunks[:3]))
    bar = nullcontext()
    if progress and not scheduler:
        from dask.diagnostics import ProgressBar

        bar = ProgressBar()
    with bar:
        path = write_ome_zarr(
            dst,
            czyx,
            voxel_size=image.voxel_size,
            channel_names=names,
            zarr_format=image.zarr_format,
            chunks=chunks,
            overwrite=overwrite,
            scheduler=scheduler,
        )
    return path, tuple(int(s) for s in x.shape[:3])
