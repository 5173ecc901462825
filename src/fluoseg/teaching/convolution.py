"""Convolution arithmetic, computed by hand for the theory chapters.

A convolution computed window by window (``conv_steps``, ``conv_nd``), the output-size
formula, max-pooling and a transposed convolution, on NumPy arrays small enough to
print.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fluoseg.errors import InputError


@dataclass(frozen=True)
class ConvStep:
    """One position of a kernel sliding over an input.

    Attributes:
        out_index: index of the output value this step computes.
        origin: index of the window's first element in the (padded) input.
        window: the input values under the kernel.
        value: ``sum(window * kernel)``, the output value.
    """

    out_index: tuple[int, ...]
    origin: tuple[int, ...]
    window: np.ndarray
    value: float


def _as_tuple(v: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    t = (int(v),) * ndim if np.isscalar(v) else tuple(int(a) for a in v)
    if len(t) != ndim or min(t) < 0:
        raise InputError(
            f"{name}: expected a non-negative int or {ndim} ints, got {v!r}"
        )
    return t


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a convolution: ``floor((n + 2p - d(k-1) - 1) / s) + 1``.

    Raises:
        InputError: non-positive size, kernel or stride, or a kernel larger than the
            padded input.
    """
    if n < 1 or kernel < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise InputError(
            "conv_output_size: expected n, kernel, stride, dilation >= 1 and "
            f"padding >= 0, got n={n}, kernel={kernel}, stride={stride}, "
            f"padding={padding}, dilation={dilation}"
        )
    span = dilation * (kernel - 1) + 1
    if n + 2 * padding < span:
        raise InputError(
            f"conv_output_size: kernel span {span} exceeds the padded input "
            f"{n + 2 * padding}"
        )
    return (n + 2 * padding - span) // stride + 1


def conv_steps(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
) -> list[ConvStep]:
    """Every step of a single-channel convolution (deep-learning style, no flip).

    Works in any number of dimensions (1D, 2D, 3D). Zero padding of ``padding`` values
    is added on both sides of each axis.

    Raises:
        InputError: ``x`` and ``kernel`` differ in dimensionality.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if x.ndim != kernel.ndim or x.ndim == 0:
        raise InputError(
            "conv_steps: expected x and kernel with the same number of dimensions, "
            f"got "
            f"{x.shape} and {kernel.shape}"
        )
    s = _as_tuple(stride, x.ndim, "stride")
    p = _as_tuple(padding, x.ndim, "padding")
    xp = np.pad(x, [(a, a) for a in p])
    out_shape = [
        conv_output_size(n, k, st, pa)
        for n, k, st, pa in zip(x.shape, kernel.shape, s, p, strict=True)
    ]
    steps = []
    for idx in itertools.product(*(range(m) for m in out_shape)):
        origin = tuple(i * st for i, st in zip(idx, s, strict=True))
        sl = tuple(slice(o, o + k) for o, k in zip(origin, kernel.shape, strict=True))
        window = xp[sl]
        steps.append(ConvStep(idx, origin, window, float(np.sum(window * kernel))))
    return steps


def conv_nd(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
) -> np.ndarray:
    """The output of :func:`conv_steps` assembled into an array (float64)."""
    steps = conv_steps(x, kernel, stride, padding)
    shape = tuple(m + 1 for m in steps[-1].out_index)
    out = np.zeros(shape)
    for st in steps:
        out[st.out_index] = st.value
    return out


def max_pool(x: np.ndarray, size: int = 2, stride: int | None = None) -> np.ndarray:
    """Max pooling of a single-channel array of any dimensionality ('valid' windows)."""
    x = np.asarray(x)
    stride = size if stride is None else stride
    out_shape = [conv_output_size(n, size, stride) for n in x.shape]
    out = np.empty(out_shape, dtype=x.dtype)
    for idx in itertools.product(*(range(m) for m in out_shape)):
        out[idx] = x[tuple(slice(i * stride, i * stride + size) for i in idx)].max()
    return out


def transposed_conv(x: np.ndarray, kernel: np.ndarray, stride: int = 2) -> np.ndarray:
    """Transposed convolution of a single-channel array: each input value scatters a
    scaled copy of the kernel, ``out[i*s + a] += x[i] * kernel[a]``.

    The output has length ``(n - 1) * s + k`` per axis, which is what Keras'
    ``Conv*Transpose(padding="valid")`` gives when ``k >= s``.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if x.ndim != kernel.ndim:
        raise InputError(
            f"transposed_conv: x {x.shape} and kernel {kernel.shape} differ in ndim"
        )
    shape = tuple(
        (n - 1) * stride + k for n, k in zip(x.shape, kernel.shape, strict=True)
    )
    out = np.zeros(shape)
    for idx in itertools.product(*(range(n) for n in x.shape)):
        sl = tuple(
            slice(i * stride, i * stride + k)
            for i, k in zip(idx, kernel.shape, strict=True)
        )
        out[sl] += x[idx] * kernel
    return out
