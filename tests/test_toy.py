"""Tests of fluoseg.toy: exact convolution arithmetic, formulas checked against Keras,
loss gradients against finite differences, and small learning tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import correlate
from scipy.signal import correlate2d

from fluoseg import toy
from fluoseg.errors import InputError


def test_conv_steps_fig21_example_exact():
    x = np.arange(16, dtype=float).reshape(4, 4)
    k = np.array([[1.0, 0.0], [0.0, -1.0]])
    steps = toy.conv_steps(x, k)
    assert len(steps) == 9
    # every window x[i, j] - x[i+1, j+1] = -5
    assert all(s.value == -5.0 for s in steps)
    assert steps[4].out_index == (1, 1) and steps[4].origin == (1, 1)
    np.testing.assert_array_equal(steps[4].window, [[5.0, 6.0], [9.0, 10.0]])


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 0), (1, 1), (2, 1), (3, 2)])
def test_conv_nd_matches_scipy_2d(stride, padding):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 6))
    k = rng.normal(size=(3, 3))
    full = correlate2d(np.pad(x, padding), k, mode="valid")
    np.testing.assert_allclose(
        toy.conv_nd(x, k, stride, padding), full[::stride, ::stride]
    )


def test_conv_nd_matches_scipy_3d():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 6, 7))
    k = rng.normal(size=(3, 3, 3))
    ref = correlate(x, k, mode="constant")[1:-1, 1:-1, 1:-1]
    np.testing.assert_allclose(toy.conv_nd(x, k), ref)


def test_output_size_formula_matches_keras_shapes():
    import keras

    for n, k, s in [(7, 3, 1), (7, 3, 2), (8, 2, 2), (9, 4, 3), (5, 5, 1)]:
        layer = keras.layers.Conv2D(1, k, strides=s, padding="valid")
        got = layer.compute_output_shape((1, n, n, 1))[1]
        assert got == toy.conv_output_size(n, k, s)
        same = keras.layers.Conv2D(1, k, strides=s, padding="same")
        assert same.compute_output_shape((1, n, n, 1))[1] == -(-n // s)


def test_output_size_rejects_bad_input():
    with pytest.raises(InputError, match="kernel span"):
        toy.conv_output_size(2, 5)
    with pytest.raises(InputError, match="stride"):
        toy.conv_output_size(5, 3, stride=0)


def test_max_pool_and_transposed_conv_match_keras():
    import keras

    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 6)).astype("float32")
    pooled = keras.layers.MaxPooling2D(2)(x[None, ..., None]).numpy()[0, ..., 0]
    np.testing.assert_allclose(toy.max_pool(x, 2), pooled)
    k = rng.normal(size=(3, 3)).astype("float32")
    layer = keras.layers.Conv2DTranspose(1, 3, strides=2, use_bias=False)
    layer.build((1, 6, 6, 1))
    layer.set_weights([k[..., None, None]])
    ref = layer(x[None, ..., None]).numpy()[0, ..., 0]
    np.testing.assert_allclose(toy.transposed_conv(x, k, 2), ref, rtol=1e-5, atol=1e-5)


def test_receptive_field_formula():
    assert toy.receptive_field([(3, 1), (3, 1)]) == 5
    assert toy.receptive_field([(3, 1), (2, 2), (3, 1)]) == 8
    # depth 0 U-Net: just the bottleneck's two 3-convs
    assert toy.unet_receptive_field(0) == 5
    # depth 1: enc 2 convs (4) + pool (1) + bottleneck 2 convs at jump 2 (8) + dec (4)
    assert toy.unet_receptive_field(1) == 1 + 4 + 1 + 8 + 4


def test_receptive_field_matches_gradient_in_a_chain():
    import keras

    inp = keras.Input((40, 1))
    h = keras.layers.Conv1D(2, 3, padding="same", activation="tanh")(inp)
    h = keras.layers.MaxPooling1D(2)(h)
    h = keras.layers.Conv1D(2, 5, padding="same", activation="tanh")(h)
    model = keras.Model(inp, h)
    assert toy.empirical_receptive_field(model, (40, 1)) == (
        toy.receptive_field([(3, 1), (2, 2), (5, 1)]),
    )


def test_unet_receptive_field_matches_gradient_1d():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((96, 1))
    h, skips = inp, []
    for _ in range(2):
        for _ in range(2):
            h = layers.Conv1D(2, 3, padding="same", activation="tanh")(h)
        skips.append(h)
        h = layers.MaxPooling1D(2)(h)
    for _ in range(2):
        h = layers.Conv1D(2, 3, padding="same", activation="tanh")(h)
    for skip in reversed(skips):
        h = layers.Concatenate()([layers.UpSampling1D(2)(h), skip])
        for _ in range(2):
            h = layers.Conv1D(2, 3, padding="same", activation="tanh")(h)
    model = keras.Model(inp, h)
    (measured,) = toy.empirical_receptive_field(model, (96, 1), trials=6)
    # the formula is the largest field; a given voxel sees up to pool**depth - 1 fewer
    assert toy.unet_receptive_field(2) - 3 <= measured <= toy.unet_receptive_field(2)


@pytest.mark.parametrize("kind", toy.GAN_LOSSES)
def test_generator_loss_grad_is_derivative(kind):
    d = np.linspace(0.05, 0.95, 7)
    if kind == "least_squares":
        eps = 1e-6
        num = (
            toy.generator_loss(d + eps, kind) - toy.generator_loss(d - eps, kind)
        ) / (2 * eps)
    else:  # derivative with respect to the logit a, D = sigmoid(a)
        a, eps = np.log(d / (1 - d)), 1e-6
        num = (
            toy.generator_loss(toy.activation("sigmoid", a + eps), kind)
            - toy.generator_loss(toy.activation("sigmoid", a - eps), kind)
        ) / (2 * eps)
    np.testing.assert_allclose(toy.generator_loss_grad(d, kind), num, rtol=1e-5)


def test_saturating_gradient_vanishes_when_discriminator_wins():
    d = np.array([1e-3])
    assert abs(toy.generator_loss_grad(d, "saturating")[0]) < 1e-2
    assert abs(toy.generator_loss_grad(d, "non_saturating")[0]) > 0.99


def test_activations_exact_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(toy.activation("relu", x), [0, 0, 3])
    np.testing.assert_allclose(toy.activation("leaky_relu", x), [-0.4, 0, 3])
    np.testing.assert_allclose(toy.activation("elu", x), [np.expm1(-2), 0, 3])
    np.testing.assert_allclose(toy.activation("sigmoid", np.zeros(1)), [0.5])
    with pytest.raises(InputError, match="expected one of"):
        toy.activation("swish", x)


def test_toy_data_are_seeded_and_well_formed():
    a, la = toy.two_moons(50, seed=3)
    b, lb = toy.two_moons(50, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 2) and set(np.unique(la)) == {0, 1}
    imgs, masks = toy.blob_images(5, size=16, seed=1)
    assert imgs.shape == masks.shape == (5, 16, 16, 1)
    assert imgs.min() >= 0 and imgs.max() <= 1 and set(np.unique(masks)) <= {0.0, 1.0}
    # the blobs are brighter than the background
    assert imgs[masks == 1].mean() > imgs[masks == 0].mean() + 0.3
    s = toy.mixture_1d(4000, seed=0)
    assert abs(np.mean(s > 0) - 0.5) < 0.03 and abs(s.mean()) < 0.1


@pytest.mark.slow
def test_cyclegan_2d_learns_the_translation():
    rng = np.random.default_rng(0)
    x = rng.normal([-2.0, 0.0], 0.3, (512, 2)).astype("float32")
    y = rng.normal([2.0, 1.0], 0.3, (512, 2)).astype("float32")
    g_xy, g_yx, hist = toy.train_cyclegan_2d(x, y, steps=600, seed=0)
    mapped = np.asarray(g_xy(x))
    assert np.linalg.norm(mapped.mean(0) - [2.0, 1.0]) < 0.5
    cyc = hist.losses["cycle"]
    assert np.mean(cyc[-50:]) < 0.5 * np.mean(cyc[:50])
    assert toy.cycle_error(g_xy, g_yx, x) < 0.3


def test_patch_discriminator_receptive_field_is_16():
    import keras

    keras.utils.set_random_seed(0)
    d = toy.patch_discriminator_2d(32)
    img = np.zeros((1, 32, 32, 1), dtype="float32")
    assert d([img, img]).shape == (1, 16, 16, 1)
    field = toy.empirical_receptive_field(lambda m: d([img + 0 * m, m]), (32, 32, 1))
    assert field == (16, 16) == (toy.receptive_field([(4, 2), (4, 1), (4, 1)]),) * 2
