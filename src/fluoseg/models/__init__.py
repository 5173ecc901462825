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
    check_model_name,
    config_from_json,
    model_config,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "CycleGANConfig",
    "ModelConfig",
    "UNetConfig",
    "Vox2VoxConfig",
    "build_model",
    "config_from_json",
    "extra_callbacks",
    "model_config",
    "layer_table",
    "model_optimizers",
    "monitor_for",
    "segmenter",
    "toy_batch",
    "with_precision",
]

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")

_CONFIG_FOR = {"unet": UNetConfig, "vox2vox": Vox2VoxConfig, "cyclegan": CycleGANConfig}


def _check_config(name: str, config: Any) -> None:
    check_model_name(name)
    if not isinstance(config, _CONFIG_FOR[name]):
        raise InputError(
            f"model {name!r} needs a {_CONFIG_FOR[name].__name__}, got "
            f"{type(config).__name__}"
        )


def build_model(name: str, config: ModelConfig) -> keras.Model:
    """The compiled model ``name`` (``unet``, ``vox2vox``, ``cyclegan``) of ``config``.

    Raises:
        InputError: unknown name, or a config of another model.
    """
    _check_config(name, config)
    if name == "unet":
        from fluoseg.models.unet3d import build_unet

        return build_unet(config)  # type: ignore[arg-type]
    if name == "vox2vox":
        from fluoseg.models.vox2vox import build_vox2vox

        return build_vox2vox(config)  # type: ignore[arg-type]
    from fluoseg.models.cyclegan import build_cyclegan

    return build_cyclegan(config)  # type: ignore[arg-type]


def segmenter(model: keras.Model) -> keras.Model:
    """The functional network mapping images in [0, 1] to probabilities in [0, 1].

    U-Net: the model itself; Vox2Vox: its generator; CycleGAN: G_S wrapped with the
    [0, 1] -> [-1, 1] input map and the tanh -> [0, 1] output map.
    """
    if hasattr(model, "segmenter"):
        return model.segmenter()  # type: ignore[no-any-return]
    return model


def _mixed_layers(config: dict) -> None:
    """Set every layer of a serialised functional ``config`` (nested ones too) to the
    ``mixed_bfloat16`` policy, except the layers producing its outputs (in place)."""
    spec = config.get("output_layers", [])
    # one output is saved as [name, i, j], several as [[name, i, j], ...]
    outputs = {spec[0]} if spec and isinstance(spec[0], str) else {o[0] for o in spec}
    for layer in config.get("layers", []):
        inner = layer.get("config", {})
        if "layers" in inner:
            _mixed_layers(inner)
            continue
        policy = inner.get("dtype")
        if isinstance(policy, dict) and inner.get("name") not in outputs:
            if policy.get("config", {}).get("name") == "float32":
                policy["config"]["name"] = "mixed_bfloat16"


def with_precision(net: keras.Model, precision: str = "float32") -> keras.Model:
    """``net`` itself (``"float32"``) or a copy that computes in bfloat16.

    The copy has the same weights (kept float32) and runs every layer under Keras's
    ``mixed_bfloat16`` policy except each (nested) model's output layers, so the
    probabilities stay float32. On CPUs with AVX512-BF16/AMX this is faster; elsewhere
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

    spec = keras.saving.serialize_keras_object(net)
    _mixed_layers(spec["config"])
    copy = keras.saving.deserialize_keras_object(spec)
    copy.set_weights(net.get_weights())
    return copy


def monitor_for(name: str) -> tuple[str, str]:
    """``(metric_name, mode)`` the trainer monitors for model ``name``."""
    check_model_name(name)
    return {
        "unet": ("val_loss", "min"),
        "vox2vox": ("val_dice_loss", "min"),
        "cyclegan": ("val_selection_loss", "min"),
    }[name]


def extra_callbacks(
    name: str,
    model: keras.Model,
    config: ModelConfig,
    probe: Any = None,
    epochs: int | None = None,
) -> list[keras.callbacks.Callback]:
    """Model-specific callbacks, in the order they must run: for the CycleGAN a
    ``LinearDecay`` of the learning rates (when ``epochs`` is given and
    ``config.decay_from < 1``), a ``SelectionScore`` (writes ``val_selection_loss``)
    and a ``ModeCollapseMonitor``.

    ``probe`` (optional) is a fixed batch of different images (B,Z,Y,X,2) in [0, 1];
    without one the monitor uses a seeded synthetic probe.
    """
    _check_config(name, config)
    if name != "cyclegan":
        return []
    from fluoseg.models.cyclegan import (
        LinearDecay,
        ModeCollapseMonitor,
        SelectionScore,
    )

    decay = []
    if epochs is not None and config.decay_from < 1.0:  # type: ignore[union-attr]
        decay = [LinearDecay(config, epochs)]  # type: ignore[arg-type]
    return decay + [
        SelectionScore(config.n_classes),
        ModeCollapseMonitor(config, probe=probe),  # type: ignore[arg-type]
    ]


def model_optimizers(model: keras.Model) -> dict[str, Any]:
    """Every optimizer of ``model`` by name (``optimizer``; or ``g_optimizer`` and
    ``d_optimizer`` for the GANs), each built on its variables."""
    if hasattr(model, "g_optimizer"):
        return {"g_optimizer": model.g_optimizer, "d_optimizer": model.d_optimizer}
    return {"optimizer": model.optimizer}


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
