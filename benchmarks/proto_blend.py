"""Prototype: a cheaper accumulation loop for ``fluoseg.inference.predict_volume``.

``predict_volume`` (owned by the inference module) does, per window,
``acc[...] += pred[k] * weights[..., None]`` (a temporary of the window's size) and
``wsum[...] += weights`` (a second full pass over the window). This prototype keeps the
algorithm and its memory bound (row-of-windows slabs) and changes only:

1. the weighted window is written into one preallocated buffer
   (``np.multiply(..., out=buf)``) instead of a fresh temporary per window;
2. the weight sum of a row of windows is the same for every row (the (z, x) window
   positions do not change from row to row), so it is computed once and added once per
   row instead of once per window;
3. a batch is scaled to float32 in place (``np.multiply(window, 1/max, out=slot)``).

It is checked against ``predict_volume`` (same windows, same weights: outputs equal to
float32 round-off) and timed alternately with it using a network-free constant function,
so the numbers are the pipeline's own cost. Run: ``python benchmarks/proto_blend.py``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment, synthetic_image, write_results  # noqa: E402


def predict_volume_proto(  # noqa: ANN201
    fn, vol, patch, overlap=0.5, batch_size=4, blending="gaussian"  # noqa: ANN001
):
    """``predict_volume`` (float output, no TTA) with the three changes above."""
    from fluoseg.inference import (
        _flush,
        _gather,
        reflect_indices,
        resolve_step,
        window_starts,
        window_weights,
    )

    patch = tuple(patch)
    steps = resolve_step(patch, overlap)
    weights = window_weights(patch, blending)
    w4 = weights[..., None]
    shape = vol.shape[:3]
    starts = window_starts(shape, patch, steps, blending)
    extent = [int(s[-1]) + p for s, p in zip(starts, patch, strict=True)]
    maps = [reflect_indices(e, n) for e, n in zip(extent, shape, strict=True)]
    pz, py, px = patch
    zs, ys, xs = starts
    ez, _, ex = extent
    plane = list(itertools.product(zs.tolist(), xs.tolist()))
    row_w = np.zeros((ez, py, ex), np.float32)
    for z0, x0 in plane:
        row_w[z0 : z0 + pz, :, x0 : x0 + px] += weights
    wsum = np.zeros_like(row_w)
    scale = None
    if np.issubdtype(vol.dtype, np.integer):
        scale = np.float32(1.0 / np.iinfo(vol.dtype).max)
    batch_buf = np.empty((batch_size, pz, py, px, vol.shape[3]), np.float32)
    acc = out = buf = None
    for j, y0 in enumerate(ys.tolist()):
        for b0 in range(0, len(plane), batch_size):
            chunk = plane[b0 : b0 + batch_size]
            batch = batch_buf[: len(chunk)]
            for k, (z0, x0) in enumerate(chunk):
                win = _gather(vol, maps, (z0, y0, x0), patch, shape)
                if scale is None:
                    batch[k] = win
                else:
                    np.multiply(win, scale, out=batch[k], dtype=np.float32)
            pred = np.asarray(fn(batch), dtype=np.float32)
            if acc is None:
                n = pred.shape[-1]
                acc = np.zeros((ez, py, ex, n), np.float32)
                out = np.zeros((*shape, n), np.float32)
                buf = np.empty((pz, py, px, n), np.float32)
            for k, (z0, x0) in enumerate(chunk):
                np.multiply(pred[k], w4, out=buf)
                acc[z0 : z0 + pz, :, x0 : x0 + px] += buf
        wsum += row_w
        nxt = int(ys[j + 1]) if j + 1 < len(ys) else y0 + py
        done = nxt - y0
        _flush(out, acc, wsum, y0, done, shape, None)
        acc[:, : py - done] = acc[:, done:]
        acc[:, py - done :] = 0
        wsum[:, : py - done] = wsum[:, done:]
        wsum[:, py - done :] = 0
    return out


def main(argv: list[str] | None = None) -> int:
    from fluoseg.inference import predict_volume

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=3, default=(64, 512, 512))
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    win, overlap = (32, 64, 64), 0.25
    vol = synthetic_image(a.shape, dtype="uint8")
    rng = np.random.default_rng(0)
    const = rng.random((4, *win, 2), dtype=np.float32)

    def fn(b: np.ndarray) -> np.ndarray:
        return const[: len(b)] * b[..., :1]

    ref = predict_volume(fn, vol, win, overlap=overlap, batch_size=4)
    new = predict_volume_proto(fn, vol, win, overlap=overlap, batch_size=4)
    diff = float(np.max(np.abs(ref - new)))
    times: dict[str, list[float]] = {"predict_volume": [], "proto": []}
    for _ in range(a.rounds):
        pair = (("predict_volume", predict_volume), ("proto", predict_volume_proto))
        for name, f in pair:
            t0 = time.perf_counter()
            f(fn, vol, win, overlap=overlap, batch_size=4)
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    res = {
        "shape_zyx": list(a.shape),
        "window": list(win),
        "input_dtype": "uint8",
        "max_abs_difference": diff,
        "seconds": times,
        "median_seconds": med,
        "speedup": med["predict_volume"] / med["proto"],
        "environment": environment(),
    }
    write_results("proto_blend", res)
    print(f"max |difference| {diff:.2e}; predict_volume {med['predict_volume']:.2f} s, "
          f"proto {med['proto']:.2f} s, speed-up {res['speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
