"""How a TIFF's layout and metadata become code's conventions: the axis order of its
first series as (Z, Y, X, C), the voxel size from ImageJ or OME metadata, and the
checks that reject a truncated file or non-finite values (:mod:`fluoseg.io` reads and
writes the files)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluoseg.errors import InputError

UNIT_TO_UM = {
    "um": 1.0,
    "µm": 1.0,
    "\\u00b5m": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "m": 1e6,
}


def check_complete(tif: object, p: Path) -> None:
    """Raise InputError if the file is shorter than its pages say (truncated)."""
    size = p.stat().st_size
    pages = tif.pages  # type: ignore[attr-defined]
    ij = tif.imagej_metadata  # type: ignore[attr-defined]
    expected = int(ij.get("images", 0)) if ij else 0
    n_pages = len(pages)
    for page in pages:
        offsets = getattr(page, "dataoffsets", ()) or ()
        counts = getattr(page, "databytecounts", ()) or ()
        if any(o + c > size for o, c in zip(offsets, counts, strict=False)):
            raise InputError(
                f"{p}: truncated TIFF ({size} bytes, its image data needs more); "
                "expected a complete file"
            )
    if expected > 1 and n_pages > 1 and n_pages < expected:
        raise InputError(
            f"{p}: truncated TIFF ({n_pages} of {expected} ImageJ slices present); "
            "expected a complete file"
        )
    if expected > 1 and n_pages == 1:
        page = pages[0]
        need = int(np.prod(page.shape)) * page.dtype.itemsize * expected
        offsets = getattr(page, "dataoffsets", (0,)) or (0,)
        if offsets[0] + need > size:
            raise InputError(
                f"{p}: truncated TIFF ({size} bytes, {expected} ImageJ slices need "
                f"{offsets[0] + need}); expected a complete file"
            )


@dataclass(frozen=True)
class TiffMeta:
    """The metadata of a TIFF that carry its voxel size."""

    imagej: dict | None
    ome: str | None
    xres: tuple | None
    yres: tuple | None


def tag_value(page: object, name: str) -> tuple | None:
    """The value of TIFF tag ``name`` of ``page``, or None."""
    tags = getattr(page, "tags", None)
    if tags is None:
        return None
    tag = tags.get(name)
    return None if tag is None else tag.value


def ome_voxel_size(pixels: ET.Element) -> tuple[float, float, float] | None:
    """(z, y, x) in µm from an OME ``Pixels`` element's ``PhysicalSize*`` attributes
    (units converted), or None when one is missing."""
    sizes = []
    for ax in ("Z", "Y", "X"):
        v = pixels.get(f"PhysicalSize{ax}")
        if v is None:
            return None
        unit = pixels.get(f"PhysicalSize{ax}Unit", "µm")
        sizes.append(float(v) * UNIT_TO_UM.get(unit.lower(), 1.0))
    return (sizes[0], sizes[1], sizes[2])


def voxel_size_of(meta: TiffMeta) -> tuple[float, float, float] | None:
    """(z, y, x) in µm from OME or ImageJ metadata, else None."""
    if meta.ome:
        try:
            root = ET.fromstring(meta.ome)
        except ET.ParseError:
            root = None
        if root is not None:
            for el in root.iter():
                if el.tag.endswith("Pixels"):
                    voxel = ome_voxel_size(el)
                    if voxel is not None:
                        return voxel
                    break
    ij = meta.imagej
    if ij and "spacing" in ij and meta.xres and meta.yres:
        scale = UNIT_TO_UM.get(str(ij.get("unit", "um")).lower(), 1.0)
        try:
            x = meta.xres[1] / meta.xres[0]
            y = meta.yres[1] / meta.yres[0]
        except (TypeError, ZeroDivisionError, IndexError):
            return None
        return (float(ij["spacing"]) * scale, float(y) * scale, float(x) * scale)
    return None


def to_zyxc(data: np.ndarray, axes: str, kind: str, name: str) -> np.ndarray:
    """Reorder a TIFF series to (Z, Y, X, C)."""
    if data.size == 0:
        raise InputError(
            f"{name}: empty image of shape {data.shape} (expected a (Z, Y, X, C) "
            "volume with no zero-length axis)"
        )
    if kind in ("imagej", "ome") and set("YX") <= set(axes):
        return _by_axes(data, axes, name)
    return _by_shape(data, name)


def _by_axes(data: np.ndarray, axes: str, name: str) -> np.ndarray:
    """(Z, Y, X, C) of a series from its ImageJ or OME axes string."""
    keep = [i for i, a in enumerate(axes) if data.shape[i] > 1 or a in "YX"]
    data = data.reshape([data.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    chan = [a for a in axes if a in "CS"]
    if len(chan) == 2 and "Z" not in axes:
        # An ImageJ RGB stack whose slices are labelled channels (what tifffile
        # writes without an 'axes' entry): the slices are Z.
        axes = axes.replace("C", "Z")
        chan = ["S"]
    depth = [a for a in axes if a not in "CSYX"]
    if len(chan) > 1 or len(depth) > 1:
        raise InputError(
            f"{name}: a {len(axes)}D image with axes {axes} {data.shape} (expected a "
            "3D volume (Z, Y, X, C) or (Z, C, Y, X); other axes must have length 1)"
        )
    if not depth:
        raise InputError(
            f"{name}: a 2D image with axes {axes} {data.shape} (expected a 3D volume "
            "(Z, Y, X, C) with several Z slices)"
        )
    order = [axes.index(depth[0]), axes.index("Y"), axes.index("X")]
    if chan:
        order.append(axes.index(chan[0]))
        return np.transpose(data, order)
    return np.transpose(data, order)[..., None]


def _by_shape(data: np.ndarray, name: str) -> np.ndarray:
    """(Z, Y, X, C) of a series without axes metadata, from its shape alone."""
    shape = data.shape
    squeezed = data.reshape([s for s in shape if s > 1])
    s = squeezed.shape
    if squeezed.ndim <= 2 or (squeezed.ndim == 3 and s[-1] <= 4):
        raise InputError(
            f"{name}: a 2D image of shape {shape} (expected a 3D volume (Z, Y, X, C) "
            "with several Z slices)"
        )
    if squeezed.ndim == 3:
        return squeezed[..., None]
    if squeezed.ndim == 4:
        if s[-1] <= 4:
            return squeezed
        if s[1] <= 4:
            return np.transpose(squeezed, (0, 2, 3, 1))
        raise InputError(
            f"{name}: cannot tell the channel axis of shape {shape} (expected "
            "(Z, Y, X, C) or (Z, C, Y, X) with at most 4 channels)"
        )
    raise InputError(
        f"{name}: a {squeezed.ndim}D image of shape {shape} (expected a 3D volume "
        "(Z, Y, X, C); extra axes must have length 1)"
    )


def check_finite(data: np.ndarray, name: str) -> None:
    """Raise InputError if float ``data`` holds NaN or Inf (``name`` in the message)."""
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        n_nan = int(np.isnan(data).sum())
        n_inf = int(np.isinf(data).sum())
        raise InputError(
            f"{name}: contains {n_nan} NaN and {n_inf} Inf values (expected finite "
            "intensities)"
        )
