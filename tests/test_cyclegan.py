"""CycleGAN: counts, channel matching, one GAN step, learning, round trips, collapse."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_unet3d import toy_patch

from fluoseg.errors import InputError
from fluoseg.models import (
    CycleGANConfig,
    build_model,
    extra_callbacks,
    model_config,
    model_optimizers,
    monitor_for,
    segmenter,
)
from fluoseg.models.blocks import build_resnet_generator
from fluoseg.models.cyclegan import match_channels
from fluoseg.models.cyclegan_callbacks import (
    AdversarialWarmup,
    LinearDecay,
    ModeCollapseMonitor,
    SelectionScore,
    collapse_statistics,
    cyclegan_callbacks,
    decay_factor,
    selection_score,
    synthetic_probe,
)


def _conv(k, ci, co, bias=True):
    return k**3 * ci * co + (co if bias else 0)


def generator_param_count(c: CycleGANConfig, c_in: int, c_out: int) -> int:
    """Hand formula: convs before instance norm have no bias; instance norm 2/channel;
    concat blocks add a 1x1x1 fuse conv (2W -> W, with bias); concat_grow blocks add
    W channels each (block r receives (r + 1) W); tanh head with bias."""
    f, k = c.gen_filters, c.kernel_size
    total = _conv(c.stem_kernel, c_in, f, False) + 2 * f
    ch = f
    for i in range(1, c.n_down + 1):
        total += _conv(c.down_kernel, ch, f * 2**i, False) + 2 * f * 2**i
        ch = f * 2**i
    width = ch
    for _ in range(c.n_res_blocks):
        total += _conv(k, ch, width, False) + _conv(k, width, width, False) + 4 * width
        if c.residual == "concat":
            total += _conv(1, ch + width, width)
        ch = ch + width if c.residual == "concat_grow" else width
    for i in reversed(range(c.n_down)):
        total += _conv(c.up_kernel, ch, f * 2**i, False) + 2 * f * 2**i
        ch = f * 2**i
    return total + _conv(c.stem_kernel, ch, c_out)


def discriminator_param_count(c: CycleGANConfig, c_in: int) -> int:
    k, ch, total = c.disc_kernel, c_in, 0
    for i in range(c.disc_layers):
        f = c.disc_filters * min(2**i, 8)
        total += _conv(k, ch, f) if i == 0 else _conv(k, ch, f, False) + 2 * f
        ch = f
    return total + _conv(k, ch, 1)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("residual", ["concat", "sum", "concat_grow"])
def test_smoke_parameter_counts(n_classes, residual):
    import dataclasses

    cfg = dataclasses.replace(
        model_config("cyclegan", "smoke", n_classes), residual=residual
    )
    m = build_model("cyclegan", cfg)
    assert m.g_s.count_params() == generator_param_count(cfg, 2, n_classes)
    assert m.g_i.count_params() == generator_param_count(cfg, n_classes, 2)
    assert m.d_s.count_params() == discriminator_param_count(cfg, n_classes)
    assert m.d_i.count_params() == discriminator_param_count(cfg, 2)
    # pinned total of the four smoke 2-class networks: the concat block's fuse conv
    # (1x1x1, 16 -> 8 channels: 128 weights + 8 biases) adds 136 per generator
    assert m.count_params() == sum(
        n.count_params() for n in (m.g_s, m.g_i, m.d_s, m.d_i)
    )
    if n_classes == 2:
        # concat_grow: no fuse conv (-136 per generator); up0 reads 16 channels, not
        # 8 (+ 2^3 x 8 x 4 = 256 per generator)
        counts = {"concat": 10014, "sum": 9742, "concat_grow": 10014 - 272 + 512}
        assert m.count_params() == counts[residual]


def test_paper_generator_is_the_original_resnet_generator():
    c = model_config("cyclegan", "paper", 2)
    assert (c.lambda_cycle, c.lambda_identity, c.class_weights) == (10.0, 5.0, (1, 3.5))
    assert (c.gen_learning_rate, c.disc_learning_rate, c.batch_size) == (1e-3, 5e-3, 2)
    # the thesis's block as described: input and second conv concatenated, growing
    assert (c.init, c.norm, c.residual) == ("normal", "instance", "concat_grow")
    # the thesis stopped on mode collapse only, judged per class
    assert c.patience is None and c.collapse_per_class
    g = build_resnet_generator(
        2, 2, c.gen_filters, c.n_down, c.n_res_blocks, stem_kernel=c.stem_kernel,
        down_kernel=c.down_kernel, up_kernel=c.up_kernel, residual="sum",
    )  # fmt: skip
    convs = [
        (layer.filters, layer.kernel_size[0], layer.strides[0])
        for layer in g.layers
        if isinstance(layer, (keras.layers.Conv3D, keras.layers.Conv3DTranspose))
    ]
    # c7s1-64, d128, d256, 9 x R256 (two 3^3 convs), u128, u64, c7s1-out
    assert convs == (
        [(64, 7, 1), (128, 3, 2), (256, 3, 2)]
        + [(256, 3, 1)] * 18
        + [(128, 3, 2), (64, 3, 2), (2, 7, 1)]
    )
    assert monitor_for("cyclegan") == ("val_selection_loss", "min")


def test_match_channels_crops_or_pads_with_background():
    t = np.arange(2 * 3, dtype=np.float32).reshape(1, 1, 1, 2, 3)
    np.testing.assert_array_equal(np.asarray(match_channels(t, 2)), t[..., :2])
    padded = np.asarray(match_channels(t[..., :2], 3))
    np.testing.assert_array_equal(padded[..., :2], t[..., :2])
    np.testing.assert_array_equal(padded[..., 2], -1.0)
    assert match_channels(t, 3) is t


def test_three_class_losses_have_the_right_shapes():
    m = build_model("cyclegan", model_config("cyclegan", "smoke", 3))
    x, s = toy_patch(3)
    out = m._gan_losses(x, s, training=False)
    assert all(np.isfinite(float(v)) for v in out.values())
    assert np.asarray(m(x)).shape == (1, 16, 16, 16, 3)


@pytest.fixture(scope="module")
def trained():
    """Smoke CycleGAN on two paired toy patches (image ~ 0.6 mask + noise): weights
    before and after the first step, losses before and after 120 steps."""
    keras.utils.set_random_seed(0)
    x1, s1 = toy_patch(seed=0)
    x2, s2 = toy_patch(seed=1)
    x = np.concatenate([x1, x2[:, ::-1, ::-1].copy()])
    s = np.concatenate([s1, s2[:, ::-1, ::-1].copy()])
    m = build_model("cyclegan", model_config("cyclegan", "smoke", 2))
    nets = ("g_s", "g_i", "d_s", "d_i")

    def snapshot():
        return {n: [v.numpy().copy() for v in getattr(m, n).trainable_variables]
                for n in nets}  # fmt: skip

    loss0 = {k: float(v) for k, v in m._gan_losses(x, s, False).items()}
    w0 = snapshot()
    ds = tf.data.Dataset.from_tensors((x, s)).repeat()
    m.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    w1 = snapshot()
    m.fit(ds, steps_per_epoch=119, epochs=1, verbose=0)
    loss1 = {k: float(v) for k, v in m._gan_losses(x, s, False).items()}
    return {"model": m, "x": x, "s": s, "w0": w0, "w1": w1, "l0": loss0, "l1": loss1}


def test_one_train_step_changes_every_weight_of_all_four_networks(trained):
    for net, before in trained["w0"].items():
        for i, (a, b) in enumerate(zip(before, trained["w1"][net], strict=True)):
            assert not np.array_equal(a, b), (net, i)


def test_learning_the_cycle_and_identity_losses_fall_tenfold(trained):
    l0, l1 = trained["l0"], trained["l1"]
    assert l1["cycle_loss"] < l0["cycle_loss"] / 10, (l0, l1)
    assert l1["identity_loss"] < l0["identity_loss"] / 10, (l0, l1)
    assert l1["g_loss"] < l0["g_loss"] / 5, (l0, l1)


def test_weights_and_optimizer_state_round_trip(trained, tmp_path):
    m = trained["model"]
    m.save_weights(tmp_path / "cg.weights.h5")
    again = build_model("cyclegan", m.cfg)
    again.load_weights(tmp_path / "cg.weights.h5")
    x, s = trained["x"], trained["s"]
    np.testing.assert_array_equal(np.asarray(m(x)), np.asarray(again(x)))
    np.testing.assert_array_equal(np.asarray(m.g_i(s)), np.asarray(again.g_i(s)))
    np.testing.assert_array_equal(np.asarray(m.d_s(s)), np.asarray(again.d_s(s)))
    np.testing.assert_array_equal(np.asarray(m.d_i(x)), np.asarray(again.d_i(x)))
    for name, opt in model_optimizers(again).items():
        assert int(opt.iterations) == 120
        ref = model_optimizers(m)[name]
        for u, v in zip(ref.variables, opt.variables, strict=True):
            np.testing.assert_array_equal(u.numpy(), v.numpy())


def test_segmenter_maps_to_probabilities_and_saves_as_keras(trained, tmp_path):
    m, x = trained["model"], trained["x"]
    seg = segmenter(m)
    p = np.asarray(seg.predict(x, verbose=0))
    expected = (np.asarray(m.g_s(2 * x - 1)) + 1) / 2
    np.testing.assert_allclose(p, expected, atol=1e-6)
    assert p.min() >= 0 and p.max() <= 1
    seg.save(tmp_path / "cg.keras")
    loaded = keras.saving.load_model(tmp_path / "cg.keras")
    np.testing.assert_array_equal(np.asarray(loaded.predict(x, verbose=0)), p)


def test_collapse_statistics_exact():
    a = np.zeros((3, 2, 2), np.float32)
    a[1] = 1.0
    a[2, 0] = 1.0
    # pairs: |0-1| = 1, |0-half| = 0.5, |1-half| = 0.5 -> 2/3; foreground 6/12
    stats = collapse_statistics(a)
    assert stats["spread"] == pytest.approx(2 / 3)
    assert stats["foreground"] == pytest.approx(0.5)


def test_mode_collapse_monitor_stops_on_identical_outputs():
    cfg = model_config("cyclegan", "smoke", 2)
    model = build_model("cyclegan", cfg)
    score, monitor = extra_callbacks("cyclegan", model, cfg)
    assert isinstance(score, SelectionScore)  # runs first: the monitor overrides it
    assert isinstance(monitor, ModeCollapseMonitor)
    monitor.set_model(model)
    logs = {"val_selection_loss": 0.5}
    monitor.on_epoch_end(1, logs)  # a fresh G_S: different outputs, not collapsed
    assert logs["probe_spread"] > cfg.collapse_threshold
    assert not model.stop_training and logs["val_selection_loss"] == 0.5
    head = model.g_s.get_layer("output")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])  # constant out
    for epoch, stop in ((2, False), (3, True)):  # collapse_patience = 2
        logs = {"val_selection_loss": 0.5}
        monitor.on_epoch_end(epoch, logs)
        assert logs["probe_spread"] == 0.0 and logs["val_selection_loss"] == math.inf
        assert model.stop_training is stop
    assert "mode collapse at epoch 4" in monitor.reason


def test_probe_and_monitor_inputs():
    probe = synthetic_probe((8, 8, 8), n=3)
    assert probe.shape == (3, 8, 8, 8, 2) and 0 <= probe.min() and probe.max() <= 1
    assert not np.array_equal(probe[0], probe[1])
    cfg = model_config("cyclegan", "smoke", 2)
    with pytest.raises(InputError, match="B>=2"):
        ModeCollapseMonitor(cfg, probe=probe[:1])


def test_foreground_weight_only_reweights_the_mask_losses():
    import dataclasses

    x, s = toy_patch(2)
    cfg = model_config("cyclegan", "smoke", 2)
    plain = build_model("cyclegan", cfg)
    heavy = build_model("cyclegan", dataclasses.replace(cfg, foreground_weight=10.0))
    heavy.set_weights(plain.get_weights())
    same = {k: float(v) for k, v in plain._gan_losses(x, s, training=False).items()}
    h = {k: float(v) for k, v in heavy._gan_losses(x, s, training=False).items()}
    assert h["identity_loss"] > same["identity_loss"]
    assert h["cycle_loss"] > same["cycle_loss"]
    # image-domain terms and the selection statistics are untouched
    assert h["adv_s_loss"] == pytest.approx(same["adv_s_loss"])
    assert h["adv_i_loss"] == pytest.approx(same["adv_i_loss"])
    assert h["fg_pred_1"] == pytest.approx(same["fg_pred_1"])
    with pytest.raises(InputError, match="foreground_weight"):
        dataclasses.replace(cfg, foreground_weight=0.0)


def _stats(prefix, rows):
    keys = ("fg_pred", "fg_ref", "cycle_inter", "cycle_total")
    return {
        f"{prefix}{key}_{k}": v
        for k, row in enumerate(rows)
        for key, v in zip(keys, row, strict=True)
    }


def test_selection_score_exact_values():
    eps = 1e-4
    # class 0: cycle Dice 2*0.01/0.04 = 0.5, foreground matches -> 0.5
    # class 1: perfect cycle, G_S draws nothing -> |log(eps / (0.01 + eps))|
    logs = _stats("val_", [(0.02, 0.02, 0.01, 0.04), (0.0, 0.01, 0.01, 0.02)])
    expected = (0.5 + abs(math.log(eps / (0.01 + eps)))) / 2
    assert selection_score(logs, 2) == pytest.approx(expected)
    # both empty: a perfect score of 0; a missing statistic: nan
    assert selection_score(_stats("", [(0.0, 0.0, 0.0, 0.0)]), 1, "") == 0.0
    assert math.isnan(selection_score(logs, 3))
    # an empty G_S ranks below one that draws the mask domain's amount
    drawn = _stats("val_", [(0.02, 0.02, 0.008, 0.04)] * 2)
    assert selection_score(drawn, 2) < selection_score(logs, 2)


def test_selection_statistics_and_callback_on_known_masks():
    cfg = model_config("cyclegan", "smoke", 2)
    m = build_model("cyclegan", cfg)
    s = -np.ones((1, 4, 4, 4, 2), np.float32)
    s[0, :2, ..., 0] = 1.0  # half the voxels of class 0
    fake = -np.ones_like(s)
    fake[0, :1, ..., 0] = 1.0  # G_S draws a quarter of them
    stats = {k: float(v) for k, v in m._selection_statistics(fake, s, s).items()}
    assert stats["fg_ref_0"] == 0.5 and stats["fg_pred_0"] == 0.25
    assert stats["cycle_inter_0"] == 0.5 and stats["cycle_total_0"] == 1.0
    assert stats["fg_ref_1"] == 0.0 and stats["cycle_total_1"] == 0.0
    logs = {f"val_{k}": v for k, v in stats.items()}
    SelectionScore(2).on_epoch_end(0, logs)
    assert logs["val_selection_loss"] == pytest.approx(
        (abs(math.log((0.25 + 1e-4) / (0.5 + 1e-4))) + 0.0) / 2
    )
    assert "selection_loss" not in logs  # no training statistics in these logs


def test_linear_decay_schedule_exact_and_resumable():
    assert [decay_factor(e, 4, 0.5) for e in range(4)] == [1.0, 1.0, 1.0, 0.5]
    assert [decay_factor(e, 10, 0.5) for e in (4, 5, 6, 9)] == [1.0, 1.0, 0.8, 0.2]
    assert decay_factor(9, 10, 1.0) == 1.0  # the thesis: constant
    cfg = dataclasses.replace(model_config("cyclegan", "smoke", 2), decay_from=0.5)
    model = build_model("cyclegan", cfg)
    callbacks = extra_callbacks("cyclegan", model, cfg, epochs=10)
    assert isinstance(callbacks[0], LinearDecay)
    assert not any(
        isinstance(c, LinearDecay)
        for c in extra_callbacks("cyclegan", model, model_config("cyclegan", "smoke"))
    )
    decay = callbacks[0]
    decay.set_model(model)
    decay.on_epoch_begin(8)  # as a resumed run starts: the schedule of epoch 8
    assert float(model.g_optimizer.learning_rate) == pytest.approx(
        cfg.gen_learning_rate * 0.4
    )
    assert float(model.d_optimizer.learning_rate) == pytest.approx(
        cfg.disc_learning_rate * 0.4
    )
    with pytest.raises(InputError, match="decay_from"):
        dataclasses.replace(cfg, decay_from=1.5)


def assert_straight_through_sign(fn) -> None:
    """``fn`` maps soft values to their sign forward and passes the gradient as is."""
    soft = tf.constant([[-0.9, -0.2, 0.0, 0.1, 0.95]])
    with tf.GradientTape() as tape:
        tape.watch(soft)
        out = fn(soft)
        total = tf.reduce_sum(out * tf.constant([[1.0, 2.0, 3.0, 4.0, 5.0]]))
    np.testing.assert_array_equal(out.numpy(), [[-1, -1, -1, 1, 1]])
    # the forward pass is the sign, the backward pass the identity's
    np.testing.assert_allclose(tape.gradient(total, soft).numpy(), [[1, 2, 3, 4, 5]])


def test_hard_cycle_mask_is_a_straight_through_sign():
    cfg = dataclasses.replace(model_config("cyclegan", "smoke", 2), cycle_mask="hard")
    assert_straight_through_sign(build_model("cyclegan", cfg)._cycle_input)
    soft = tf.constant([[-0.9, 0.95]])
    soft_model = build_model("cyclegan", model_config("cyclegan", "smoke", 2))
    assert soft_model._cycle_input(soft) is soft
    with pytest.raises(InputError, match="cycle_mask"):
        dataclasses.replace(cfg, cycle_mask="binary")


def test_hard_disc_mask_shows_d_s_the_sign_with_the_identity_gradient():
    cfg = model_config("cyclegan", "smoke", 2)
    hard = build_model("cyclegan", dataclasses.replace(cfg, disc_mask="hard"))
    assert_straight_through_sign(hard._disc_input)
    soft = tf.constant([[-0.9, 0.95]])
    assert build_model("cyclegan", cfg)._disc_input(soft) is soft  # the thesis's
    assert "disc_mask" not in cfg.to_dict()  # at its default: the same run digests
    assert dataclasses.replace(cfg, disc_mask="hard").to_dict()["disc_mask"] == "hard"
    with pytest.raises(InputError, match="disc_mask"):
        dataclasses.replace(cfg, disc_mask="binary")


def test_adv_warmup_leaves_g_s_adversarial_term_out_of_the_first_epochs():
    cfg = dataclasses.replace(model_config("cyclegan", "smoke", 2), adv_warmup=2)
    model = build_model("cyclegan", cfg)
    cbs = cyclegan_callbacks(model, cfg)
    warm = [cb for cb in cbs if isinstance(cb, AdversarialWarmup)]
    assert len(warm) == 1
    warm[0].set_model(model)
    x, s = toy_patch(2)
    for epoch, weight in ((0, 0.0), (1, 0.0), (2, 1.0), (7, 1.0)):
        warm[0].on_epoch_begin(epoch)
        out = model._gan_losses(x, s, False)
        rest = (
            out["adv_i_loss"]
            + cfg.lambda_cycle * out["cycle_loss"]
            + cfg.lambda_identity * out["identity_loss"]
        )
        assert float(out["adv_s_loss"]) > 0
        np.testing.assert_allclose(
            float(out["g_loss"]), float(rest + weight * out["adv_s_loss"]), rtol=1e-5
        )
    plain = model_config("cyclegan", "smoke", 2)
    assert "adv_warmup" not in plain.to_dict()  # at its default: the same run digests
    plain_model = build_model("cyclegan", plain)
    assert not hasattr(plain_model, "adv_s_weight")
    plain_cbs = cyclegan_callbacks(plain_model, plain)
    assert not any(isinstance(cb, AdversarialWarmup) for cb in plain_cbs)
    with pytest.raises(InputError, match="adv_warmup"):
        dataclasses.replace(plain, adv_warmup=-1)


def test_detached_cycle_mask_gives_g_i_the_sign_and_g_s_no_image_cycle_gradient():
    cfg = model_config("cyclegan", "smoke", 2)
    x, _ = toy_patch(2)
    hard = build_model("cyclegan", dataclasses.replace(cfg, cycle_mask="hard"))
    detached = build_model("cyclegan", dataclasses.replace(cfg, cycle_mask="detached"))
    detached.set_weights(hard.get_weights())
    soft = tf.constant([[-0.9, -0.2, 0.1, 0.95]])
    np.testing.assert_array_equal(detached._cycle_input(soft).numpy(), [[-1, -1, 1, 1]])
    grads = {}
    for name, model in (("hard", hard), ("detached", detached)):
        variables = model.g_s.trainable_variables + model.g_i.trainable_variables
        with tf.GradientTape() as tape:
            i = 2.0 * tf.constant(x) - 1.0
            cycled = model.g_i(model._cycle_input(model.g_s(i)))
            loss = tf.reduce_mean(tf.abs(i - cycled))  # the image cycle alone
        g = tape.gradient(loss, variables)
        n_s = len(model.g_s.trainable_variables)
        grads[name] = (g[:n_s], g[n_s:])
    # straight-through: the image cycle reaches G_S; detached: it trains G_I only
    assert any(float(tf.reduce_sum(tf.abs(v))) > 0 for v in grads["hard"][0])
    assert all(v is None for v in grads["detached"][0])
    for a, b in zip(grads["hard"][1], grads["detached"][1], strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_foreground_weight_per_class_weights_each_channel():
    import fluoseg.models.losses as L

    a = -np.ones((1, 2, 2, 2, 2), np.float32)
    a[0, 0, 0, 0, :] = 1.0  # one foreground voxel in each channel
    b = -np.ones_like(a)  # an empty prediction: error 2 on the foreground voxel
    one = float(L.weighted_l1(a, b, foreground_weight=(1.0, 1.0)))
    assert one == pytest.approx(2 / 8)
    per = float(L.weighted_l1(a, b, foreground_weight=(10.0, 70.0)))
    assert per == pytest.approx((20 / 8 + 140 / 8) / 2)
    assert float(L.weighted_l1(a, b, foreground_weight=10.0)) == pytest.approx(20 / 8)
    cfg = model_config("cyclegan", "smoke", 2)
    ok = dataclasses.replace(cfg, foreground_weight=(10.0, 70.0))
    assert CycleGANConfig.from_json(ok.to_json()) == ok
    with pytest.raises(InputError, match="one weight > 0 per class"):
        dataclasses.replace(cfg, foreground_weight=(10.0, 70.0, 1.0))
    with pytest.raises(InputError, match="foreground_weight"):
        dataclasses.replace(cfg, foreground_weight=(10.0, 0.0))


def test_share_loss_pushes_g_s_to_the_mask_domains_foreground_share():
    cfg = model_config("cyclegan", "smoke", 2)
    assert not hasattr(build_model("cyclegan", cfg), "share_sum")  # off: same weights
    model = build_model("cyclegan", dataclasses.replace(cfg, lambda_share=1.0))
    s = -np.ones((2, 4, 4, 4, 2), np.float32)
    s[:, :2, :2, :2, 0] = 1.0  # nuclei share 1/8
    s[:, 0, 0, :2, 1] = 1.0  # Golgi share 1/32
    s = tf.constant(s)
    # a G_S output with the masks' shares costs nothing, in training or not
    assert float(model._share_loss(s, s, training=True)) == pytest.approx(0, abs=1e-6)
    np.testing.assert_allclose(model.share_sum.numpy(), [1 / 8, 1 / 32])
    assert float(model.share_count.numpy()) == 1.0
    empty = -tf.ones_like(s)
    eps = 1e-4
    want = np.mean([abs(np.log(eps / (r + eps))) for r in (1 / 8, 1 / 32)])
    got = float(model._share_loss(empty, s, training=False))
    assert got == pytest.approx(want, rel=1e-4)
    assert float(model.share_count.numpy()) == 1.0  # validation does not update it
    with tf.GradientTape() as tape:
        tape.watch(empty)
        loss = model._share_loss(empty * 0.99, s, training=False)
    assert float(tf.reduce_min(tape.gradient(loss, empty))) < 0  # pushed upwards
    x, masks = toy_patch(2)
    out = model._gan_losses(x, masks, training=False)
    assert np.isfinite(float(out["share_loss"]))
    with pytest.raises(InputError, match="lambda_share"):
        dataclasses.replace(cfg, lambda_share=-1.0)


def test_image_cycle_weight_scales_only_the_image_cycle():
    x, s = toy_patch(2)
    cfg = model_config("cyclegan", "smoke", 2)
    full = build_model("cyclegan", cfg)
    none = build_model("cyclegan", dataclasses.replace(cfg, image_cycle_weight=0.0))
    half = build_model("cyclegan", dataclasses.replace(cfg, image_cycle_weight=0.5))
    none.set_weights(full.get_weights())
    half.set_weights(full.get_weights())
    f = float(full._gan_losses(x, s, training=False)["cycle_loss"])
    n = float(none._gan_losses(x, s, training=False)["cycle_loss"])
    h = float(half._gan_losses(x, s, training=False)["cycle_loss"])
    assert 0 < n < f  # only the mask cycle is left
    assert h == pytest.approx((f + n) / 2, rel=1e-5)  # linear in the weight
    with pytest.raises(InputError, match="image_cycle_weight"):
        dataclasses.replace(cfg, image_cycle_weight=-1.0)


def test_no_identity_term_skips_its_generator_passes_and_nothing_else():
    x, s = toy_patch(2)
    cfg = model_config("cyclegan", "smoke", 2)
    full = build_model("cyclegan", cfg)
    none = build_model("cyclegan", dataclasses.replace(cfg, lambda_identity=0.0))
    none.set_weights(full.get_weights())
    calls = []
    for g in (none.g_s, none.g_i):
        g_call = g.call
        g.call = lambda *a, _c=g_call, **k: calls.append(1) or _c(*a, **k)
    f = {k: float(v) for k, v in full._gan_losses(x, s, training=False).items()}
    n = {k: float(v) for k, v in none._gan_losses(x, s, training=False).items()}
    assert len(calls) == 4  # G_S twice, G_I twice: the two identity passes skipped
    assert n["identity_loss"] == 0.0 < f["identity_loss"]
    # every other term is the same; the generators' loss loses exactly the identity
    for key in ("cycle_loss", "adv_s_loss", "adv_i_loss", "d_loss"):
        assert n[key] == pytest.approx(f[key], rel=1e-6)
    assert n["g_loss"] == pytest.approx(
        f["g_loss"] - cfg.lambda_identity * f["identity_loss"], rel=1e-5
    )


def test_ema_of_g_s_is_what_segments_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    x, s = toy_patch(seed=0)
    base = model_config("cyclegan", "smoke", 2)
    plain = build_model("cyclegan", base)
    assert plain.g_s_ema is None and plain.kept_g_s is plain.g_s
    cfg = dataclasses.replace(base, ema_decay=0.9)
    m = build_model("cyclegan", cfg)
    assert not m.g_s_ema.trainable_variables  # never updated by an optimizer
    start = [w.numpy().copy() for w in m.g_s.weights]
    for e, w in zip(m.g_s_ema.weights, start, strict=True):
        np.testing.assert_array_equal(e.numpy(), w)  # starts as G_S
    ds = tf.data.Dataset.from_tensors((x, s)).repeat()
    m.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    for e, w0, w1 in zip(m.g_s_ema.weights, start, m.g_s.weights, strict=True):
        np.testing.assert_allclose(e.numpy(), 0.9 * w0 + 0.1 * w1.numpy(), atol=1e-6)
    m.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)
    expected = (np.asarray(m.g_s_ema(2 * x - 1)) + 1) / 2
    np.testing.assert_allclose(np.asarray(segmenter(m)(x)), expected, atol=1e-6)
    assert not np.allclose(np.asarray(m.g_s(2 * x - 1)), 2 * expected - 1, atol=1e-4)
    m.save_weights(tmp_path / "ema.weights.h5")
    again = build_model("cyclegan", cfg)
    again.load_weights(tmp_path / "ema.weights.h5")
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(m(x)))
    with pytest.raises(InputError, match="ema_decay"):
        dataclasses.replace(base, ema_decay=1.0)


def test_discriminator_accuracies_are_logged_and_exact():
    from fluoseg.models.cyclegan import _accuracy

    real = tf.constant([0.9, 0.6, 0.4, 0.1])
    fake = tf.constant([0.2, 0.7, 0.3, 0.0])
    assert float(_accuracy(real, fake)) == pytest.approx(0.5 * (2 / 4 + 3 / 4))
    m = build_model("cyclegan", model_config("cyclegan", "smoke", 2))
    out = m._gan_losses(*toy_patch(), training=False)
    for k in ("d_s_acc", "d_i_acc"):
        assert 0.0 <= float(out[k]) <= 1.0


class _FixedOutputs:
    """A stand-in for the CycleGAN whose G_S returns fixed probe outputs."""

    def __init__(self, outputs: np.ndarray) -> None:
        self.outputs = outputs
        self.stop_training = False

    def __call__(self, probe, training=False):
        assert len(probe) == len(self.outputs)
        return self.outputs


def _golgi_collapsed_outputs() -> np.ndarray:
    """Four probe outputs: nuclei differ (one foreground voxel each, at different
    places), the Golgi channel is 0.2 everywhere (empty, identical)."""
    out = np.zeros((4, 2, 2, 2, 2), np.float32)
    for b in range(4):
        out[b].reshape(-1, 2)[b, 0] = 0.9
    out[..., 1] = 0.2
    return out


@pytest.mark.parametrize("per_class", [False, True])
def test_mode_collapse_per_class_flags_one_collapsed_channel(per_class):
    cfg = dataclasses.replace(
        model_config("cyclegan", "smoke", 2), collapse_per_class=per_class
    )
    probe = synthetic_probe(cfg.patch_shape, n=4)
    monitor = ModeCollapseMonitor(cfg, probe=probe, verbose=False)
    model = _FixedOutputs(_golgi_collapsed_outputs())
    monitor.set_model(model)
    collapsed, stats = monitor.check(model)
    # the whole output is neither uniform nor empty: only the per-class rule sees it
    assert stats["spread"] > cfg.collapse_threshold
    assert 0.0 < stats["foreground"] < 1.0
    assert (stats["collapsed_0"], stats["collapsed_1"]) == (0.0, 1.0)
    assert (stats["foreground_1"], stats["spread_1"]) == (0.0, 0.0)
    assert collapsed is per_class
    for epoch in (1, 2):  # after the warm-up of 1 epoch; collapse_patience = 2
        logs = {"val_selection_loss": 0.5}
        monitor.on_epoch_end(epoch, logs)
        # per-class statistics are logged (so in history.csv) at every setting
        assert logs["probe_collapsed_1"] == 1.0 and logs["probe_collapsed_0"] == 0.0
        assert logs["probe_foreground_1"] == 0.0 and logs["probe_spread_0"] > 0
        assert logs["probe_collapsed"] == float(per_class)
        assert (logs["val_selection_loss"] == math.inf) is per_class
    assert model.stop_training is per_class
    if per_class:
        assert "collapsed class channels: golgi" in monitor.reason
        assert "nuclei" not in monitor.reason
    else:
        assert monitor.reason is None


def test_new_cyclegan_options_leave_smoke_and_cpu_configurations_unchanged():
    # the keys of the smoke and cpu CycleGAN configurations before collapse_per_class
    # and concat_grow existed: the same JSON, so the same run digests (runs recorded
    # before are loaded, not retrained)
    keys = {
        "adam_beta_1", "batch_size", "class_weights", "collapse_patience",
        "collapse_threshold", "collapse_warmup", "cycle_mask", "decay_from",
        "disc_filters", "disc_kernel", "disc_layers", "disc_learning_rate",
        "down_kernel", "ema_decay", "foreground_weight", "gen_filters",
        "gen_learning_rate", "image_cycle_weight", "in_channels", "init",
        "kernel_size", "lambda_cycle", "lambda_identity", "model", "n_classes",
        "n_down", "n_res_blocks", "norm", "patch_shape", "patience", "residual",
        "restore_best_weights", "stem_kernel", "threshold", "threshold_rule",
        "up_kernel",
    }  # fmt: skip
    # (cpu's G_S reads the stretch unclipped since: a chosen change of its recipe)
    extra = {"smoke": set(), "cpu": {"stretch_clip"}}
    for profile in ("smoke", "cpu"):
        for n in (2, 3):
            c = model_config("cyclegan", profile, n)
            assert set(c.to_dict()) == keys | extra[profile]
            assert (c.residual, c.patience, c.collapse_per_class) == (
                "concat",
                20,
                False,
            )
            assert CycleGANConfig.from_json(c.to_json()) == c
    paper = model_config("cyclegan", "paper", 2)
    assert paper.to_dict()["collapse_per_class"] is True
    assert paper.to_dict()["patience"] is None
    assert CycleGANConfig.from_json(paper.to_json()) == paper
    assert model_config("cyclegan", "cpu", 2).settings()["collapse_per_class"] is False
    with pytest.raises(InputError, match="patience"):
        dataclasses.replace(paper, patience=0)
    with pytest.raises(InputError, match="residual"):
        dataclasses.replace(paper, residual="grow")


def test_g_s_reads_unclipped_intensities_the_image_domain_stays_in_range() -> None:
    cfg = dataclasses.replace(model_config("cyclegan", "smoke", 2), stretch_clip=False)
    assert "stretch_clip" in cfg.to_dict()
    assert "stretch_clip" not in model_config("cyclegan", "smoke", 2).to_dict()
    keras.utils.set_random_seed(0)
    m = build_model("cyclegan", cfg)
    x, s = toy_patch(seed=0)
    bright = x.copy()
    bright[x > 0.5] = 3.0  # above the stretch's 98th percentile, unclipped
    out = m._gan_losses(bright, s, training=False)
    assert all(np.isfinite(float(v)) for v in out.values())
    # G_S sees the difference between 1 and 3 (a clipped stretch would erase it)
    clipped = np.minimum(bright, 1.0)
    assert not np.allclose(np.asarray(m(bright)), np.asarray(m(clipped)))
