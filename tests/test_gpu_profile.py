"""The gpu profile: its settings, when it is chosen, and one training step of each
model at gpu sizes on a smoke-sized patch (on this machine's CPU)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fluoseg import config
from fluoseg.config import PROFILE_NAMES, get_profile
from fluoseg.models import model_config
from fluoseg.models.registry import names
from fluoseg.report.notes import profile_note
from fluoseg.training.plan import train_config

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_profile_sits_between_cpu_and_paper() -> None:
    assert "gpu" in PROFILE_NAMES
    cpu, gpu, paper = (get_profile(n) for n in ("cpu", "gpu", "paper"))
    assert gpu.patch_shape == paper.patch_shape == (64, 64, 64)
    assert gpu.dataset == "standard"
    for name in names():
        c, g, p = (model_config(name, prof, 3) for prof in (cpu, gpu, paper))
        size = {"unet": "base_filters", "vox2vox": "base_filters"}.get(
            name, "gen_filters"
        )
        assert getattr(c, size) < getattr(g, size) <= getattr(p, size), name
        tc = train_config(name, gpu)
        assert tc.steps_per_epoch and tc.epochs >= 10, name
    assert model_config("unet", gpu).depth == 4
    cg = model_config("cyclegan", gpu)
    assert (cg.gen_filters, cg.n_down, cg.n_res_blocks) == (32, 2, 6)
    assert "gpu profile" in profile_note(gpu)


def test_gpu_is_chosen_when_unset_and_a_gpu_is_visible(monkeypatch) -> None:
    monkeypatch.delenv("FLUOSEG_PROFILE", raising=False)
    monkeypatch.setattr(config, "gpu_names", lambda: ["Tesla T4"])
    assert get_profile().name == "gpu"
    monkeypatch.setattr(config, "gpu_names", lambda: [])
    assert get_profile().name == "cpu"
    monkeypatch.setenv("FLUOSEG_PROFILE", "smoke")
    monkeypatch.setattr(config, "gpu_names", lambda: ["Tesla T4"])
    assert get_profile().name == "smoke"  # the variable wins


def test_start_prints_profile_and_device(monkeypatch, capsys) -> None:
    from fluoseg import notebook

    monkeypatch.delenv("FLUOSEG_PROFILE", raising=False)
    monkeypatch.delenv(notebook.PEAK_RSS_ENV, raising=False)
    monkeypatch.setattr(config, "gpu_names", lambda: ["Tesla T4"])
    assert notebook.start().name == "gpu"
    out = capsys.readouterr().out
    assert "profile gpu (a GPU is visible)" in out and "device: GPU Tesla T4" in out
    monkeypatch.setattr(config, "gpu_names", lambda: [])
    assert notebook.start().name == "cpu"
    assert "device: CPU" in capsys.readouterr().out


def test_no_gpu_driver_means_no_tensorflow_import(monkeypatch) -> None:
    monkeypatch.setattr(config.Path, "exists", lambda self: False)
    monkeypatch.setattr(config.shutil, "which", lambda name: None)
    assert config.gpu_names() == []


@pytest.mark.slow
@pytest.mark.parametrize("model", names())
def test_gpu_models_train_one_step_at_smoke_size(
    model: str, tmp_path: Path, monkeypatch
) -> None:
    """The gpu architectures (full width and depth) on 16^3 patches of the smoke data,
    one step of one epoch: the profile runs end to end on a CPU."""
    import fluoseg.training.trainer as T

    small = dataclasses.replace(
        get_profile("gpu"),
        dataset="smoke",
        patch_shape=(16, 16, 16),
        inference_patch_shape=(16, 32, 32),
    )
    real = T.train_config

    def one_step(name, profile=None, epochs=None, budget=None):
        tc = real(name, profile, epochs, budget)
        assert profile.name == "gpu" and tc.steps_per_epoch == 32
        return dataclasses.replace(tc, epochs=1, steps_per_epoch=1, validation_steps=1)

    monkeypatch.setattr(T, "train_config", one_step)
    run = T.train(
        model=model,
        n_classes=2,
        profile=small,
        data_dir=ROOT / "data" / "smoke",
        out=tmp_path / "run",
        progress=False,
    )
    assert run.finished and len(run.history) == 1
    assert run.profile.name == "gpu"
    cfg = run.config["model_config"]
    assert tuple(cfg["patch_shape"]) == (16, 16, 16)
    assert cfg == json.loads(model_config(model, small, 2).to_json())
