"""3D U-Net: configs, parameter counts, shapes, learning, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fluoseg.errors import InputError
from fluoseg.models import (
    UNetConfig,
    build_model,
    config_from_json,
    model_config,
    monitor_for,
    segmenter,
)
from fluoseg.models.configs.cyclegan import CycleGANConfig
from fluoseg.models.configs.vox2vox import Vox2VoxConfig
from fluoseg.models.losses import dice_coefficient


def toy_patch(n_classes: int = 2, size: int = 16, seed: int = 0):
    """One (1, s, s, s, 2) image and its (1, s, s, s, n) mask: a nucleus sphere and a
    small Golgi sphere, image = 0.6 * mask + 0.2 * uniform noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:size, :size, :size]
    m = np.zeros((size, size, size, n_classes), np.float32)
    m[..., 0] = (z - 8) ** 2 + (y - 7) ** 2 + (x - 6) ** 2 <= 25
    m[..., 1] = (z - 5) ** 2 + (y - 11) ** 2 + (x - 11) ** 2 <= 6
    if n_classes == 3:
        m[..., 2] = np.maximum(m[..., 0], m[..., 1])
    img = 0.6 * m[..., :2] + 0.2 * rng.random((size, size, size, 2), dtype=np.float32)
    return img[None].astype(np.float32), m[None]


def unet_param_count(cfg: UNetConfig) -> int:
    """Hand formula: conv k^3*cin*cout (no bias: batch norm follows) + batch norm 4*c,
    up-conv u^3*cin*cout + cout, head 1*cin*n + n."""

    def conv(k, ci, co, bias=True):
        return k**3 * ci * co + (co if bias else 0)

    k, total, c = cfg.kernel_size, 0, cfg.in_channels
    for level in range(cfg.depth):
        f = cfg.base_filters * 2**level
        for _ in range(cfg.convs_per_level):
            total += conv(k, c, f, bias=False) + 4 * f
            c = f
    for level in reversed(range(cfg.depth - 1)):
        f = cfg.base_filters * 2**level
        total += conv(cfg.up_kernel, c, f)
        c = 2 * f  # concatenated with the skip
        for _ in range(cfg.convs_per_level):
            total += conv(k, c, f, bias=False) + 4 * f
            c = f
    return total + conv(1, c, cfg.n_classes)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_smoke_parameter_counts(n_classes):
    cfg = model_config("unet", "smoke", n_classes)
    model = build_model("unet", cfg)
    assert model.count_params() == unet_param_count(cfg)
    # pinned: base 4, depth 2 -> 4934 (2 classes), 4939 (3 classes: head +5)
    assert model.count_params() == {2: 4934, 3: 4939}[n_classes]


def test_profiles_give_the_documented_architectures():
    smoke, cpu, paper = (model_config("unet", p, 2) for p in ("smoke", "cpu", "paper"))
    assert (smoke.base_filters, smoke.depth, smoke.patch_shape) == (4, 2, (16,) * 3)
    assert (cpu.base_filters, cpu.depth, cpu.patch_shape) == (8, 3, (32,) * 3)
    assert (cpu.loss, cpu.learning_rate) == ("bce_dice", 3e-3)
    # the thesis's recipe: Dice (smoothing 1), Adam 1e-3, Xavier, batch 4, patience 10
    assert (paper.loss, paper.learning_rate, paper.dice_smooth) == ("dice", 1e-3, 1.0)
    assert (paper.init, paper.batch_size, paper.patience) == ("glorot_uniform", 4, 10)
    assert (paper.base_filters, paper.depth, paper.patch_shape) == (32, 4, (64,) * 3)
    assert paper.threshold == 0.5


def test_output_shape_and_range_on_any_divisible_shape():
    model = build_model("unet", model_config("unet", "smoke", 3))
    x = np.random.default_rng(0).random((2, 8, 16, 12, 2)).astype(np.float32)
    y = np.asarray(model(x))
    assert y.shape == (2, 8, 16, 12, 3)
    assert y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("name", ["unet", "vox2vox", "cyclegan"])
@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_config_json_round_trip(name, profile):
    cfg = model_config(name, profile, 3)
    text = cfg.to_json()
    assert type(cfg).from_json(text) == cfg
    assert config_from_json(text) == cfg


def test_config_errors_are_input_errors():
    with pytest.raises(InputError, match="unknown model"):
        model_config("resnet", "smoke")
    with pytest.raises(InputError, match="unknown profile"):
        model_config("unet", "tpu")
    with pytest.raises(InputError, match="divisible by 4"):
        UNetConfig(patch_shape=(30, 32, 32), depth=3)
    with pytest.raises(InputError, match="loss"):
        UNetConfig(loss="focal")
    with pytest.raises(InputError, match="beta"):
        Vox2VoxConfig(n_classes=3, beta=(1.0, 6.0))
    with pytest.raises(InputError, match="residual"):
        CycleGANConfig(residual="add")
    with pytest.raises(InputError, match="expected 'unet'"):
        UNetConfig.from_json(Vox2VoxConfig().to_json())
    with pytest.raises(InputError, match="unknown UNetConfig keys"):
        UNetConfig.from_dict({"filters": 3})
    with pytest.raises(InputError, match="needs a UNetConfig"):
        build_model("unet", Vox2VoxConfig())


def test_monitor():
    assert monitor_for("unet") == ("val_loss", "min")


def test_learns_one_patch_bce_dice():
    """Learning test: smoke U-Net, BCE + Dice, Adam 3e-3: Dice >= 0.9 in 120 steps."""
    keras.utils.set_random_seed(0)
    x, y = toy_patch()
    model = build_model("unet", model_config("unet", "smoke", 2))
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(ds, steps_per_epoch=120, epochs=1, verbose=0)
    dice = float(dice_coefficient(y, model.predict(x, verbose=0)))
    assert dice >= 0.9, dice


def test_segmenter_is_the_model_and_saves_as_keras(tmp_path):
    model = build_model("unet", model_config("unet", "smoke", 2))
    seg = segmenter(model)
    assert seg is model
    x = np.random.default_rng(0).random((1, 16, 16, 16, 2)).astype(np.float32)
    path = tmp_path / "unet.keras"
    seg.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        np.asarray(loaded.predict(x, verbose=0)), np.asarray(seg.predict(x, verbose=0))
    )
