"""Three toy adversarial trainings that run in seconds on a CPU.

A small MLP (``mlp``) for a GAN on a 1D mixture, a CycleGAN between two 2D point clouds
(``train_cyclegan_2d``) and a pix2pix on 2D blob images (``train_pix2pix_2d``, with its
``small_unet_2d`` generator and ``patch_discriminator_2d``). TensorFlow and Keras are
imported inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fluoseg.errors import InputError, require_tensorflow


def mlp(
    n_in: int,
    n_out: int,
    hidden: Sequence[int] = (32, 32),
    activation: str = "leaky_relu",
    out_activation: str | None = None,
    name: str | None = None,
):
    """A small fully connected Keras network ``n_in -> hidden... -> n_out``."""
    require_tensorflow()
    import keras

    layers = [keras.Input((n_in,))]
    layers += [keras.layers.Dense(h, activation=activation) for h in hidden]
    layers.append(keras.layers.Dense(n_out, activation=out_activation))
    return keras.Sequential(layers, name=name)


@dataclass
class ToyHistory:
    """Per-step losses of a toy training (lists of floats, one entry per step)."""

    losses: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **values: float) -> None:
        """Append one value per named loss."""
        for key, v in values.items():
            self.losses.setdefault(key, []).append(float(v))

    def smoothed(self, key: str, window: int = 50) -> np.ndarray:
        """Running mean of loss ``key`` over ``window`` steps ('valid' part)."""
        v = np.asarray(self.losses[key])
        window = max(1, min(window, v.size))
        return np.convolve(v, np.ones(window) / window, mode="valid")


def cycle_error(g_xy, g_yx, x: np.ndarray) -> float:
    """Mean absolute cycle error ``|G_YX(G_XY(x)) - x|`` of two Keras generators."""
    back = g_yx(g_xy(x, training=False), training=False)
    return float(np.mean(np.abs(np.asarray(back) - x)))


def train_cyclegan_2d(
    x: np.ndarray,
    y: np.ndarray,
    steps: int = 600,
    batch: int = 128,
    lambda_cycle: float = 2.0,
    lambda_identity: float = 0.0,
    lr: float = 5e-3,
    seed: int = 0,
) -> tuple[object, object, ToyHistory]:
    """Train a CycleGAN between two unpaired 2D point clouds ``x`` and ``y`` (n, 2).

    Two MLP generators (``G_XY``, ``G_YX``) and two MLP discriminators with
    least-squares adversarial losses, as in Zhu et al.; the generators also minimise
    ``lambda_cycle`` times the L1 cycle loss and ``lambda_identity`` times the L1
    identity loss. Returns ``(g_xy, g_yx, history)``; the history records ``d``,
    ``g_adv``, ``cycle`` and ``identity`` per step.
    """
    require_tensorflow()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    g_xy = mlp(2, 2, name="G_XY")
    g_yx = mlp(2, 2, name="G_YX")
    d_x = mlp(2, 1, name="D_X")
    d_y = mlp(2, 1, name="D_Y")
    opt_g = keras.optimizers.Adam(lr, beta_1=0.5)
    opt_d = keras.optimizers.Adam(lr, beta_1=0.5)
    g_vars = g_xy.trainable_variables + g_yx.trainable_variables
    d_vars = d_x.trainable_variables + d_y.trainable_variables

    def mse(a, b):
        return tf.reduce_mean(tf.square(a - b))

    def l1(a, b):
        return tf.reduce_mean(tf.abs(a - b))

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            fake_y, fake_x = g_xy(xb), g_yx(yb)
            adv = mse(d_y(fake_y), 1.0) + mse(d_x(fake_x), 1.0)
            cyc = l1(g_yx(fake_y), xb) + l1(g_xy(fake_x), yb)
            idt = l1(g_xy(yb), yb) + l1(g_yx(xb), xb)
            g_loss = adv + lambda_cycle * cyc + lambda_identity * idt
        opt_g.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars, strict=True))
        with tf.GradientTape() as tape:
            d_loss = 0.5 * (
                mse(d_y(yb), 1.0)
                + mse(d_y(fake_y), 0.0)
                + mse(d_x(xb), 1.0)
                + mse(d_x(fake_x), 0.0)
            )
        opt_d.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars, strict=True))
        return d_loss, adv, cyc, idt

    rng = np.random.default_rng(seed)
    x, y = np.asarray(x, "float32"), np.asarray(y, "float32")
    hist = ToyHistory()
    for _ in range(steps):
        xb = x[rng.integers(0, len(x), batch)]
        yb = y[rng.integers(0, len(y), batch)]
        d_loss, adv, cyc, idt = step(tf.constant(xb), tf.constant(yb))
        hist.add(d=d_loss, g_adv=adv, cycle=cyc, identity=idt)
    return g_xy, g_yx, hist


def small_unet_2d(
    size: int, base: int = 8, out_activation: str | None = "sigmoid", name: str = "G"
):
    """A two-level 2D U-Net (conv, pool, conv, up, concat, conv, 1x1 conv)."""
    require_tensorflow()
    import keras
    from keras import layers

    inp = keras.Input((size, size, 1))
    e = layers.Conv2D(base, 3, padding="same", activation="relu")(inp)
    b = layers.Conv2D(2 * base, 3, padding="same", activation="relu")(
        layers.MaxPooling2D(2)(e)
    )
    u = layers.Conv2DTranspose(base, 2, strides=2, activation="relu")(b)
    d = layers.Conv2D(base, 3, padding="same", activation="relu")(
        layers.Concatenate()([u, e])
    )
    out = layers.Conv2D(1, 1, activation=out_activation)(d)
    return keras.Model(inp, out, name=name)


def patch_discriminator_2d(size: int, base: int = 8, name: str = "D"):
    """A tiny PatchGAN: ``(image, mask)`` pair -> a grid of real/fake logits.

    Layers: Conv 4x4 stride 2, Conv 4x4 stride 1, Conv 4x4 stride 1 (all 'same');
    each output logit judges a patch of ``receptive_field([(4, 2), (4, 1), (4, 1)])``
    = 16 pixels per side.
    """
    require_tensorflow()
    import keras
    from keras import layers

    img = keras.Input((size, size, 1))
    msk = keras.Input((size, size, 1))
    h = layers.Concatenate()([img, msk])
    h = layers.LeakyReLU(0.2)(layers.Conv2D(base, 4, strides=2, padding="same")(h))
    h = layers.LeakyReLU(0.2)(layers.Conv2D(2 * base, 4, padding="same")(h))
    out = layers.Conv2D(1, 4, padding="same")(h)
    return keras.Model([img, msk], out, name=name)


def train_pix2pix_2d(
    images: np.ndarray,
    masks: np.ndarray,
    steps: int = 300,
    batch: int = 16,
    lambda_l1: float = 100.0,
    adversarial: bool = True,
    lr: float = 2e-3,
    seed: int = 0,
) -> tuple[object, object, ToyHistory]:
    """Train a toy pix2pix translating 2D blob images to masks.

    Generator: :func:`small_unet_2d` with a linear output (a sigmoid output saturates
    under the L1 loss and the toy collapses to an empty mask; threshold at 0.5);
    discriminator: :func:`patch_discriminator_2d`
    on (image, mask) pairs; losses: binary cross-entropy on every patch logit plus
    ``lambda_l1`` times the L1 distance to the true mask (Isola et al.'s objective).
    With ``adversarial=False`` the generator only minimises L1. Returns
    ``(generator, discriminator, history)`` with ``d``, ``g_adv``, ``l1`` per step.
    """
    require_tensorflow()
    import keras
    import tensorflow as tf

    if images.shape != masks.shape or images.ndim != 4:
        raise InputError(
            f"train_pix2pix_2d: expected images and masks (n, s, s, 1), got "
            f"{images.shape} and {masks.shape}"
        )
    keras.utils.set_random_seed(seed)
    size = images.shape[1]
    g = small_unet_2d(size, out_activation=None)
    d = patch_discriminator_2d(size)
    opt_g = keras.optimizers.Adam(lr, beta_1=0.5)
    opt_d = keras.optimizers.Adam(lr, beta_1=0.5)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    w_adv = 1.0 if adversarial else 0.0

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape_g, tf.GradientTape() as tape_d:
            fake = g(xb, training=True)
            real_logit = d([xb, yb], training=True)
            fake_logit = d([xb, fake], training=True)
            adv = bce(tf.ones_like(fake_logit), fake_logit)
            l1 = tf.reduce_mean(tf.abs(yb - fake))
            g_loss = w_adv * adv + lambda_l1 * l1
            d_loss = 0.5 * (
                bce(tf.ones_like(real_logit), real_logit)
                + bce(tf.zeros_like(fake_logit), fake_logit)
            )
        gv, dv = g.trainable_variables, d.trainable_variables
        opt_g.apply_gradients(zip(tape_g.gradient(g_loss, gv), gv, strict=True))
        if adversarial:
            opt_d.apply_gradients(zip(tape_d.gradient(d_loss, dv), dv, strict=True))
        return d_loss, adv, l1

    rng = np.random.default_rng(seed)
    hist = ToyHistory()
    for _ in range(steps):
        idx = rng.integers(0, len(images), batch)
        d_loss, adv, l1 = step(tf.constant(images[idx]), tf.constant(masks[idx]))
        hist.add(d=d_loss, g_adv=adv, l1=l1)
    return g, d, hist
