"""Deviations from the thesis, read from a run's config."""

from __future__ import annotations

import dataclasses
import json
import types

import pytest

from fluoseg.config import get_profile
from fluoseg.deviations import deviations, summary, thesis_settings
from fluoseg.errors import InputError
from fluoseg.models import model_config
from fluoseg.training.plan import train_config
from fluoseg.training.trainer import run_config


def _config(profile: str, model="cyclegan", unsup=False, **model_changes) -> dict:
    prof = get_profile(profile)
    mcfg = dataclasses.replace(model_config(model, prof, 2), **model_changes)
    tc = train_config(model, prof)
    cfg = run_config(model, 2, prof, False, unsup, 0, ".", "annotator", tc, mcfg)
    return json.loads(json.dumps(cfg))  # as read back from config.json


def _settings(frame) -> list[str]:
    return [k for k in frame.index if not k.startswith("rule: ")]


def test_a_paper_run_has_no_deviation_and_changes_are_listed():
    assert deviations(_config("paper", model="unet")).empty
    assert _settings(deviations(_config("paper"))) == []
    frame = deviations(_config("paper", ema_decay=0.99, lambda_cycle=5.0))
    assert _settings(frame) == ["model.ema_decay", "model.lambda_cycle"]
    assert frame.loc["model.ema_decay"].tolist() == ["0.99", "0.0"]
    assert frame.loc["model.lambda_cycle", "thesis"] == "10.0"


def test_cpu_run_lists_its_recipe_and_patch_shapes():
    frame = deviations(_config("cpu", threshold_rule="fixed"))  # no data needed
    for key in ("model.cycle_mask", "model.ema_decay", "profile.patch_shape"):
        assert key in frame.index
    assert frame.loc["profile.patch_shape"].tolist() == ["32x32x32", "64x64x64"]
    assert thesis_settings("cyclegan", 2)["model.threshold_rule"] == "fixed"
    # options that cpu leaves out of its config.json (at their default) still show
    assert frame.loc["model.collapse_per_class"].tolist() == ["False", "True"]
    assert frame.loc["model.residual"].tolist() == ["concat", "concat_grow"]
    assert frame.loc["train.patience"].tolist() == ["30", "-"]
    shared = dict(_config("paper"), mask_share=[0.0034, 0.00045])
    assert "mask share per class" in deviations(shared).index


def test_bad_config_is_named():
    with pytest.raises(InputError, match="run configuration"):
        deviations({"model": "cyclegan"})


def test_training_loop_rules_are_derived_from_the_config():
    unet = deviations(_config("cpu", model="unet"))
    assert unet.loc["model.loss"].tolist() == ["bce_dice", "dice"]
    assert unet.loc["model.learning_rate"].tolist() == ["0.003", "0.001"]
    centres = unet.loc["rule: patch centres", "this run"]
    assert "65% centred on annotated objects" in centres
    assert "rule: checkpoint" not in unet.index  # the thesis's validation loss
    v2 = deviations(_config("cpu", model="vox2vox"))
    assert "val_dice_loss" in v2.loc["rule: checkpoint", "this run"]
    unsup = deviations(_config("cpu", unsup=True, threshold_rule="fixed"))
    assert "bright blobs" in unsup.loc["rule: patch centres", "this run"]
    assert "by eye" in unsup.loc["rule: checkpoint", "thesis"]
    assert "rule: mask side" not in unsup.index
    sup = deviations(_config("paper"))
    assert "reading of §5.3.3" in sup.loc["rule: mask side", "this run"]
    assert "rule: patch centres" not in sup.index  # the paper profile samples a grid


def test_summary_puts_runs_side_by_side(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(_config("cpu", model="vox2vox")))
    saved = types.SimpleNamespace(name="vox2vox-2class", extra={"run": str(run_dir)})
    table = summary({"U-Net": _config("cpu", model="unet"), "Vox2Vox": saved})
    assert list(table.columns) == ["U-Net", "Vox2Vox"]
    assert table.loc["model.loss", "U-Net"] == "bce_dice (thesis: dice)"
    assert table.loc["model.loss", "Vox2Vox"] == ""  # Vox2Vox has no loss field
    assert table.loc["model.learning_rate", "Vox2Vox"] == "0.001 (thesis: 2e-05)"
    baseline = types.SimpleNamespace(name="baseline-2class", extra={})
    with pytest.raises(InputError, match="no run config"):
        summary({"Baseline": baseline})
