"""The three 3D segmentation models: 3D U-Net, Vox2Vox and CycleGAN.

The API the trainer and the chapters use (TensorFlow is imported only when a function
is called, so importing this package stays cheap):

- ``model_config(name, profile, n_classes)`` and the config dataclasses
  (``fluoseg.models.configs``), JSON round-trippable.
- ``build_model(name, config) -> keras.Model``: compiled, ready for ``model.fit`` on a
  ``tf.data.Dataset`` of ``(image_batch, mask_batch)``: float32 (B,Z,Y,X,2) images in
  [0, 1] and (B,Z,Y,X,n) masks in {0, 1} (for the CycleGAN the masks come from the
  unpaired domain; the model maps both to [-1, 1] inside).
- ``segmenter(model) -> keras.Model``: images in [0, 1] -> probabilities in [0, 1];
  the network saved as the run's ``.keras`` file and used for inference.
- ``monitor_for(name) -> (metric, mode)``: what the trainer's early stopping and
  best-checkpoint rule watch (U-Net ``val_loss``; Vox2Vox ``val_dice_loss``;
  CycleGAN ``val_selection_loss``, needing no ground truth: see
  ``fluoseg.models.cyclegan``).
- ``extra_callbacks(name, model, config)``: model-specific callbacks (CycleGAN: the
  ``SelectionScore`` checkpoint rule and the ``ModeCollapseMonitor``).
- ``model_optimizers(model) -> dict[str, Optimizer]``: every optimizer of a model, with
  its variables already built. ``model.save_weights``/``load_weights`` of any of the
  three models also store and restore these optimizers' variables (Keras 3 saves the
  optimizers that are attributes of the model), so a fresh ``build_model`` followed by
  ``load_weights`` resumes training exactly.
- ``with_precision(net, precision)``: a copy of a segmenter computing in
  ``"bfloat16"`` (Keras ``mixed_bfloat16``: bf16 compute, float32 weights and heads)
  or the network itself for ``"float32"``; an inference opt-in measured in
  ``benchmarks/NOTES.md``.
- ``spec(name)``, ``register(ModelSpec(...))``, ``names()``: the model registry
  (``fluoseg.models.registry``); every function above looks the model up there.
- ``toy_batch(...)``: tiny seeded (images, masks) of spheres, for demos and tests.
- ``layer_table(model)``: a compact per-layer table (name, type, kernel, stride,
  output channels, parameters) for the book.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluoseg.errors import InputError, require_tensorflow
from fluoseg.models.configs import (
    CycleGANConfig,
    ModelConfig,
    UNetConfig,
    Vox2VoxConfig,
)
from fluoseg.models.registry import (
    ModelSpec,
    config_from_json,
    model_config,
    names,
    register,
    resolve,
    spec,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "CycleGANConfig",
    "ModelConfig",
    "ModelSpec",
    "UNetConfig",
    "Vox2VoxConfig",
    "build_model",
    "config_from_json",
    "extra_callbacks",
    "model_config",
    "layer_table",
    "model_optimizers",
    "monitor_for",
    "names",
    "register",
    "segmenter",
    "spec",
    "toy_batch",
    "with_precision",
]

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")


def build_model(name: str, config: ModelConfig) -> keras.Model:
    """The compiled model ``name`` (a registered model: ``unet``, ``vox2vox``,
    ``cyclegan``) of ``config``.

    Raises:
        InputError: unknown name, or a config of another model.
    """
    model_spec = spec(name)
    model_spec.check_config(config)
    return resolve(model_spec.build)(config)


def segmenter(model: keras.Model) -> keras.Model:
    """The functional network mapping images in [0, 1] to probabilities in [0, 1].

    U-Net: the model itself; Vox2Vox: its generator; CycleGAN: G_S wrapped with the
    [0, 1] -> [-1, 1] input map and the tanh -> [0, 1] output map.
    """
    if hasattr(model, "segmenter"):
        return model.segmenter()  # type: ignore[no-any-return]
    return model


def _output_layers(model: keras.Model, found: set[int]) -> set[int]:
    """Add the ids of the layers producing the outputs of ``model`` and of every
    model nested in it to ``found``; returns it."""
    for tensor in model.outputs:
        found.add(id(tensor._keras_history.operation))
    for layer in model.layers:
        if hasattr(layer, "layers") and hasattr(layer, "outputs"):
            _output_layers(layer, found)
    return found


def with_precision(net: keras.Model, precision: str = "float32") -> keras.Model:
    """``net`` itself (``"float32"``) or a copy that computes in bfloat16.

    The copy (``keras.models.clone_model``, nested models included) has the same
    weights (kept float32) and runs every layer under Keras's ``mixed_bfloat16``
    policy except each (nested) model's output layers, so the probabilities stay
    float32. On CPUs with AVX512-BF16/AMX this is faster; elsewhere
    bf16 is emulated and slower, and outputs differ from float32 by bf16 rounding
    (about 3 significant digits): measure both before choosing.

    Raises:
        InputError: ``precision`` not in ``PRECISIONS``.
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "float32":
        return net
    require_tensorflow()
    import keras

    keep = _output_layers(net, set())

    def mixed(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        keeps = isinstance(layer, keras.Model) or id(layer) in keep
        if not keeps and layer.dtype_policy.name == "float32":
            config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(net, clone_function=mixed, recursive=True)
    copy.set_weights(net.get_weights())
    return copy


def monitor_for(name: str) -> tuple[str, str]:
    """``(metric_name, mode)`` the trainer monitors for model ``name``."""
    model_spec = spec(name)
    return model_spec.monitor, model_spec.mode


def extra_callbacks(
    name: str,
    model: keras.Model,
    config: ModelConfig,
    probe: Any = None,
    epochs: int | None = None,
) -> list[keras.callbacks.Callback]:
    """Model-specific callbacks (its spec's ``callbacks``), in the order they must
    run: for the CycleGAN a ``LinearDecay`` of the learning rates (when ``epochs`` is
    given and ``config.decay_from < 1``), a ``SelectionScore`` (writes
    ``val_selection_loss``) and a ``ModeCollapseMonitor``.

    ``probe`` (optional) is a fixed batch of different images (B,Z,Y,X,2) in [0, 1];
    without one the monitor uses a seeded synthetic probe.
    """
    model_spec = spec(name)
    model_spec.check_config(config)
    if model_spec.callbacks is None:
        return []
    factory = resolve(model_spec.callbacks)
    return list(factory(model, config, probe=probe, epochs=epochs))


def model_optimizers(model: keras.Model, name: str | None = None) -> dict[str, Any]:
    """Every optimizer of ``model`` by attribute name (``optimizer``; or
    ``g_optimizer`` and ``d_optimizer`` for the GANs), each built on its variables.

    ``name``: the registered model; default: the spec whose optimizers ``model``
    has (the first registered one, so single-optimizer models match last).
    """
    if name is not None:
        attrs = spec(name).optimizers
    else:
        candidates = sorted(
            (spec(n).optimizers for n in names()), key=len, reverse=True
        )
        attrs = next(a for a in candidates if all(hasattr(model, x) for x in a))
    return {attr: getattr(model, attr) for attr in attrs}


def toy_batch(
    batch: int = 4,
    patch_shape: tuple[int, int, int] = (16, 16, 16),
    n_classes: int = 2,
    seed: int = 0,
    objects: int = 2,
    contrast: float = 0.6,
    noise: float = 0.2,
) -> tuple[Any, Any]:
    """Seeded toy (images, masks): float32 (B,Z,Y,X,2) in [0, 1] and (B,Z,Y,X,n) {0,1}.

    Each sample holds ``objects`` nucleus spheres (radius ``min(patch_shape) / 5``),
    each touched by a Golgi sphere of 0.6 times that radius; the pair channel
    (``n_classes=3``) is their union. Image channel c is
    ``contrast * mask_c + noise * U(0, 1)``.
    """
    import numpy as np

    if n_classes not in (1, 2, 3):
        raise InputError(f"n_classes must be 1, 2 or 3, got {n_classes}")
    rng = np.random.default_rng(seed)
    shape = np.asarray(patch_shape, float)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in patch_shape], indexing="ij"))
    rn = max(float(shape.min()) / 5.0, 1.5)
    rg = max(0.6 * rn, 1.0)
    planes = np.zeros((batch, 3, *patch_shape), bool)
    for b in range(batch):
        for _ in range(objects):
            cn = rng.uniform(rn, shape - rn)
            d = rng.normal(size=3)
            cg = cn + d / np.linalg.norm(d) * (rn + 0.7 * rg)
            nuc = ((grid - cn.reshape(3, 1, 1, 1)) ** 2).sum(0) <= rn**2
            gol = (((grid - cg.reshape(3, 1, 1, 1)) ** 2).sum(0) <= rg**2) & ~nuc
            planes[b, 0] |= nuc
            planes[b, 1] |= gol
            planes[b, 2] |= nuc | gol
    planes = np.moveaxis(planes, 1, -1).astype(np.float32)
    images = contrast * planes[..., :2] + noise * rng.random(planes[..., :2].shape)
    return images.astype(np.float32), planes[..., :n_classes].copy()


def layer_table(model: keras.Model) -> Any:
    """A pandas DataFrame with one row per layer that has weights or pools: name,
    type, kernel, stride, output channels and parameters."""
    import pandas as pd

    def dims(v: Any) -> str:
        return "x".join(str(k) for k in v) if v else ""

    rows = []
    for layer in model.layers:
        if not layer.weights and not hasattr(layer, "pool_size"):
            continue
        kernel = getattr(layer, "kernel_size", None) or getattr(
            layer, "pool_size", None
        )
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "kernel": dims(kernel),
                "stride": dims(getattr(layer, "strides", None)),
                "out_channels": layer.output.shape[-1],
                "params": layer.count_params(),
            }
        )
    return pd.DataFrame(rows)
