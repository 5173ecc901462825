"""Receptive fields: the formulas and an empirical measurement on a Keras model.

``receptive_field`` and the ``unet_receptive_field*`` functions give the extent of the
input one output voxel sees; ``empirical_receptive_field`` measures it from gradients
(TensorFlow is imported inside it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fluoseg.errors import InputError, require_tensorflow


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
