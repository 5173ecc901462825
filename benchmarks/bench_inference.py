"""Inference: sliding-window prediction of a thesis-sized test crop.

One case per ``model-profile[-variant]`` (e.g. ``unet-cpu``, ``unet-cpu-tf_function``),
each in its own process so that its peak RSS is its own. A case builds the untrained
network, warms it up on one batch (tracing), then times one
``fluoseg.inference.predict_volume`` over a synthetic (61, 818, 627, 2) float32 crop
(the thesis's 627 x 818 x 61 test crops; ``--quick``: a crop of one batch of windows,
timed 5 times, the median reported) with the profile's window, overlap and batch and
Gaussian blending.

Reported: seconds, voxels/s, windows, FLOPs (windows x the network's forward FLOPs,
``fluoseg.flops``), achieved FLOP/s, and (in ``run_all``) its fraction of the peak
measured in the same run. Variants: see ``netutil``; ``bf16`` here is the package's
``fluoseg.models.with_precision`` copy called by ``predict_on_batch``, as ``Run`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CROP_SHAPE, emit, run_case, synthetic_image  # noqa: E402
from netutil import MODELS, VARIANTS  # noqa: E402

PROFILES = ("cpu", "paper")
DEFAULT_VARIANT = "predict_on_batch"


def quick_shape(profile: str) -> tuple[int, int, int]:
    """A crop holding exactly one batch (2 x 2 windows in-plane) of the profile."""
    from fluoseg.config import get_profile
    from fluoseg.inference import resolve_step

    prof = get_profile(profile)
    win = prof.inference_patch_shape
    step = resolve_step(win, prof.inference_overlap)
    return (win[0], win[1] + step[1], win[2] + step[2])


def run_one(case: str, quick: bool, shape: tuple[int, int, int] | None = None) -> dict:
    """Time one ``model-profile[-variant]`` case in this process."""
    import numpy as np
    from netutil import build, make_fn

    from fluoseg.config import get_profile
    from fluoseg.flops import forward_flops
    from fluoseg.inference import predict_volume, resolve_step, window_starts

    parts = case.split("-", 2)
    name, profile = parts[0], parts[1]
    variant = parts[2] if len(parts) > 2 else DEFAULT_VARIANT
    prof = get_profile(profile)
    win = tuple(prof.inference_patch_shape)
    batch = prof.inference_batch
    _, seg = build(name, profile)
    call = variant
    if variant == "bf16":
        # the package's opt-in (Run.predict(precision="bfloat16")), same call style
        from fluoseg.models import with_precision

        seg, call = with_precision(seg, "bfloat16"), DEFAULT_VARIANT
    fn = make_fn(seg, call, batch, win)
    if shape is None:
        shape = quick_shape(profile) if quick else CROP_SHAPE
    volume = synthetic_image(shape)
    step = resolve_step(win, prof.inference_overlap)
    n_windows = int(np.prod([len(s) for s in window_starts(shape, win, step)]))
    per_window = forward_flops(seg, (*win, 2))
    t0 = time.perf_counter()
    fn(np.zeros((batch, *win, 2), np.float32))  # trace / warm up
    warm = time.perf_counter() - t0
    # a quick crop is one batch (a fraction of a second): the median of 5 timings;
    # a whole crop (minutes of windows) is timed once
    times = []
    for _ in range(5 if quick else 1):
        t0 = time.perf_counter()
        out = predict_volume(
            fn, volume, win, overlap=prof.inference_overlap, batch_size=batch
        )
        times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    assert out.shape[:3] == tuple(shape)
    flop = n_windows * per_window
    return {
        "case": case,
        "model": name,
        "profile": profile,
        "variant": variant,
        "shape_zyx": list(shape),
        "window": list(win),
        "overlap": prof.inference_overlap,
        "batch": batch,
        "windows": n_windows,
        "flop_per_window": per_window,
        "flop": flop,
        "warmup_seconds": warm,
        "seconds": seconds,
        "repeats_seconds": times,
        "voxels_per_second": float(np.prod(shape)) / seconds,
        "achieved_flops": flop / seconds,
    }


def default_cases(quick: bool) -> list[str]:
    """Every model at cpu and paper, plus the function variants for the cpu U-Net."""
    cases = [f"{m}-{p}" for p in PROFILES for m in MODELS]
    cases += [f"unet-cpu-{v}" for v in VARIANTS if v != DEFAULT_VARIANT]
    return cases


def run_all(quick: bool, peak: float | None, cases: list[str] | None = None) -> dict:
    """Every case in its own process; adds ``fraction_of_peak`` when ``peak`` given."""
    out = {}
    for case in cases or default_cases(quick):
        r = run_case(
            "bench_inference.py", case, ["--quick"] if quick else [],
            timeout=900 if quick else None,
        )
        if peak and "achieved_flops" in r:
            r["fraction_of_peak"] = r["achieved_flops"] / peak
        out[case] = r
        print(f"inference {case}: {r.get('seconds', r.get('error'))}", file=sys.stderr)
    return {"cases": out, "goal_fraction_of_peak": 0.8}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", help="model-profile[-variant], e.g. unet-cpu-tf_function")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--peak", type=float, default=None, help="FLOP/s to divide by")
    a = p.parse_args(argv)
    if a.case:
        emit(run_one(a.case, a.quick))
    else:
        print(json.dumps(run_all(a.quick, a.peak), indent=2))


if __name__ == "__main__":
    main()
