"""Tests of fluoseg.teaching: exact convolution arithmetic, formulas checked against
Keras, loss gradients against finite differences, and small learning tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import correlate
from scipy.signal import correlate2d

from fluoseg.errors import InputError
from fluoseg.teaching import (
    activations,
    convolution,
    gan_losses,
    receptive_fields,
    toy_data,
    toy_gans,
)


def test_conv_steps_fig21_example_exact():
    x = np.arange(16, dtype=float).reshape(4, 4)
    k = np.array([[1.0, 0.0], [0.0, -1.0]])
    steps = convolution.conv_steps(x, k)
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
        convolution.conv_nd(x, k, stride, padding), full[::stride, ::stride]
    )


def test_conv_nd_matches_scipy_3d():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 6, 7))
    k = rng.normal(size=(3, 3, 3))
    ref = correlate(x, k, mode="constant")[1:-1, 1:-1, 1:-1]
    np.testing.assert_allclose(convolution.conv_nd(x, k), ref)


def test_output_size_formula_matches_keras_shapes():
    import keras

    for n, k, s in [(7, 3, 1), (7, 3, 2), (8, 2, 2), (9, 4, 3), (5, 5, 1)]:
        layer = keras.layers.Conv2D(1, k, strides=s, padding="valid")
        got = layer.compute_output_shape((1, n, n, 1))[1]
        assert got == convolution.conv_output_size(n, k, s)
        same = keras.layers.Conv2D(1, k, strides=s, padding="same")
        assert same.compute_output_shape((1, n, n, 1))[1] == -(-n // s)


def test_output_size_rejects_bad_input():
    with pytest.raises(InputError, match="kernel span"):
        convolution.conv_output_size(2, 5)
    with pytest.raises(InputError, match="stride"):
        convolution.conv_output_size(5, 3, stride=0)


def test_max_pool_and_transposed_conv_match_keras():
    import keras

    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 6)).astype("float32")
    pooled = keras.layers.MaxPooling2D(2)(x[None, ..., None]).numpy()[0, ..., 0]
    np.testing.assert_allclose(convolution.max_pool(x, 2), pooled)
    k = rng.normal(size=(3, 3)).astype("float32")
    layer = keras.layers.Conv2DTranspose(1, 3, strides=2, use_bias=False)
    layer.build((1, 6, 6, 1))
    layer.set_weights([k[..., None, None]])
    ref = layer(x[None, ..., None]).numpy()[0, ..., 0]
    np.testing.assert_allclose(
        convolution.transposed_conv(x, k, 2), ref, rtol=1e-5, atol=1e-5
    )


def test_receptive_field_formula():
    assert receptive_fields.receptive_field([(3, 1), (3, 1)]) == 5
    assert receptive_fields.receptive_field([(3, 1), (2, 2), (3, 1)]) == 8
    # depth 0 U-Net: just the bottleneck's two 3-convs
    assert receptive_fields.unet_receptive_field(0) == 5
    # depth 1: enc 2 convs (4) + pool (1) + bottleneck 2 convs at jump 2 (8) + dec (4)
    assert receptive_fields.unet_receptive_field(1) == 1 + 4 + 1 + 8 + 4


def test_receptive_field_matches_gradient_in_a_chain():
    import keras

    inp = keras.Input((40, 1))
    h = keras.layers.Conv1D(2, 3, padding="same", activation="tanh")(inp)
    h = keras.layers.MaxPooling1D(2)(h)
    h = keras.layers.Conv1D(2, 5, padding="same", activation="tanh")(h)
    model = keras.Model(inp, h)
    assert receptive_fields.empirical_receptive_field(model, (40, 1)) == (
        receptive_fields.receptive_field([(3, 1), (2, 2), (5, 1)]),
    )


def _unet_1d(size, poolings, up):
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((size, 1))
    h, skips = inp, []
    for _ in range(poolings):
        for _ in range(2):
            h = layers.Conv1D(2, 3, padding="same", activation="tanh")(h)
        skips.append(h)
        h = layers.MaxPooling1D(2)(h)
    for _ in range(2):
        h = layers.Conv1D(2, 3, padding="same", activation="tanh")(h)
    for skip in reversed(skips):
        h = up(h)
        h = layers.Concatenate()([h, skip])
        for _ in range(2):
            h = layers.Conv1D(2, 3, padding="same", activation="tanh")(h)
    return keras.Model(inp, h)


def test_unet_receptive_field_matches_gradient_1d():
    from keras import layers

    model = _unet_1d(96, 2, layers.UpSampling1D(2))
    (measured,) = receptive_fields.empirical_receptive_field(model, (96, 1), trials=6)
    # two poolings, c (k - 1) = 4 is a multiple of 2**2: the simple formula is exact
    assert measured == receptive_fields.unet_receptive_field(2) == 44
    assert receptive_fields.unet_receptive_field_range(2) == (44, 44)


@pytest.mark.parametrize("offset", [0, 2, 5])
def test_exact_unet_receptive_field_matches_gradient_1d(offset):
    from keras import layers

    def up(h):  # a transposed convolution with kernel = stride, as in the 3D U-Net
        return layers.Conv1DTranspose(2, 2, strides=2, padding="same")(h)

    model = _unet_1d(192, 3, up)
    (measured,) = receptive_fields.empirical_receptive_field(
        model, (192, 1), trials=6, offset=offset
    )
    assert measured == receptive_fields.unet_receptive_field_at(96 + offset, 3)
    assert receptive_fields.unet_receptive_field_range(3) == (92, 100)
    assert receptive_fields.unet_receptive_field(3) == 96


def test_simple_unet_formula_holds_when_growth_is_a_multiple_of_the_cell():
    for convs in (1, 2, 3, 4):
        for depth in range(5):
            lo, hi = receptive_fields.unet_receptive_field_range(depth, convs)
            exact = (2 * convs) % 2**depth == 0
            formula = receptive_fields.unet_receptive_field(depth, convs)
            assert (lo == hi == formula) == exact, (convs, depth)
    assert receptive_fields.unet_receptive_field_range(4) == (188, 204)


@pytest.mark.parametrize("kind", gan_losses.GAN_LOSSES)
def test_generator_loss_grad_is_derivative(kind):
    a, eps = np.linspace(-4.0, 4.0, 9), 1e-6
    num = (
        gan_losses.generator_loss(a + eps, kind)
        - gan_losses.generator_loss(a - eps, kind)
    ) / (2 * eps)
    np.testing.assert_allclose(
        gan_losses.generator_loss_grad(a, kind), num, rtol=1e-5, atol=1e-8
    )


def test_generator_losses_exact_values():
    d = np.array([0.2, 0.9])
    logit = np.log(d / (1 - d))
    np.testing.assert_allclose(
        gan_losses.generator_loss(logit, "saturating"), np.log(1 - d)
    )
    np.testing.assert_allclose(
        gan_losses.generator_loss(logit, "non_saturating"), -np.log(d)
    )
    np.testing.assert_allclose(
        gan_losses.generator_loss(d, "least_squares"), (d - 1) ** 2
    )
    assert gan_losses.decision_boundary("least_squares") == 0.5
    assert gan_losses.decision_boundary("non_saturating") == 0.0


def test_saturating_gradient_vanishes_when_discriminator_wins():
    a = np.array([np.log(1e-3 / (1 - 1e-3))])  # D(G(z)) = 0.001
    assert abs(gan_losses.generator_loss_grad(a, "saturating")[0]) < 1e-2
    assert abs(gan_losses.generator_loss_grad(a, "non_saturating")[0]) > 0.99


def test_only_lsgan_pulls_fooling_fakes_towards_the_real_score():
    # a fake scored well on the real side of the boundary (D = 0.95 / a = 0.75)
    assert (
        abs(gan_losses.generator_loss_grad(np.array(np.log(19.0)), "non_saturating"))
        < 0.06
    )
    assert gan_losses.generator_loss_grad(
        np.array(0.75), "least_squares"
    ) == pytest.approx(-0.5)


def test_activations_exact_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(activations.activation("relu", x), [0, 0, 3])
    np.testing.assert_allclose(activations.activation("leaky_relu", x), [-0.4, 0, 3])
    np.testing.assert_allclose(activations.activation("elu", x), [np.expm1(-2), 0, 3])
    np.testing.assert_allclose(activations.activation("sigmoid", np.zeros(1)), [0.5])
    with pytest.raises(InputError, match="expected one of"):
        activations.activation("swish", x)


def test_toy_data_are_seeded_and_well_formed():
    a, la = toy_data.two_moons(50, seed=3)
    b, lb = toy_data.two_moons(50, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 2) and set(np.unique(la)) == {0, 1}
    imgs, masks = toy_data.blob_images(5, size=16, seed=1)
    assert imgs.shape == masks.shape == (5, 16, 16, 1)
    assert imgs.min() >= 0 and imgs.max() <= 1 and set(np.unique(masks)) <= {0.0, 1.0}
    # the blobs are brighter than the background
    assert imgs[masks == 1].mean() > imgs[masks == 0].mean() + 0.3
    s = toy_data.mixture_1d(4000, seed=0)
    assert abs(np.mean(s > 0) - 0.5) < 0.03 and abs(s.mean()) < 0.1


@pytest.mark.slow
def test_cyclegan_2d_learns_the_translation():
    rng = np.random.default_rng(0)
    x = rng.normal([-2.0, 0.0], 0.3, (512, 2)).astype("float32")
    y = rng.normal([2.0, 1.0], 0.3, (512, 2)).astype("float32")
    g_xy, g_yx, hist = toy_gans.train_cyclegan_2d(x, y, steps=600, seed=0)
    mapped = np.asarray(g_xy(x))
    assert np.linalg.norm(mapped.mean(0) - [2.0, 1.0]) < 0.5
    cyc = hist.losses["cycle"]
    assert np.mean(cyc[-50:]) < 0.5 * np.mean(cyc[:50])
    assert toy_gans.cycle_error(g_xy, g_yx, x) < 0.3


def test_patch_discriminator_receptive_field_is_16():
    import keras

    keras.utils.set_random_seed(0)
    d = toy_gans.patch_discriminator_2d(32)
    img = np.zeros((1, 32, 32, 1), dtype="float32")
    assert d([img, img]).shape == (1, 16, 16, 1)
    field = receptive_fields.empirical_receptive_field(
        lambda m: d([img + 0 * m, m]), (32, 32, 1)
    )
    assert (
        field
        == (16, 16)
        == (receptive_fields.receptive_field([(4, 2), (4, 1), (4, 1)]),) * 2
    )
