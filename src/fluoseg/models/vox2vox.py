"""Vox2Vox (thesis §4.3.2, §5.3.2): a 3D pix2pix for segmentation.

A ``keras.Model`` subclass in the keras-io GAN style: the generator (U-Net/ResNet,
sigmoid head) and the 3D PatchGAN discriminator on (image, mask) channel pairs are
built in ``__init__``; the optimizers in ``compile``; ``train_step`` lists the steps of
one simultaneous update of both players:

1. the generator predicts ``p = G(x)``;
2. the discriminator scores the real pair ``D(x, y)`` and the fake pair ``D(x, p)``;
3. the LSGAN discriminator loss (eq. 4.8) ``L2[D(x, y), 1] + L2[D(x, p), 0]`` and the
   generator loss (eqs. 4.9, 5.2) ``L2[D(x, p), 1] + alpha * sum_c beta_c DLoss_c``;
4. each player's gradient is taken on its own loss and applied by its own Adam.

``test_step`` computes the same losses without updates; the trainer monitors
``val_dice_loss`` (the weighted Dice term ``sum_c beta_c DLoss_c``, mode ``min``) with
patience ``config.patience`` and keeps the best weights, as the thesis did.

Weights and optimizer state: both sub-models and both optimizers exist after
``build_vox2vox`` (optimizer variables are built in ``compile``), so
``save_weights``/``load_weights`` work before any step and
``fluoseg.models.optimizer_state``/``set_optimizer_state`` restore the optimizers.
"""

from __future__ import annotations

from typing import Any

try:
    import keras
except ImportError:  # TensorFlow missing: say which extra installs it
    from fluoseg.errors import require_tensorflow

    require_tensorflow()
    raise
from keras import ops

from fluoseg.models.blocks import build_patchgan3d, build_vox2vox_generator
from fluoseg.models.configs.vox2vox import Vox2VoxConfig
from fluoseg.models.losses import (
    dice_coefficient,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    weighted_dice_loss,
)

MONITOR: tuple[str, str] = ("val_dice_loss", "min")


@keras.saving.register_keras_serializable(package="fluoseg")
class Vox2Vox(keras.Model):
    """Generator + PatchGAN discriminator trained with LSGAN and weighted Dice."""

    def __init__(self, config: Vox2VoxConfig | dict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = Vox2VoxConfig.from_dict(config)
        self.cfg = config
        self.generator = build_vox2vox_generator(config, name="generator")
        self.discriminator = build_patchgan3d(
            config.in_channels + config.n_classes,
            config.disc_filters,
            config.disc_layers,
            config.disc_kernel,
            norm=config.norm,
            init=config.init,
            name="discriminator",
        )
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.adv_loss_tracker = keras.metrics.Mean(name="adv_loss")
        self.dice_loss_tracker = keras.metrics.Mean(name="dice_loss")
        self.dice_tracker = keras.metrics.Mean(name="dice")
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [
            self.g_loss_tracker,
            self.d_loss_tracker,
            self.adv_loss_tracker,
            self.dice_loss_tracker,
            self.dice_tracker,
        ]

    def call(self, inputs: Any, training: bool = False) -> Any:
        """The generator's probabilities for images ``inputs`` in [0, 1]."""
        return self.generator(inputs, training=training)

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs: Any,
    ) -> None:
        """Attach one Adam per player (config rates) and build their variables."""
        super().compile(**kwargs)
        c = self.cfg
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(
            c.learning_rate, beta_1=c.adam_beta_1
        )
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(
            c.disc_learning_rate, beta_1=c.adam_beta_1
        )
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def _gan_losses(self, x: Any, y: Any, training: bool) -> dict[str, Any]:
        c = self.cfg
        p = self.generator(x, training=training)
        real = self.discriminator(ops.concatenate([x, y], axis=-1), training=training)
        fake = self.discriminator(ops.concatenate([x, p], axis=-1), training=training)
        d_loss = lsgan_discriminator_loss(real, fake)
        adv = lsgan_generator_loss(fake)
        dice = weighted_dice_loss(y, p, c.beta, c.dice_smooth)
        return {
            "pred": p,
            "d_loss": d_loss,
            "adv_loss": adv,
            "dice_loss": dice,
            "g_loss": adv + c.alpha * dice,
        }

    def _record(self, y: Any, out: dict[str, Any]) -> dict[str, Any]:
        self.g_loss_tracker.update_state(out["g_loss"])
        self.d_loss_tracker.update_state(out["d_loss"])
        self.adv_loss_tracker.update_state(out["adv_loss"])
        self.dice_loss_tracker.update_state(out["dice_loss"])
        self.dice_tracker.update_state(
            dice_coefficient(y, out["pred"], self.cfg.threshold)
        )
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data: Any) -> dict[str, Any]:
        """One simultaneous update of generator and discriminator (steps 1-4 above)."""
        import tensorflow as tf

        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        y = ops.cast(y, "float32")
        with tf.GradientTape(persistent=True) as tape:
            out = self._gan_losses(x, y, training=True)  # steps 1-3
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        g_grads = tape.gradient(out["g_loss"], g_vars)  # step 4
        d_grads = tape.gradient(out["d_loss"], d_vars)
        del tape
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars, strict=True))
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars, strict=True))
        return self._record(y, out)

    def test_step(self, data: Any) -> dict[str, Any]:
        """Validation losses, no updates; the trainer monitors ``dice_loss``."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        y = ops.cast(y, "float32")
        return self._record(y, self._gan_losses(x, y, training=False))

    def segmenter(self) -> keras.Model:
        """The generator: images in [0, 1] -> probabilities in [0, 1]."""
        return self.generator

    def get_config(self) -> dict[str, Any]:
        return {"config": self.cfg.to_dict()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Vox2Vox:
        return cls(config["config"])


def build_vox2vox(cfg: Vox2VoxConfig) -> Vox2Vox:
    """The compiled Vox2Vox of ``cfg``, ready for ``fit((images, masks))``."""
    model = Vox2Vox(cfg)
    model.compile()
    return model
