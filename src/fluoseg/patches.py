"""Split volumes into windows of a patch shape and reassemble them.

Volumes are (Z, Y, X, ...) arrays: the first three axes are spatial, any trailing axes
(channels) are carried along. Patch shapes may be anisotropic and strides arbitrary.
Axes shorter than the patch are padded at their end first
(:func:`fluoseg.transforms.pad_to_patch`). Where training cuts its patches is
:mod:`fluoseg.data.origins`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fluoseg.errors import InputError
from fluoseg.transforms import check_volume, pad_to_patch, shape3


def axis_starts(size: int, patch: int, stride: int) -> np.ndarray:
    """Window starts along one axis: every ``stride``, the last one flush with the end.

    An axis shorter than the patch has the single start 0 (it will be padded).
    """
    if size <= patch:
        return np.zeros(1, dtype=np.int64)
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return np.asarray(starts, dtype=np.int64)


def patch_origins(
    shape: Sequence[int],
    patch_shape: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
) -> np.ndarray:
    """(N, 3) int64 origins of windows covering a volume of spatial ``shape``.

    Windows start every ``stride`` voxels (default: the patch, i.e. no overlap) and the
    last window of each axis is flush with the end, so every voxel is covered.
    """
    spatial = shape3(tuple(shape)[:3], "shape")
    patch = shape3(patch_shape, "patch_shape")
    step = patch if stride is None else shape3(stride, "stride")
    starts = [
        axis_starts(s, p, t) for s, p, t in zip(spatial, patch, step, strict=True)
    ]
    grid = np.meshgrid(*starts, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1).astype(np.int64)


def split(
    volume: np.ndarray,
    patch_shape: int | Sequence[int] = (64, 64, 64),
    stride: int | Sequence[int] | None = None,
    mode: str = "reflect",
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a (Z, Y, X, ...) volume into patches covering it.

    Axes shorter than the patch are padded first
    (:func:`fluoseg.transforms.pad_to_patch`).

    Returns:
        ``(patches, origins)``: patches (N, *patch_shape, ...) and origins (N, 3).
    """
    arr = check_volume(volume)
    patch = shape3(patch_shape, "patch_shape")
    padded, _ = pad_to_patch(arr, patch, mode=mode)
    origins = patch_origins(padded.shape, patch, stride)
    pz, py, px = patch
    patches = np.empty((len(origins), *patch, *arr.shape[3:]), dtype=arr.dtype)
    for i, (z, y, x) in enumerate(origins):
        patches[i] = padded[z : z + pz, y : y + py, x : x + px]
    return patches, origins


def reassemble(
    patches: np.ndarray, origins: np.ndarray, shape: Sequence[int]
) -> np.ndarray:
    """Inverse of :func:`split`: the mean of the patches covering each voxel.

    Args:
        patches: (N, pz, py, px, ...).
        origins: (N, 3) window origins.
        shape: spatial shape (Z, Y, X) of the result (trailing entries ignored);
            patches reaching past it (padding) are cut.

    Returns:
        float32 (Z, Y, X, ...); voxels no patch covers are 0.
    """
    p = np.asarray(patches)
    o = np.asarray(origins, dtype=np.int64).reshape(-1, 3)
    if p.ndim < 4 or len(p) != len(o):
        raise InputError(
            f"patches {p.shape} and origins {o.shape}: expected (N, pz, py, px, ...) "
            "and (N, 3) with the same N"
        )
    target = shape3(tuple(shape)[:3], "shape")
    patch = p.shape[1:4]
    full = tuple(
        max(t, int(o[:, i].max()) + patch[i]) if len(o) else t
        for i, t in enumerate(target)
    )
    acc = np.zeros(full + p.shape[4:], dtype=np.float64)
    count = np.zeros(full, dtype=np.float64)
    pz, py, px = patch
    for patch_i, (z, y, x) in zip(p, o, strict=True):
        acc[z : z + pz, y : y + py, x : x + px] += patch_i
        count[z : z + pz, y : y + py, x : x + px] += 1
    count = count.reshape(count.shape + (1,) * (acc.ndim - 3))
    out = np.divide(acc, count, out=np.zeros_like(acc), where=count > 0)
    return out[: target[0], : target[1], : target[2]].astype(np.float32)
