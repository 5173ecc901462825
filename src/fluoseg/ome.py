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
  as :func:`fluoseg.objects.connected_components`), one id per object over the whole
  image; :func:`write_instances` stores them as a (C, Z, Y, X) uint32 OME-TIFF with the
  voxel size and the class names. napari opens 32-bit integer images as Labels.

Writes are atomic and refuse an existing file without ``overwrite``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluoseg import CLASS_NAMES
from fluoseg.errors import InputError
from fluoseg.io import FILE_CHANNELS, atomic_write

_UNITS_TO_UM = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3, "m": 1e6, "cm": 1e4}


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
    sizes: list[float] = []
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
        for ax in ("Z", "Y", "X"):
            value = pixels.get(f"PhysicalSize{ax}")
            unit = pixels.get(f"PhysicalSize{ax}Unit", "µm")
            if value is None:
                sizes = []
                break
            sizes.append(float(value) * _UNITS_TO_UM.get(unit, 1.0))
        names = [c.get("Name", "") for c in pixels if c.tag.endswith("Channel")]
    voxel = (sizes[0], sizes[1], sizes[2]) if sizes else None
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
    from fluoseg.objects import connected_components

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
