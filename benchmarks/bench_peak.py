"""Peak: this machine's achievable FLOP/s in TensorFlow, measured in the same run.

Cases (each in its own process):

- ``matmul``: an N x N float32 matrix product (2 N^3 FLOPs), N = 4096 (quick: 1024);
- ``matmul_bf16``: the same in bfloat16 (what mixed precision could reach on CPUs
  with AVX512-BF16/AMX; informative only);
- ``conv3d``: a 3^3 Conv3D of 32 -> 32 channels on one 64^3 volume (quick: 16 -> 16
  on 32^3), the U-Net's own kind of work (2 x 27 x 32 x 32 x 64^3 FLOPs).

The peak is the *best* of the timed repeats: the rate the hardware and TensorFlow can
reach with this shape, which the other benchmarks divide by.

Run: ``python benchmarks/bench_peak.py [--quick]`` (all cases, JSON to stdout).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, run_case, time_repeats  # noqa: E402

CASES = ("matmul", "conv3d", "matmul_bf16")


def matmul(n: int, dtype: str = "float32", repeats: int = 5) -> dict:
    """Best and median FLOP/s of an n x n matrix product."""
    import tensorflow as tf

    a = tf.random.uniform((n, n), dtype=tf.float32)
    b = tf.random.uniform((n, n), dtype=tf.float32)
    if dtype != "float32":
        a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    f = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    times = time_repeats(lambda: f().numpy(), repeats=repeats, warmup=1)
    flop = 2.0 * n**3
    return {
        "n": n,
        "dtype": dtype,
        "flop": flop,
        "seconds": times,
        "peak_flops": flop / min(times),
        "median_flops": flop / sorted(times)[len(times) // 2],
    }


def conv3d(size: int, channels: int, repeats: int = 5) -> dict:
    """Best and median FLOP/s of a 3^3 'same' Conv3D, channels -> channels."""
    import tensorflow as tf

    x = tf.random.uniform((1, size, size, size, channels))
    w = tf.random.uniform((3, 3, 3, channels, channels))
    f = tf.function(
        lambda: tf.reduce_sum(tf.nn.conv3d(x, w, [1] * 5, padding="SAME"))
    )
    times = time_repeats(lambda: f().numpy(), repeats=repeats, warmup=1)
    flop = 2.0 * size**3 * 27 * channels * channels
    return {
        "size": size,
        "channels": channels,
        "flop": flop,
        "seconds": times,
        "peak_flops": flop / min(times),
        "median_flops": flop / sorted(times)[len(times) // 2],
    }


def run_one(case: str, quick: bool) -> dict:
    """Measure one case in this process."""
    if case == "matmul":
        out = matmul(1024 if quick else 4096)
    elif case == "matmul_bf16":
        out = matmul(1024 if quick else 4096, dtype="bfloat16")
    elif case == "conv3d":
        out = conv3d(32, 16) if quick else conv3d(64, 32)
    else:
        raise SystemExit(f"unknown case {case!r}: expected one of {CASES}")
    out["case"] = case
    return out


def run_all(quick: bool) -> dict:
    """Every case, each in a subprocess; ``peak_flops`` = the best float32 rate."""
    args = ["--quick"] if quick else []
    cases = {c: run_case("bench_peak.py", c, args) for c in CASES}
    f32 = [cases[c].get("peak_flops", 0.0) for c in ("matmul", "conv3d")]
    return {"cases": cases, "peak_flops": max(f32)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=CASES)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    if a.case:
        emit(run_one(a.case, a.quick))
    else:
        print(json.dumps(run_all(a.quick), indent=2))


if __name__ == "__main__":
    main()
