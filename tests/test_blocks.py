"""Layer blocks and network builders: shapes, parameter counts, invariants."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fluoseg.errors import InputError
from fluoseg.models import blocks


def _conv(k: int, c_in: int, c_out: int) -> int:
    """A convolution with biases."""
    return k**3 * c_in * c_out + c_out


def _w(k: int, c_in: int, c_out: int) -> int:
    """A convolution followed by a norm: no biases."""
    return k**3 * c_in * c_out


def _apply(fn, shape, **kw):
    inp = keras.Input(shape)
    return keras.Model(inp, fn(inp, **kw))


def test_conv_block_parameter_count_per_norm():
    for norm, extra in (("batch", 4), ("instance", 2), ("none", 0)):
        m = _apply(
            blocks.conv_block, (8, 8, 8, 3), filters=5, kernel=3, norm=norm, name="b"
        )
        conv = _conv(3, 3, 5) if norm == "none" else _w(3, 3, 5)
        assert m.count_params() == conv + extra * 5


@pytest.mark.parametrize(
    ("mode", "fuse", "channels"),
    [
        ("sum", True, 6),
        ("concat", True, 6),
        ("concat", False, 10),
        ("concat_grow", True, 10),  # the thesis's block: no fuse whatever ``fuse``
        ("concat_grow", False, 10),
    ],
)
def test_residual_block_shapes_concat_vs_sum(mode, fuse, channels):
    m = _apply(
        blocks.residual_block,
        (4, 8, 8, 4),
        filters=6,
        kernel=3,
        mode=mode,
        fuse=fuse,
        name="r",
    )
    assert m.output_shape == (None, 4, 8, 8, channels)
    two_convs = _w(3, 4, 6) + _w(3, 6, 6) + 2 * 2 * 6  # + instance norms
    fused = mode == "concat" and fuse
    shortcut = _conv(1, 4, 6) if mode == "sum" else (_conv(1, 10, 6) if fused else 0)
    assert m.count_params() == two_convs + shortcut


@pytest.mark.parametrize("mode", ["concat", "concat_grow"])
def test_residual_concat_keeps_the_input_channels_verbatim(mode):
    m = _apply(
        blocks.residual_block,
        (4, 4, 4, 3),
        filters=2,
        mode=mode,
        fuse=False,
        name="r",
    )
    x = np.random.default_rng(0).random((1, 4, 4, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(m(x))[..., :3], x)


def test_concat_grow_generator_widens_by_the_block_width_per_block():
    g = blocks.build_resnet_generator(
        2, 2, 4, n_down=1, n_res_blocks=3, stem_kernel=3, residual="concat_grow"
    )
    width = 8  # 4 filters x 2 after one down level
    for r in range(3):
        assert g.get_layer(f"res{r}_a_conv").input.shape[-1] == (r + 1) * width
        assert g.get_layer(f"res{r}_concat").output.shape[-1] == (r + 2) * width
    assert g.get_layer("up0_conv").input.shape[-1] == 4 * width
    assert not any(layer.name.endswith("_fuse") for layer in g.layers)


def test_sum_residual_is_identity_plus_branch_when_branch_is_zero():
    m = _apply(blocks.residual_block, (4, 4, 4, 3), filters=3, mode="sum", name="r")
    for layer in m.layers:
        if layer.name == "r_b_norm":  # zero the last scale and shift: branch -> 0
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    x = np.random.default_rng(1).random((2, 4, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(m(x)), x, atol=1e-6)


def test_instance_norm_normalises_each_sample_and_channel():
    layer = blocks.norm_layer("instance", "n")
    rng = np.random.default_rng(0)
    x = (rng.random((2, 4, 4, 4, 3)) * [1, 10, 100] + [0, 5, -7]).astype(np.float32)
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2, 3)), 1, atol=1e-2)


def test_patchgan_shapes_and_linear_scores():
    d = blocks.build_patchgan3d(3, filters=4, n_layers=3, kernel=2, norm="batch")
    assert d.compute_output_shape((1, 16, 16, 16, 3)) == (1, 4, 4, 4, 1)
    # C4 (no norm) - C8 (bn) - C16 s1 (bn) - 1: count by hand
    expected = (
        _conv(2, 3, 4) + _w(2, 4, 8) + 4 * 8 + _w(2, 8, 16) + 4 * 16 + _conv(2, 16, 1)
    )
    assert d.count_params() == expected
    # The original 70^3 PatchGAN widths: C64-C128-C256-C512
    big = blocks.build_patchgan3d(2, filters=64, n_layers=4, kernel=4)
    widths = [layer.filters for layer in big.layers if hasattr(layer, "filters")]
    assert widths == [64, 128, 256, 512, 1]


def test_resnet_generator_shape_range_and_count():
    g = blocks.build_resnet_generator(
        2,
        3,
        filters=4,
        n_down=1,
        n_res_blocks=1,
        stem_kernel=3,
        down_kernel=2,
        up_kernel=2,
        residual="sum",
    )
    x = np.random.default_rng(0).random((1, 8, 8, 8, 2)).astype(np.float32)
    y = np.asarray(g(x))
    assert y.shape == (1, 8, 8, 8, 3)
    assert np.all(np.abs(y) <= 1)
    inorm = 2
    expected = (
        _w(3, 2, 4)
        + inorm * 4  # stem c3s1-4
        + _w(2, 4, 8)
        + inorm * 8  # d8
        + 2 * (_w(3, 8, 8) + inorm * 8)  # R8 (sum, same width: no projection)
        + _w(2, 8, 4)
        + inorm * 4  # u4 (transposed conv)
        + _conv(3, 4, 3)  # c3s1-3, tanh
    )
    assert g.count_params() == expected


def test_bad_names_raise_input_error():
    with pytest.raises(InputError, match="initialiser"):
        blocks.initializer("orthogonal")
    with pytest.raises(InputError, match="norm"):
        blocks.norm_layer("layer", "n")
    with pytest.raises(InputError, match="residual mode"):
        _apply(blocks.residual_block, (4, 4, 4, 2), filters=2, mode="mul", name="r")


def test_toy_batch_is_seeded_and_consistent():
    from fluoseg.models import toy_batch

    x, y = toy_batch(3, (16, 16, 16), 3, seed=5)
    x2, y2 = toy_batch(3, (16, 16, 16), 3, seed=5)
    np.testing.assert_array_equal(x, x2)
    assert x.shape == (3, 16, 16, 16, 2) and y.shape == (3, 16, 16, 16, 3)
    assert set(np.unique(y)) == {0.0, 1.0}
    np.testing.assert_array_equal(y[..., 2], np.maximum(y[..., 0], y[..., 1]))
    assert not np.any(y[..., 0] * y[..., 1])  # nucleus and Golgi do not overlap
    noise = x - 0.6 * y[..., :2]
    assert noise.min() >= 0 and noise.max() <= 0.2 + 1e-6


def test_layer_table_accounts_for_every_parameter():
    from fluoseg.models import build_model, layer_table, model_config

    model = build_model("unet", model_config("unet", "smoke", 2))
    table = layer_table(model)
    assert table["params"].sum() == model.count_params()
    assert list(table["type"]).count("MaxPooling3D") == 1
    assert table.iloc[-1]["out_channels"] == 2
