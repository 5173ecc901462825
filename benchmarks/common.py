"""Helpers shared by the benchmarks: environment record, timing, per-case subprocesses.

Every benchmark script can run one *case* in its own process
(``python benchmarks/bench_x.py --case NAME [--quick]``): the case prints one line
``BENCH_JSON {...}`` with its measurements and the process's own peak resident set
size, so that memory is per case and never inherited from an earlier case.
:func:`run_case` starts such a process and parses that line.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MARKER = "BENCH_JSON "

# The thesis's test crop I1/I2 size: 627 x 818 pixels, 61 slices -> (Z, Y, X).
CROP_SHAPE: tuple[int, int, int] = (61, 818, 627)
QUICK_CROP_SHAPE: tuple[int, int, int] = (24, 96, 96)


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def environment(profile: str | None = None) -> dict[str, Any]:
    """Hardware, library versions, threads and (optionally) the profile's settings."""
    from fluoseg.hardware import describe

    env: dict[str, Any] = {"hardware": describe()}
    for mod in ("torch", "monai"):
        try:
            env["hardware"]["versions"][mod] = __import__(mod).__version__
        except ImportError:
            env["hardware"]["versions"][mod] = None
    try:
        import tensorflow as tf

        env["tf_threads"] = {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
    except ImportError:  # pragma: no cover
        pass
    env["load_average"] = list(os.getloadavg())
    if profile is not None:
        from fluoseg.config import get_profile

        env["profile"] = get_profile(profile).to_dict()
    return env


def time_repeats(
    fn: Callable[[], Any], repeats: int = 3, warmup: int = 1
) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def emit(result: dict[str, Any]) -> None:
    """Print a case's result line (with this process's peak RSS) for ``run_case``."""
    result = dict(result)
    result.setdefault("peak_rss_mib", round(peak_rss_mib(), 1))
    print(MARKER + json.dumps(result), flush=True)


def run_case(
    script: str,
    case: str,
    args: Sequence[str] = (),
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``benchmarks/<script> --case <case> <args>`` in a fresh process.

    Returns the case's JSON, or ``{"case": case, "error": ...}`` if it failed.
    """
    cmd = [sys.executable, str(HERE / script), "--case", case, *args]
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=full_env
        )
    except subprocess.TimeoutExpired:
        return {"case": case, "error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            out = json.loads(line[len(MARKER) :])
            out["process_seconds"] = round(wall, 2)
            return out
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"case": case, "error": f"exit {proc.returncode}: " + " | ".join(tail)}


def write_results(name: str, data: dict[str, Any], out_dir: Path = RESULTS) -> Path:
    """Write ``<out_dir>/<name>.json`` atomically and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
    return path


def synthetic_image(shape: Sequence[int], seed: int = 0, dtype: str = "float32"):
    """A (Z, Y, X, 2) image in [0, 1] with blob-like structure (cheap to make)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    z, y, x = (int(s) for s in shape)
    # separable smooth fields: products of 1-D random walks, no full-size FFTs
    fields = []
    for _ in range(2):
        a = np.cumsum(rng.standard_normal(z)).astype(np.float32)
        b = np.cumsum(rng.standard_normal(y)).astype(np.float32)
        c = np.cumsum(rng.standard_normal(x)).astype(np.float32)
        f = np.sin(a)[:, None, None] * np.sin(b)[None, :, None] * np.sin(c)[None, None]
        fields.append(f)
    img = np.stack(fields, axis=-1)
    img *= 0.5
    img += 0.5
    if dtype == "uint8":
        return (img * 255).astype(np.uint8)
    return img.astype(np.float32)
