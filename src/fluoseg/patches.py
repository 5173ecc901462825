"""Split volumes into patches, pad them, reassemble them, and sample training origins.

Volumes are (Z, Y, X, ...) arrays: the first three axes are spatial, any trailing axes
(channels) are carried along. Patch shapes may be anisotropic and strides arbitrary.

Padding is always added at the *end* of an axis, so an origin means the same voxel in
the padded and the unpadded volume, and :func:`crop_to` undoes :func:`pad_to_patch`.
The thesis pads crops of 55 to 61 slices up to 64 by reflection; the same rule applies
to any axis shorter than the patch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fluoseg.errors import InputError

Shape3 = tuple[int, int, int]


def _shape3(shape: int | Sequence[int], what: str) -> Shape3:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),) * 3
    out = tuple(int(s) for s in shape)
    if len(out) != 3 or any(s < 1 for s in out):
        raise InputError(f"{what}={tuple(shape)!r}: expected three positive integers")
    return out  # type: ignore[return-value]


def _check_volume(volume: np.ndarray) -> np.ndarray:
    arr = np.asarray(volume)
    if arr.ndim < 3 or any(s == 0 for s in arr.shape[:3]):
        raise InputError(
            f"volume of shape {arr.shape}: expected (Z, Y, X[, C]) with no empty axis"
        )
    return arr


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
    spatial = _shape3(tuple(shape)[:3], "shape")
    patch = _shape3(patch_shape, "patch_shape")
    step = patch if stride is None else _shape3(stride, "stride")
    starts = [
        axis_starts(s, p, t) for s, p, t in zip(spatial, patch, step, strict=True)
    ]
    grid = np.meshgrid(*starts, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1).astype(np.int64)


def pad_to_patch(
    volume: np.ndarray, patch_shape: int | Sequence[int], mode: str = "reflect"
) -> tuple[np.ndarray, tuple[tuple[int, int], ...]]:
    """Pad each spatial axis shorter than the patch, at its end, up to the patch size.

    ``mode`` is any :func:`numpy.pad` mode; with ``"reflect"`` an axis of a single
    voxel, which cannot be reflected, is padded with ``"edge"`` instead.

    Returns:
        ``(padded, pad_widths)``; ``pad_widths`` has one ``(before, after)`` pair per
        axis of ``volume`` (before is always 0; channel axes get ``(0, 0)``).
    """
    arr = _check_volume(volume)
    patch = _shape3(patch_shape, "patch_shape")
    widths = [(0, max(0, p - s)) for s, p in zip(arr.shape[:3], patch, strict=True)]
    widths += [(0, 0)] * (arr.ndim - 3)
    if not any(after for _, after in widths):
        return arr, tuple(widths)
    out = arr
    for axis, (_, after) in enumerate(widths[:3]):
        if after == 0:
            continue
        axis_mode = mode
        if mode in ("reflect", "symmetric") and arr.shape[axis] == 1:
            axis_mode = "edge"
        w = [(0, 0)] * arr.ndim
        w[axis] = (0, after)
        out = np.pad(out, w, mode=axis_mode)
    return out, tuple(widths)


def crop_to(volume: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The leading corner of ``volume`` with spatial ``shape`` (undoes end padding)."""
    z, y, x = _shape3(tuple(shape)[:3], "shape")
    arr = np.asarray(volume)
    if any(a < b for a, b in zip(arr.shape[:3], (z, y, x), strict=True)):
        raise InputError(
            f"cannot crop a volume of shape {arr.shape[:3]} to {(z, y, x)}: expected a "
            "target no larger than the volume"
        )
    return arr[:z, :y, :x]


def split(
    volume: np.ndarray,
    patch_shape: int | Sequence[int] = (64, 64, 64),
    stride: int | Sequence[int] | None = None,
    mode: str = "reflect",
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a (Z, Y, X, ...) volume into patches covering it.

    Axes shorter than the patch are padded first (:func:`pad_to_patch`).

    Returns:
        ``(patches, origins)``: patches (N, *patch_shape, ...) and origins (N, 3).
    """
    arr = _check_volume(volume)
    patch = _shape3(patch_shape, "patch_shape")
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
    target = _shape3(tuple(shape)[:3], "shape")
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


def sample_origins(
    mask: np.ndarray,
    patch_shape: int | Sequence[int],
    n: int,
    foreground_fraction: float = 0.5,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """(n, 3) int64 training-patch origins, a share of them centred on objects.

    ``round(n * foreground_fraction)`` patches are centred on a random foreground voxel:
    first a class is drawn uniformly among the classes present in ``mask`` (so the
    small Golgi class is picked as often as the large nuclei), then one of its voxels.
    The rest are uniform over all valid origins. Origins are clipped so the patch lies
    inside the volume; an axis shorter than the patch gets origin 0 (pad it with
    :func:`pad_to_patch`). The same ``rng`` seed gives the same origins.

    Args:
        mask: (Z, Y, X) or (Z, Y, X, C), nonzero = foreground.
        patch_shape: (pz, py, px).
        n: number of origins.
        foreground_fraction: in [0, 1]; 0 = all uniform.
        rng: a numpy Generator or a seed.
    """
    m = _check_volume(mask)
    if m.ndim == 3:
        m = m[..., None]
    if m.ndim != 4:
        raise InputError(f"mask of shape {m.shape}: expected (Z, Y, X) or (Z, Y, X, C)")
    if not 0.0 <= foreground_fraction <= 1.0:
        raise InputError(
            f"foreground_fraction={foreground_fraction}: expected a number in [0, 1]"
        )
    if n < 0:
        raise InputError(f"n={n}: expected a non-negative number of patches")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    patch = np.asarray(_shape3(patch_shape, "patch_shape"), dtype=np.int64)
    shape = np.asarray(m.shape[:3], dtype=np.int64)
    high = np.maximum(shape - patch, 0)
    classes = [c for c in range(m.shape[-1]) if m[..., c].any()]
    n_fg = int(round(n * foreground_fraction)) if classes else 0
    out = np.empty((n, 3), dtype=np.int64)
    if n_fg:
        picks = gen.integers(0, len(classes), size=n_fg)
        for k, c in enumerate(classes):
            rows = np.flatnonzero(picks == k)
            if not len(rows):
                continue
            coords = np.argwhere(m[..., c] != 0)
            centres = coords[gen.integers(0, len(coords), size=len(rows))]
            out[rows] = np.clip(centres - patch // 2, 0, high)
    if n - n_fg:
        out[n_fg:] = gen.integers(0, high + 1, size=(n - n_fg, 3))
    order = gen.permutation(n)
    return out[order]
