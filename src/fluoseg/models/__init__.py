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
  ``ModeCollapseMonitor``).
- ``model_optimizers(model) -> dict[str, Optimizer]``: every optimizer of a model, with
  its variables already built, for the trainer's optimizer-state checkpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluoseg.errors import InputError
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
    "model_optimizers",
    "monitor_for",
    "segmenter",
]

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


def monitor_for(name: str) -> tuple[str, str]:
    """``(metric_name, mode)`` the trainer monitors for model ``name``."""
    check_model_name(name)
    return {
        "unet": ("val_loss", "min"),
        "vox2vox": ("val_dice_loss", "min"),
        "cyclegan": ("val_selection_loss", "min"),
    }[name]


def extra_callbacks(
    name: str, model: keras.Model, config: ModelConfig, probe: Any = None
) -> list[keras.callbacks.Callback]:
    """Model-specific callbacks: for the CycleGAN a ``ModeCollapseMonitor``.

    ``probe`` (optional) is a fixed batch of different images (B,Z,Y,X,2) in [0, 1];
    without one the monitor uses a seeded synthetic probe.
    """
    _check_config(name, config)
    if name != "cyclegan":
        return []
    from fluoseg.models.cyclegan import ModeCollapseMonitor

    return [ModeCollapseMonitor(config, probe=probe)]  # type: ignore[arg-type]


def model_optimizers(model: keras.Model) -> dict[str, Any]:
    """Every optimizer of ``model`` by name (``optimizer``; or ``g_optimizer`` and
    ``d_optimizer`` for the GANs), each built on its variables."""
    if hasattr(model, "g_optimizer"):
        return {"g_optimizer": model.g_optimizer, "d_optimizer": model.d_optimizer}
    return {"optimizer": model.optimizer}
