"""Networks and prediction functions used by the benchmarks.

Untrained networks are used: their speed does not depend on their weights.

Prediction-function variants (what ``predict_volume`` calls per batch of windows):

- ``predict_on_batch``: ``model.predict_on_batch`` (what ``fluoseg.run.Run.predict``
  passes today);
- ``call``: an eager ``model(x, training=False)``;
- ``tf_function``: one ``tf.function`` traced once for the fixed shape
  (batch, *window, C); a short last batch is zero-padded to that shape so the
  function is never retraced, and the padding's outputs are dropped;
- ``bf16``: ``tf_function`` on a bfloat16 network (``ab_calls`` passes the package's
  ``fluoseg.models.with_precision`` copy: bf16 compute, float32 weights and head).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

MODELS = ("unet", "vox2vox", "cyclegan")
VARIANTS = ("predict_on_batch", "call", "tf_function", "bf16")


def build(name: str, profile: str, n_classes: int = 2, policy: str | None = None):
    """``(model, segmenter)`` of ``name`` at ``profile`` (optionally under a dtype
    policy such as ``mixed_bfloat16``)."""
    import keras

    from fluoseg.models import build_model, model_config, segmenter

    keras.utils.set_random_seed(0)
    old = keras.mixed_precision.global_policy().name
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model(name, model_config(name, profile, n_classes))
        seg = segmenter(model)
    finally:
        keras.mixed_precision.set_global_policy(old)
    return model, seg


def sub_networks(name: str, model: Any) -> dict[str, Any]:
    """The functional networks inside ``model`` and how often a training step runs
    each forward (the FLOP estimate of a step is 3 x the sum)."""
    if name == "unet":
        return {"unet": (model, 1)}
    if name == "vox2vox":
        # G(x) once, D on (x, y) and on (x, G(x))
        return {
            "generator": (model.generator, 1),
            "discriminator": (model.discriminator, 2),
        }
    # CycleGAN: each generator runs forward, cycle and identity (3x); each
    # discriminator on a real and a fake batch (2x)
    return {
        "g_s": (model.g_s, 3),
        "g_i": (model.g_i, 3),
        "d_s": (model.d_s, 2),
        "d_i": (model.d_i, 2),
    }


def training_step_flops(
    name: str, model: Any, patch: tuple[int, int, int], batch: int
) -> float:
    """Estimated FLOPs of one training step (3 x the forward passes of a step)."""
    from fluoseg.flops import forward_flops

    total = 0.0
    for net, times in sub_networks(name, model).values():
        channels = int(net.inputs[0].shape[-1])
        total += times * forward_flops(net, (*patch, channels), batch)
    return 3.0 * total


def make_fn(
    seg: Any, variant: str, batch: int, window: tuple[int, int, int], channels: int = 2
) -> Callable[[np.ndarray], np.ndarray]:
    """The batch -> probabilities function of ``variant`` (see module doc)."""
    if variant == "predict_on_batch":
        return lambda b: seg.predict_on_batch(b)
    if variant == "call":
        return lambda b: seg(b, training=False).numpy()
    if variant not in ("tf_function", "bf16"):
        raise ValueError(f"unknown variant {variant!r}: expected one of {VARIANTS}")
    import tensorflow as tf

    spec = tf.TensorSpec((batch, *window, channels), tf.float32)
    f = tf.function(lambda x: seg(x, training=False), input_signature=[spec])
    full = np.zeros((batch, *window, channels), np.float32)

    def fn(b: np.ndarray) -> np.ndarray:
        n = len(b)
        if n == batch:
            return f(b).numpy()
        full[:n] = b
        return f(full).numpy()[:n]

    return fn
