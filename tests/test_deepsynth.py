"""Tests of fluoseg.deepsynth: G_I's renders as a U-Net training set (smoke size)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fluoseg.errors import InputError


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory: pytest.TempPathFactory, smoke_unet_run):
    """A finished smoke unsupervised CycleGAN (1 epoch) on the session's smoke data."""
    from fluoseg.training.trainer import train

    return train("cyclegan", 2, profile="smoke", unsupervised=True, epochs=1,
                 data_dir=smoke_unet_run.config["data_dir"],
                 out=tmp_path_factory.mktemp("ds_cg") / "run",
                 progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, cyclegan_run) -> Path:
    from fluoseg.deepsynth import render_dataset

    out = tmp_path_factory.mktemp("ds_render") / "deepsynth"
    return render_dataset(cyclegan_run, cyclegan_run.config["data_dir"], out,
                          progress=False)  # fmt: skip


def test_render_writes_a_dataset_the_loaders_read(rendered: Path, cyclegan_run):
    import tifffile

    from fluoseg import io
    from fluoseg.data.dataset import read_manifest
    from fluoseg.data.loaders import load_split

    data = Path(cyclegan_run.config["data_dir"])
    source = read_manifest(data)
    manifest = read_manifest(rendered)
    assert manifest["generator"] == "fluoseg.deepsynth"
    assert manifest["cyclegan"]["run"] == str(cyclegan_run.path)
    assert manifest["render_seconds"] > 0
    synth = {e["name"]: e for e in source["synthetic"]}
    crops = load_split("train", data_dir=rendered, n_classes=3)
    assert [c.name for c in crops] == sorted(synth)  # one rendered crop per mask
    for c in crops:
        mask_file = data / synth[c.name]["files"]["mask"]["path"]
        want = io.read_mask(mask_file, n_classes=3)
        assert c.image.shape == want.shape[:3] + (2,) and c.image.dtype == np.float32
        assert 0.0 <= c.image.min() and c.image.max() <= 1.0 and c.image.std() > 0
        np.testing.assert_array_equal(c.mask, want)  # the synthetic mask is the truth
        raw = tifffile.imread(c.image_path)  # RGB uint8 as the real images, B unused
        assert raw.dtype == np.uint8 and raw.shape == want.shape[:3] + (3,)
        assert raw[..., 2].max() == 0
        for kind in ("truth", "annotator"):
            path = rendered / "train" / f"{c.name}_{kind}.tif"
            assert path.read_bytes() == mask_file.read_bytes()  # uint8 0/255, B = pair
    # the test crops are the source's, by reference: nothing is copied or rendered
    assert not (rendered / "test").exists()
    test = load_split("test", data_dir=rendered)
    real = load_split("test", data_dir=data)
    assert [c.name for c in test] == [c.name for c in real] == ["I1", "I2"]
    for a, b in zip(test, real, strict=True):
        assert a.image_path == (data / "test" / f"{b.name}_image.tif").absolute()
        np.testing.assert_array_equal(a.image, b.image)
    assert not [p for p in rendered.parent.iterdir() if p.name.startswith(".")]


def test_render_errors_are_clear(
    tmp_path: Path, rendered: Path, cyclegan_run, smoke_unet_run
) -> None:
    from fluoseg.deepsynth import render_dataset

    data = Path(cyclegan_run.config["data_dir"])
    with pytest.raises(InputError, match="expected an unsupervised CycleGAN"):
        render_dataset(smoke_unet_run, data, tmp_path / "a", progress=False)
    before = (rendered / "manifest.json").read_bytes()
    with pytest.raises(InputError, match="already exists.*overwrite=True"):
        render_dataset(cyclegan_run, data, rendered, progress=False)
    assert (rendered / "manifest.json").read_bytes() == before  # untouched
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not a rendered dataset"):
        render_dataset(cyclegan_run, data, other, overwrite=True, progress=False)
    assert (other / "keep.txt").read_text() == "x"
    with pytest.raises(InputError, match="is the source dataset"):
        render_dataset(cyclegan_run, data, data, overwrite=True, progress=False)
    bare = tmp_path / "bare"
    shutil.copytree(data, bare)
    manifest = json.loads((bare / "manifest.json").read_text())
    (bare / "manifest.json").write_text(json.dumps(dict(manifest, synthetic=[])))
    with pytest.raises(InputError, match="no synthetic masks"):
        render_dataset(cyclegan_run, bare, tmp_path / "b", progress=False)
    (bare / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(bare / "synthetic_masks")
    with pytest.raises(InputError, match="no synthetic masks"):
        render_dataset(cyclegan_run, bare, tmp_path / "b", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_render_overwrites_only_when_asked(tmp_path: Path, cyclegan_run) -> None:
    from fluoseg.deepsynth import render_dataset

    data = cyclegan_run.config["data_dir"]
    out = render_dataset(cyclegan_run, data, tmp_path / "r", progress=False)
    (out / "stale.txt").write_text("old")
    again = render_dataset(cyclegan_run, data, out, overwrite=True, progress=False)
    assert again == out and not (out / "stale.txt").exists()
    assert (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temporary folder


@pytest.mark.slow
def test_run_deepsynth_trains_the_unet_on_renders_and_saves_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smoke_unet_run
) -> None:
    from fluoseg import deepsynth
    from fluoseg.report.store import load_result
    from fluoseg.report.tables import with_thesis
    from fluoseg.run import Run

    monkeypatch.setenv("FLUOSEG_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FLUOSEG_DATA", str(tmp_path / "data"))
    shutil.copytree(smoke_unet_run.config["data_dir"], tmp_path / "data" / "smoke")
    ev = deepsynth.run_deepsynth("smoke", 0, progress=False)
    r = ev.result
    assert r.name == "deepsynth-2class" == deepsynth.result_name(0)
    assert deepsynth.result_name(2) == "deepsynth-2class-seed2"
    assert list(r.metrics.index) == ["nuclei", "golgi"]
    assert {"dice", "precision", "recall", "dice_gaussian"} <= set(r.metrics.columns)
    assert r.extra["test_crops"] == ["I1", "I2"]  # the real test crops
    assert r.extra["validation_crop"] == "S4"  # a rendered crop: no annotation
    assert r.extra["validation"]["monitor"] == "val_loss"
    assert r.timings["render_seconds"] > 0 and r.timings["cyclegan_train_seconds"] > 0
    run = Run.load(r.extra["run"])
    assert run.config["model"] == "unet" and run.stretch_clip  # G_I's image domain
    assert run.config["data_dir"] == r.extra["rendered_data"]
    cg = load_result("cyclegan-2class-unsup", "smoke")
    assert cg is not None and r.extra["cyclegan_run"] == cg.extra["run"]
    rendered = Path(r.extra["rendered_data"])
    assert rendered.parent == tmp_path / "data"
    assert rendered.name == f"deepsynth-{Path(cg.extra['run']).name}"
    table = with_thesis([r], "smoke")
    assert table.index[0].endswith(deepsynth.LABEL)
    # saved and current: read back, nothing retrained, rendered or re-scored
    stamp = (rendered / "manifest.json").stat().st_mtime_ns

    def not_again(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(deepsynth, "run_deepsynth", not_again)
    again = deepsynth.ensure_deepsynth("smoke", 0, progress=False, isolate=False)
    assert again.metrics.equals(r.metrics)
    assert (rendered / "manifest.json").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_benchmark_script_end_to_end_at_smoke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smoke_unet_run
) -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_deepsynth.py"
    spec = importlib.util.spec_from_file_location("bench_deepsynth", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    runs, data, out = tmp_path / "runs", tmp_path / "data", tmp_path / "ds.json"
    shutil.copytree(smoke_unet_run.config["data_dir"], data / "smoke")
    monkeypatch.setenv("FLUOSEG_RUNS", str(runs))  # restored after the test
    monkeypatch.setenv("FLUOSEG_DATA", str(data))
    argv = ["--profile", "smoke", "--seed", "0", "--runs", str(runs), "--data",
            str(data), "--out", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    assert bench.main(argv) == 0  # everything cached: reused, not retrained
    first, second = json.loads(out.read_text())["rows"]
    assert not first["cyclegan"]["reused"] and second["cyclegan"]["reused"]
    assert not first["render"]["reused"] and second["render"]["reused"]
    assert second["unet"]["reused"] and second["unet"]["steps"] == 6
    assert second["test"] == first["test"]
    assert set(first["test"]["dice"]) == {"nuclei", "golgi"}
    assert first["validation"]["crop"] == "S4"
    assert first["render"]["seconds"] > 0 and first["cyclegan"]["train_seconds"] > 0


def test_recorded_table_is_mean_and_sd_over_seeds() -> None:
    from fluoseg.deepsynth import LABEL, recorded_table

    def scores(n: float, g: float) -> dict:
        return {"dice": {"golgi": g, "nuclei": n}}

    record = {"rows": [
        {"test": scores(0.7, 0.5), "cyclegan": {"test": scores(0.6, 0.3)},
         "validation": {"val_dice_coefficient": 0.9}},
        {"test": scores(0.8, 0.3), "cyclegan": {"test": None}},
    ]}  # fmt: skip
    table = recorded_table(record)
    assert list(table.columns) == ["nuclei mean", "nuclei sd", "golgi mean", "golgi sd",
                                   "seeds", "validation Dice (render)"]
    assert table.loc[LABEL, "validation Dice (render)"] == pytest.approx(0.9)
    assert table.loc[LABEL, "nuclei mean"] == pytest.approx(0.75)
    assert table.loc[LABEL, "golgi sd"] == pytest.approx(0.1414, abs=1e-4)
    assert table.loc["CycleGAN G_S, same seeds", "seeds"] == 1  # no score: left out
    with pytest.raises(InputError, match="without rows"):
        recorded_table({"rows": []})
