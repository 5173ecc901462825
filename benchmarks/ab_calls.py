"""A/B: ways of calling the network per batch, and the sliding window's own overhead.

All variants run in ONE process, in alternating rounds (A, B, C, D, A, B, ...), so a
change in the machine's load hits them alike; medians per variant are reported with
their ratio to ``predict_on_batch`` (what ``fluoseg.run.Run.predict`` uses).

- ``predict_on_batch``, ``call``, ``tf_function``, ``bf16``: see ``netutil``; each
  predicts one full batch of the profile's windows (U-Net).
- ``short_last_batch``: ``predict_on_batch`` on a batch one window short, as the
  last batch of a crop usually is (does Keras retrace for the new batch size?).
- ``pipeline_only``: ``predict_volume`` over a (Z, 512, 512) crop with a function that
  returns a constant, i.e. the gather/scale/blend/flush work without any network,
  reported per window beside the network's per-window time.

Run: ``python benchmarks/ab_calls.py [--profile cpu] [--rounds 5]``; writes
``benchmarks/results/ab_calls.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import environment, synthetic_image, write_results  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    from netutil import build, make_fn

    from fluoseg.config import get_profile
    from fluoseg.inference import predict_volume, resolve_step, window_starts

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args(argv)
    prof = get_profile(a.profile)
    win, batch = tuple(prof.inference_patch_shape), prof.inference_batch
    _, seg = build("unet", a.profile)
    from fluoseg.models import with_precision

    seg16 = with_precision(seg, "bfloat16")  # the package's bf16 copy, same weights
    fns = {v: make_fn(seg, v, batch, win) for v in ("predict_on_batch", "call")}
    fns["tf_function"] = make_fn(seg, "tf_function", batch, win)
    fns["bf16"] = make_fn(seg16, "bf16", batch, win)
    x = np.random.default_rng(0).random((batch, *win, 2), dtype=np.float32)
    short = x[: batch - 1]
    first = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn(x)
        first[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    seg.predict_on_batch(short)
    first["short_last_batch"] = time.perf_counter() - t0
    times: dict[str, list[float]] = {k: [] for k in [*fns, "short_last_batch"]}
    for _ in range(a.rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(x)
            times[name].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        seg.predict_on_batch(short)
        times["short_last_batch"].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    base = med["predict_on_batch"]

    shape = (win[0] * 2, 512, 512)
    vol = synthetic_image(shape)
    step = resolve_step(win, prof.inference_overlap)
    n_win = int(np.prod([len(s) for s in window_starts(shape, win, step)]))

    def const(b: np.ndarray) -> np.ndarray:
        return np.full((*b.shape[:4], 2), 0.7, np.float32)

    t0 = time.perf_counter()
    predict_volume(const, vol, win, overlap=prof.inference_overlap, batch_size=batch)
    pipe = time.perf_counter() - t0
    res = {
        "profile": a.profile,
        "window": list(win),
        "batch": batch,
        "rounds": a.rounds,
        "first_call_seconds": first,
        "seconds": times,
        "median_seconds": med,
        "ratio_to_predict_on_batch": {k: v / base for k, v in med.items()},
        "pipeline_only": {
            "shape_zyx": list(shape),
            "windows": n_win,
            "seconds": pipe,
            "seconds_per_window": pipe / n_win,
            "network_seconds_per_window": base / batch,
            "pipeline_share": (pipe / n_win) / (pipe / n_win + base / batch),
        },
        "environment": environment(a.profile),
    }
    path = write_results("ab_calls", res)
    for k, v in med.items():
        print(f"{k:18s} median {v:.3f} s  ratio {v / base:.2f}  first {first[k]:.2f} s")
    pp = res["pipeline_only"]
    print(
        f"pipeline only: {pp['seconds_per_window'] * 1e3:.1f} ms/window vs network "
        f"{pp['network_seconds_per_window'] * 1e3:.1f} ms/window "
        f"(share {pp['pipeline_share']:.3f}); wrote {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
