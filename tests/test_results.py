"""Tests of fluoseg.results: save/load round trips of per-experiment results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fluoseg.errors import InputError
from fluoseg.results import (
    get_or_compute,
    load_result,
    load_results,
    results_dir,
    save_result,
)


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
        save_result("ok", _metrics(), {}, {}, "gpu")
    folder = _runs / "smoke" / "results"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="not a fluoseg result file"):
        load_results("smoke")
