"""Intensity preprocessing: percentile contrast stretching and value-range changes.

All functions are pure (the input is never modified) and return float32.

The thesis stretches each channel's contrast with eq. 5.1,
``f(x) = (x - a) / (b - a)``, where ``a`` and ``b`` are the 5th and 98th percentiles of
the channel; values outside ``[a, b]`` are clipped to 0 and 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fluoseg.errors import InputError


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
    out = arr - a  # in place from here on: one float32 copy of x, not five
    out /= safe
    if np.any(flat):
        out = np.where(flat, (arr > a).astype(np.float32), out)
    return np.clip(out, 0.0, 1.0 if clip else None, out=out).astype(
        np.float32, copy=False
    )


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
