"""Tests of the loaders' contract (fluoseg.data.loaders): they never generate."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fluoseg.data.dataset import DATASET_SHAPES, SESSION_GAIN, ensure_dataset
from fluoseg.data.loaders import (
    dataset_folder,
    iter_split,
    load_masks,
    load_split,
    load_synthetic_masks,
)
from fluoseg.errors import InputError


def test_a_missing_dataset_raises_naming_the_folder_and_the_command(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("FLUOSEG_DATA", str(tmp_path))
    folder = tmp_path / "smoke"
    for load in (
        lambda: load_split("train", profile="smoke"),
        lambda: iter_split("test", profile="smoke"),
        lambda: load_masks("test", profile="smoke"),
        lambda: load_synthetic_masks(profile="smoke"),
        lambda: dataset_folder("smoke"),
    ):
        with pytest.raises(InputError) as err:
            load()
        assert str(folder) in str(err.value)
        assert "fluoseg data --profile smoke" in str(err.value)
    assert not folder.exists()  # nothing generated
    assert ensure_dataset("smoke", progress=False) == folder  # explicit generation
    assert dataset_folder("smoke") == folder
    assert [c.name for c in load_split("test", profile="smoke")] == ["I1", "I2"]


def test_an_incomplete_dataset_is_not_read(monkeypatch, tmp_path):
    monkeypatch.setenv("FLUOSEG_DATA", str(tmp_path))
    folder = ensure_dataset("smoke", progress=False)
    (folder / "test" / "I2_image.tif").unlink()
    with pytest.raises(InputError, match="missing or incomplete"):
        load_split("test", profile="smoke")


def test_dataset_constants_are_the_thesis_values():
    assert SESSION_GAIN == {"train": (0.15, 0.35), "test": (0.55, 0.85)}
    standard = DATASET_SHAPES["standard"]
    assert standard["train"][0] == (61, 818, 627) and len(standard["train"]) == 6
    assert standard["synthetic"] == standard["train"]
    assert DATASET_SHAPES["smoke"]["synthetic"] == ((24, 64, 64),) * 4


def test_data_modules_import_in_any_order_without_a_circle():
    for first in ("real", "crops", "loaders", "dataset", "simulate"):
        code = f"import fluoseg.data.{first}; import fluoseg.data.loaders"
        subprocess.run([sys.executable, "-c", code], check=True)
