"""The CycleGAN benchmark readers of ``fluoseg.report.tables``: recorded JSON in,
tables out (the debugging page shows them)."""

from __future__ import annotations

import math

from fluoseg.report.tables import (
    ablation_table,
    dice_compute_curve,
    oracle_summary,
    recorded_caption,
)

HW = {"cpu_model": "Test CPU", "cpu_cores_usable": 2}


def test_recorded_caption_reads_either_layout() -> None:
    flat = {"date": "2026-12-06", "hardware": HW}
    nested = {"started": "2026-12-05T07:12:05+00:00", "environment": {"hardware": HW}}
    expected = "Recorded 2026-12-06 (a.json) on Test CPU, 2 cores"
    assert recorded_caption(flat, "a.json") == expected
    assert recorded_caption(nested, "b.json").startswith("Recorded 2026-12-05 (b.json)")
    assert "unrecorded CPU" in recorded_caption({}, "c.json")


def test_ablation_table_has_nan_where_a_rule_was_not_recorded() -> None:
    rows = [
        {"description": "a", "epochs": 30, "fixed_0.5": {"dice": [0.1, 0.2]},
         "mask_share": {"dice": [0.3, 0.4]}},
        {"description": "b", "epochs": 97, "mask_share": {"dice": [0.5, 0.6]}},
    ]  # fmt: skip
    t = ablation_table({"rows": rows})
    assert list(t.index) == ["a", "b"]
    assert t.loc["a", "mask_share golgi"] == 0.4 and t.loc["b", "epochs"] == 97
    assert math.isnan(t.loc["b", "fixed_0.5 nuclei"])


def test_oracle_summary_compares_the_kept_epoch_with_the_best() -> None:
    rows = [{"epoch": e, "rule": [n, g]} for e, n, g in
            ((1, 0.1, 0.0), (2, 0.6, 0.5), (3, 0.7, 0.3))]  # fmt: skip
    record = {"runs": [{"seed": 4, "kept_epoch": 3, "rows": rows}]}
    summary, curves = oracle_summary(record)
    s = summary.loc[4]
    assert (s["kept nuclei"], s["kept golgi"]) == (0.7, 0.3)
    assert (s["best golgi"], s["best golgi epoch"]) == (0.5, 2)
    assert s["best nuclei epoch"] == 3
    assert math.isclose(s["largest gap"], 0.2)
    assert list(curves[4].index) == [1, 2, 3] and curves[4].loc[2, "golgi"] == 0.5


def test_dice_compute_curve_drops_budgets_a_stopped_run_never_reached() -> None:
    snaps = [
        {"epoch": 30, "kept_epoch": 30, "minutes": 3.4, "dice": [0.7, 0.35]},
        {"epoch": 97, "kept_epoch": 92, "minutes": 10.9, "dice": [0.73, 0.56],
         "stopped_before_budget": True},
        {"epoch": 97, "kept_epoch": 92, "minutes": 10.9, "dice": [0.73, 0.56],
         "stopped_before_budget": True},
    ]  # fmt: skip
    curve = dice_compute_curve({"snapshots": snaps})
    assert list(curve.index) == [3.4, 10.9]
    assert curve.loc[10.9, "golgi"] == 0.56 and curve.loc[10.9, "kept_epoch"] == 92
    assert list(curve.columns) == ["nuclei", "golgi", "epoch", "kept_epoch"]
