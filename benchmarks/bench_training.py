"""Training: steps/s and achieved FLOP/s of each model's training step.

One case per ``model-profile[-bf16]`` (``unet-cpu``, ``vox2vox-paper``, ...), each
in its own process. A case builds the compiled model (``fluoseg.models.build_model``;
``-bf16``: under Keras's ``mixed_bfloat16`` policy) and runs ``model.fit`` on a
repeated in-memory ``tf.data`` batch of the profile's patch shape and the model's
batch size (prefetched, so input time is excluded: this measures the step, not the
sampler), then times ``steps`` more steps after the first (tracing) epoch.

FLOPs of a step: 3 x the forward FLOPs of every network pass in the step
(``netutil.training_step_flops``: U-Net once; Vox2Vox G once + D twice; CycleGAN each
generator 3x, each discriminator 2x), counted by ``fluoseg.flops``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, run_case  # noqa: E402
from netutil import MODELS  # noqa: E402

PROFILES = ("cpu", "paper")


def run_one(case: str, quick: bool) -> dict:
    """Time the training steps of one ``model-profile`` case in this process."""
    import keras
    import numpy as np
    import tensorflow as tf
    from netutil import build, training_step_flops

    from fluoseg.config import get_profile

    name, profile, *rest = case.split("-")
    variant = rest[0] if rest else "float32"
    prof = get_profile(profile)
    policy = "mixed_bfloat16" if variant == "bf16" else None
    model, _ = build(name, profile, policy=policy)
    cfg = model_cfg(name, profile)
    patch = tuple(prof.patch_shape)
    batch = int(cfg.batch_size)
    rng = np.random.default_rng(0)
    x = rng.random((batch, *patch, 2), dtype=np.float32)
    y = (rng.random((batch, *patch, cfg.n_classes)) > 0.8).astype(np.float32)
    steps = (1 if profile == "paper" else 2) if quick else 5
    ds = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2)

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.times.append(time.perf_counter() - self.t0)

    timer = Timer()
    t0 = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)  # trace
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    total = time.perf_counter() - t0
    step_s = float(np.median(timer.times))
    flop = training_step_flops(name, model, patch, batch)
    return {
        "case": case,
        "model": name,
        "profile": profile,
        "variant": variant,
        "patch": list(patch),
        "batch": batch,
        "steps": steps,
        "first_step_seconds": first,
        "step_seconds": timer.times,
        "median_step_seconds": step_s,
        "fit_seconds": total,
        "steps_per_second": 1.0 / step_s,
        "flop_per_step": flop,
        "achieved_flops": flop / step_s,
    }


def model_cfg(name: str, profile: str):
    """The model configuration of ``name`` at ``profile`` (2 classes)."""
    from fluoseg.models import model_config

    return model_config(name, profile, 2)


def default_cases(quick: bool) -> list[str]:
    """Every model at cpu and paper, and the cpu U-Net in bfloat16 mixed precision.

    ``quick`` leaves out the two paper-size GANs: one of their steps takes many
    minutes on two cores (the full run measures them).
    """
    cases = [f"{m}-{p}" for p in PROFILES for m in MODELS] + ["unet-cpu-bf16"]
    if quick:
        cases = [c for c in cases if c not in ("vox2vox-paper", "cyclegan-paper")]
    return cases


def run_all(quick: bool, peak: float | None, cases: list[str] | None = None) -> dict:
    """Every case in its own process; adds ``fraction_of_peak`` when ``peak`` given."""
    out = {}
    for case in cases or default_cases(quick):
        r = run_case(
            "bench_training.py", case, ["--quick"] if quick else [],
            timeout=900 if quick else None,
        )
        if peak and r.get("achieved_flops"):
            r["fraction_of_peak"] = r["achieved_flops"] / peak
        out[case] = r
        print(f"training {case}: {r.get('median_step_seconds', r.get('error'))}",
              file=sys.stderr)
    return {"cases": out, "goal_fraction_of_peak": 0.5}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", help="model-profile, e.g. unet-cpu")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--peak", type=float, default=None, help="FLOP/s to divide by")
    a = p.parse_args(argv)
    if a.case:
        emit(run_one(a.case, a.quick))
    else:
        print(json.dumps(run_all(a.quick, a.peak), indent=2))


if __name__ == "__main__":
    main()
