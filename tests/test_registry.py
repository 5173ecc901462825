"""fluoseg.models.registry: a model is added by registering one ModelSpec."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from fluoseg.errors import InputError
from fluoseg.models import (
    CycleGANConfig,
    UNetConfig,
    build_model,
    extra_callbacks,
    model_optimizers,
    monitor_for,
)
from fluoseg.models.registry import ModelSpec, names, register, spec, unregister
from fluoseg.training import data as training_data
from fluoseg.training import fit, trainer


@dataclass(frozen=True)
class ToyConfig:
    width: int = 3


class ToyModel:
    def __init__(self, cfg: ToyConfig) -> None:
        self.cfg = cfg
        self.a_optimizer = "first"
        self.b_optimizer = "second"


def toy_callbacks(model, config, probe=None, epochs=None) -> list:
    return [("toy-callback", config.width, epochs)]


@pytest.fixture
def toy() -> Iterator[ModelSpec]:
    model_spec = register(
        ModelSpec(
            "toy",
            "Toy",
            ToyConfig,
            build=ToyModel,
            monitor="val_toy_score",
            mode="max",
            callbacks=toy_callbacks,
            optimizers=("a_optimizer", "b_optimizer"),
            unpaired=True,
        )
    )
    try:
        yield model_spec
    finally:
        unregister("toy")


def test_the_three_models_are_registered() -> None:
    assert names()[:3] == ("unet", "vox2vox", "cyclegan")
    assert spec("unet").config is UNetConfig
    assert spec("cyclegan").config is CycleGANConfig
    assert spec("cyclegan").unpaired and spec("cyclegan").unsupervised
    assert not spec("unet").unpaired and not spec("vox2vox").unsupervised
    assert monitor_for("cyclegan") == ("val_selection_loss", "min")
    with pytest.raises(InputError, match="unknown model 'nope': expected one of unet"):
        spec("nope")


def test_a_registered_toy_model_is_found_everywhere(toy: ModelSpec) -> None:
    assert "toy" in names() and spec("toy") is toy
    cfg = ToyConfig(width=5)
    model = build_model("toy", cfg)
    assert isinstance(model, ToyModel) and model.cfg is cfg
    with pytest.raises(InputError, match="needs a ToyConfig"):
        build_model("toy", UNetConfig())
    # the fit loop's lookups (fluoseg.training.fit uses these) find the spec
    assert fit.monitor_for("toy") == ("val_toy_score", "max")
    assert fit.extra_callbacks("toy", model, cfg, epochs=7) == [
        ("toy-callback", 5, 7)
    ]
    assert model_optimizers(model, "toy") == {
        "a_optimizer": "first",
        "b_optimizer": "second",
    }
    assert model_optimizers(model) == model_optimizers(model, "toy")
    # the data wiring asks the spec whether the mask side is unpaired
    cfg_dict = {"model": "toy", "unsupervised": False}
    own = [object()]
    assert training_data.unpaired_side(cfg_dict, None, own) is own
    assert extra_callbacks("unet", None, UNetConfig()) == []


def test_unsupervised_needs_a_model_that_has_the_mode(toy: ModelSpec) -> None:
    with pytest.raises(InputError, match="--unsupervised needs --model cyclegan"):
        trainer.train("toy", 2, unsupervised=True, profile="smoke")
    with pytest.raises(InputError, match="only the CycleGAN learns"):
        trainer.train("unet", 2, unsupervised=True, profile="smoke")
