"""Memory: peak RSS of predicting a large volume with a thresholded (uint8) output.

Case ``volume``: a synthetic 2048 x 2048 x 128 (X, Y, Z) two-channel uint8 volume
(1 GiB, made slice by slice so no float copy ever exists) predicted with the ``cpu``
profile's window, overlap and batch and ``threshold=0.5`` (uint8 output, 1 GiB for two
classes). Goal: peak RSS <= 4 GiB for the whole process (TensorFlow included).
``--quick``: 1024 x 1024 x 64 (goal scaled by nothing: reported only).

The network is the ``smoke`` U-Net (base 4, depth 2): memory is set by the volume, the
output, the accumulation slab and one batch of windows, not by the network's width,
and the smoke network keeps the full case to minutes on two cores.

The 627 x 818 x 61 crop's goal (<= 2 GiB) is read from the inference cases' own peak
RSS (each ran in its own process), see ``run_all``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CROP_SHAPE, emit, peak_rss_mib, run_case  # noqa: E402

FULL_SHAPE = (128, 2048, 2048)
QUICK_SHAPE = (64, 1024, 1024)
GIB = 1024.0


def uint8_volume(shape: tuple[int, int, int], seed: int = 0):
    """A (Z, Y, X, 2) uint8 volume with smooth structure, made one slice at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    z, y, x = shape
    out = np.empty((z, y, x, 2), np.uint8)
    walks = [
        np.sin(np.cumsum(rng.standard_normal(n))).astype(np.float32) for n in (y, x)
    ]
    plane = (walks[0][:, None] * walks[1][None, :] * 0.5 + 0.5) * 255
    zs = np.sin(np.cumsum(rng.standard_normal(z)))
    for k in range(z):
        out[k, :, :, 0] = (plane * (0.5 + 0.5 * zs[k])).astype(np.uint8)
        out[k, :, :, 1] = (255 - plane).astype(np.uint8)
    return out


def run_one(case: str, quick: bool) -> dict:
    """Predict the large volume once (``case == "volume"``) and report memory."""
    import numpy as np
    from netutil import build

    from fluoseg.config import get_profile
    from fluoseg.inference import predict_volume

    if case != "volume":
        raise SystemExit(f"unknown case {case!r}: expected volume")
    prof = get_profile("cpu")
    win = tuple(prof.inference_patch_shape)
    _, seg = build("unet", "smoke")
    shape = QUICK_SHAPE if quick else FULL_SHAPE
    rss_start = peak_rss_mib()
    vol = uint8_volume(shape)
    seg.predict_on_batch(np.zeros((prof.inference_batch, *win, 2), np.float32))
    rss_before = peak_rss_mib()
    t0 = time.perf_counter()
    out = predict_volume(
        seg.predict_on_batch,
        vol,
        win,
        overlap=prof.inference_overlap,
        batch_size=prof.inference_batch,
        threshold=0.5,
    )
    seconds = time.perf_counter() - t0
    return {
        "case": case,
        "shape_zyx": list(shape),
        "window": list(win),
        "input_mib": vol.nbytes / 2**20,
        "output_mib": out.nbytes / 2**20,
        "output_dtype": str(out.dtype),
        "rss_after_import_mib": rss_start,
        "rss_before_predict_mib": rss_before,
        "seconds": seconds,
        "goal_mib": None if quick else 4 * GIB,
    }


def run_all(quick: bool, inference: dict | None = None) -> dict:
    """The large-volume case, and the crop's goal checked on the inference cases."""
    vol = run_case("bench_memory.py", "volume", ["--quick"] if quick else [])
    if "peak_rss_mib" in vol and vol.get("goal_mib"):
        vol["meets_goal"] = vol["peak_rss_mib"] <= vol["goal_mib"]
    crop = {}
    for name, r in ((inference or {}).get("cases") or {}).items():
        if "peak_rss_mib" in r:
            crop[name] = {
                "peak_rss_mib": r["peak_rss_mib"],
                "shape_zyx": r.get("shape_zyx"),
                # the goal is for the whole 627 x 818 x 61 crop (not a quick crop)
                "meets_goal": (r["peak_rss_mib"] <= 2 * GIB)
                if tuple(r.get("shape_zyx") or ()) == CROP_SHAPE
                else None,
            }
    return {"volume": vol, "crop": crop, "crop_goal_mib": 2 * GIB}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=("volume",))
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    if a.case:
        emit(run_one(a.case, a.quick))
    else:
        print(json.dumps(run_all(a.quick), indent=2))


if __name__ == "__main__":
    main()
