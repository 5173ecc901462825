"""Tests of the saved results (fluoseg.report.store), the experiments
(fluoseg.experiments), their scoring (fluoseg.evaluation.evaluate) and the tables and
notes the pages show (fluoseg.report.tables, fluoseg.report.notes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fluoseg.config import get_profile
from fluoseg.errors import InputError
from fluoseg.evaluation.evaluate import EVALUATION_VERSION
from fluoseg.experiments import experiment, experiments
from fluoseg.report.store import (
    Result,
    get_or_compute,
    load_result,
    load_results,
    results_dir,
    save_result,
)
from fluoseg.report.tables import mean_sd, timing_table, with_thesis
from fluoseg.thesis import thesis_row, thesis_table


@pytest.fixture(autouse=True)
def _runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLUOSEG_RUNS", str(tmp_path))
    return tmp_path


def _metrics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dice": [0.8125, 0.5],
            "precision": [np.float32(0.75), 0.25],
            "recall": [1.0, np.nan],
            "tp": [np.int64(12), 3],
        },
        index=pd.Index(["nuclei", "golgi"], name="class"),
    )


def test_round_trip_keeps_values_index_and_types(_runs: Path) -> None:
    path = save_result(
        "unet-2class",
        _metrics(),
        {"total": np.float64(12.5), "epochs": np.array([6.0, 6.5])},
        {"cpu": "X", "cores": 2},
        "smoke",
        extra={"seed": np.int64(1), "run": Path("/a/b")},
    )
    assert path == _runs / "smoke" / "results" / "unet-2class.json"
    assert path == results_dir("smoke") / "unet-2class.json"
    r = load_result("unet-2class", "smoke")
    assert r is not None
    assert r.profile == "smoke"
    assert list(r.metrics.index) == ["nuclei", "golgi"]
    assert r.metrics.index.name == "class"
    assert r.metrics.loc["nuclei", "dice"] == 0.8125
    assert r.metrics.loc["nuclei", "precision"] == pytest.approx(0.75)
    assert pd.isna(r.metrics.loc["golgi", "recall"])
    assert r.metrics["tp"].tolist() == [12, 3]
    assert r.timings == {"total": 12.5, "epochs": [6.0, 6.5]}
    assert r.extra == {"seed": 1, "run": "/a/b"}
    # Strict JSON (no NaN literal) on disk.
    json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))


def test_multiindex_round_trip() -> None:
    idx = pd.MultiIndex.from_tuples(
        [("I1", "nuclei"), ("I1", "golgi"), ("mean", "nuclei")], names=["crop", "class"]
    )
    df = pd.DataFrame({"dice": [0.1, 0.2, 0.3]}, index=idx)
    save_result("m", df, {}, {}, "smoke")
    back = load_result("m", "smoke").metrics  # type: ignore[union-attr]
    assert back.index.names == ["crop", "class"]
    assert back.loc[("I1", "golgi"), "dice"] == 0.2


def test_unnamed_index_round_trip() -> None:
    df = pd.DataFrame({"dice": [0.5]}, index=["pair"])
    save_result("u", df, None, None, "smoke")
    back = load_result("u", "smoke").metrics  # type: ignore[union-attr]
    assert back.index.name is None and list(back.index) == ["pair"]


def test_load_results_lists_every_saved_result_per_profile() -> None:
    assert load_results("smoke") == {}
    save_result("b", _metrics(), {}, {}, "smoke")
    save_result("a", _metrics(), {}, {}, "smoke")
    save_result("c", _metrics(), {}, {}, "cpu")
    assert list(load_results("smoke")) == ["a", "b"]
    assert list(load_results("cpu")) == ["c"]
    assert load_result("c", "smoke") is None


def test_save_replaces_and_leaves_no_temporary_files(_runs: Path) -> None:
    save_result("x", _metrics(), {"total": 1}, {}, "smoke")
    save_result("x", _metrics(), {"total": 2}, {}, "smoke")
    assert load_result("x", "smoke").timings["total"] == 2  # type: ignore[union-attr]
    assert sorted(p.name for p in (_runs / "smoke" / "results").iterdir()) == ["x.json"]


def test_get_or_compute_computes_once() -> None:
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"metrics_df": _metrics(), "timings": {"total": 3}, "hardware": {}}

    first = get_or_compute("g", compute, "smoke")
    second = get_or_compute("g", compute, "smoke")
    assert len(calls) == 1
    assert first.timings == second.timings == {"total": 3}


def test_bad_inputs_raise_input_error(_runs: Path) -> None:
    with pytest.raises(InputError, match="bad result name"):
        save_result("../escape", _metrics(), {}, {}, "smoke")
    with pytest.raises(InputError, match="DataFrame"):
        save_result("ok", {"dice": 1}, {}, {}, "smoke")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown profile"):
        save_result("ok", _metrics(), {}, {}, "tpu")
    folder = _runs / "smoke" / "results"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="not a fluoseg result file"):
        load_results("smoke")


# ------------------------------------------------------------ experiments and tables


def test_experiments_match_the_thesis_tables() -> None:
    exps = experiments()
    assert len(exps) == 12
    tables = {e.thesis_table for e in exps.values() if e.thesis_table}
    assert tables == {"5.1", "5.2", "5.3", "5.4", "5.5", "5.6"}
    for e in exps.values():
        if e.thesis_row:
            assert e.thesis_row in thesis_table(e.thesis_table).index
            assert thesis_table(e.thesis_table).shape[1] == 3 * e.n_classes
        assert e.unsupervised <= (e.model == "cyclegan")
    assert [e.seed for e in exps.values() if e.label.startswith("U-Net + Pre")] == [
        0,
        1,
        2,
    ]
    unsup = [e for e in exps.values() if e.model == "cyclegan" and e.n_classes == 2]
    assert [e.seed for e in unsup if e.unsupervised] == [0, 1, 2]
    assert experiment("unet-2class-raw").train_kwargs() == {
        "model": "unet",
        "n_classes": 2,
        "raw": True,
        "unsupervised": False,
        "seed": 0,
    }
    with pytest.raises(InputError, match="unknown experiment"):
        experiment("resnet")
    thesis_recipe = dataclasses.replace(
        experiment("cyclegan-2class-unsup"), overrides=(("cycle_mask", "soft"),)
    )
    assert thesis_recipe.train_kwargs()["config_overrides"] == {"cycle_mask": "soft"}


def _result(name: str, dice: list[float], **timings) -> Result:
    classes = ["nuclei", "golgi", "pair"][: len(dice)]
    m = pd.DataFrame(
        {"dice": dice, "precision": dice, "recall": dice},
        index=pd.Index(classes, name="class"),
    )
    return Result(name, m, timings, {"cpu_model": "CPUX"}, "smoke")


def test_with_thesis_labels_rows_and_adds_the_thesis_rows() -> None:
    t = with_thesis(
        [_result("unet-2class-raw", [0.1, 0.2]), _result("unet-2class", [0.8, 0.7])]
    )
    assert list(t.index) == [
        "This build (synthetic data, smoke, CPUX): U-Net (raw)",
        "This build (synthetic data, smoke, CPUX): U-Net + Pre",
        "Thesis (real data, GTX 1070): U-Net (raw)",
        "Thesis (real data, GTX 1070): U-Net + Pre",
    ]
    assert t.iloc[1]["DC Golgi"] == 0.7
    assert t.iloc[3]["DC Golgi"] == thesis_row("U-Net + Pre")["DC Golgi"]


def test_mean_sd_over_seeds() -> None:
    rs = [_result(f"s{k}", [d, 0.5]) for k, d in enumerate([0.6, 0.8, 0.7])]
    t = mean_sd(rs)
    assert t.loc["nuclei", "mean"] == pytest.approx(0.7)
    assert t.loc["nuclei", "sd"] == pytest.approx(0.1)
    assert t.loc["golgi", "sd"] == 0
    assert t.loc["golgi", "n"] == 3
    with pytest.raises(InputError, match="no 'f1' column"):
        mean_sd(rs, "f1")


def test_timing_table_uses_measured_times_and_thesis_accounting() -> None:
    unet = _result(
        "u", [0.8, 0.7], train_seconds=600.0, test_seconds={"I1": 10, "I2": 20}
    )
    cyc = _result(
        "c", [0.8, 0.7], train_seconds=3600.0, test_seconds={"I1": 5, "I2": 5}
    )
    t = timing_table({"U-Net": unet, "CycleGAN": cyc})
    assert t.loc["U-Net", "training_minutes"] == 10
    assert t.loc["U-Net", "test_seconds_per_crop"] == 15
    # 6 x 28 h of masks + 10 min training; 2 x 28 h of masks + 30 s testing
    assert t.loc["U-Net", "total_hours"] == pytest.approx(168 + 1 / 6 + 56 + 30 / 3600)
    assert t.loc["CycleGAN", "total_hours"] == pytest.approx(
        40 / 60 + 1 + 56 + 10 / 3600
    )
    assert t.loc["CycleGAN", "thesis_total_hours"] == 85.3
    with pytest.raises(InputError, match="Table 5.7"):
        timing_table({"ResNet": unet})


def test_profile_note_warns_at_smoke_only() -> None:
    from fluoseg.report.notes import profile_note

    assert "meaningless" not in profile_note("cpu")
    assert "say nothing" in profile_note("smoke")


def test_profile_note_states_the_validation_hold_out_and_window_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fluoseg.data.validation
    from fluoseg.report.notes import profile_note, validation_note

    for name in ("smoke", "cpu", "paper"):
        note = profile_note(name)
        # 10 % of the 433 grid patches of the standard crops (the thesis's count)
        assert "10 % of the 433 non-overlapping 64³ patches" in note
        assert "(43 patches, seeded)" in note
        assert 'blending="thesis"' in note and "`gaussian`" in note
    assert "holds out the last training crop" in validation_note("cpu")
    assert "last training crop" not in validation_note("paper")
    # generated from the settings, not typed: another fraction changes the sentence
    monkeypatch.setattr(fluoseg.data.validation, "GRID_VALIDATION_FRACTION", 0.2)
    assert "20 % of the 433" in validation_note("paper")
    assert "(87 patches, seeded)" in validation_note("paper")


def test_evaluate_run_scores_each_crop_once_against_both_masks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import dataclass as dc

    from fluoseg.data import loaders
    from fluoseg.evaluation.evaluate import evaluate_run, evaluation_from_result

    shape = (4, 6, 6)
    perfect = np.zeros((*shape, 2), np.uint8)
    perfect[1:3, 1:4, 1:4, 0] = 1  # 18 voxels of nucleus
    perfect[2, 4, 4, 1] = 1
    coarse = perfect.copy()
    coarse[1:3, 1:4, 4, 0] = 1  # the annotator drew 6 extra nucleus voxels

    @dc
    class Crop:
        name: str
        image: np.ndarray
        mask: np.ndarray

    image_loads = []

    def load_split(split, *, profile, data_dir, n_classes, truth):
        assert split == "test" and n_classes == 2
        image_loads.append(truth)
        mask = coarse if truth == "annotator" else perfect
        img = np.zeros((*shape, 2), np.float32)
        return [Crop("I1", img, mask), Crop("I2", img + 1, mask)]

    def load_masks(split, *, profile, data_dir, n_classes, truth):
        assert split == "test" and n_classes == 2
        return dict.fromkeys(("I1", "I2"), coarse if truth == "annotator" else perfect)

    monkeypatch.setattr(loaders, "load_split", load_split)
    monkeypatch.setattr(loaders, "load_masks", load_masks)

    calls = []

    class FakeRun:
        n_classes = 2
        config = {"data_dir": "/nowhere"}
        timings = {"total_seconds": 7.5, "epoch_seconds": [3.5, 4.0]}
        history = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5]})
        hardware = {"cpu_model": "CPUX"}
        path = Path("/runs/x")

        def segment(self, image, blending="gaussian"):
            calls.append(blending)
            # thesis windows: I1 the perfect mask, I2 nothing at all;
            # Gaussian windows: the perfect mask on both
            if blending == "gaussian" or image.max() == 0:
                return perfect.copy()
            return np.zeros_like(perfect)

    trained_with = experiment("unet-2class").train_kwargs()
    ev = evaluate_run(FakeRun(), "unet-2class", "smoke", trained_with=trained_with)
    # every crop once with the thesis's window rule, then once with Gaussian windows
    assert calls == ["thesis", "thesis", "gaussian", "gaussian"]
    assert image_loads == ["annotator"]  # the images are read once
    assert set(ev.seconds) == {"I1", "I2"} and set(ev.predictions) == {"I1", "I2"}
    # I1 vs annotator: tp 18, fp 0, fn 6 -> 36/42; I2: 0 -> mean 3/7
    assert ev.average.loc["nuclei", "dice"] == pytest.approx((36 / 42 + 0) / 2)
    assert ev.average_truth.loc["nuclei", "dice"] == pytest.approx(0.5)
    assert list(ev.per_crop["crop"].unique()) == ["I1", "I2"]
    saved = load_result("unet-2class", "smoke")
    assert saved is not None
    assert saved.metrics.loc["nuclei", "dice"] == pytest.approx(3 / 7)
    assert saved.metrics_vs_truth().loc["nuclei", "dice"] == pytest.approx(0.5)
    assert saved.per_crop()["crop"].tolist() == ["I1", "I1", "I2", "I2"]
    assert saved.timings["train_seconds"] == 7.5
    assert saved.timings["epochs"] == 2
    assert set(saved.timings["test_seconds"]) == {"I1", "I2"}
    assert saved.extra["train"]["model"] == "unet"
    # Gaussian blending, this book's addition, is scored beside the thesis's rule
    assert saved.metrics.loc["nuclei", "dice_gaussian"] == pytest.approx(36 / 42)
    assert saved.metrics_vs_truth().loc["nuclei", "dice_gaussian"] == 1.0
    assert saved.per_crop()["dice_gaussian"].tolist()[::2] == [
        pytest.approx(36 / 42)
    ] * 2
    assert set(saved.timings["test_seconds_gaussian"]) == {"I1", "I2"}
    assert saved.extra["evaluation"] == {
        "version": EVALUATION_VERSION,
        "blending": "thesis",
        "dice_also": ["gaussian"],
    }
    table = with_thesis([saved], "smoke")
    assert table.iloc[0]["DC Nuclei"] == pytest.approx(3 / 7)
    assert table.iloc[0]["Gaussian DC Nuclei"] == pytest.approx(36 / 42)
    assert table["Gaussian DC Nuclei"].iloc[1:].isna().all()  # the thesis's rows
    # scored before: read back, the crops segmented once more with the thesis's rule
    calls.clear()
    again = evaluation_from_result(FakeRun(), saved)
    assert calls == ["thesis", "thesis"]
    assert set(again.predictions) == {"I1", "I2"}
    for crop in ("I1", "I2"):
        np.testing.assert_array_equal(again.predictions[crop], ev.predictions[crop])
    pd.testing.assert_frame_equal(again.average, saved.metrics)
    assert again.average.loc["nuclei", "dice"] == pytest.approx(3 / 7)
    assert again.per_crop["crop"].tolist() == ["I1", "I1", "I2", "I2"]
    assert again.average_truth.loc["nuclei", "dice"] == pytest.approx(0.5)
    assert again.seconds == saved.timings["test_seconds"] and again.result is saved
    other = FakeRun()
    other.path = Path("/runs/y")
    with pytest.raises(InputError, match="not computed from"):
        evaluation_from_result(other, saved)
    calls.clear()
    only = evaluate_run(FakeRun(), "unet-2class", "smoke", blendings=("gaussian",))
    assert calls == ["gaussian", "gaussian"]
    assert "dice_gaussian" not in only.average.columns
    with pytest.raises(InputError, match="blendings"):
        evaluate_run(FakeRun(), "unet-2class", "smoke", blendings=("median",))


def test_seed_results_are_the_experiment_and_its_seed_variants_in_seed_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fluoseg.experiments as R

    asked = []

    def fake(name: str, profile: str, **kw: object) -> str:
        asked.append((name, kw))
        return name

    monkeypatch.setattr(R, "ensure_result", fake)
    got = R.seed_results("cyclegan-2class-unsup", "smoke", progress=False)
    assert got == ["cyclegan-2class-unsup", "cyclegan-2class-unsup-seed1",
                   "cyclegan-2class-unsup-seed2"]
    assert asked[0] == ("cyclegan-2class-unsup", {"progress": False})
    # "cyclegan-2class" is a prefix of the unsupervised runs' names, not their base
    assert R.seed_results("cyclegan-2class", "smoke") == ["cyclegan-2class"]
    assert R.seed_results("unet-2class", "smoke")[1:] == ["unet-2class-seed1",
                                                          "unet-2class-seed2"]
    with pytest.raises(InputError, match="unknown experiment"):
        R.seed_results("unet-9class", "smoke")


def test_ensure_result_reuses_a_current_result_and_recomputes_a_stale_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fluoseg.experiments as R

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "timings.json").write_text(json.dumps({"total_seconds": 5.0}))
    smoke = get_profile("smoke")
    planned = R.planned_config(R.experiment("unet-2class"), smoke)
    (run_dir / "config.json").write_text(json.dumps({"seed": 0, **planned}))
    extra = {
        "run": str(run_dir),
        "run_total_seconds": 5.0,
        "evaluation": {"version": EVALUATION_VERSION},
    }
    save_result(
        "unet-2class", _metrics(), {"train_seconds": 5.0}, {}, "smoke", extra=extra
    )
    computed = []

    class Ev:
        result = "fresh"

    def fake_run(name, profile, progress=True):
        computed.append(name)
        return Ev()

    monkeypatch.setattr(R, "run_experiment", fake_run)
    assert R.ensure_result("unet-2class", "smoke").timings == {"train_seconds": 5.0}
    assert computed == []
    (run_dir / "timings.json").write_text(
        json.dumps({"total_seconds": 9.0})
    )  # retrained
    assert R.ensure_result("unet-2class", "smoke") == "fresh"
    assert R.ensure_result("vox2vox-2class", "smoke") == "fresh"  # never saved
    assert computed == ["unet-2class", "vox2vox-2class"]
    # a result of the same run scored by an older evaluate_run (no version: one
    # Gaussian-blended segmentation) still loads, and is re-evaluated
    old = {"run": str(run_dir), "run_total_seconds": 9.0}
    save_result(
        "unet-3class", _metrics(), {"train_seconds": 9.0}, {}, "smoke", extra=old
    )
    assert load_result("unet-3class", "smoke").metrics.loc["nuclei", "dice"] == 0.8125
    assert R.ensure_result("unet-3class", "smoke") == "fresh"
    save_result(
        "unet-3class",
        _metrics(),
        {"train_seconds": 9.0},
        {},
        "smoke",
        extra={**old, "evaluation": {"version": EVALUATION_VERSION}},
    )
    assert R.ensure_result("unet-3class", "smoke") == "fresh"  # a 2-class run's config
    (run_dir / "config.json").write_text(
        json.dumps(R.planned_config(R.experiment("unet-3class"), smoke))
    )
    assert R.ensure_result("unet-3class", "smoke").timings == {"train_seconds": 9.0}
    assert computed == ["unet-2class", "vox2vox-2class", "unet-3class", "unet-3class"]
    # the plan changed since (more epochs): the old run is still on disk, its result
    # is stale
    budget = {**smoke.section("train")["*"], "epochs": 9}
    longer = dataclasses.replace(smoke, plan={**smoke.plan, "train": {"*": budget}})
    saved, three = load_result("unet-3class", "smoke"), R.experiment("unet-3class")
    assert R.trained_as_planned(saved, three, smoke)
    assert not R.trained_as_planned(saved, three, longer)


def test_thesis_recipe_differs_from_the_cpu_recipe_only_where_it_says() -> None:
    from fluoseg.experiments import THESIS_RECIPE
    from fluoseg.models import model_config
    from fluoseg.training.trainer import with_overrides

    cpu = model_config("cyclegan", "cpu", 2)
    kwargs = THESIS_RECIPE.train_kwargs()
    thesis = with_overrides(cpu, kwargs["config_overrides"])
    changed = {
        f.name for f in dataclasses.fields(cpu)
        if getattr(cpu, f.name) != getattr(thesis, f.name)
    }
    assert changed == {"cycle_mask", "ema_decay", "threshold_rule", "stretch_clip"}
    paper = model_config("cyclegan", "paper", 2)
    for key in changed:  # each override is the thesis's own setting
        assert getattr(thesis, key) == getattr(paper, key)
    assert THESIS_RECIPE.name not in experiments()  # not a row of the book's tables


def test_recorded_benchmark_picks_the_newest_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fluoseg.report.tables import recorded_benchmark

    (tmp_path / "_toc.yml").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    monkeypatch.chdir(tmp_path)
    assert recorded_benchmark("dice-compute") is None
    (bench / "dice-compute-2026-12-01.json").write_text('{"v": 1}')
    (bench / "dice-compute-2026-12-06.json").write_text('{"v": 2}')
    newest = ({"v": 2}, "dice-compute-2026-12-06.json")
    assert recorded_benchmark("dice-compute") == newest


def test_trained_run_loads_or_trains_without_scoring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fluoseg.experiments as R

    calls = []

    def fake_train(**kwargs):
        calls.append(kwargs)
        return "the run"

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored on the test crops")

    monkeypatch.setattr(R, "train", fake_train)
    monkeypatch.setattr(R, "evaluate_run", no_scoring)
    assert R.trained_run(R.THESIS_RECIPE, "smoke", progress=False) == "the run"
    (kwargs,) = calls
    assert kwargs["config_overrides"] == dict(R.THESIS_RECIPE.overrides)
    assert kwargs["budget"] == "cyclegan" and kwargs["profile"].name == "smoke"
    assert kwargs["progress"] is False
    assert R.trained_run("unet-2class-seed1", "smoke") == "the run"
    assert calls[1]["seed"] == 1
    with pytest.raises(InputError, match="unknown experiment"):
        R.trained_run("unet-4class", "smoke")


def test_run_experiment_scores_a_run_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import fluoseg.experiments as R

    run = types.SimpleNamespace(path=Path("/runs/unet-2class-seed0-abc"))
    saved = {"result": None}
    done = []
    monkeypatch.setattr(R, "train", lambda **kwargs: run)
    monkeypatch.setattr(R, "load_result", lambda name, prof: saved["result"])
    monkeypatch.setattr(R, "is_current", lambda result: True)
    monkeypatch.setattr(
        R, "evaluate_run", lambda run, name, prof, **kw: done.append("scored") or "new"
    )
    monkeypatch.setattr(
        R, "evaluation_from_result", lambda run, res: done.append("read") or "old"
    )
    assert R.run_experiment("unet-2class", "smoke", isolate=False) == "new"
    saved["result"] = types.SimpleNamespace(extra={"run": str(run.path)})
    assert R.run_experiment("unet-2class", "smoke", isolate=False) == "old"
    saved["result"] = types.SimpleNamespace(extra={"run": "/runs/an-older-run"})
    assert R.run_experiment("unet-2class", "smoke", isolate=False) == "new"
    assert done == ["scored", "read", "scored"]
