"""Tests of ``fluoseg export`` and ``fluoseg.export``: bioimage.io model packages."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from fluoseg.cli import main
from fluoseg.errors import InputError

pytest.importorskip("bioimageio.spec")


def test_package_preprocess_matches_the_percentile_stretch(tiny_volume) -> None:
    from fluoseg.export import package_preprocess
    from fluoseg.transforms import normalize_percentile

    ours = normalize_percentile(tiny_volume)
    theirs = package_preprocess(tiny_volume[None])[0]
    assert theirs.shape == ours.shape and theirs.dtype == np.float32
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    # raw runs: only the clip
    raw = package_preprocess(tiny_volume[None] * 2 - 0.5, raw=True)[0]
    np.testing.assert_array_equal(raw, np.clip(tiny_volume * 2 - 0.5, 0, 1))


def test_size_step_follows_the_down_sampling() -> None:
    from fluoseg.export import size_step

    assert size_step({"model": "unet", "model_config": {"depth": 3}}) == 4
    assert size_step({"model": "vox2vox", "model_config": {"depth": 2}}) == 2
    assert size_step({"model": "cyclegan", "model_config": {"n_down": 2}}) == 4


def test_custom_layers_are_refused() -> None:
    import keras

    from fluoseg.export import check_exportable

    class Twice(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    inp = keras.Input((None, None, None, 2))
    net = keras.Model(inp, Twice(name="twice")(inp))
    with pytest.raises(InputError, match="twice"):
        check_exportable(net, "custom")


@pytest.mark.slow
def test_export_validates_and_reproduces_offline(smoke_unet_run, tmp_path) -> None:
    from fluoseg.export import test_package, validate_package

    run = smoke_unet_run
    out = tmp_path / "pkg"
    assert main(["export", str(run.path), "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {
        "rdf.yaml",
        "segmenter.keras",
        "test_input.npy",
        "test_output.npy",
        "cover.png",
        "README.md",
    }
    rdf = yaml.safe_load((out / "rdf.yaml").read_text())
    assert rdf["format_version"].startswith("0.5")
    assert [p["id"] for p in rdf["inputs"][0]["preprocessing"]] == [
        "scale_range",
        "clip",
    ]
    kw = rdf["inputs"][0]["preprocessing"][0]["kwargs"]
    assert (kw["min_percentile"], kw["max_percentile"]) == (5.0, 98.0)
    assert len(rdf["cite"]) == 2 and "thesis" in rdf["cite"][0]["text"]
    assert rdf["outputs"][0]["axes"][-1]["channel_names"] == ["nuclei", "golgi"]
    # the test output is the run's own network on the stretched test input
    x = np.load(out / "test_input.npy")
    y = np.load(out / "test_output.npy")
    assert x.shape == (1, 16, 16, 16, 2) and y.shape == (1, 16, 16, 16, 2)
    from fluoseg.transforms import normalize_percentile

    direct = run.segmenter.predict_on_batch(normalize_percentile(x))
    np.testing.assert_allclose(y, np.asarray(direct), atol=1e-4)
    # static validation (bioimageio.spec), then the weights rerun (bioimageio.core)
    summary = validate_package(out / "rdf.yaml")
    assert summary.status == "valid-format", summary.format()
    assert not [e for d in summary.details for e in d.errors]
    tested = test_package(out / "rdf.yaml")
    assert tested.status == "passed", tested.format()
    # plain Keras loads the weights without fluoseg's custom losses
    import keras

    net = keras.saving.load_model(out / "segmenter.keras")
    np.testing.assert_allclose(
        np.asarray(net.predict_on_batch(x * 0 + 0.5)).shape, (1, 16, 16, 16, 2)
    )


@pytest.mark.slow
def test_export_zip_and_overwrite(smoke_unet_run, tmp_path, capsys) -> None:
    from fluoseg.export import test_package

    out = tmp_path / "model.zip"
    assert main(["export", str(smoke_unet_run.path), "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        assert "rdf.yaml" in zf.namelist()
    before = os.environ.get("KERAS_BACKEND")
    assert test_package(out).status == "passed"
    assert os.environ.get("KERAS_BACKEND") == before  # kept for later subprocesses
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["export", str(smoke_unet_run.path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err
    assert out.read_bytes() == before
    argv = ["export", str(smoke_unet_run.path), "--out", str(out), "--overwrite"]
    assert main([*argv, "--name", "another name"]) == 0
    with zipfile.ZipFile(out) as zf:
        assert "another name" in zf.read("rdf.yaml").decode()
    # a folder package is replaced whole, no leftovers beside it
    folder = tmp_path / "pkg"
    assert main(["export", str(smoke_unet_run.path), "--out", str(folder)]) == 0
    (folder / "stale.txt").write_text("old")
    assert (
        main(["export", str(smoke_unet_run.path), "--out", str(folder), "--overwrite"])
        == 0
    )
    assert not (folder / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip", "pkg"]


def test_export_refuses_a_missing_or_unfinished_run(tmp_path: Path, capsys) -> None:
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err
    assert not (tmp_path / "p").exists()
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x" / "p")]) == 2
    assert "no such folder" in capsys.readouterr().err
