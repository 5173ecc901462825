"""CycleGAN for segmentation (thesis §4.2, §5.3.3): images I <-> masks S, unpaired.

A ``keras.Model`` subclass in the keras-io CycleGAN style. ``__init__`` builds the four
networks: G_S (image -> mask, the segmenter we keep), G_I (mask -> image), D_S (judges
masks), D_I (judges images): ResNet generators with instance norm and tanh heads, and
3D PatchGAN discriminators with LeakyReLU. Data arrive as images in [0, 1] and masks
in {0, 1}; the model maps both to [-1, 1] inside (``2 v - 1``) and maps G_S's tanh
output back to [0, 1] (``(t + 1) / 2``, thresholded at 0.5 by inference).

Residual blocks: the thesis describes the block output as the *concatenation* of the
block's input and its second convolution's output. ``residual="concat_grow"`` is that
block as described (nine blocks of 256 channels grow to 2560; ``paper``);
``residual="concat"`` follows the concatenation with a 1x1x1 convolution back to the
block width (``smoke``, ``cpu``); ``residual="sum"`` is the usual ResNet block.

Identity loss across domains with different channel counts: image channels are
(nuclei, Golgi) and mask channels are (nuclei, Golgi[, pair]), so channels correspond
by position. G_S receives a mask cropped to its first two channels (the pair channel
dropped); G_I receives an image padded with background channels (value -1, i.e. 0 in
[0, 1]) up to the mask's channel count. Each output is compared with the unmodified
input (so G_S(mask) must also reproduce the pair channel).

``train_step``, for a batch (x in [0, 1], s in {0, 1}) of unpaired images and masks:

1. map to [-1, 1]: ``i = 2x - 1``, ``s = 2s - 1``;
2. translations and cycles: ``G_S(i)``, ``G_I(G_S(i))``, ``G_I(s)``, ``G_S(G_I(s))``;
3. identities: ``G_S(crop(s))``, ``G_I(pad(i))``;
4. discriminator scores of real and translated images and masks;
5. losses: generators ``adv_S + adv_I + lambda_cycle * cycle + lambda_identity *
   identity`` (eqs. 4.1-4.5, LSGAN; mask L1 terms weighted per channel by
   ``class_weights`` and, at ``foreground_weight`` != 1, per foreground voxel);
   discriminators: the LSGAN losses of D_S and D_I;
6. both generators updated by ``g_optimizer``, both discriminators by ``d_optimizer``.

Checkpoint rule without ground truth (``monitor_for("cyclegan")``): ``test_step``
logs the selection statistics; the callbacks that turn them into
``val_selection_loss`` and watch for mode collapse are in
``fluoseg.models.cyclegan_callbacks``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import keras
except ImportError:  # TensorFlow missing: say which extra installs it
    from fluoseg.errors import require_tensorflow

    require_tensorflow()
    raise
from keras import layers, ops

from fluoseg.models.blocks import build_patchgan3d, build_resnet_generator
from fluoseg.models.configs.cyclegan import CycleGANConfig
from fluoseg.models.losses import (
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    weighted_l1,
)

SELECTION_EPS: float = 1e-4
SELECTION_STATS: tuple[str, ...] = ("fg_pred", "fg_ref", "cycle_inter", "cycle_total")


def match_channels(t: Any, n: int, fill: float = -1.0) -> Any:
    """Crop ``t``'s last axis to ``n`` channels, or pad it with ``fill``."""
    c = t.shape[-1]
    if c == n:
        return t
    if c > n:
        return t[..., :n]
    pad = ops.ones_like(t[..., :1]) * fill
    return ops.concatenate([t] + [pad] * (n - c), axis=-1)


def straight_through_sign(t: Any) -> Any:
    """-1 or 1 forward (0 counts as -1), the identity's gradient backward."""
    return t + ops.stop_gradient(ops.where(t > 0.0, 1.0, -1.0) - t)


@keras.saving.register_keras_serializable(package="fluoseg")
class CycleGAN(keras.Model):
    """Two ResNet generators and two PatchGANs trained with LSGAN + cycle + identity."""

    def __init__(self, config: CycleGANConfig | dict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = CycleGANConfig.from_dict(config)
        self.cfg = c = config
        gen = dict(
            filters=c.gen_filters,
            n_down=c.n_down,
            n_res_blocks=c.n_res_blocks,
            stem_kernel=c.stem_kernel,
            kernel=c.kernel_size,
            down_kernel=c.down_kernel,
            up_kernel=c.up_kernel,
            residual=c.residual,
            norm=c.norm,
            init=c.init,
        )
        disc = dict(
            filters=c.disc_filters,
            n_layers=c.disc_layers,
            kernel=c.disc_kernel,
            norm=c.norm,
            init=c.init,
        )
        self.g_s = build_resnet_generator(c.in_channels, c.n_classes, name="G_S", **gen)
        self.g_i = build_resnet_generator(c.n_classes, c.in_channels, name="G_I", **gen)
        self.d_s = build_patchgan3d(c.n_classes, name="D_S", **disc)
        self.d_i = build_patchgan3d(c.in_channels, name="D_I", **disc)
        # an exponential moving average of G_S's weights (ema_decay > 0): what
        # validation, checkpoints and inference use
        self.g_s_ema = None
        if c.ema_decay > 0:
            self.g_s_ema = build_resnet_generator(
                c.in_channels, c.n_classes, name="G_S_ema", **gen
            )
            self.g_s_ema.set_weights(self.g_s.get_weights())
            self.g_s_ema.trainable = False
        names = (
            "g_loss",
            "d_loss",
            "adv_s_loss",
            "adv_i_loss",
            "cycle_loss",
            "identity_loss",
            "d_s_acc",
            "d_i_acc",
        ) + tuple(f"{t}_{k}" for t in SELECTION_STATS for k in range(c.n_classes))
        if c.lambda_share > 0:  # (only then: older checkpoints keep their weights)
            names += ("share_loss",)
            # the mask domain's foreground share per class: a running mean over
            # the training batches' masks
            self.share_sum = keras.Variable(
                np.zeros(c.n_classes, np.float32), trainable=False, name="share_sum"
            )
            self.share_count = keras.Variable(0.0, trainable=False, name="share_count")
        if c.adv_warmup > 0:  # G_S's adversarial weight, set per epoch by a callback
            self.adv_s_weight = keras.Variable(0.0, trainable=False, name="adv_s_w")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    @property
    def generator_variables(self) -> list[Any]:
        """Trainable variables of G_S and G_I."""
        return self.g_s.trainable_variables + self.g_i.trainable_variables

    @property
    def discriminator_variables(self) -> list[Any]:
        """Trainable variables of D_S and D_I."""
        return self.d_s.trainable_variables + self.d_i.trainable_variables

    def call(self, inputs: Any, training: bool = False) -> Any:
        """G_S's probabilities in [0, 1] for images ``inputs`` in [0, 1]."""
        return (self.kept_g_s(2.0 * inputs - 1.0, training=training) + 1.0) * 0.5

    @property
    def kept_g_s(self) -> keras.Model:
        """The G_S that segments: the weights' moving average if ``ema_decay`` > 0."""
        return self.g_s if self.g_s_ema is None else self.g_s_ema

    def _update_ema(self) -> None:
        """``ema = decay * ema + (1 - decay) * weights`` for every weight of G_S."""
        if self.g_s_ema is None:
            return
        d = self.cfg.ema_decay
        for e, w in zip(self.g_s_ema.weights, self.g_s.weights, strict=True):
            e.assign(d * e + (1.0 - d) * w)

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs: Any,
    ) -> None:
        """Adam for the generators and for the discriminators; variables built."""
        super().compile(**kwargs)
        c = self.cfg
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(
            c.gen_learning_rate, beta_1=c.adam_beta_1
        )
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(
            c.disc_learning_rate, beta_1=c.adam_beta_1
        )
        self.g_optimizer.build(self.generator_variables)
        self.d_optimizer.build(self.discriminator_variables)

    def _gan_losses(
        self, x: Any, s: Any, training: bool, g_s: Any = None
    ) -> dict[str, Any]:
        c, t = self.cfg, training
        g_s = self.g_s if g_s is None else g_s
        seen = 2.0 * x - 1.0  # step 1: what G_S reads (above 1 if stretch_clip=False)
        i = ops.minimum(seen, 1.0)  # the image domain G_I and D_I work in: [-1, 1]
        s = 2.0 * ops.cast(s, x.dtype) - 1.0
        fake_s = g_s(seen, training=t)  # step 2
        cycled_i = self.g_i(self._cycle_input(fake_s), training=t)
        fake_i = self.g_i(s, training=t)
        cycled_s = g_s(fake_i, training=t)
        if c.lambda_identity > 0:  # step 3
            same_s = g_s(match_channels(s, c.in_channels), training=t)
            same_i = self.g_i(match_channels(i, c.n_classes), training=t)
        ds_real = self.d_s(s, training=t)
        ds_fake = self.d_s(self._disc_input(fake_s), training=t)
        di_real, di_fake = self.d_i(i, training=t), self.d_i(fake_i, training=t)
        w, fw = c.class_weights, c.foreground_weight  # step 5
        cycle = c.image_cycle_weight * weighted_l1(i, cycled_i) + weighted_l1(
            s, cycled_s, w, fw
        )
        identity = ops.zeros((), x.dtype)
        if c.lambda_identity > 0:
            identity = weighted_l1(s, same_s, w, fw) + weighted_l1(i, same_i)
        adv_s = lsgan_generator_loss(ds_fake)
        adv_i = lsgan_generator_loss(di_fake)
        g_adv_s = adv_s * self.adv_s_weight if c.adv_warmup > 0 else adv_s
        g_loss = g_adv_s + adv_i + c.lambda_cycle * cycle + c.lambda_identity * identity
        share = None
        if c.lambda_share > 0:
            share = self._share_loss(fake_s, s, training)
            g_loss = g_loss + c.lambda_share * share
        d_loss = lsgan_discriminator_loss(ds_real, ds_fake) + lsgan_discriminator_loss(
            di_real, di_fake
        )
        out = {
            "g_loss": g_loss,
            "d_loss": d_loss,
            "adv_s_loss": adv_s,
            "adv_i_loss": adv_i,
            "cycle_loss": cycle,
            "identity_loss": identity,
        }
        if share is not None:
            out["share_loss"] = share
        out["d_s_acc"] = _accuracy(ds_real, ds_fake)
        out["d_i_acc"] = _accuracy(di_real, di_fake)
        out.update(self._selection_statistics(fake_s, cycled_s, s))
        return out

    def _share_loss(self, fake_s: Any, s: Any, training: bool) -> Any:
        """Mean over classes of ``|log((p + eps) / (r + eps))|``: ``p`` is the
        foreground share of G_S's masks of the batch's real images (thresholded at
        0.5; the gradient is the soft share's), ``r`` the mask domain's share
        (a running mean over the training batches' masks, updated when
        ``training``). The checkpoint rule's share term, as a loss: an empty class
        (``p`` near 0) is pushed back up, a flooded one down; no annotation is read."""
        axes = (0, 1, 2, 3)
        batch_ref = ops.mean(ops.cast(s > 0.0, "float32"), axis=axes)
        if training:
            self.share_sum.assign_add(batch_ref)
            self.share_count.assign_add(1.0)
        ref = self.share_sum / ops.maximum(self.share_count, 1.0)
        # the share of the thresholded mask, with the soft share's gradient (a
        # straight-through estimator): faint values spread over the background
        # cannot fake the share
        soft = ops.mean((fake_s + 1.0) * 0.5, axis=axes)
        hard = ops.mean(ops.cast(fake_s > 0.0, "float32"), axis=axes)
        pred = soft + ops.stop_gradient(hard - soft)
        eps = SELECTION_EPS
        return ops.mean(ops.abs(ops.log((pred + eps) / (ops.stop_gradient(ref) + eps))))

    def _cycle_input(self, fake_s: Any) -> Any:
        """What G_I receives of G_S's mask in the image cycle: the mask itself
        (``cycle_mask="soft"``, the thesis) or its sign, so that G_I sees masks like
        the synthetic ones and G_S cannot pass the image's background to G_I in faint,
        sub-threshold values. ``"hard"`` passes the identity's gradient back to G_S (a
        straight-through estimator), so the image cycle still pulls G_S towards marking
        background that helps G_I redraw the image; ``"detached"`` stops it there: the
        image cycle trains G_I only."""
        mode = self.cfg.cycle_mask
        if mode == "soft":
            return fake_s
        if mode == "detached":
            return ops.stop_gradient(ops.where(fake_s > 0.0, 1.0, -1.0))
        return straight_through_sign(fake_s)

    def _disc_input(self, fake_s: Any) -> Any:
        """What D_S judges of G_S's mask: the mask itself (``disc_mask="soft"``, the
        thesis) or its sign with the identity's gradient (``"hard"``, a
        straight-through estimator). The synthetic masks are exactly -1 or 1, so a
        soft mask is told apart by its in-between values alone; judged by its sign,
        G_S's mask can only be told apart by its objects' count, size and shape."""
        if self.cfg.disc_mask == "soft":
            return fake_s
        return straight_through_sign(fake_s)

    def _selection_statistics(self, fake_s: Any, cycled_s: Any, s: Any) -> dict:
        """Per-class batch statistics of the checkpoint rule (all in [-1, 1] space):
        foreground fractions of ``G_S(i)`` and of the masks ``s``, and the
        intersection and total foreground of the mask cycle ``G_S(G_I(s))`` with
        ``s`` (per voxel, so their batch means give the validation set's Dice)."""
        axes = (0, 1, 2, 3)
        pred = ops.cast(fake_s > 0.0, "float32")
        ref = ops.cast(s > 0.0, "float32")
        cyc = ops.cast(cycled_s > 0.0, "float32")
        stats = {
            "fg_pred": ops.mean(pred, axis=axes),
            "fg_ref": ops.mean(ref, axis=axes),
            "cycle_inter": ops.mean(cyc * ref, axis=axes),
            "cycle_total": ops.mean(cyc + ref, axis=axes),
        }
        return {
            f"{name}_{k}": value[k]
            for name, value in stats.items()
            for k in range(self.cfg.n_classes)
        }

    def _record(self, out: dict[str, Any]) -> dict[str, Any]:
        for name, tracker in self.trackers.items():
            tracker.update_state(out[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data: Any) -> dict[str, Any]:
        """One update of both generators and both discriminators (steps 1-6)."""
        import tensorflow as tf

        x, s, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape(persistent=True) as tape:
            out = self._gan_losses(x, s, training=True)
        g_vars, d_vars = self.generator_variables, self.discriminator_variables
        g_grads = tape.gradient(out["g_loss"], g_vars)  # step 6
        d_grads = tape.gradient(out["d_loss"], d_vars)
        del tape
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars, strict=True))
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars, strict=True))
        self._update_ema()
        return self._record(out)

    def test_step(self, data: Any) -> dict[str, Any]:
        """Validation losses and selection statistics, no updates; the masks of a
        validation batch come from the unpaired domain, so no ground truth is read."""
        x, s, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._record(self._gan_losses(x, s, False, self.kept_g_s))

    def segmenter(self) -> keras.Model:
        """G_S wrapped: images in [0, 1] -> [-1, 1] -> G_S -> tanh -> [0, 1]."""
        inp = keras.Input((None, None, None, self.cfg.in_channels), name="image")
        t = layers.Rescaling(2.0, offset=-1.0, name="to_symmetric")(inp)
        t = self.kept_g_s(t)
        out = layers.Rescaling(0.5, offset=0.5, name="to_probability")(t)
        return keras.Model(inp, out, name="cyclegan_segmenter")

    def get_config(self) -> dict[str, Any]:
        return {"config": self.cfg.to_dict()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CycleGAN:
        return cls(config["config"])


def _accuracy(real: Any, fake: Any) -> Any:
    """A discriminator's accuracy: the mean of its patch scores on the LSGAN's right
    side of 0.5 (real towards 1, fake towards 0), over real and fake equally."""
    right_real = ops.mean(ops.cast(real > 0.5, "float32"))
    right_fake = ops.mean(ops.cast(fake < 0.5, "float32"))
    return 0.5 * (right_real + right_fake)


def build_cyclegan(cfg: CycleGANConfig) -> CycleGAN:
    """The compiled CycleGAN of ``cfg``, ready for ``fit((images, masks))``."""
    model = CycleGAN(cfg)
    model.compile()
    return model
