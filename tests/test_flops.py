"""Exact multiply-add counts of small Keras networks (fluoseg.flops)."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from fluoseg import flops
from fluoseg.errors import InputError


def _single(layer: layers.Layer, shape: tuple[int, ...]) -> keras.Model:
    inp = keras.Input(shape)
    return keras.Model(inp, layer(inp))


def test_conv3d_same_counts_every_output_voxel():
    m = _single(layers.Conv3D(4, 3, padding="same"), (8, 8, 8, 2))
    (cost,) = flops.count_macs(m, (8, 8, 8, 2))
    assert cost.macs == 8**3 * 27 * 2 * 4 == 110_592
    assert cost.flops == 2 * 110_592
    assert cost.output_shape == (8, 8, 8, 4)
    assert cost.kind == "Conv3D"


def test_conv3d_valid_and_strided_use_the_output_size():
    m = _single(layers.Conv3D(3, 3, padding="valid"), (8, 8, 8, 1))
    assert flops.forward_macs(m, (8, 8, 8, 1)) == 6**3 * 27 * 1 * 3
    m = _single(layers.Conv3D(5, 2, strides=2), (8, 6, 4, 2))
    assert flops.forward_macs(m, (8, 6, 4, 2)) == (4 * 3 * 2) * 8 * 2 * 5


def test_grouped_conv_counts_only_its_groups():
    m = _single(layers.Conv3D(4, 3, padding="same", groups=2), (4, 4, 4, 4))
    assert flops.forward_macs(m, (4, 4, 4, 4)) == 64 * 27 * 2 * 4


def test_separable_conv_counts_both_kernels():
    m = _single(layers.SeparableConv2D(6, 3, padding="same"), (5, 5, 4))
    assert flops.forward_macs(m, (5, 5, 4)) == 25 * (9 * 4 * 1 + 4 * 6)


def test_conv3d_transpose_counts_input_positions():
    m = _single(layers.Conv3DTranspose(3, 2, strides=2), (4, 4, 4, 5))
    (cost,) = flops.count_macs(m, (4, 4, 4, 5))
    assert cost.output_shape == (8, 8, 8, 3)
    assert cost.macs == 64 * 8 * 5 * 3
    assert cost.macs == flops.conv_transpose_macs((4, 4, 4), (2, 2, 2), 5, 3)
    # a k2 s2 transposed conv does one MAC per output voxel per channel pair
    assert cost.macs == flops.conv_macs((8, 8, 8), (1, 1, 1), 5, 3)


def test_dense_counts_leading_positions():
    m = _single(layers.Dense(7), (10,))
    assert flops.forward_macs(m, (10,)) == 70
    m = _single(layers.Dense(7), (3, 10))
    assert flops.forward_macs(m, (3, 10)) == 210


def test_other_layers_cost_nothing_and_batch_scales():
    inp = keras.Input((None, None, None, 2))
    x = layers.Conv3D(4, 3, padding="same")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling3D(2)(x)
    x = layers.Conv3D(1, 1)(x)
    m = keras.Model(inp, x)
    costs = flops.count_macs(m, (8, 8, 8, 2))
    assert [c.kind for c in costs] == [
        "Conv3D",
        "BatchNormalization",
        "ReLU",
        "MaxPooling3D",
        "Conv3D",
    ]
    expected = 512 * 27 * 2 * 4 + 64 * 1 * 4 * 1
    assert sum(c.macs for c in costs) == expected
    assert flops.forward_macs(m, (8, 8, 8, 2), batch=3) == 3 * expected
    assert flops.forward_flops(m, (8, 8, 8, 2), batch=3) == 6 * expected
    assert flops.training_flops(m, (8, 8, 8, 2), batch=3) == 18 * expected
    # a volume 2x larger along each axis costs exactly 8x (no valid-padding effects)
    assert flops.forward_macs(m, (16, 16, 16, 2)) == 8 * expected
    table = flops.cost_table(costs)
    assert list(table["kind"]) == ["Conv3D", "Conv3D"]
    assert table["share"].sum() == pytest.approx(1.0)


def test_nested_and_sequential_models_are_walked():
    inner = keras.Sequential(
        [keras.Input((4, 4, 4, 3)), layers.Conv3D(2, 3, padding="same", name="c")],
        name="inner",
    )
    inp = keras.Input((4, 4, 4, 3))
    x = inner(inp)
    x = layers.Conv3D(5, 1, name="head")(x)
    outer = keras.Model(inp, x)
    costs = flops.count_macs(outer, (4, 4, 4, 3))
    by_name = {c.name: c.macs for c in costs}
    assert by_name == {"inner/c": 64 * 27 * 3 * 2, "head": 64 * 2 * 5}
    assert flops.forward_macs(inner, (4, 4, 4, 3)) == 64 * 27 * 3 * 2


def test_skip_connections_use_each_branch_shape():
    inp = keras.Input((None, None, None, 1))
    a = layers.Conv3D(2, 3, padding="same")(inp)
    b = layers.Conv3DTranspose(3, 2, strides=2)(layers.MaxPooling3D(2)(a))
    x = layers.Concatenate()([a, b])
    x = layers.Conv3D(1, 1)(x)
    m = keras.Model(inp, x)
    total = flops.forward_macs(m, (4, 4, 4, 1))
    assert total == 64 * 27 * 1 * 2 + 8 * 8 * 2 * 3 + 64 * 1 * 5 * 1


def test_unet_matches_a_hand_count_and_leaves_the_graph_untouched():
    from fluoseg.models.blocks import build_unet3d
    from fluoseg.models.configs.unet import UNetConfig

    cfg = UNetConfig(base_filters=4, depth=2, patch_shape=(16, 16, 16), n_classes=3)
    m = build_unet3d(cfg)
    nodes = {id(lay): len(lay._inbound_nodes) for lay in m.layers}
    v0, v1 = 16**3, 8**3
    hand = (
        v0 * 27 * 2 * 4  # enc0_0
        + v0 * 27 * 4 * 4  # enc0_1
        + v1 * 27 * 4 * 8  # enc1_0
        + v1 * 27 * 8 * 8  # enc1_1
        + v1 * 8 * 8 * 4  # up0: k2 transposed, input positions
        + v0 * 27 * 8 * 4  # dec0_0 (4 up + 4 skip channels)
        + v0 * 27 * 4 * 4  # dec0_1
        + v0 * 1 * 4 * 3  # head
    )
    assert flops.forward_macs(m, (16, 16, 16, 2)) == hand
    assert {id(lay): len(lay._inbound_nodes) for lay in m.layers} == nodes


def test_bad_inputs_raise_input_error():
    m = _single(layers.Conv3D(1, 3, padding="same"), (4, 4, 4, 1))
    with pytest.raises(InputError, match="expected positive ints"):
        flops.count_macs(m, (4, 0, 4, 1))
    with pytest.raises(InputError, match="one shape per input"):
        flops.count_macs(m, [(4, 4, 4, 1), (4, 4, 4, 1)])

    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(InputError, match="functional or Sequential"):
        flops.count_macs(Sub(), (4, 4, 4, 1))


def test_achieved_rate_uses_the_fastest_timed_call():
    ticks = iter([0.0, 2.0, 10.0, 10.5, 20.0, 21.0])
    calls = []
    out = flops.achieved_rate(
        lambda: calls.append(1), 1e9, repeats=3, warmup=2, clock=lambda: next(ticks)
    )
    assert len(calls) == 5
    assert out["seconds"] == 0.5
    assert out["median_seconds"] == 1.0
    assert out["flops"] == 2e9
    with pytest.raises(InputError, match="repeats"):
        flops.achieved_rate(lambda: None, 1.0, repeats=0)


def test_matmul_rate_is_positive_and_counts_2n3():
    out = flops.matmul_rate(64, repeats=2)
    assert out["n"] == 64
    assert out["flops"] == pytest.approx(2 * 64**3 / out["seconds"])
    assert out["flops"] > 1e6


def test_activation_bytes_sums_every_layer_output():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 8, 2)),
            layers.Conv3D(4, 3, padding="same"),
            layers.ReLU(),
            layers.MaxPooling3D(2),
        ]
    )
    values = 8**3 * 4 + 8**3 * 4 + 4**3 * 4
    assert flops.activation_bytes(model, (8, 8, 8, 2)) == 4 * values
    assert flops.activation_bytes(model, (8, 8, 8, 2), batch=3, bytes_per_value=2) == (
        6 * values
    )
    with pytest.raises(InputError):
        flops.activation_bytes(model, (8, 8, 8, 2), batch=0)
