"""Read and write image and mask TIFFs in the dataset's convention.

Files follow the thesis dataset: a volume is a TIFF of shape (Z, Y, X, 3) whose
channels are R = Golgi (mCherry), G = nuclei (GFP) and B = unused (images) or the
nucleus-Golgi pair class (masks). Code works in (Z, Y, X, C) float32 arrays in class
order ``[nuclei, golgi(, pair)]``; this module is the only place that converts between
the two orders.

Accepted layouts when reading (told apart by :mod:`fluoseg.tiff_format`):

- ``ZYXC`` with 1 to 4 channels in the last axis (plain TIFF, ImageJ RGB stacks);
- ``ZCYX`` from ImageJ hyperstack or OME axes metadata, or, without metadata, when
  axis 1 is small (at most 4) and the last axis is large;
- ImageJ ``TZCYXS``-style files, whose singleton axes (T, or S for grey data) are
  dropped.

Integer data are scaled to [0, 1] by the maximum of their dtype (uint8 by 255, uint16 by
65535, even if the camera used only 12 bits); floating-point data are kept as they are
but must be finite. The voxel size (z, y, x) in micrometres is read from ImageJ
metadata (``spacing`` and the X/Y resolution tags) or from OME ``PhysicalSize*``.

Everything malformed raises :class:`fluoseg.errors.InputError` with a one-line message
naming the file, the problem and the expected form. Writes are atomic (a temporary file
in the same folder, then :func:`os.replace`) and never replace an existing file unless
``overwrite=True`` (``--overwrite`` on the command line).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluoseg.errors import InputError
from fluoseg.tiff_format import (
    TiffMeta,
    check_complete,
    check_finite,
    tag_value,
    to_zyxc,
    voxel_size_of,
)

FILE_CHANNELS = {"golgi": 0, "nuclei": 1, "pair": 2}
"""Channel of each class in the dataset's RGB files: R = Golgi, G = nuclei, B = pair."""


@dataclass(frozen=True)
class Volume:
    """A 3D two-channel image as used in code.

    Attributes:
        data: (Z, Y, X, 2) float32, channels ``[nuclei, golgi]``.
        voxel_size: (z, y, x) in micrometres, or ``None`` when the file does not say.
        source: where the volume came from (a path, or a short description).
    """

    data: np.ndarray
    voxel_size: tuple[float, float, float] | None
    source: str

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`."""
        return tuple(self.data.shape)


# --------------------------------------------------------------------------- reading


def _read_raw(path: str | os.PathLike) -> tuple[np.ndarray, str, str, object]:
    """Return (array, axes, series kind, metadata) of a TIFF's first series."""
    import tifffile

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found (expected a TIFF file)")
    if not p.is_file():
        raise InputError(f"{p}: not a file (expected a TIFF file)")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file (expected a TIFF file)")
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # its warnings become our one-line error
    try:
        with tifffile.TiffFile(p) as tif:
            if not tif.series:
                raise InputError(f"{p}: TIFF holds no image (expected a 3D volume)")
            check_complete(tif, p)
            series = tif.series[0]
            data = np.asarray(series.asarray())
            axes = str(series.axes).upper()
            kind = str(getattr(series, "kind", "")).lower()
            meta = TiffMeta(
                imagej=tif.imagej_metadata,
                ome=tif.ome_metadata if tif.is_ome else None,
                xres=tag_value(tif.pages[0], "XResolution"),
                yres=tag_value(tif.pages[0], "YResolution"),
            )
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # tifffile raises many types on bad files
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{p}: not a readable TIFF (truncated or corrupt file?): {detail}"
        ) from None
    finally:
        logger.setLevel(level)
    if data.ndim != len(axes):
        axes = "Q" * data.ndim
    return data, axes, kind, meta


def _scale(data: np.ndarray) -> np.ndarray:
    if data.dtype == bool:
        return data.astype(np.float32)
    if np.issubdtype(data.dtype, np.integer):
        # the float64 quotient rounded to float32, one slice at a time: no float64
        # copy of the whole volume (a training crop's is ~0.7 GB)
        out = np.empty(data.shape, dtype=np.float32)
        top = np.iinfo(data.dtype).max
        for i in range(data.shape[0]):
            out[i] = data[i].astype(np.float64) / top
        return out
    if np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float32)
    raise InputError(f"unsupported pixel type {data.dtype} (expected integer or float)")


def parse_channels(channels: Mapping[str, int] | str | None) -> dict[str, int] | None:
    """Parse ``"nuclei=1,golgi=0"`` or ``{"nuclei": 1, "golgi": 0}``.

    Returns ``None`` for ``None`` (use the file convention R = Golgi, G = nuclei).
    """
    if channels is None:
        return None
    form = "expected e.g. 'nuclei=1,golgi=0' (file channel index of each class)"
    if isinstance(channels, str):
        out: dict[str, int] = {}
        for part in channels.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, val = part.partition("=")
            if not sep:
                raise InputError(f"bad channel mapping {channels!r}: {form}")
            out[key.strip().lower()] = val.strip()  # type: ignore[assignment]
        channels = out
    result: dict[str, int] = {}
    for key, val in dict(channels).items():
        k = str(key).lower()
        if k not in ("nuclei", "golgi"):
            raise InputError(f"bad channel name {key!r} in channel mapping: {form}")
        try:
            idx = int(val)
        except (TypeError, ValueError):
            raise InputError(f"bad channel index {val!r} for {k}: {form}") from None
        if idx < 0:
            raise InputError(f"negative channel index {idx} for {k}: {form}")
        result[k] = idx
    if not result:
        raise InputError(f"empty channel mapping {channels!r}: {form}")
    return result


def read_image(
    path: str | os.PathLike, channels: Mapping[str, int] | str | None = None
) -> Volume:
    """Read an image TIFF as a :class:`Volume`, data (Z, Y, X, 2) ``[nuclei, golgi]``.

    Args:
        path: the TIFF file.
        channels: which file channel holds each class, e.g. ``"nuclei=1,golgi=0"``
            or ``{"nuclei": 1, "golgi": 0}``. Default: the dataset's convention
            R = Golgi, G = nuclei (B ignored), which needs 2 or 3 channels. A class left
            out of the mapping gets an all-zero channel (e.g. ``"nuclei=0"`` for a
            one-channel nuclei stain).

    Integer data are divided by their dtype's maximum (uint8 by 255, uint16 by 65535);
    float data are kept as they are but must be finite.

    Raises:
        InputError: missing, unreadable, 2D, wrong channel count, NaN/Inf or empty.
    """
    name = str(path)
    raw, axes, kind, meta = _read_raw(path)
    data = to_zyxc(raw, axes, kind, name)
    check_finite(data, name)
    n = data.shape[-1]
    mapping = parse_channels(channels)
    if mapping is None:
        if n not in (2, 3):
            raise InputError(
                f"{name}: {n} channel(s) of shape {data.shape} (expected 2 or 3 "
                "channels R = Golgi, G = nuclei[, B unused]; pass channels="
                "'nuclei=I,golgi=J' to choose others)"
            )
        mapping = {"nuclei": FILE_CHANNELS["nuclei"], "golgi": FILE_CHANNELS["golgi"]}
    for k, idx in mapping.items():
        if idx >= n:
            raise InputError(
                f"{name}: channel {idx} requested for {k} but the file has {n} "
                f"channel(s) (expected an index in 0..{n - 1})"
            )
    out = np.zeros(data.shape[:3] + (2,), dtype=np.float32)
    for c, k in enumerate(("nuclei", "golgi")):
        if k in mapping:  # only the used channels are scaled
            out[..., c] = _scale(data[..., mapping[k]])
    return Volume(data=out, voxel_size=voxel_size_of(meta), source=name)


def read_mask(path: str | os.PathLike, n_classes: int | None = None) -> np.ndarray:
    """Read a mask TIFF as (Z, Y, X, n) uint8 {0, 1}, ``[nuclei, golgi(, pair)]``.

    The file holds R = Golgi, G = nuclei, B = pair; any nonzero value counts as 1.

    Args:
        path: the TIFF file (2 or 3 channels).
        n_classes: 2 (nuclei, golgi) or 3 (with pair, which needs a 3-channel file).
            ``None``: 3 when the file's B channel has any nonzero voxel, else 2.

    Raises:
        InputError: as :func:`read_image`, or a channel count that does not fit.
    """
    if n_classes not in (None, 2, 3):
        raise InputError(f"n_classes={n_classes!r}: expected 2, 3 or None")
    name = str(path)
    raw, axes, kind, _ = _read_raw(path)
    data = to_zyxc(raw, axes, kind, name)
    check_finite(data, name)
    n = data.shape[-1]
    if n not in (2, 3) or (n_classes == 3 and n != 3):
        want = (
            "3 channels (R = Golgi, G = nuclei, B = pair)"
            if n_classes == 3
            else ("2 or 3 channels (R = Golgi, G = nuclei[, B = pair])")
        )
        raise InputError(
            f"{name}: {n} channel(s) of shape {data.shape} (expected {want})"
        )
    if n_classes is None:
        n_classes = 3 if n == 3 and bool(np.any(data[..., 2] != 0)) else 2
    order = [FILE_CHANNELS[c] for c in ("nuclei", "golgi", "pair")[:n_classes]]
    out = np.empty(data.shape[:3] + (n_classes,), dtype=np.uint8)
    for c, i in enumerate(order):  # straight into uint8: no bool copy of the volume
        np.not_equal(data[..., i], 0, out=out[..., c])
    return out


def check_same_shape(
    a: np.ndarray | Volume, b: np.ndarray | Volume, names: Sequence[str] = ("a", "b")
) -> None:
    """Raise InputError unless ``a`` and ``b`` have the same spatial shape (Z, Y, X)."""
    sa = tuple((a.data if isinstance(a, Volume) else np.asarray(a)).shape[:3])
    sb = tuple((b.data if isinstance(b, Volume) else np.asarray(b)).shape[:3])
    if sa != sb:
        raise InputError(
            f"{names[0]} has shape (Z, Y, X) = {sa} but {names[1]} has {sb} "
            "(expected the same shape)"
        )


# --------------------------------------------------------------------------- writing


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[str], object],
    *,
    overwrite: bool = False,
    suffix: str = ".tmp",
) -> Path:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then rename it.

    The output appears complete or not at all; an existing ``path`` is replaced only
    with ``overwrite=True`` (else InputError naming ``--overwrite``). ``suffix`` ends
    the temporary name, for writers that insist on an extension (Keras: ``.keras``,
    ``.weights.h5``). The file gets the usual permissions (0666 less the umask).
    """
    return _atomic_write(path, overwrite, write, suffix)


def _atomic_write(
    path: str | os.PathLike,
    overwrite: bool,
    write: Callable[[str], object],
    suffix: str = ".tmp",
) -> Path:
    p = Path(path)
    if p.exists() and not overwrite:
        raise InputError(
            f"{p}: already exists (pass overwrite=True, or --overwrite on the command "
            "line, to replace it)"
        )
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{p}: folder {folder} does not exist (expected a folder)")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return p


def _write_rgb(
    tmp: str, rgb: np.ndarray, voxel_size: tuple[float, float, float] | None
) -> None:
    """Write (Z, Y, X, 3) as an ImageJ RGB stack (uint8) or a ZCYX hyperstack."""
    import tifffile

    metadata: dict = {}
    kwargs: dict = {}
    if voxel_size is not None:
        z, y, x = (float(v) for v in voxel_size)
        metadata.update(spacing=z, unit="micron")
        kwargs["resolution"] = (1.0 / x, 1.0 / y)
    if rgb.dtype == np.uint8:
        metadata["axes"] = "ZYXS"
        tifffile.imwrite(
            tmp, rgb, imagej=True, photometric="rgb", metadata=metadata, **kwargs
        )
    else:  # ImageJ's RGB type is 8-bit only: a 3-channel hyperstack instead
        metadata["axes"] = "ZCYX"
        data = np.ascontiguousarray(np.transpose(rgb, (0, 3, 1, 2)))
        tifffile.imwrite(
            tmp,
            data,
            imagej=True,
            photometric="minisblack",
            metadata=metadata,
            **kwargs,
        )


def _check_voxel_size(voxel_size: Sequence[float] | None) -> tuple | None:
    if voxel_size is None:
        return None
    vs = tuple(float(v) for v in voxel_size)
    if len(vs) != 3 or not all(np.isfinite(v) and v > 0 for v in vs):
        raise InputError(
            f"voxel_size={voxel_size!r}: expected three positive numbers (z, y, x), µm"
        )
    return vs


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    voxel_size: Sequence[float] | None = None,
    dtype: str = "uint8",
    overwrite: bool = False,
) -> Path:
    """Write a (Z, Y, X, 2) ``[nuclei, golgi]`` image in [0, 1] as an RGB TIFF (B = 0).

    ``dtype`` ``"uint8"`` (x 255, an ImageJ RGB stack), ``"uint16"`` (x 65535) or
    ``"float32"`` (as is); ImageJ has no 16-bit or float RGB, so those two are written
    as a 3-channel ImageJ hyperstack (Z, C, Y, X), which :func:`read_image` also reads.
    The voxel size (z, y, x) in µm is stored as ImageJ ``spacing`` and resolution tags.
    """
    arr = np.asarray(image)
    if arr.ndim != 4 or arr.shape[-1] != 2 or arr.size == 0:
        raise InputError(
            f"image of shape {arr.shape}: expected (Z, Y, X, 2) [nuclei, golgi]"
        )
    if dtype not in ("uint8", "uint16", "float32"):
        raise InputError(f"dtype={dtype!r}: expected 'uint8', 'uint16' or 'float32'")
    arr = arr.astype(np.float32)
    check_finite(arr, "image")
    if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise InputError(
            f"image values in [{arr.min():.4g}, {arr.max():.4g}]: expected [0, 1]"
        )
    arr = np.clip(arr, 0.0, 1.0)
    vs = _check_voxel_size(voxel_size)
    rgb = np.zeros(arr.shape[:3] + (3,), dtype=np.float32)
    rgb[..., FILE_CHANNELS["nuclei"]] = arr[..., 0]
    rgb[..., FILE_CHANNELS["golgi"]] = arr[..., 1]
    if dtype == "uint8":
        out = np.round(rgb * 255).astype(np.uint8)
    elif dtype == "uint16":
        out = np.round(rgb * 65535).astype(np.uint16)
    else:
        out = rgb
    return _atomic_write(path, overwrite, lambda tmp: _write_rgb(tmp, out, vs))


def write_mask(
    path: str | os.PathLike,
    mask: np.ndarray,
    *,
    voxel_size: Sequence[float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a (Z, Y, X, 2|3) ``[nuclei, golgi(, pair)]`` mask as uint8 0/255 RGB.

    R = Golgi, G = nuclei, B = pair (0 for a 2-class mask); any nonzero value is 255.
    """
    arr = np.asarray(mask)
    if arr.ndim != 4 or arr.shape[-1] not in (2, 3) or arr.size == 0:
        raise InputError(
            f"mask of shape {arr.shape}: expected (Z, Y, X, 2) or (Z, Y, X, 3) "
            "[nuclei, golgi(, pair)]"
        )
    check_finite(arr, "mask")
    vs = _check_voxel_size(voxel_size)
    rgb = np.zeros(arr.shape[:3] + (3,), dtype=np.uint8)
    for c, k in enumerate(("nuclei", "golgi", "pair")[: arr.shape[-1]]):
        rgb[..., FILE_CHANNELS[k]] = np.where(arr[..., c] != 0, 255, 0)
    return _atomic_write(path, overwrite, lambda tmp: _write_rgb(tmp, rgb, vs))
