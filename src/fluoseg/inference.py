"""Sliding-window prediction of whole volumes.

A model sees fixed-size windows (e.g. 64^3); :func:`predict_volume` slides such a window
over a volume of any size, predicts the windows in batches and stitches the outputs into
one array with exactly the input's spatial shape.

Window placement and padding:

- ``blending="thesis"`` follows the thesis (section 4.4): each axis is reflection-padded
  at its end so that, starting at 0, windows moving by ``step`` end exactly on the
  padded edge (a crop thinner than the window in z is reflected up to the window
  depth); every output voxel is the uniform mean of the windows covering it.
- ``blending="constant"`` uses the same uniform mean, but windows are placed every
  ``step`` with the last one flush with the volume's end, so no padding is needed
  unless the volume is smaller than the window.
- ``blending="gaussian"`` (default) places windows as ``"constant"`` and weights each
  window's output by a Gaussian centred on the window (sigma = 1/8 of the window along
  each axis, as in nnU-Net and MONAI), so voxels near window borders, where a network
  sees little context, count less and seams vanish.

Padding is virtual: windows are gathered from the input through reflected indices, so
the padded volume is never built. Reflection needs at least 2 voxels; an axis of 1 voxel
is repeated (edge mode).

Memory is bounded by one batch of windows, one slab of accumulators and the output,
never by the number of windows: windows are visited row of windows by row of windows
along Y, and a slab of ``window_y`` rows of float32 sums and weights (size
``Z_pad x window_y x X_pad x (n_out + 1) x 4`` bytes) is kept; the rows no later window
can touch are divided, thresholded if asked, and written to the output before the slab
moves on. With ``threshold`` the output is uint8, so a 2048 x 2048 x 128 volume with a
64^3 window and three classes needs about 1.6 GB of output and 0.4 GB of slab;
integer inputs (e.g. a uint8 memory map) are scaled to [0, 1] window by window, as
:mod:`fluoseg.io` does, so they need no float copy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from fluoseg.errors import InputError
from fluoseg.patches import axis_starts
from fluoseg.transforms import pad_to_at_least

BLENDINGS = ("gaussian", "constant", "thesis")
GAUSSIAN_SIGMA_SCALE = 1.0 / 8.0
GAUSSIAN_MIN_WEIGHT = 1e-3


def _shape3(value: int | Sequence[int], what: str) -> tuple[int, int, int]:
    if isinstance(value, (int, np.integer)):
        value = (int(value),) * 3
    out = tuple(int(v) for v in value)
    if len(out) != 3 or any(v < 1 for v in out):
        raise InputError(f"{what}={tuple(value)!r}: expected three positive integers")
    return out  # type: ignore[return-value]


def gaussian_weights(
    patch_shape: int | Sequence[int], sigma_scale: float = GAUSSIAN_SIGMA_SCALE
) -> np.ndarray:
    """Gaussian importance map of a window: peak 1 at the centre.

    sigma = ``sigma_scale`` x window size along each axis; values are clamped below at
    ``1e-3`` (as MONAI does) so every voxel of a window keeps a positive weight.
    """
    patch = _shape3(patch_shape, "patch_shape")
    axes = []
    for p in patch:
        centre = (p - 1) / 2.0
        sigma = max(p * sigma_scale, 1e-6)
        i = np.arange(p, dtype=np.float64)
        axes.append(np.exp(-((i - centre) ** 2) / (2.0 * sigma**2)))
    w = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    w /= w.max()
    return np.maximum(w, GAUSSIAN_MIN_WEIGHT).astype(np.float32)


def window_weights(patch_shape: int | Sequence[int], blending: str) -> np.ndarray:
    """The (pz, py, px) weight map of one window for a blending mode."""
    if blending not in BLENDINGS:
        raise InputError(
            f"blending={blending!r}: expected one of {', '.join(BLENDINGS)}"
        )
    if blending == "gaussian":
        return gaussian_weights(patch_shape)
    return np.ones(_shape3(patch_shape, "patch_shape"), dtype=np.float32)


def resolve_step(
    patch_shape: int | Sequence[int],
    overlap: float = 0.5,
    step: int | Sequence[int] | None = None,
) -> tuple[int, int, int]:
    """Window step per axis: ``step`` if given, else ``round(patch * (1 - overlap))``.

    Raises:
        InputError: overlap outside [0, 1) or a step larger than the window (gaps).
    """
    patch = _shape3(patch_shape, "patch_shape")
    if step is None:
        if not 0.0 <= overlap < 1.0:
            raise InputError(f"overlap={overlap}: expected a fraction in [0, 1)")
        out = tuple(max(1, int(round(p * (1.0 - overlap)))) for p in patch)
    else:
        out = _shape3(step, "step")
    if any(s > p for s, p in zip(out, patch, strict=True)):
        raise InputError(
            f"step={out} is larger than the window {patch}: expected step <= window "
            "so that every voxel is predicted"
        )
    return out  # type: ignore[return-value]


def window_starts(
    shape: Sequence[int],
    patch_shape: int | Sequence[int],
    step: int | Sequence[int],
    blending: str = "gaussian",
) -> list[np.ndarray]:
    """Window starts along Z, Y and X for a volume of spatial ``shape``.

    ``"thesis"``: 0, step, 2 step, ... over the volume padded so the last window ends on
    its edge; otherwise every ``step`` with the last window flush with the volume's end.
    """
    patch = _shape3(patch_shape, "patch_shape")
    steps = _shape3(step, "step")
    out = []
    for size, p, s in zip(tuple(shape)[:3], patch, steps, strict=True):
        if blending == "thesis":
            n = 1 + int(np.ceil(max(size - p, 0) / s))
            out.append(np.arange(n, dtype=np.int64) * s)
        else:
            out.append(axis_starts(int(size), p, s))
    return out


def reflect_indices(length: int, size: int) -> np.ndarray:
    """Source index of each of ``length`` padded positions of an axis of ``size``.

    Positions past the end are reflected (numpy's ``"reflect"``: the edge voxel is not
    repeated), repeatedly if the padding is longer than the axis; an axis of one voxel
    repeats it.
    """
    i = np.arange(length, dtype=np.int64)
    if size == 1:
        return np.zeros(length, dtype=np.int64)
    period = 2 * (size - 1)
    q = np.mod(i, period)
    return np.where(q < size, q, period - q)


def _call(fn: Callable | object, batch: np.ndarray) -> np.ndarray:
    if hasattr(fn, "predict_on_batch"):
        out = fn.predict_on_batch(batch)  # type: ignore[union-attr]
    else:
        out = fn(batch)  # type: ignore[operator]
    if hasattr(out, "numpy"):
        out = out.numpy()
    out = np.asarray(out, dtype=np.float32)
    if out.ndim == 4:
        out = out[..., None]
    if out.ndim != 5 or out.shape[:4] != batch.shape[:4]:
        raise ValueError(
            f"the model returned shape {out.shape} for a batch {batch.shape}: expected "
            "(B, pz, py, px, n_out)"
        )
    return out


def _predict_batch(fn: Callable | object, batch: np.ndarray, tta: bool) -> np.ndarray:
    if not tta:
        return _call(fn, batch)
    total = None
    for k in range(4):
        for axes in itertools.combinations((1, 2, 3), k):
            if axes:
                pred = np.flip(
                    _call(fn, np.ascontiguousarray(np.flip(batch, axes))), axes
                )
            else:
                pred = _call(fn, batch)
            total = pred.copy() if total is None else total + pred
    return total / np.float32(8.0)


def predict_volume(
    fn: Callable | object,
    volume: np.ndarray,
    patch_shape: int | Sequence[int],
    *,
    overlap: float = 0.5,
    step: int | Sequence[int] | None = None,
    batch_size: int = 4,
    blending: str = "gaussian",
    tta: bool = False,
    threshold: float | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Predict a whole (Z, Y, X, C) volume by a sliding window.

    Args:
        fn: a Keras model (``predict_on_batch`` is used) or any callable mapping a
            batch (B, pz, py, px, C) float32 to (B, pz, py, px, n_out).
        volume: (Z, Y, X, C) or (Z, Y, X) array (a memory map works), or a
            :class:`fluoseg.io.Volume`; float data are used as they are, integer data
            are divided by their dtype's maximum.
        patch_shape: window (pz, py, px).
        overlap: fraction of the window shared by neighbours (ignored if ``step``).
        step: window step per axis (int or 3 ints), at most the window.
        batch_size: windows per model call (a short last batch is zero-padded to
            it, so a traced model sees one shape; the padding is dropped).
        blending: ``"gaussian"``, ``"constant"`` or ``"thesis"`` (see module doc).
        tta: average the 8 flips over (z, y, x): flip in, predict, flip back.
        threshold: if given, return uint8 ``probability > threshold``.
        progress: show a tqdm progress bar.

    Returns:
        (Z, Y, X, n_out) float32 probabilities, or uint8 {0, 1} with ``threshold``.
    """
    vol = getattr(volume, "data", volume)  # a fluoseg.io.Volume or an array
    vol = vol if isinstance(vol, np.ndarray) else np.asarray(vol)
    if vol.ndim == 3:
        vol = vol[..., None]
    if vol.ndim != 4 or any(s == 0 for s in vol.shape):
        raise InputError(
            f"volume of shape {vol.shape}: expected (Z, Y, X, C) with no empty axis"
        )
    if batch_size < 1:
        raise InputError(f"batch_size={batch_size}: expected a positive integer")
    patch = _shape3(patch_shape, "patch_shape")
    steps = resolve_step(patch, overlap, step)
    weights = window_weights(patch, blending)
    shape = vol.shape[:3]
    starts = window_starts(shape, patch, steps, blending)
    extent = [int(s[-1]) + p for s, p in zip(starts, patch, strict=True)]
    maps = [reflect_indices(e, n) for e, n in zip(extent, shape, strict=True)]
    pz, py, px = patch
    zs, ys, xs = starts
    ez, _, ex = extent
    n_windows = len(zs) * len(ys) * len(xs)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_windows, desc="windows", unit="win")

    out: np.ndarray | None = None
    acc: np.ndarray | None = None
    buf: np.ndarray | None = None
    plane = list(itertools.product(zs.tolist(), xs.tolist()))
    # every row of windows covers the same (z, x) positions: its weight sum is the same
    row_w = np.zeros((ez, py, ex), dtype=np.float32)
    for z0, x0 in plane:
        row_w[z0 : z0 + pz, :, x0 : x0 + px] += weights
    wsum = np.zeros_like(row_w)
    w4 = weights[..., None]
    # one batch shape for every call: a short last batch is zero-padded (a traced
    # model would otherwise trace again on the new shape), the padding dropped after
    full = min(batch_size, len(plane))
    batch = np.zeros((full, pz, py, px, vol.shape[3]), np.float32)
    scale = None
    if vol.dtype != bool and np.issubdtype(vol.dtype, np.integer):
        scale = np.float32(np.iinfo(vol.dtype).max)
    try:
        for j, y0 in enumerate(ys.tolist()):
            for b0 in range(0, len(plane), full):
                chunk = plane[b0 : b0 + full]
                for k, (z0, x0) in enumerate(chunk):
                    win = _gather(vol, maps, (z0, y0, x0), patch, shape)
                    if scale is None:
                        batch[k] = win
                    else:
                        np.divide(win, scale, out=batch[k], dtype=np.float32)
                batch[len(chunk) :] = 0.0
                pred = _predict_batch(fn, batch, tta)
                if acc is None:
                    n_out = pred.shape[-1]
                    acc = np.zeros((ez, py, ex, n_out), dtype=np.float32)
                    out_dtype = np.uint8 if threshold is not None else np.float32
                    out = np.zeros((*shape, n_out), dtype=out_dtype)
                    buf = np.empty((pz, py, px, n_out), dtype=np.float32)
                for k, (z0, x0) in enumerate(chunk):
                    np.multiply(pred[k], w4, out=buf)
                    acc[z0 : z0 + pz, :, x0 : x0 + px] += buf
                if bar is not None:
                    bar.update(len(chunk))
            wsum += row_w
            # rows [y0, next start) are final: no later window reaches them
            nxt = int(ys[j + 1]) if j + 1 < len(ys) else y0 + py
            done = nxt - y0
            _flush(out, acc, wsum, y0, done, shape, threshold)
            acc[:, : py - done] = acc[:, done:]
            acc[:, py - done :] = 0
            wsum[:, : py - done] = wsum[:, done:]
            wsum[:, py - done :] = 0
    finally:
        if bar is not None:
            bar.close()
    assert out is not None
    return out


def _gather(
    vol: np.ndarray,
    maps: list[np.ndarray],
    origin: tuple[int, int, int],
    patch: tuple[int, int, int],
    shape: tuple[int, ...],
) -> np.ndarray:
    """One window, read through reflected indices only where it leaves the volume."""
    inside = all(o + p <= n for o, p, n in zip(origin, patch, shape, strict=True))
    if inside:
        (z, y, x), (pz, py, px) = origin, patch
        return vol[z : z + pz, y : y + py, x : x + px]
    idx = [m[o : o + p] for m, o, p in zip(maps, origin, patch, strict=True)]
    return vol[np.ix_(*idx)]


def _flush(
    out: np.ndarray | None,
    acc: np.ndarray | None,
    wsum: np.ndarray,
    y0: int,
    rows: int,
    shape: tuple[int, ...],
    threshold: float | None,
) -> None:
    """Write the finished rows [y0, y0 + rows) of the slab to the output."""
    if out is None or acc is None:
        return
    z, y, x = shape
    rows = min(rows, y - y0)
    if rows <= 0:
        return
    for c in range(acc.shape[-1]):  # one class at a time: small temporaries
        prob = acc[:z, :rows, :x, c] / wsum[:z, :rows, :x]
        out[:, y0 : y0 + rows, :, c] = (
            prob > threshold if threshold is not None else prob
        )


def predict_padded(
    fn: Callable | object,
    volume: np.ndarray,
    patch_shape: Sequence[int],
    **kwargs: object,
) -> np.ndarray:
    """:func:`predict_volume` of a volume that may be smaller than the window: it is
    reflect-padded up to the window first (``fluoseg.transforms.pad_to_at_least``, so a
    network traced on one window shape sees only that shape) and the output is cropped
    back to the input's spatial shape. ``kwargs`` go to :func:`predict_volume`."""
    vol = np.asarray(volume)
    shape = vol.shape[:3]
    padded = pad_to_at_least(vol, tuple(int(p) for p in patch_shape))
    out = predict_volume(fn, padded, patch_shape, **kwargs)  # type: ignore[arg-type]
    return out[: shape[0], : shape[1], : shape[2]]


def threshold_by_share(probs: np.ndarray, shares: Sequence[float]) -> np.ndarray:
    """A mask (Z, Y, X, n) uint8 {0, 1} whose channel ``c`` holds the ``shares[c]``
    most probable voxels of ``probs`` (Z, Y, X, n): the threshold of each channel is
    the ``1 - shares[c]`` quantile of its probabilities, so the mask has the expected
    foreground share (ties at the threshold all count as foreground).

    An annotation-free alternative to a fixed threshold for a model whose scores
    rank voxels well but are miscalibrated: ``shares`` come from the masks the model
    learnt from (the unsupervised CycleGAN's synthetic masks), never from test masks.
    """
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 4:
        raise InputError(f"probabilities of shape {p.shape}: expected (Z, Y, X, n)")
    s = [float(v) for v in shares]
    if len(s) != p.shape[-1] or not all(0.0 < v < 1.0 for v in s):
        raise InputError(
            f"shares {shares}: expected one foreground share in (0, 1) per channel "
            f"({p.shape[-1]})"
        )
    out = np.zeros(p.shape, dtype=np.uint8)
    for c, share in enumerate(s):
        t = np.quantile(p[..., c], 1.0 - share)
        out[..., c] = p[..., c] >= max(t, np.finfo(np.float32).tiny)
    return out
