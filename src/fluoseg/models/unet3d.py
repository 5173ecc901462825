"""The 3D U-Net (thesis §4.3.1, §5.3.1): build, compile, monitor.

The network is ``fluoseg.models.blocks.build_unet3d``; ``build_unet(cfg)`` compiles it
with Adam at ``cfg.learning_rate`` and the Dice loss of eq. 4.7 (``loss="dice"``, the
thesis's and ``paper``'s choice) or BCE + Dice (``loss="bce_dice"``, ``cpu``), with the
hard Dice at 0.5 as a metric. The trainer monitors ``val_loss`` (mode ``min``) with
patience ``cfg.patience``.
"""

from __future__ import annotations

try:
    import keras
except ImportError:  # TensorFlow missing: say which extra installs it
    from fluoseg.errors import require_tensorflow

    require_tensorflow()
    raise

from fluoseg.models.blocks import build_unet3d
from fluoseg.models.configs.unet import UNetConfig
from fluoseg.models.losses import dice_coefficient, make_unet_loss

MONITOR: tuple[str, str] = ("val_loss", "min")


def build_unet(cfg: UNetConfig) -> keras.Model:
    """The compiled 3D U-Net of ``cfg``, ready for ``fit((images, masks))``."""
    model = build_unet3d(cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss=make_unet_loss(cfg.loss, cfg.dice_smooth),
        metrics=[dice_coefficient],
    )
    model.optimizer.build(model.trainable_variables)
    return model
