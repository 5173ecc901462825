"""Voxel-wise transforms of volumes: percentile contrast stretching, value-range maps
and end padding to a patch.

All functions are pure (the input is never modified).

The thesis stretches each channel's contrast with eq. 5.1,
``f(x) = (x - a) / (b - a)``, where ``a`` and ``b`` are the 5th and 98th percentiles of
the channel; values outside ``[a, b]`` are clipped to 0 and 1
(:func:`normalize_percentile`; :func:`preprocess_image` is the image as a model sees
it).

Padding is always added at the *end* of an axis, so an origin means the same voxel in
the padded and the unpadded volume, and :func:`crop_to` undoes :func:`pad_to_patch`.
The thesis pads crops of 55 to 61 slices up to 64 by reflection; the same rule applies
to any axis shorter than the patch (:func:`pad_to_at_least` is the rule training uses).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fluoseg.errors import InputError

Shape3 = tuple[int, int, int]


def _default_axes(ndim: int) -> tuple[int, ...]:
    if ndim == 4:  # (Z, Y, X, C): per channel
        return (0, 1, 2)
    if ndim == 5:  # (B, Z, Y, X, C): per sample and channel
        return (1, 2, 3)
    return tuple(range(ndim))


def normalize_percentile(
    x: np.ndarray,
    pmin: float = 5.0,
    pmax: float = 98.0,
    axis: int | Sequence[int] | None = None,
    clip: bool = True,
) -> np.ndarray:
    """Percentile contrast stretching (thesis eq. 5.1), clipped to [0, 1].

    ``a`` and ``b`` are the ``pmin``-th and ``pmax``-th percentiles computed over
    ``axis``; the result is ``clip((x - a) / (b - a), 0, 1)``, or with ``clip=False``
    only clipped below 0 (values above ``b`` keep their order, as in CSBDeep's
    ``normalize(..., clip=False)`` but non-negative).

    Args:
        x: any real array, e.g. (Z, Y, X, C).
        pmin, pmax: percentiles, ``0 <= pmin < pmax <= 100`` (thesis: 5 and 98).
        axis: axes the percentiles are computed over. Default ``None``: per channel,
            i.e. axes (0, 1, 2) of a (Z, Y, X, C) array, axes (1, 2, 3) of a
            (B, Z, Y, X, C) batch (per sample and channel), all axes otherwise.

    When ``b == a`` (a constant channel, or one where more than ``pmax`` per cent of
    the voxels share one value, as in sparse fluorescence with a black background) the
    stretch degenerates into a threshold at ``a``: voxels above ``a`` become 1 and the
    rest 0, so a constant channel becomes all 0 and the rare bright objects survive.

    Raises:
        InputError: bad percentiles or non-finite values.
    """
    if not (0.0 <= pmin < pmax <= 100.0):
        raise InputError(
            f"percentiles pmin={pmin}, pmax={pmax}: expected 0 <= pmin < pmax <= 100"
        )
    arr = np.asarray(x, dtype=np.float32)
    if arr.size == 0:
        raise InputError(f"empty array of shape {arr.shape}: expected some voxels")
    if not np.all(np.isfinite(arr)):
        raise InputError("array contains NaN or Inf: expected finite intensities")
    axes = _default_axes(arr.ndim) if axis is None else axis
    a, b = np.percentile(arr, [pmin, pmax], axis=axes, keepdims=True)
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    width = b - a
    flat = width <= 0
    safe = np.where(flat, np.float32(1.0), width)
    # in place on one fresh array (the crops are large): the same float32 operations
    out = np.subtract(arr, a, dtype=np.float32)
    np.divide(out, safe, out=out)
    if flat.any():
        out = np.where(flat, (arr > a).astype(np.float32), out)
    return np.clip(out, np.float32(0.0), np.float32(1.0) if clip else None, out=out)


def scale_to_unit(x: np.ndarray) -> np.ndarray:
    """Any dtype to float32 in [0, 1].

    - bool: False/True to 0/1;
    - integers: divided by the dtype's maximum (uint8 / 255, uint16 / 65535); negative
      values of signed types are clipped to 0;
    - floats: kept if already within [0, 1], else min-max rescaled to [0, 1]
      (a constant array becomes all 0). Must be finite.

    Raises:
        InputError: non-finite floats or an unsupported dtype.
    """
    arr = np.asarray(x)
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        top = float(np.iinfo(arr.dtype).max)
        return np.clip(arr.astype(np.float64) / top, 0.0, 1.0).astype(np.float32)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"dtype {arr.dtype}: expected bool, integer or float data")
    if arr.size == 0:
        return arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise InputError("array contains NaN or Inf: expected finite intensities")
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0.0 and hi <= 1.0:
        return arr.astype(np.float32)
    if hi == lo:
        return np.zeros(arr.shape, dtype=np.float32)
    return ((arr.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)


to_unit = scale_to_unit
"""Alias of :func:`scale_to_unit`."""


def to_symmetric(x: np.ndarray) -> np.ndarray:
    """Map [0, 1] to [-1, 1] (``2x - 1``), e.g. for a tanh generator."""
    return (2.0 * np.asarray(x, dtype=np.float32) - 1.0).astype(np.float32)


def from_symmetric(x: np.ndarray) -> np.ndarray:
    """Map [-1, 1] back to [0, 1] (``(x + 1) / 2``); inverse of :func:`to_symmetric`."""
    return ((np.asarray(x, dtype=np.float32) + 1.0) / 2.0).astype(np.float32)


def preprocess_image(image: np.ndarray, raw: bool, clip: bool = True) -> np.ndarray:
    """The image as a model sees it: percentile-stretched to [0, 1] unless ``raw``
    (``clip=False``: the stretch is clipped only below 0, see
    :func:`normalize_percentile`)."""
    if raw:
        return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    return np.asarray(normalize_percentile(image, clip=clip), dtype=np.float32)


# ------------------------------------------------------------------------ padding


def shape3(shape: int | Sequence[int], what: str) -> Shape3:
    """``shape`` (an int for a cube) as three positive ints; ``what`` names it in the
    error."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),) * 3
    out = tuple(int(s) for s in shape)
    if len(out) != 3 or any(s < 1 for s in out):
        raise InputError(f"{what}={tuple(shape)!r}: expected three positive integers")
    return out  # type: ignore[return-value]


def check_volume(volume: np.ndarray) -> np.ndarray:
    """``volume`` as an array with three non-empty spatial axes (Z, Y, X, ...)."""
    arr = np.asarray(volume)
    if arr.ndim < 3 or any(s == 0 for s in arr.shape[:3]):
        raise InputError(
            f"volume of shape {arr.shape}: expected (Z, Y, X[, C]) with no empty axis"
        )
    return arr


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
    arr = check_volume(volume)
    patch = shape3(patch_shape, "patch_shape")
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
    z, y, x = shape3(tuple(shape)[:3], "shape")
    arr = np.asarray(volume)
    if any(a < b for a, b in zip(arr.shape[:3], (z, y, x), strict=True)):
        raise InputError(
            f"cannot crop a volume of shape {arr.shape[:3]} to {(z, y, x)}: expected a "
            "target no larger than the volume"
        )
    return arr[:z, :y, :x]


def pad_to_at_least(volume: np.ndarray, patch_shape: Sequence[int]) -> np.ndarray:
    """Reflect-pad ``volume`` (Z, Y, X, C) at the end of each axis to ``patch_shape``:
    the padding training uses.

    Axes already as large as the patch are left alone (an unpadded volume is returned
    as is). When some axis is shorter than its padding, every axis is padded in
    ``symmetric`` mode instead (the edge voxel repeated, reflection repeating), as
    :func:`numpy.pad` would.
    """
    pads = [
        max(0, int(p) - s) for s, p in zip(volume.shape[:3], patch_shape, strict=True)
    ]
    if not any(pads):
        return volume
    fits = all(a < s for a, s in zip(pads, volume.shape[:3], strict=True))
    return pad_to_patch(volume, patch_shape, mode="reflect" if fits else "symmetric")[0]
