"""Losses of the three models on small inputs with hand-computed values."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fluoseg.models import losses as L


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_dice_loss_eq_4_7_exact_values():
    # class 0: y = [1,1,0,0], p = [1,0,0,0] -> 1 - (2*1 + 1) / (2 + 1 + 1) = 0.25
    # class 1: y = [0,0,0,0], p = [0,0,0,0] -> 1 - (0 + 1) / (0 + 1) = 0 (smoothing)
    y = np.zeros((1, 1, 2, 2, 2), np.float32)
    p = np.zeros((1, 1, 2, 2, 2), np.float32)
    y[0, 0, 0, :, 0] = 1
    p[0, 0, 0, 0, 0] = 1
    per = _np(L.dice_loss_per_class(y, p, smooth=1.0))
    np.testing.assert_allclose(per, [0.25, 0.0], atol=1e-7)
    assert float(L.DiceLoss()(y, p)) == pytest.approx(0.125)
    # Vox2Vox's weighted sum (eq. 5.2): 1 * 0.25 + 6 * 0.0
    assert float(L.DiceLoss(class_weights=[1, 6])(y, p)) == pytest.approx(0.25)
    assert float(L.DiceLoss(class_weights=[6, 1])(y, p)) == pytest.approx(1.5)


def test_dice_loss_sums_over_the_batch_and_soft_probabilities():
    # two samples, one class: y = [1, 0 | 1, 1], p = [0.5, 0.5 | 1, 0]
    y = np.array([1, 0, 1, 1], np.float32).reshape(2, 1, 1, 2, 1)
    p = np.array([0.5, 0.5, 1, 0], np.float32).reshape(2, 1, 1, 2, 1)
    # inter = 0.5 + 1 = 1.5; sums: y 3, p 2 -> 1 - (3 + 1) / (5 + 1) = 1/3
    assert float(L.DiceLoss()(y, p)) == pytest.approx(1 / 3, rel=1e-6)
    # perfect prediction -> 0; no smoothing and disjoint -> 1
    assert float(L.DiceLoss()(y, y)) == pytest.approx(0.0, abs=1e-7)
    assert float(L.DiceLoss(smooth=0.0)(y, 1 - y)) == pytest.approx(1.0)


def test_bce_dice_is_bce_plus_dice():
    y = np.array([1, 0, 1, 1], np.float32).reshape(1, 1, 1, 4, 1)
    p = np.array([0.9, 0.2, 0.6, 0.7], np.float32).reshape(1, 1, 1, 4, 1)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    dice = 1 - (2 * (0.9 + 0.6 + 0.7) + 1) / (3 + 2.4 + 1)
    assert float(L.BCEDiceLoss()(y, p)) == pytest.approx(bce + dice, rel=1e-5)


def test_loss_objects_round_trip_through_keras_serialisation():
    loss = L.DiceLoss(smooth=2.0, class_weights=[1.0, 6.0])
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, L.DiceLoss)
    assert again.smooth == 2.0 and again.class_weights == [1.0, 6.0]
    again = keras.losses.deserialize(keras.losses.serialize(L.BCEDiceLoss(3.0)))
    assert isinstance(again, L.BCEDiceLoss) and again.smooth == 3.0


def test_make_unet_loss_rejects_unknown_names():
    from fluoseg.errors import InputError

    assert isinstance(L.make_unet_loss("dice"), L.DiceLoss)
    with pytest.raises(InputError, match="dice or bce_dice"):
        L.make_unet_loss("focal")


def test_hard_dice_coefficient():
    y = np.zeros((1, 1, 1, 4, 2), np.float32)
    p = np.zeros((1, 1, 1, 4, 2), np.float32)
    y[..., :2, 0] = 1
    p[..., 0, 0] = 0.9  # tp
    p[..., 1, 0] = 0.4  # below threshold: fn
    p[..., 2, 0] = 0.6  # fp
    # class 0: 2*1 / (2 + 2) = 0.5; class 1 absent from both -> 1
    assert float(L.dice_coefficient(y, p)) == pytest.approx(0.75)


def test_lsgan_losses():
    real = np.array([1.0, 0.5], np.float32)
    fake = np.array([0.0, 0.5], np.float32)
    # mean((1-1)^2, (0.5-1)^2) + mean(0, 0.25) = 0.125 + 0.125
    assert float(L.lsgan_discriminator_loss(real, fake)) == pytest.approx(0.25)
    # mean((0-1)^2, (0.5-1)^2) = 0.625
    assert float(L.lsgan_generator_loss(fake)) == pytest.approx(0.625)


def test_weighted_l1_weights_each_channel():
    a = np.zeros((1, 1, 1, 2, 2), np.float32)
    b = np.zeros((1, 1, 1, 2, 2), np.float32)
    b[..., 0] = 1.0  # channel 0 error 1
    b[..., 0, 1] = 2.0  # channel 1 error mean 1
    assert float(L.weighted_l1(a, b)) == pytest.approx(1.0)
    # mean(1 * 1, 3.5 * 1) = 2.25
    assert float(L.weighted_l1(a, b, [1.0, 3.5])) == pytest.approx(2.25)


def test_weighted_l1_foreground_weight_counts_target_foreground_voxels():
    # target a: one foreground voxel (+1) and three background voxels (-1)
    a = -np.ones((1, 1, 1, 4, 1), np.float32)
    a[..., 0, 0] = 1.0
    b = np.zeros_like(a)  # every voxel off by 1
    assert float(L.weighted_l1(a, b)) == pytest.approx(1.0)
    # (10 * 1 + 3 * 1) / 4
    assert float(L.weighted_l1(a, b, foreground_weight=10.0)) == pytest.approx(3.25)
    # the empty mask: plain L1 prefers it to the true mask's opposite on 3/4 voxels
    empty = -np.ones_like(a)
    assert float(L.weighted_l1(a, empty)) == pytest.approx(0.5)
    assert float(L.weighted_l1(a, empty, foreground_weight=10.0)) == pytest.approx(5.0)
