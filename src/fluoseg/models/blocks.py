"""Layer blocks shared by the three models, and the ``build_*`` network builders.

Every block is a function ``block(x, ...) -> x`` on Keras functional tensors, made of
built-in Keras layers only, so that every network saves and loads with
``keras.saving`` without custom objects. Instance normalisation is
``keras.layers.GroupNormalization(groups=-1)`` (one group per channel).

Networks (all accept any spatial shape divisible by their total stride):

- ``build_unet3d(cfg)``: the 3D U-Net (sigmoid head).
- ``build_vox2vox_generator(cfg)``: U-Net/ResNet generator of Vox2Vox (sigmoid head).
- ``build_patchgan3d(...)``: a 3D PatchGAN discriminator (linear output, LSGAN).
- ``build_resnet_generator(...)``: the CycleGAN ResNet generator (tanh head).
"""

from __future__ import annotations

from typing import Any

try:
    import keras
except ImportError:  # TensorFlow missing: say which extra installs it
    from fluoseg.errors import require_tensorflow

    require_tensorflow()
    raise
from keras import layers

from fluoseg.errors import InputError

LEAKY_SLOPE = 0.2


def initializer(name: str) -> keras.initializers.Initializer:
    """A fresh weight initialiser: ``glorot_uniform`` (Xavier), ``he_normal`` or
    ``normal`` (N(0, 0.02), the CycleGAN/pix2pix convention)."""
    if name == "glorot_uniform":
        return keras.initializers.GlorotUniform()
    if name == "he_normal":
        return keras.initializers.HeNormal()
    if name == "normal":
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)
    raise InputError(
        f"unknown initialiser {name!r}: expected glorot_uniform, he_normal or normal"
    )


def norm_layer(norm: str, name: str, momentum: float = 0.99) -> layers.Layer | None:
    """``batch`` -> BatchNormalization(momentum), ``instance`` ->
    GroupNormalization(groups=-1), ``none`` -> None."""
    if norm == "batch":
        return layers.BatchNormalization(momentum=momentum, name=name)
    if norm == "instance":
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    if norm == "none":
        return None
    raise InputError(f"unknown norm {norm!r}: expected batch, instance or none")


def activation_layer(act: str | None, name: str) -> layers.Layer | None:
    """``relu``, ``leaky_relu`` (slope 0.2), ``sigmoid``, ``tanh`` or None."""
    if act is None:
        return None
    if act == "leaky_relu":
        return layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=name)
    return layers.Activation(act, name=name)


def conv_block(
    x: Any,
    filters: int,
    kernel: int = 3,
    *,
    stride: int = 1,
    norm: str = "batch",
    act: str | None = "relu",
    init: str = "glorot_uniform",
    name: str,
    transpose: bool = False,
    momentum: float = 0.99,
) -> Any:
    """Conv3D (or Conv3DTranspose) with 'same' padding + optional norm + activation.

    Parameters: ``kernel**3 * c_in * filters`` for the convolution, plus ``filters``
    biases without norm, ``4 * filters`` with batch norm (2 trainable) or
    ``2 * filters`` with instance norm (a bias before a norm would be cancelled by it).
    ``momentum`` is the batch-norm moving-average momentum.
    """
    conv_cls = layers.Conv3DTranspose if transpose else layers.Conv3D
    x = conv_cls(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=norm == "none",
        kernel_initializer=initializer(init),
        name=f"{name}_conv",
    )(x)
    nl = norm_layer(norm, f"{name}_norm", momentum)
    if nl is not None:
        x = nl(x)
    al = activation_layer(act, f"{name}_act")
    if al is not None:
        x = al(x)
    return x


def down_block(
    x: Any,
    filters: int,
    kernel: int = 2,
    *,
    norm: str = "batch",
    act: str = "relu",
    init: str = "glorot_uniform",
    name: str,
    momentum: float = 0.99,
) -> Any:
    """Halve every spatial size: a stride-2 ``kernel``^3 convolution + norm + act."""
    return conv_block(
        x,
        filters,
        kernel,
        stride=2,
        norm=norm,
        act=act,
        init=init,
        name=name,
        momentum=momentum,
    )


def up_block(
    x: Any,
    filters: int,
    kernel: int = 2,
    *,
    norm: str = "batch",
    act: str | None = "relu",
    init: str = "glorot_uniform",
    name: str,
    momentum: float = 0.99,
) -> Any:
    """Double every spatial size: a stride-2 transposed convolution + norm + act."""
    return conv_block(
        x,
        filters,
        kernel,
        stride=2,
        norm=norm,
        act=act,
        init=init,
        name=name,
        transpose=True,
        momentum=momentum,
    )


def residual_block(
    x: Any,
    filters: int,
    kernel: int = 3,
    *,
    mode: str = "sum",
    fuse: bool = True,
    norm: str = "instance",
    init: str = "normal",
    name: str,
    momentum: float = 0.99,
) -> Any:
    """Two ``kernel``^3 convolutions (norm + ReLU, then norm) and a shortcut.

    ``mode="sum"``: output = input + second conv (a 1x1x1 projection of the input is
    added first if its channel count differs from ``filters``).

    ``mode="concat_grow"``: the thesis's block as it describes it (§4.2): output =
    concatenation of the block's input and its second convolution's output, so the
    channels grow by ``filters`` at every block (``c_in + filters`` out).

    ``mode="concat"``: the same concatenation; with ``fuse=True`` (default) a 1x1x1
    convolution then maps the ``c_in + filters`` channels back to ``filters`` so that
    blocks can be stacked at constant width; ``fuse=False`` is ``"concat_grow"``.
    """
    kw = dict(norm=norm, init=init, momentum=momentum)
    h = conv_block(x, filters, kernel, act="relu", name=f"{name}_a", **kw)
    h = conv_block(h, filters, kernel, act=None, name=f"{name}_b", **kw)
    c_in = x.shape[-1]
    if mode == "sum":
        if c_in != filters:
            x = layers.Conv3D(
                filters, 1, kernel_initializer=initializer(init), name=f"{name}_proj"
            )(x)
        return layers.Add(name=f"{name}_add")([x, h])
    if mode in ("concat", "concat_grow"):
        y = layers.Concatenate(name=f"{name}_concat")([x, h])
        if fuse and mode == "concat":
            y = layers.Conv3D(
                filters, 1, kernel_initializer=initializer(init), name=f"{name}_fuse"
            )(y)
        return y
    raise InputError(
        f"unknown residual mode {mode!r}: expected concat, concat_grow or sum"
    )


def patchgan_block(
    x: Any,
    filters: int,
    kernel: int = 4,
    *,
    stride: int = 2,
    norm: str = "batch",
    init: str = "normal",
    name: str,
) -> Any:
    """PatchGAN block: ``kernel``^3 conv (stride ``stride``) + norm + LeakyReLU(0.2)."""
    return conv_block(
        x,
        filters,
        kernel,
        stride=stride,
        norm=norm,
        act="leaky_relu",
        init=init,
        name=name,
    )


def _head(x: Any, n_out: int, kernel: int, act: str, init: str, name: str) -> Any:
    # The head computes in float32 so the probabilities are float32 whatever policy.
    return layers.Conv3D(
        n_out,
        kernel,
        padding="same",
        activation=act,
        kernel_initializer=initializer(init),
        dtype="float32",
        name=name,
    )(x)


def build_unet3d(cfg: Any, name: str = "unet3d") -> keras.Model:
    """The 3D U-Net of ``cfg`` (a ``UNetConfig``): (B,Z,Y,X,in) -> (B,Z,Y,X,n)."""
    inp = keras.Input((None, None, None, cfg.in_channels), name="image")
    x = inp
    skips = []
    kw = dict(norm=cfg.norm, init=cfg.init, momentum=cfg.bn_momentum)
    for level in range(cfg.depth):
        f = cfg.base_filters * 2**level
        for i in range(cfg.convs_per_level):
            x = conv_block(x, f, cfg.kernel_size, name=f"enc{level}_{i}", **kw)
        if level < cfg.depth - 1:
            skips.append(x)
            x = layers.MaxPooling3D(2, name=f"pool{level}")(x)
    for level in reversed(range(cfg.depth - 1)):
        f = cfg.base_filters * 2**level
        x = layers.Conv3DTranspose(
            f,
            cfg.up_kernel,
            strides=2,
            padding="same",
            kernel_initializer=initializer(cfg.init),
            name=f"up{level}",
        )(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        for i in range(cfg.convs_per_level):
            x = conv_block(x, f, cfg.kernel_size, name=f"dec{level}_{i}", **kw)
    out = _head(x, cfg.n_classes, 1, "sigmoid", cfg.init, "probabilities")
    return keras.Model(inp, out, name=name)


def build_vox2vox_generator(cfg: Any, name: str = "generator") -> keras.Model:
    """Vox2Vox generator of ``cfg`` (a ``Vox2VoxConfig``): U-Net with strided
    convolutions, a residual bottleneck and a sigmoid head."""
    inp = keras.Input((None, None, None, cfg.in_channels), name="image")
    kw = dict(norm=cfg.norm, init=cfg.init, momentum=cfg.bn_momentum)
    x = conv_block(inp, cfg.base_filters, cfg.kernel_size, name="stem", **kw)
    skips = [x]
    for level in range(1, cfg.depth):
        f = cfg.base_filters * 2**level
        x = down_block(x, f, cfg.down_kernel, name=f"down{level}", **kw)
        skips.append(x)
    f_bottom = cfg.base_filters * 2 ** (cfg.depth - 1)
    for r in range(cfg.n_res_blocks):
        x = residual_block(
            x, f_bottom, cfg.kernel_size, mode="sum", name=f"res{r}", **kw
        )
    for level in reversed(range(cfg.depth - 1)):
        f = cfg.base_filters * 2**level
        x = up_block(x, f, cfg.up_kernel, name=f"up{level}", **kw)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = conv_block(x, f, cfg.kernel_size, name=f"dec{level}", **kw)
    out = _head(x, cfg.n_classes, 1, "sigmoid", cfg.init, "probabilities")
    return keras.Model(inp, out, name=name)


def build_patchgan3d(
    in_channels: int,
    filters: int = 64,
    n_layers: int = 4,
    kernel: int = 4,
    *,
    norm: str = "batch",
    init: str = "normal",
    name: str = "discriminator",
) -> keras.Model:
    """A 3D PatchGAN: (B,Z,Y,X,in_channels) -> (B,Z',Y',X',1) real/fake scores.

    ``n_layers`` conv + LeakyReLU(0.2) blocks with ``filters * 2**i`` filters (capped
    at ``8 * filters``), no norm on the first, stride 2 on all but the last (pix2pix's
    70x70 PatchGAN is ``filters=64, n_layers=4, kernel=4``: C64-C128-C256-C512), then a
    linear 1-filter convolution (least-squares GAN scores, no sigmoid).
    """
    inp = keras.Input((None, None, None, in_channels), name="input")
    x = inp
    for i in range(n_layers):
        f = filters * min(2**i, 8)
        stride = 2 if i < n_layers - 1 or n_layers == 1 else 1
        x = patchgan_block(
            x,
            f,
            kernel,
            stride=stride,
            norm="none" if i == 0 else norm,
            init=init,
            name=f"c{i}",
        )
    out = _head(x, 1, kernel, None, init, "scores")  # type: ignore[arg-type]
    return keras.Model(inp, out, name=name)


def build_resnet_generator(
    in_channels: int,
    out_channels: int,
    filters: int = 64,
    n_down: int = 2,
    n_res_blocks: int = 9,
    *,
    stem_kernel: int = 7,
    kernel: int = 3,
    down_kernel: int = 3,
    up_kernel: int = 3,
    residual: str = "concat",
    norm: str = "instance",
    init: str = "normal",
    name: str = "resnet_generator",
) -> keras.Model:
    """The CycleGAN ResNet generator, inputs and outputs in [-1, 1] (tanh head).

    c{stem}s1-F, d2F, d4F, ... (``n_down`` stride-2 convs), ``n_res_blocks`` x R
    (``residual`` mode, see ``residual_block``; with ``"concat_grow"`` block ``r``
    receives ``(r + 1) x`` the bottleneck width), u..F (transposed convs),
    c{stem}s1-out with tanh. The original is ``filters=64, n_down=2, n_res_blocks=9,
    stem_kernel=7``.
    """
    inp = keras.Input((None, None, None, in_channels), name="input")
    kw = dict(norm=norm, init=init)
    x = conv_block(inp, filters, stem_kernel, name="stem", **kw)
    for i in range(1, n_down + 1):
        x = down_block(x, filters * 2**i, down_kernel, name=f"down{i}", **kw)
    width = filters * 2**n_down
    for r in range(n_res_blocks):
        x = residual_block(x, width, kernel, mode=residual, name=f"res{r}", **kw)
    for i in reversed(range(n_down)):
        x = up_block(x, filters * 2**i, up_kernel, name=f"up{i}", **kw)
    out = _head(x, out_channels, stem_kernel, "tanh", init, "output")
    return keras.Model(inp, out, name=name)
