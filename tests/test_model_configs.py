"""Model configurations read from the profiles' ``models`` sections."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from fluoseg.config import get_profile
from fluoseg.errors import InputError
from fluoseg.models.registry import config_from_json, model_config, names

# sha256 of the 36 configurations' JSON (model x profile x 1-3 classes), computed with
# the per-profile dicts that lived in code before they moved to the profile files: a
# run's JSON beside its weights, and so its run digest, must not change.
ALL_CONFIGS_SHA256 = "18b6f4439625dd26ef23757995e27fea6a525d8d4cdf471367a5bebf418f7dde"


def test_every_configuration_saves_the_same_json_as_before() -> None:
    text = "".join(
        model_config(m, p, k).to_json()
        for m in ("unet", "vox2vox", "cyclegan")
        for p in ("smoke", "cpu", "gpu", "paper")
        for k in (1, 2, 3)
    )
    assert hashlib.sha256(text.encode()).hexdigest() == ALL_CONFIGS_SHA256


def test_pinned_values() -> None:
    cpu_unet = model_config("unet", "cpu", 2)
    assert (cpu_unet.base_filters, cpu_unet.depth, cpu_unet.stretch_clip) == (
        8,
        3,
        False,
    )
    assert cpu_unet.patch_shape == (32, 32, 32)
    paper_cg = model_config("cyclegan", "paper", 2)
    assert paper_cg.residual == "concat_grow" and paper_cg.patience is None
    assert model_config("vox2vox", "gpu", 3).beta == (1.0, 6.0, 1.0)
    assert model_config("cyclegan", "smoke", 1).class_weights == (1.0,)
    fw = model_config("cyclegan", "cpu", 2).foreground_weight
    assert fw == 10.0 and isinstance(fw, float)


@pytest.mark.parametrize("name", names())
def test_json_round_trip(name: str) -> None:
    cfg = model_config(name, "paper", 3)
    assert config_from_json(cfg.to_json()) == cfg


def test_a_profile_without_the_model_is_refused() -> None:
    prof = dataclasses.replace(get_profile("smoke"), plan={"models": {}})
    with pytest.raises(InputError, match="no settings for model 'unet'"):
        model_config("unet", prof, 2)
