"""Deviations from the thesis, read from a run's config."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fluoseg.config import get_profile
from fluoseg.deviations import deviations, thesis_settings
from fluoseg.errors import InputError
from fluoseg.models import model_config
from fluoseg.train import _run_config, train_config


def _config(profile: str, **model_changes) -> dict:
    prof = get_profile(profile)
    mcfg = dataclasses.replace(model_config("cyclegan", prof, 2), **model_changes)
    tc = train_config("cyclegan", prof)
    cfg = _run_config("cyclegan", 2, prof, False, False, 0, ".", "annotator", tc, mcfg)
    return json.loads(json.dumps(cfg))  # as read back from config.json


def test_a_paper_run_has_no_deviation_and_changes_are_listed():
    assert deviations(_config("paper")).empty
    frame = deviations(_config("paper", ema_decay=0.99, lambda_cycle=5.0))
    assert list(frame.index) == ["model.ema_decay", "model.lambda_cycle"]
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
