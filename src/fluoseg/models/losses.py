"""Losses and metrics of the three models (Keras 3 ops; serialisable).

- Dice loss, thesis eq. 4.7, per class c over the whole batch:
  ``DLoss_c = 1 - (2 sum(y_c p_c) + s) / (sum(y_c) + sum(p_c) + s)`` with smoothing
  ``s = 1``. ``DiceLoss`` averages the classes (U-Net) or takes a weighted sum
  ``sum_c w_c DLoss_c`` (Vox2Vox's ``beta``, eq. 5.2).
- ``BCEDiceLoss``: mean binary cross-entropy + mean Dice loss (the ``cpu`` U-Net).
- LSGAN losses (eqs. 4.1, 4.2, 4.8, 4.9) and the per-channel weighted L1 of the
  CycleGAN's cycle and identity terms (eqs. 4.3, 4.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    import keras
except ImportError:  # TensorFlow missing: say which extra installs it
    from fluoseg.errors import require_tensorflow

    require_tensorflow()
    raise
from keras import ops

from fluoseg.errors import InputError


def dice_loss_per_class(y_true: Any, y_pred: Any, smooth: float = 1.0) -> Any:
    """Eq. 4.7 for each class (last axis), summing over batch and voxels: shape (n,)."""
    y_true = ops.cast(y_true, y_pred.dtype)
    axes = tuple(range(len(y_pred.shape) - 1))
    inter = ops.sum(y_true * y_pred, axis=axes)
    denom = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
    return 1.0 - (2.0 * inter + smooth) / (denom + smooth)


def weighted_dice_loss(
    y_true: Any,
    y_pred: Any,
    weights: Sequence[float] | None = None,
    smooth: float = 1.0,
) -> Any:
    """Mean over classes of eq. 4.7, or ``sum_c weights[c] * DLoss_c`` if given."""
    per = dice_loss_per_class(y_true, y_pred, smooth)
    if weights is None:
        return ops.mean(per)
    return ops.sum(per * ops.convert_to_tensor(list(weights), dtype=per.dtype))


@keras.saving.register_keras_serializable(package="fluoseg")
class DiceLoss(keras.losses.Loss):
    """Dice loss (eq. 4.7, smoothing ``smooth``), class mean or weighted sum."""

    def __init__(
        self,
        smooth: float = 1.0,
        class_weights: Sequence[float] | None = None,
        name: str = "dice_loss",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.smooth = float(smooth)
        self.class_weights = None if class_weights is None else list(class_weights)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return weighted_dice_loss(y_true, y_pred, self.class_weights, self.smooth)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "smooth": self.smooth,
            "class_weights": self.class_weights,
        }


@keras.saving.register_keras_serializable(package="fluoseg")
class BCEDiceLoss(keras.losses.Loss):
    """Mean voxel-wise binary cross-entropy plus the class-mean Dice loss."""

    def __init__(
        self, smooth: float = 1.0, name: str = "bce_dice_loss", **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.smooth = float(smooth)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, y_pred.dtype)
        bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))
        return bce + weighted_dice_loss(y_true, y_pred, None, self.smooth)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "smooth": self.smooth}


def make_unet_loss(name: str, smooth: float = 1.0) -> keras.losses.Loss:
    """The U-Net loss called ``name``: ``dice`` or ``bce_dice``."""
    if name == "dice":
        return DiceLoss(smooth)
    if name == "bce_dice":
        return BCEDiceLoss(smooth)
    raise InputError(f"unknown U-Net loss {name!r}: expected dice or bce_dice")


@keras.saving.register_keras_serializable(package="fluoseg")
def dice_coefficient(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Any:
    """Hard Dice of ``y_pred > threshold`` against ``y_true``, mean over classes.

    A class absent from both truth and prediction scores 1.
    """
    y_true = ops.cast(y_true, "float32")
    p = ops.cast(ops.greater(y_pred, threshold), "float32")
    axes = tuple(range(len(y_pred.shape) - 1))
    inter = ops.sum(y_true * p, axis=axes)
    denom = ops.sum(y_true, axis=axes) + ops.sum(p, axis=axes)
    dice = ops.where(denom > 0, 2.0 * inter / ops.maximum(denom, 1e-9), 1.0)
    return ops.mean(dice)


def lsgan_discriminator_loss(real_scores: Any, fake_scores: Any) -> Any:
    """``mean((D(real) - 1)^2) + mean(D(fake)^2)`` (eqs. 4.1, 4.2, 4.8)."""
    return ops.mean(ops.square(real_scores - 1.0)) + ops.mean(ops.square(fake_scores))


def lsgan_generator_loss(fake_scores: Any) -> Any:
    """``mean((D(G(x)) - 1)^2)``: the generator wants its outputs scored real."""
    return ops.mean(ops.square(fake_scores - 1.0))


def weighted_l1(
    a: Any,
    b: Any,
    weights: Sequence[float] | None = None,
    foreground_weight: float | Sequence[float] = 1.0,
) -> Any:
    """Per-channel weighted mean absolute error: ``mean_c w_c * mean|a_c - b_c|``.

    With all weights 1 this is the plain mean absolute error. ``a`` is the target: with
    ``foreground_weight`` ``f`` != 1, voxels where ``a > 0`` (foreground of a mask in
    [-1, 1]) count ``f`` times. Sparse masks need it: the L1 optimum is the median,
    so with a few per cent of foreground an empty mask is nearly optimal. A sequence
    gives one foreground weight per channel (a rarer class can weigh more).
    """
    axes = tuple(range(len(a.shape) - 1))
    err = ops.abs(a - b)
    fw = (
        [float(foreground_weight)] * a.shape[-1]
        if isinstance(foreground_weight, int | float)
        else [float(v) for v in foreground_weight]
    )
    if any(v != 1.0 for v in fw):
        fg = ops.cast(a > 0, err.dtype)
        extra = ops.convert_to_tensor([v - 1.0 for v in fw], dtype=err.dtype)
        err = err * (1.0 + extra * fg)
    per = ops.mean(err, axis=axes)
    if weights is None:
        return ops.mean(per)
    return ops.mean(per * ops.convert_to_tensor(list(weights), dtype=per.dtype))
