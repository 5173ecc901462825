"""Small, exact helpers for the theory chapters' toy demonstrations.

Everything here is deliberately tiny: a convolution computed window by window, the
output-size and receptive-field formulas, the activation functions, the GAN generator
losses and their gradients, two-dimensional toy data sets, and three toy adversarial
trainings (a GAN on a 1D mixture, a pix2pix on 2D blob images, a CycleGAN between two
2D point clouds) that run in seconds on a CPU. TensorFlow and Keras are imported inside
the functions that need them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fluoseg.errors import InputError, require_tensorflow

ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "elu", "sigmoid", "tanh")
GAN_LOSSES: tuple[str, ...] = ("saturating", "non_saturating", "least_squares")


# --------------------------------------------------------------------------------------
# Convolution arithmetic
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvStep:
    """One position of a kernel sliding over an input.

    Attributes:
        out_index: index of the output value this step computes.
        origin: index of the window's first element in the (padded) input.
        window: the input values under the kernel.
        value: ``sum(window * kernel)``, the output value.
    """

    out_index: tuple[int, ...]
    origin: tuple[int, ...]
    window: np.ndarray
    value: float


def _as_tuple(v: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    t = (int(v),) * ndim if np.isscalar(v) else tuple(int(a) for a in v)
    if len(t) != ndim or min(t) < 0:
        raise InputError(
            f"{name}: expected a non-negative int or {ndim} ints, got {v!r}"
        )
    return t


def conv_output_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a convolution: ``floor((n + 2p - d(k-1) - 1) / s) + 1``.

    Raises:
        InputError: non-positive size, kernel or stride, or a kernel larger than the
            padded input.
    """
    if n < 1 or kernel < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise InputError(
            "conv_output_size: expected n, kernel, stride, dilation >= 1 and "
            f"padding >= 0, got n={n}, kernel={kernel}, stride={stride}, "
            f"padding={padding}, dilation={dilation}"
        )
    span = dilation * (kernel - 1) + 1
    if n + 2 * padding < span:
        raise InputError(
            f"conv_output_size: kernel span {span} exceeds the padded input "
            f"{n + 2 * padding}"
        )
    return (n + 2 * padding - span) // stride + 1


def conv_steps(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
) -> list[ConvStep]:
    """Every step of a single-channel convolution (deep-learning style, no flip).

    Works in any number of dimensions (1D, 2D, 3D). Zero padding of ``padding`` values
    is added on both sides of each axis.

    Raises:
        InputError: ``x`` and ``kernel`` differ in dimensionality.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if x.ndim != kernel.ndim or x.ndim == 0:
        raise InputError(
            "conv_steps: expected x and kernel with the same number of dimensions, "
            f"got "
            f"{x.shape} and {kernel.shape}"
        )
    s = _as_tuple(stride, x.ndim, "stride")
    p = _as_tuple(padding, x.ndim, "padding")
    xp = np.pad(x, [(a, a) for a in p])
    out_shape = [
        conv_output_size(n, k, st, pa)
        for n, k, st, pa in zip(x.shape, kernel.shape, s, p, strict=True)
    ]
    steps = []
    for idx in itertools.product(*(range(m) for m in out_shape)):
        origin = tuple(i * st for i, st in zip(idx, s, strict=True))
        sl = tuple(slice(o, o + k) for o, k in zip(origin, kernel.shape, strict=True))
        window = xp[sl]
        steps.append(ConvStep(idx, origin, window, float(np.sum(window * kernel))))
    return steps


def conv_nd(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
) -> np.ndarray:
    """The output of :func:`conv_steps` assembled into an array (float64)."""
    steps = conv_steps(x, kernel, stride, padding)
    shape = tuple(m + 1 for m in steps[-1].out_index)
    out = np.zeros(shape)
    for st in steps:
        out[st.out_index] = st.value
    return out


def max_pool(x: np.ndarray, size: int = 2, stride: int | None = None) -> np.ndarray:
    """Max pooling of a single-channel array of any dimensionality ('valid' windows)."""
    x = np.asarray(x)
    stride = size if stride is None else stride
    out_shape = [conv_output_size(n, size, stride) for n in x.shape]
    out = np.empty(out_shape, dtype=x.dtype)
    for idx in itertools.product(*(range(m) for m in out_shape)):
        out[idx] = x[tuple(slice(i * stride, i * stride + size) for i in idx)].max()
    return out


def transposed_conv(x: np.ndarray, kernel: np.ndarray, stride: int = 2) -> np.ndarray:
    """Transposed convolution of a single-channel array: each input value scatters a
    scaled copy of the kernel, ``out[i*s + a] += x[i] * kernel[a]``.

    The output has length ``(n - 1) * s + k`` per axis, which is what Keras'
    ``Conv*Transpose(padding="valid")`` gives when ``k >= s``.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if x.ndim != kernel.ndim:
        raise InputError(
            f"transposed_conv: x {x.shape} and kernel {kernel.shape} differ in ndim"
        )
    shape = tuple(
        (n - 1) * stride + k for n, k in zip(x.shape, kernel.shape, strict=True)
    )
    out = np.zeros(shape)
    for idx in itertools.product(*(range(n) for n in x.shape)):
        sl = tuple(
            slice(i * stride, i * stride + k)
            for i, k in zip(idx, kernel.shape, strict=True)
        )
        out[sl] += x[idx] * kernel
    return out


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field (in input samples) of a chain of ``(kernel, stride)`` layers.

    ``r = 1 + sum_l (k_l - 1) * prod_{i<l} s_i``: each layer widens the field by
    ``k - 1`` of its own input steps, and one step of layer ``l``'s input spans the
    product of all earlier strides in input samples. Pooling is a layer too.
    """
    r, jump = 1, 1
    for k, s in layers:
        if k < 1 or s < 1:
            raise InputError(
                f"receptive_field: expected kernel, stride >= 1, got {k, s}"
            )
        r += (k - 1) * jump
        jump *= s
    return r


def unet_receptive_field(
    depth: int, convs_per_level: int = 2, kernel: int = 3, pool: int = 2
) -> int:
    """The simple formula for a U-Net's receptive field (per axis, in voxels).

    The deepest path runs through ``depth`` encoder levels (``convs_per_level`` convs
    then a ``pool`` max pool), the bottleneck (``convs_per_level`` convs), and back up
    through ``depth`` decoder levels (an up-sampling by ``pool`` then
    ``convs_per_level`` convs). Counting an up-sampling as adding nothing and a decoder
    conv at level ``l`` as adding ``(kernel - 1) * pool**l`` voxels gives
    ``1 + sum_l [c(k-1) + pool - 1] pool**l + c(k-1) pool**depth
    + sum_l c(k-1) pool**l``.

    This ignores alignment: an up-sampling whose kernel equals its stride (nearest
    neighbour, or the U-Net's 2^3 transposed convolution) sends each output voxel to
    one coarse voxel, so the field is rounded to whole pooling cells, up or down
    depending on where the output voxel sits in its ``pool**depth`` cell. The formula
    is then exact only when ``convs_per_level * (kernel - 1)`` is a multiple of
    ``pool**depth`` (always for ``depth <= 1`` with the usual 2 convs of 3); otherwise
    the true field lies in :func:`unet_receptive_field_range`, e.g. 188 to 204
    pixels for the original U-Net (formula: 200).
    """
    if depth < 0 or convs_per_level < 1:
        raise InputError(
            f"unet_receptive_field: expected depth >= 0 and convs >= 1, got {depth}, "
            f"{convs_per_level}"
        )
    grow = convs_per_level * (kernel - 1)
    r = 1
    for level in range(depth):
        r += grow * pool**level + (pool - 1) * pool**level
    r += grow * pool**depth
    for level in range(depth):
        r += grow * pool**level
    return r


def unet_receptive_field_at(
    position: int,
    depth: int,
    convs_per_level: int = 2,
    kernel: int = 3,
    pool: int = 2,
) -> int:
    """Exact receptive field (per axis, in voxels) of the output voxel at ``position``.

    The U-Net is the one of :func:`unet_receptive_field`, with 'same' convolutions,
    ``pool``-wide max pools of stride ``pool`` and up-samplings whose kernel equals
    their stride. The interval of input voxels that can change the output is carried
    back through every layer and every skip path: a conv widens it by ``kernel - 1``
    of its own steps, a max pool maps ``[a, b]`` to ``[pool a, pool b + pool - 1]``,
    an up-sampling maps ``[a, b]`` to ``[a // pool, b // pool]``. Only ``position``
    modulo ``pool**depth`` matters (far from the volume's borders).
    """
    if depth < 0 or convs_per_level < 1 or kernel < 1 or pool < 1:
        raise InputError(
            "unet_receptive_field_at: expected depth >= 0 and convs, kernel, pool >= 1,"
            f" got {depth}, {convs_per_level}, {kernel}, {pool}"
        )
    left = convs_per_level * ((kernel - 1) // 2)
    right = convs_per_level * (kernel - 1) - left

    def encoder(level: int, lo: int, hi: int) -> tuple[int, int]:
        lo, hi = lo - left, hi + right
        if level == 0:
            return lo, hi
        return encoder(level - 1, pool * lo, pool * hi + pool - 1)

    def decoder(level: int, lo: int, hi: int) -> tuple[int, int]:
        if level == depth:
            return encoder(level, lo, hi)
        lo, hi = lo - left, hi + right
        skip = encoder(level, lo, hi)
        deep = decoder(level + 1, lo // pool, hi // pool)
        return min(skip[0], deep[0]), max(skip[1], deep[1])

    lo, hi = decoder(0, int(position), int(position))
    return hi - lo + 1


def unet_receptive_field_range(
    depth: int, convs_per_level: int = 2, kernel: int = 3, pool: int = 2
) -> tuple[int, int]:
    """Smallest and largest exact field over the output voxels of a U-Net.

    See :func:`unet_receptive_field_at`; the two are equal to
    :func:`unet_receptive_field` when the simple formula holds.
    """
    fields = [
        unet_receptive_field_at(p, depth, convs_per_level, kernel, pool)
        for p in range(pool**depth)
    ]
    return min(fields), max(fields)


def empirical_receptive_field(
    model: Callable,
    input_shape: Sequence[int],
    trials: int = 4,
    seed: int = 0,
    offset: int = 0,
) -> tuple[int, ...]:
    """Extent of the input that influences one output voxel, per spatial axis.

    The voxel is the centre of the output, moved by ``offset`` along every axis. The
    gradient of its value (summed over channels) with respect to the input is non-zero
    exactly where the input can change it; the union over ``trials`` random inputs
    guards against dead ReLUs and max-pool winners. ``input_shape`` is the shape of one
    sample without batch, channels last.
    """
    require_tensorflow()
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    spatial = tuple(input_shape[:-1])
    seen = np.zeros(spatial, dtype=bool)
    for _ in range(trials):
        x = tf.constant(rng.normal(size=(1, *input_shape)).astype("float32"))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x)
            centre = tuple(n // 2 + offset for n in y.shape[1:-1])
            target = tf.reduce_sum(y[(0, *centre)])
        g = tape.gradient(target, x).numpy()[0]
        seen |= np.abs(g).sum(axis=-1) > 0
    extents = []
    for axis in range(len(spatial)):
        other = tuple(a for a in range(len(spatial)) if a != axis)
        hit = np.flatnonzero(seen.any(axis=other))
        extents.append(int(hit[-1] - hit[0] + 1) if hit.size else 0)
    return tuple(extents)


# --------------------------------------------------------------------------------------
# Activations and GAN losses
# --------------------------------------------------------------------------------------


def activation(name: str, x: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """The activation ``name`` (one of :data:`ACTIVATIONS`) applied to ``x``.

    ``alpha`` is LeakyReLU's negative slope (0.2, as in GAN discriminators) and ELU's
    negative saturation value (ELU uses 1.0 whatever ``alpha`` is, as in Keras).
    """
    x = np.asarray(x, dtype=np.float64)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, x, alpha * x)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    raise InputError(f"unknown activation {name!r}: expected one of {ACTIVATIONS}")


def generator_loss(score: np.ndarray, kind: str) -> np.ndarray:
    """The generator's loss for one fake sample, as a function of the discriminator's
    last-layer output ``a`` for it (its *score*).

    For the two log losses the discriminator is a classifier, ``D = sigmoid(a)`` and
    ``a`` is its logit; LSGAN's discriminator has a linear output, ``D = a``, trained
    towards 0 on fakes and 1 on real samples. Using the score for all three puts them
    on one axis (a like-for-like comparison):

    - ``saturating``: ``log(1 - sigmoid(a))`` (minimised; Goodfellow et al.'s minimax);
    - ``non_saturating``: ``-log sigmoid(a)`` (the heuristic used in practice);
    - ``least_squares``: ``(a - 1)^2`` (LSGAN, used by CycleGAN).
    """
    a = np.asarray(score, dtype=np.float64)
    if kind == "saturating":
        return -np.logaddexp(0.0, a)  # log(1 - sigmoid(a)) = -softplus(a)
    if kind == "non_saturating":
        return np.logaddexp(0.0, -a)  # -log sigmoid(a) = softplus(-a)
    if kind == "least_squares":
        return (a - 1.0) ** 2
    raise InputError(f"unknown GAN loss {kind!r}: expected one of {GAN_LOSSES}")


def generator_loss_grad(score: np.ndarray, kind: str) -> np.ndarray:
    """Derivative of :func:`generator_loss` with respect to the score ``a``, for all
    three losses; its size is the learning signal the generator receives.

    ``-sigmoid(a)`` (saturating), ``-(1 - sigmoid(a))`` (non-saturating) and
    ``2 (a - 1)`` (least squares).
    """
    a = np.asarray(score, dtype=np.float64)
    if kind == "saturating":
        return -activation("sigmoid", a)
    if kind == "non_saturating":
        return -(1.0 - activation("sigmoid", a))
    if kind == "least_squares":
        return 2.0 * (a - 1.0)
    raise InputError(f"unknown GAN loss {kind!r}: expected one of {GAN_LOSSES}")


def decision_boundary(kind: str) -> float:
    """The score at which the discriminator of loss ``kind`` is undecided: 0 for the
    log losses (``sigmoid(0) = 1/2``), 0.5 for LSGAN (half-way between its targets)."""
    if kind not in GAN_LOSSES:
        raise InputError(f"unknown GAN loss {kind!r}: expected one of {GAN_LOSSES}")
    return 0.5 if kind == "least_squares" else 0.0


# --------------------------------------------------------------------------------------
# Toy data
# --------------------------------------------------------------------------------------


def two_moons(
    n: int, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles: points (n, 2) float32 and labels (n,) in {0, 1}."""
    if n < 2:
        raise InputError(f"two_moons: expected n >= 2, got {n}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    t = rng.uniform(0.0, np.pi, n)
    x = np.where(labels == 0, np.cos(t), 1.0 - np.cos(t))
    y = np.where(labels == 0, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x, y], axis=1) + rng.normal(0.0, noise, (n, 2))
    order = rng.permutation(n)
    return pts[order].astype("float32"), labels[order].astype("int64")


def mixture_1d(
    n: int,
    seed: int = 0,
    means: Sequence[float] = (-2.0, 2.0),
    std: float = 0.4,
) -> np.ndarray:
    """``n`` samples (n, 1) float32 from an equal-weight mixture of 1D Gaussians."""
    rng = np.random.default_rng(seed)
    centres = np.asarray(means, dtype=np.float64)[rng.integers(0, len(means), n)]
    return (centres + rng.normal(0.0, std, n)).astype("float32")[:, None]


def blob_images(
    n: int, size: int = 16, seed: int = 0, noise: float = 0.15, max_blobs: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """2D toy "nuclei": blurred bright discs plus noise, and their binary masks.

    Returns images (n, size, size, 1) float32 in [0, 1] and masks of the same shape in
    {0, 1}. Each image holds 1 to ``max_blobs`` discs of radius 2 to size/5.
    """
    from scipy.ndimage import gaussian_filter

    if size < 8:
        raise InputError(f"blob_images: expected size >= 8, got {size}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.empty((n, size, size, 1), dtype="float32")
    masks = np.zeros((n, size, size, 1), dtype="float32")
    for i in range(n):
        m = np.zeros((size, size), dtype=bool)
        for _ in range(int(rng.integers(1, max_blobs + 1))):
            r = rng.uniform(2.0, max(2.5, size / 5))
            cy, cx = rng.uniform(r, size - r, 2)
            m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        img = gaussian_filter(m.astype(float) * rng.uniform(0.6, 1.0), 1.0)
        img = img + rng.normal(0.0, noise, img.shape)
        images[i, ..., 0] = np.clip(img, 0.0, 1.0)
        masks[i, ..., 0] = m
    return images, masks


# --------------------------------------------------------------------------------------
# Toy adversarial trainings
# --------------------------------------------------------------------------------------


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
