"""CycleGAN per-epoch diagnostics from a history table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fluoseg.diagnostics import cyclegan_epochs
from fluoseg.errors import InputError


def test_cyclegan_epochs_exact_values():
    history = pd.DataFrame(
        {
            "val_fg_pred_0": [0.02, 0.01],
            "val_fg_ref_0": [0.01, 0.01],
            "val_fg_pred_1": [0.0, 0.003],
            "val_fg_ref_1": [0.0, 0.002],
            "val_cycle_inter_0": [0.005, 0.01],
            "val_cycle_total_0": [0.02, 0.02],
            "val_cycle_inter_1": [0.0, 0.001],
            "val_cycle_total_1": [0.0, 0.004],
            "val_d_s_acc": [0.9, 0.6],
        },
        index=pd.Index([1, 2], name="epoch"),
    )
    out = cyclegan_epochs(history, 2)
    assert out[("share ratio", "nuclei")].tolist() == pytest.approx([2.0, 1.0])
    assert np.isnan(out.loc[1, ("share ratio", "golgi")])  # no reference foreground
    assert out[("cycle Dice", "nuclei")].tolist() == pytest.approx([0.5, 1.0])
    assert out.loc[2, ("cycle Dice", "golgi")] == pytest.approx(0.5)
    assert out[("D_S accuracy", "")].tolist() == [0.9, 0.6]
    assert ("D_I accuracy", "") not in out.columns
    with pytest.raises(InputError, match="CycleGAN"):
        cyclegan_epochs(history.drop(columns="val_fg_ref_1"), 2)


def test_domain_shares_reads_annotation_where_the_image_patch_was_cut() -> None:
    from fluoseg.diagnostics import domain_shares

    shape = (12, 16, 16)
    image = np.zeros(shape + (2,), np.float32)
    annotated = np.zeros(shape + (2,), np.uint8)
    annotated[4:8, 4:12, 4:12, 0] = 1  # one annotated nucleus
    proposals = annotated.copy()  # patches centred on it
    synthetic = np.ones(shape + (2,), np.uint8)  # all foreground
    out = domain_shares(
        [image], [proposals], [annotated], [synthetic], (8, 8, 8), 5, 1.0, seed=0
    )
    assert set(out["domain"]) == {"image patches (annotated)", "synthetic masks"}
    assert len(out) == 2 * 5 * 2
    img = out[out["domain"] == "image patches (annotated)"]
    assert (img[img["class"] == "nuclei"]["share"] > 0).all()  # cut at the object
    assert (img[img["class"] == "golgi"]["share"] == 0).all()
    assert (out[out["domain"] == "synthetic masks"]["share"] == 1).all()
    with pytest.raises(InputError, match="equal length"):
        domain_shares([image], [], [annotated], [synthetic], (8, 8, 8), 5, 1.0)


def test_domain_shares_from_proposal_positions_equal_those_from_masks() -> None:
    from fluoseg.data.origins import mask_positions
    from fluoseg.diagnostics import domain_shares

    gen = np.random.default_rng(4)
    shapes = [(10, 20, 18), (6, 14, 30)]  # one thinner than the patch: padded
    props = [(gen.random(s + (2,)) > 0.97).astype(np.uint8) for s in shapes]
    annotated = [(gen.random(s + (2,)) > 0.8).astype(np.uint8) for s in shapes]
    synthetic = [(gen.random((9, 12, 12, 2)) > 0.5).astype(np.uint8)]
    args = ((8, 8, 8), 40, 0.7)
    want = domain_shares(None, props, annotated, synthetic, *args, seed=2)
    pos = [mask_positions(p, (8, 8, 8)) for p in props]
    got = domain_shares(None, pos, annotated, synthetic, *args, seed=2)
    pd.testing.assert_frame_equal(got, want)
    with pytest.raises(InputError, match="differ in shape"):
        domain_shares(None, pos[::-1], annotated, synthetic, *args)


def test_cyclegan_from_run_renders_with_the_checkpointed_generator(
    tmp_path_factory: pytest.TempPathFactory, smoke_unet_run
) -> None:
    from fluoseg.diagnostics import cyclegan_from_run, render_images, rendered_images
    from fluoseg.training.trainer import train

    data = smoke_unet_run.config["data_dir"]
    run = train("cyclegan", 2, profile="smoke", unsupervised=True, epochs=1,
                data_dir=data, out=tmp_path_factory.mktemp("cg") / "r",
                progress=False)  # fmt: skip
    model = cyclegan_from_run(run)
    masks = np.zeros((1, 16, 16, 16, 2), np.float32)
    masks[0, 4:12, 4:12, 4:12, 0] = 1
    images = render_images(model, masks)
    assert images.shape == (1, 16, 16, 16, 2)
    # the same images from a child process (TensorFlow stays out of a kernel)
    child = rendered_images({"r": run}, masks, isolate=True)
    assert list(child) == ["r"] and child["r"].tobytes() == images.tobytes()
    assert images.min() >= 0 and images.max() <= 1
    # the loaded G_S is the trained one: the same output as the saved segmenter
    x = np.random.default_rng(0).random((1, 16, 16, 16, 2)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(model.g_s(2 * x - 1)), np.asarray(run.segmenter(x)) * 2 - 1,
        atol=1e-5,
    )
    with pytest.raises(InputError, match="not a CycleGAN"):
        cyclegan_from_run(smoke_unet_run)
    with pytest.raises(InputError, match="expected \\(B, Z, Y, X"):
        render_images(model, masks[0])


def test_hidden_share_counts_only_sub_threshold_output() -> None:
    from fluoseg.diagnostics import hidden_share

    p = np.zeros((4, 2), np.float32)
    p[:, 0] = [0.9, 0.1, 0.1, 0.0]  # 0.2 of 1.1 below 0.5
    assert hidden_share(p) == pytest.approx([0.2 / 1.1, 0.0])
    with pytest.raises(InputError, match="classes"):
        hidden_share(np.zeros(3))


def test_symptom_masks_in_a_child_process_equal_the_in_process_ones(
    smoke_unet_run,
) -> None:
    from fluoseg.diagnostics import hidden_share, symptom_masks

    image = np.random.default_rng(1).random((16, 24, 20, 2)).astype(np.float32)
    runs = {"a": smoke_unet_run}
    masks, hidden = symptom_masks(runs, image, isolate=False)
    probs = smoke_unet_run.predict(image)
    np.testing.assert_array_equal(masks["a"], smoke_unet_run.binarize(probs))
    assert hidden["a"] == hidden_share(probs)
    child_masks, child_hidden = symptom_masks(runs, image, isolate=True)
    np.testing.assert_array_equal(child_masks["a"], masks["a"])
    assert child_hidden == hidden


def test_empty_epochs_counts_epochs_without_a_class(tmp_path):
    from fluoseg.diagnostics import empty_epochs

    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({
        "epoch": [1, 2, 3, 4, 5],
        "fg_pred_0": [0.02, 0.0, 0.01, 0.02, 0.03],
        "fg_pred_1": [0.004, 0.0, 0.0, 0.0, 0.002],
    }).to_csv(run / "history.csv", index=False)  # fmt: skip
    table = empty_epochs({"seed 0": run})
    assert table.loc[("seed 0", "golgi")].tolist() == [3, 5, 2, 4]
    assert table.loc[("seed 0", "nuclei")].tolist() == [1, 5, 2, 2]
    assert len(table) == 2  # the classes the history holds
    with pytest.raises(InputError, match="no training history"):
        empty_epochs({"x": tmp_path / "missing"})
    pd.DataFrame({"epoch": [1], "loss": [0.1]}).to_csv(run / "history.csv", index=False)
    with pytest.raises(InputError, match="not a CycleGAN history"):
        empty_epochs({"seed 0": run})
