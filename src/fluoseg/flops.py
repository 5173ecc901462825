"""Counting the arithmetic of a Keras network from its layer shapes.

A convolution's cost is dominated by multiply-adds (MACs): each output value of a
``Conv3D`` with a k^3 kernel over ``c_in`` channels costs ``k^3 * c_in`` of them. This
module walks a functional (or ``Sequential``) Keras model for one concrete input shape
and counts, per layer:

- ``Conv1D/2D/3D`` (and depthwise/separable pieces through their kernels): output
  positions x kernel size, i.e. ``prod(out_spatial) * prod(kernel.shape)``;
- ``Conv1D/2D/3DTranspose``: *input* positions x kernel size (each input value is
  scattered through the whole kernel), the usual convention (fvcore, ptflops);
- ``Dense``: leading positions x ``units * in_features``.

Padding voxels are counted as real work (a "same" convolution multiplies the zeros
it reads), bias additions, normalisation and activations are not: they are a few
percent of a convolutional network's work and are memory-bound anyway.
``FLOPs = 2 x MACs``. Training costs about ``3 x`` the forward pass (forward, gradient
with respect to the activations, gradient with respect to the weights), the rule of
thumb :func:`training_flops` uses.

TensorFlow is not imported here; Keras is imported when a function is called.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fluoseg.errors import InputError, require_tensorflow

TRAINING_FACTOR = 3.0


@dataclass(frozen=True)
class LayerCost:
    """The multiply-adds of one layer for one input example.

    Attributes:
        name: the layer's name (nested models as ``outer/inner``).
        kind: the layer's class name.
        input_shape: the layer's input shape, batch axis excluded.
        output_shape: its output shape, batch axis excluded.
        macs: multiply-adds for one example.
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    macs: int

    @property
    def flops(self) -> int:
        """Floating-point operations (2 per multiply-add)."""
        return 2 * self.macs


def conv_macs(
    out_spatial: Sequence[int], kernel: Sequence[int], c_in: int, c_out: int
) -> int:
    """MACs of a (non-grouped) convolution: ``prod(out_spatial) * prod(kernel) *
    c_in * c_out``."""
    return math.prod(out_spatial) * math.prod(kernel) * int(c_in) * int(c_out)


def conv_transpose_macs(
    in_spatial: Sequence[int], kernel: Sequence[int], c_in: int, c_out: int
) -> int:
    """MACs of a transposed convolution: ``prod(in_spatial) * prod(kernel) * c_in *
    c_out``."""
    return math.prod(in_spatial) * math.prod(kernel) * int(c_in) * int(c_out)


def _shape(spec: Any) -> tuple[int, ...]:
    shape = tuple(spec.shape)
    if any(s is None for s in shape[1:]):
        raise InputError(
            f"a layer has an undetermined shape {shape}: give count_macs a full "
            "input shape such as (64, 64, 64, 2)"
        )
    return tuple(int(s) for s in shape[1:])


def _layer_macs(
    layer: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> int:
    kind = type(layer).__name__
    kernels = [
        w for w in layer.weights if w.path.rsplit("/", 1)[-1].endswith("kernel")
    ]
    size = sum(math.prod(k.shape) for k in kernels)
    if not kernels:
        return 0
    if "Conv" in kind and kind.endswith("Transpose"):
        return math.prod(in_shape[:-1]) * size
    if "Conv" in kind:  # plain, grouped, depthwise and separable convolutions
        return math.prod(out_shape[:-1]) * size
    if kind in ("Dense", "EinsumDense"):
        return math.prod(in_shape[:-1]) * size
    return 0


def _is_functional(model: Any) -> bool:
    return hasattr(model, "_run_through_graph") and hasattr(model, "_nodes_by_depth")


def _walk(model: Any, inputs: list[Any], prefix: str, out: list[LayerCost]) -> Any:
    """Run ``model`` symbolically on KerasTensors ``inputs``; append layer costs."""
    require_tensorflow()
    import keras

    def operation_fn(op: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            name = f"{prefix}{op.name}"
            flat = [a for a in keras.tree.flatten((args, kwargs)) if _is_tensor(a)]
            if _is_functional(op) or isinstance(op, keras.Sequential):
                return _walk(op, flat, f"{name}/", out)
            kwargs.pop("training", None)
            kwargs.pop("mask", None)
            spec = op.compute_output_spec(*args, **kwargs)
            outs = keras.tree.flatten(spec)
            if isinstance(op, keras.layers.Layer) and flat and outs:
                in_shape, out_shape = _shape(flat[0]), _shape(outs[0])
                macs = _layer_macs(op, in_shape, out_shape)
                out.append(
                    LayerCost(name, type(op).__name__, in_shape, out_shape, macs)
                )
            return spec

        return call

    if isinstance(model, keras.Sequential) and not _is_functional(model):
        x = inputs[0]
        for layer in model.layers:
            x = operation_fn(layer)(x)
        return x
    if not _is_functional(model):
        raise InputError(
            f"{type(model).__name__} is not a functional or Sequential Keras model: "
            "count the networks inside it (e.g. a GAN's generator) one by one"
        )
    return model._run_through_graph(inputs, operation_fn=operation_fn)


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def count_macs(
    model: Any, input_shape: Sequence[int] | Sequence[Sequence[int]]
) -> list[LayerCost]:
    """Per-layer multiply-adds of ``model`` for one example of ``input_shape``.

    Args:
        model: a functional or ``Sequential`` Keras model (nested models are walked).
        input_shape: the input's shape without the batch axis, e.g. ``(64, 64, 64,
            2)``; a list of shapes for a model with several inputs.

    Returns:
        One :class:`LayerCost` per layer call, in execution order (layers without
        arithmetic counted here have ``macs == 0``).

    Raises:
        InputError: a shape that is not a tuple of positive ints, the wrong number of
            inputs, or a model that is neither functional nor ``Sequential``.
    """
    require_tensorflow()
    import keras

    shapes = _input_shapes(input_shape)
    if _is_functional(model) and len(shapes) != len(model.inputs):
        raise InputError(
            f"{len(shapes)} input shape(s) for a model with {len(model.inputs)} "
            "input(s): expected one shape per input"
        )
    inputs = [keras.KerasTensor((1, *s), dtype="float32") for s in shapes]
    out: list[LayerCost] = []
    _walk(model, inputs, "", out)
    return out


def _input_shapes(input_shape: Any) -> list[tuple[int, ...]]:
    items = list(input_shape)
    nested = items and all(isinstance(s, (list, tuple)) for s in items)
    shapes = [tuple(s) for s in items] if nested else [tuple(items)]
    for s in shapes:
        if not s or not all(isinstance(v, int) and v > 0 for v in s):
            raise InputError(
                f"input_shape={tuple(input_shape)!r}: expected positive ints without "
                "the batch axis, e.g. (64, 64, 64, 2)"
            )
    return shapes


def forward_macs(model: Any, input_shape: Sequence[int], batch: int = 1) -> int:
    """Multiply-adds of one forward pass of ``batch`` examples."""
    return batch * sum(c.macs for c in count_macs(model, input_shape))


def forward_flops(model: Any, input_shape: Sequence[int], batch: int = 1) -> int:
    """FLOPs (2 x MACs) of one forward pass of ``batch`` examples."""
    return 2 * forward_macs(model, input_shape, batch)


def training_flops(
    model: Any,
    input_shape: Sequence[int],
    batch: int = 1,
    factor: float = TRAINING_FACTOR,
) -> float:
    """Estimated FLOPs of one training step: ``factor`` (3) x the forward pass."""
    return factor * forward_flops(model, input_shape, batch)


def activation_bytes(
    model: Any,
    input_shape: Sequence[int] | Sequence[Sequence[int]],
    batch: int = 1,
    bytes_per_value: int = 4,
) -> int:
    """Bytes of the layer outputs of one forward pass of ``batch`` examples.

    Training keeps every layer's output until the backward pass has used it, so this
    sum (the model's inputs excluded, float32 by default) is the activation memory of a
    training step, which grows with the patch volume while the weights do not. It is
    an estimate: a framework may fuse layers (keeping less) and needs workspace and the
    gradients of the activations during the backward pass (more).
    """
    if batch < 1 or bytes_per_value < 1:
        raise InputError(
            f"activation_bytes: expected batch, bytes_per_value >= 1, got {batch}, "
            f"{bytes_per_value}"
        )
    values = sum(math.prod(c.output_shape) for c in count_macs(model, input_shape))
    return batch * bytes_per_value * values


def cost_table(costs: Sequence[LayerCost]) -> Any:
    """The layer costs as a pandas DataFrame with a ``share`` column (of all MACs)."""
    import pandas as pd

    total = sum(c.macs for c in costs) or 1
    rows = [
        {
            "layer": c.name,
            "kind": c.kind,
            "output_shape": c.output_shape,
            "macs": c.macs,
            "share": c.macs / total,
        }
        for c in costs
        if c.macs
    ]
    columns = ["layer", "kind", "output_shape", "macs", "share"]
    return pd.DataFrame(rows, columns=columns)


def achieved_rate(
    fn: Callable[[], Any],
    flop: float,
    repeats: int = 3,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Time ``fn`` (``warmup`` untimed calls, then ``repeats`` timed ones).

    Returns ``seconds`` (the fastest call), ``median_seconds`` and ``flops`` (``flop``
    divided by the fastest call: the rate this work can reach here).
    """
    if repeats < 1 or warmup < 0:
        raise InputError(
            f"repeats={repeats}, warmup={warmup}: expected repeats >= 1, warmup >= 0"
        )
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    best = max(min(times), 1e-12)
    return {
        "seconds": best,
        "median_seconds": sorted(times)[len(times) // 2],
        "flops": float(flop) / best,
    }


def matmul_rate(n: int = 1024, repeats: int = 3) -> dict[str, float]:
    """This machine's float32 matrix-product rate in TensorFlow (``2 n^3`` FLOPs).

    A quick stand-in for the peak FLOP/s (``benchmarks/bench_peak.py`` measures it at
    full size); adds ``n`` to :func:`achieved_rate`'s result.
    """
    require_tensorflow()
    import tensorflow as tf

    a = tf.random.uniform((n, n))
    b = tf.random.uniform((n, n))
    f = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    out = achieved_rate(lambda: f().numpy(), 2.0 * n**3, repeats=repeats)
    out["n"] = n
    return out
