"""Volumes larger than memory: OME-Zarr in and out, predicted chunk by chunk with dask.

:func:`predict_chunked` is :func:`fluoseg.inference.predict_volume` on a dask array: the
same windows (placed on the whole volume's grid), the same weights, but each chunk is
computed on its own by ``dask.array.map_overlap`` with a halo of ``window - 1`` voxels
per axis (every window that touches a chunk lies inside the chunk and its halo), so
the result equals the in-memory one up to float rounding (the sums run in another
order; tested to 1e-6) while memory holds only a few chunks at a time. Any dask
scheduler computes it: the local threaded one by default, or a ``dask.distributed``
cluster given by its address (``fluoseg predict --scheduler tcp://host:8786``).

:func:`read_ome_zarr` opens an OME-Zarr image (NGFF 0.4 on Zarr v2, or 0.5 on Zarr v3)
lazily and :func:`write_ome_zarr` writes one (same versions, atomically: a temporary
folder beside the target, then a rename). :func:`percentiles` gives the percentile
stretch's per-channel percentiles without loading the volume: exact for integer data
(a histogram of every value), from an evenly strided sample of at most
``SAMPLE_VOXELS`` voxels for float data.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fluoseg.errors import InputError
from fluoseg.inference import (
    _predict_batch,
    _shape3,
    resolve_step,
    window_starts,
    window_weights,
)
from fluoseg.run import Run

SAMPLE_VOXELS = 2**24
"""Voxels per channel that :func:`percentiles` samples from float data."""


@dataclass(frozen=True)
class ZarrImage:
    """An OME-Zarr image opened lazily.

    Attributes:
        data: the full-resolution level as a dask array, in stored axis order.
        axes: axis names, e.g. ``("c", "z", "y", "x")``.
        voxel_size: (z, y, x) from the level's scale, or ``None``.
        channel_names: ``omero`` channel labels, or ``()``.
        zarr_format: 2 (NGFF 0.4) or 3 (NGFF 0.5).
    """

    data: Any
    axes: tuple[str, ...]
    voxel_size: tuple[float, float, float] | None
    channel_names: tuple[str, ...]
    zarr_format: int


def is_zarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Zarr group folder (or is named ``*.zarr``)."""
    p = Path(path)
    if p.suffix.lower() == ".zarr":
        return True
    return p.is_dir() and any((p / f).is_file() for f in ("zarr.json", ".zgroup"))


def read_ome_zarr(path: str | os.PathLike) -> ZarrImage:
    """Open the first multiscale image of an OME-Zarr group, level 0.

    Raises:
        InputError: not a Zarr group or no OME ``multiscales`` metadata.
    """
    import dask.array as da
    import zarr

    p = Path(path)
    try:
        group = zarr.open_group(str(p), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises several types
        raise InputError(f"{p}: not a readable Zarr group ({exc})") from None
    attrs = dict(group.attrs)
    ome = attrs.get("ome", attrs)
    multiscales = ome.get("multiscales")
    if not multiscales:
        raise InputError(
            f"{p}: no OME 'multiscales' metadata (expected an OME-Zarr image)"
        )
    ms = multiscales[0]
    axes = tuple(
        str(a["name"] if isinstance(a, dict) else a).lower() for a in ms["axes"]
    )
    level = ms["datasets"][0]
    data = da.from_zarr(group[level["path"]])
    scale = None
    for t in level.get("coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = dict(zip(axes, t["scale"], strict=True))
    voxel = (
        tuple(float(scale[a]) for a in "zyx")
        if scale and all(a in scale for a in "zyx")
        else None
    )
    names = tuple(
        str(c.get("label", "")) for c in ome.get("omero", {}).get("channels", [])
    )
    fmt = int(getattr(group.metadata, "zarr_format", 3))
    return ZarrImage(data, axes, voxel, names, fmt)  # type: ignore[arg-type]


def to_zyxc(image: ZarrImage, name: str) -> Any:
    """The image as a (Z, Y, X, C) dask array (other axes must have length 1)."""
    axes = list(image.axes)
    data = image.data
    for a in [a for a in axes if a not in "czyx"]:
        i = axes.index(a)
        if data.shape[i] != 1:
            raise InputError(
                f"{name}: axis {a!r} has length {data.shape[i]} (expected a 3D volume; "
                "other axes must have length 1)"
            )
        data = data[(slice(None),) * i + (0,)]
        axes.pop(i)
    if not set("zyx") <= set(axes):
        raise InputError(f"{name}: axes {image.axes} (expected z, y and x)")
    if "c" not in axes:
        data, axes = data[..., None], [*axes, "c"]
    return data.transpose([axes.index(a) for a in "zyxc"])


def write_ome_zarr(
    path: str | os.PathLike,
    data: Any,
    *,
    axes: Sequence[str] = ("c", "z", "y", "x"),
    voxel_size: Sequence[float] | None = None,
    channel_names: Sequence[str] = (),
    zarr_format: int = 3,
    chunks: Sequence[int] | None = None,
    overwrite: bool = False,
    scheduler: str | None = None,
) -> Path:
    """Write a numpy or dask array as a one-level OME-Zarr image, computing a dask
    array chunk by chunk (on ``scheduler``: an address, or ``None`` for local threads).
    """
    import dask.array as da
    import zarr

    dest = Path(path)
    if dest.exists() and not overwrite:
        raise InputError(f"{dest}: already exists (pass --overwrite to replace it)")
    if not dest.parent.is_dir():
        raise InputError(f"{dest}: folder {dest.parent} does not exist")
    arr = data if isinstance(data, da.Array) else da.from_array(np.asarray(data))
    chunks = tuple(chunks) if chunks else tuple(c[0] for c in arr.chunks)
    arr = arr.rechunk(chunks)
    scale = [
        float(dict(zip("zyx", voxel_size, strict=True)).get(a, 1.0))
        if voxel_size is not None
        else 1.0
        for a in axes
    ]
    kinds = {"c": "channel", "t": "time"}
    ms = {
        "axes": [
            {
                "name": a,
                "type": kinds.get(a, "space"),
                **(
                    {"unit": "micrometer"}
                    if a in "zyx" and voxel_size is not None
                    else {}
                ),
            }
            for a in axes
        ],
        "datasets": [
            {
                "path": "0",
                "coordinateTransformations": [{"type": "scale", "scale": scale}],
            }
        ],
        "name": dest.stem,
    }
    omero = {"channels": [{"label": str(n)} for n in channel_names]}
    if zarr_format == 2:
        attrs: dict = {"multiscales": [{**ms, "version": "0.4"}], "omero": omero}
    else:
        attrs = {"ome": {"version": "0.5", "multiscales": [ms], "omero": omero}}
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        group = zarr.open_group(str(tmp / "image"), mode="w", zarr_format=zarr_format)
        group.attrs.update(attrs)
        target = group.create_array(
            "0", shape=arr.shape, chunks=chunks, dtype=arr.dtype, fill_value=0
        )
        with _scheduler(scheduler):
            da.store(arr, target, lock=False)
        if dest.exists():
            os.replace(dest, tmp / "old")
        os.replace(tmp / "image", dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


class _scheduler:  # noqa: N801 - used as a context manager
    """``with _scheduler(address)``: a dask.distributed client, or nothing."""

    def __init__(self, address: str | None) -> None:
        self.address, self.client = address, None

    def __enter__(self) -> None:
        if self.address:
            from distributed import Client

            try:
                self.client = Client(self.address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise InputError(
                    f"--scheduler {self.address}: no dask scheduler answers ({exc}); "
                    "expected an address such as tcp://host:8786"
                ) from None

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()


def percentiles(
    volume: Any, q: Sequence[float] = (5.0, 98.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel percentiles ``q`` of a (Z, Y, X, C) dask array, as (2, C) values
    on the array's own scale, with numpy's default (linear) interpolation."""
    import dask

    n = int(np.prod(volume.shape[:3]))
    out = np.zeros((len(q), volume.shape[-1]), np.float64)
    exact = np.issubdtype(volume.dtype, np.integer) and volume.dtype.itemsize <= 2
    for c in range(volume.shape[-1]):
        ch = volume[..., c]
        if exact:
            lo = int(np.iinfo(volume.dtype).min)
            k = 2 ** (8 * volume.dtype.itemsize)
            parts = [
                dask.delayed(_histogram)(blk, lo, k) for blk in ch.to_delayed().ravel()
            ]
            cum = np.cumsum(np.sum(dask.compute(*parts), axis=0))
            for i, p in enumerate(q):
                pos = (n - 1) * p / 100.0
                k0, frac = int(np.floor(pos)), pos - np.floor(pos)
                v0 = int(np.searchsorted(cum, k0 + 1))
                v1 = int(np.searchsorted(cum, min(k0 + 2, n)))
                out[i, c] = lo + v0 + frac * (v1 - v0)
        else:
            stride = max(1, int(np.ceil((n / SAMPLE_VOXELS) ** (1 / 3))))
            sample = np.asarray(ch[::stride, ::stride, ::stride], np.float64)
            out[:, c] = np.percentile(sample, q)
    return out[0], out[-1]


def _histogram(block: np.ndarray, lo: int, k: int) -> np.ndarray:
    return np.bincount((np.asarray(block).astype(np.int64) - lo).ravel(), minlength=k)


def stretch(
    block: np.ndarray, a: np.ndarray, b: np.ndarray, clip: bool = True
) -> np.ndarray:
    """``normalize_percentile``'s formula with given per-channel percentiles."""
    x = np.asarray(block, np.float32)
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    flat = (b - a) <= 0
    safe = np.where(flat, np.float32(1.0), b - a)
    out = np.where(flat, (x > a).astype(np.float32), (x - a) / safe)
    return np.clip(out, 0.0, 1.0 if clip else None).astype(np.float32)


@lru_cache(maxsize=2)
def _network(run_path: str, precision: str) -> Any:
    return Run.load(run_path).network(precision)


@dataclass(frozen=True)
class RunNetwork:
    """A picklable ``fn`` for :func:`predict_chunked`: the run's network, loaded once
    per process (so that dask.distributed workers load it themselves)."""

    run_path: str
    precision: str = "float32"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        net = _network(self.run_path, self.precision)
        return np.asarray(net.predict_on_batch(batch), dtype=np.float32)


def predict_chunked(
    fn: Callable[[np.ndarray], np.ndarray],
    volume: Any,
    patch_shape: int | Sequence[int],
    n_out: int,
    *,
    overlap: float = 0.5,
    step: int | Sequence[int] | None = None,
    batch_size: int = 4,
    blending: str = "gaussian",
    threshold: float | None = None,
) -> Any:
    """:func:`fluoseg.inference.predict_volume` as a lazy dask computation.

    Args:
        fn: maps (B, pz, py, px, C) float32 to (B, pz, py, px, ``n_out``); picklable
            for a distributed scheduler (e.g. :class:`RunNetwork`).
        volume: (Z, Y, X, C) float32 dask array, each axis at least the window;
            chunks smaller than ``window - 1`` are enlarged.
        patch_shape, overlap, step, batch_size: as ``predict_volume``.
        blending: ``"gaussian"`` or ``"constant"`` (``"thesis"`` pads past the edge).
        threshold: if given, uint8 ``probability > threshold``.

    Returns:
        A (Z, Y, X, n_out) dask array, chunked as ``volume`` (one channel chunk).
    """
    import dask.array as da

    if blending == "thesis":
        raise InputError(
            "blending='thesis' pads past the volume's edge: expected 'gaussian' or "
            "'constant' for chunked prediction"
        )
    patch = _shape3(patch_shape, "patch_shape")
    shape = tuple(int(s) for s in volume.shape[:3])
    if volume.ndim != 4 or any(s < p for s, p in zip(shape, patch, strict=True)):
        raise InputError(
            f"volume of shape {tuple(volume.shape)}: expected (Z, Y, X, C) at least "
            f"the window {patch} along each axis"
        )
    steps = resolve_step(patch, overlap, step)
    depth = tuple(p - 1 for p in patch)
    volume = volume.rechunk(
        (
            *(
                _chunks_at_least(n, max(c), d)
                for n, c, d in zip(shape, volume.chunks[:3], depth, strict=True)
            ),
            -1,
        )
    )
    starts = window_starts(shape, patch, steps, blending)
    block = _Block(
        fn=fn,
        patch=patch,
        weights=window_weights(patch, blending),
        starts=starts,
        chunks=volume.chunks[:3],
        depth=depth,
        batch_size=batch_size,
        threshold=threshold,
    )
    out_dtype = np.uint8 if threshold is not None else np.float32
    return da.map_overlap(
        block,
        volume,
        depth=(*depth, 0),
        boundary="none",
        trim=False,
        chunks=(*volume.chunks[:3], (n_out,)),
        dtype=out_dtype,
        meta=np.empty((0, 0, 0, 0), out_dtype),
    )


def _chunks_at_least(size: int, chunk: int, least: int) -> tuple[int, ...]:
    """Chunks of ``max(chunk, least)`` along an axis of ``size``, a short last chunk
    merged into the one before (dask's overlap needs every chunk >= the halo)."""
    c = max(chunk, least, 1)
    out = [c] * (size // c)
    rest = size - c * len(out)
    if rest and (rest >= least or not out):
        out.append(rest)
    elif rest:
        out[-1] += rest
    return tuple(out)


@dataclass(frozen=True)
class _Block:
    """One chunk's prediction: the globally placed windows touching the chunk."""

    fn: Callable[[np.ndarray], np.ndarray]
    patch: tuple[int, int, int]
    weights: np.ndarray
    starts: list[np.ndarray]
    chunks: tuple[tuple[int, ...], ...]
    depth: tuple[int, ...]
    batch_size: int
    threshold: float | None

    def __call__(self, ext: np.ndarray, block_id: tuple[int, ...] = ()) -> np.ndarray:
        core0 = [sum(c[:i]) for c, i in zip(self.chunks, block_id, strict=False)]
        size = [c[i] for c, i in zip(self.chunks, block_id, strict=False)]
        ext0 = [max(c0 - d, 0) for c0, d in zip(core0, self.depth, strict=True)]
        sel = [
            s[(s < c0 + n) & (s + p > c0)].tolist()
            for s, c0, n, p in zip(self.starts, core0, size, self.patch, strict=True)
        ]
        windows = list(itertools.product(*sel))
        pz, py, px = self.patch
        acc = wsum = None
        wsum = np.zeros(size, np.float32)
        full = min(self.batch_size, len(windows))
        batch = np.zeros((full, pz, py, px, ext.shape[-1]), np.float32)
        for b0 in range(0, len(windows), full):
            chunk = windows[b0 : b0 + full]
            for k, g in enumerate(chunk):
                lz, ly, lx = (o - e for o, e in zip(g, ext0, strict=True))
                batch[k] = ext[lz : lz + pz, ly : ly + py, lx : lx + px]
            batch[len(chunk) :] = 0.0
            pred = _predict_batch(self.fn, batch, False)
            if acc is None:
                acc = np.zeros((*size, pred.shape[-1]), np.float32)
            for k, g in enumerate(chunk):
                src, dst = [], []
                for o, c0, n, p in zip(g, core0, size, self.patch, strict=True):
                    lo, hi = max(o, c0), min(o + p, c0 + n)
                    src.append(slice(lo - o, hi - o))
                    dst.append(slice(lo - c0, hi - c0))
                w = self.weights[tuple(src)]
                acc[tuple(dst)] += pred[k][tuple(src)] * w[..., None]
                wsum[tuple(dst)] += w
        assert acc is not None
        prob = acc / wsum[..., None]
        if self.threshold is not None:
            return (prob > self.threshold).astype(np.uint8)
        return prob
