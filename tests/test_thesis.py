"""Tests of fluoseg.thesis: the thesis's tables in its layout, and side-by-side rows."""

from __future__ import annotations

import pandas as pd
import pytest

from fluoseg.errors import InputError
from fluoseg.thesis import (
    THESIS_HARDWARE,
    THESIS_LABEL,
    columns_for,
    side_by_side,
    table_names,
    thesis_row,
    thesis_table,
    thesis_times,
    time_accounting,
    to_thesis_row,
)


def test_table_5_1_has_the_thesis_layout_and_values() -> None:
    t = thesis_table("5.1")
    assert list(t.index) == ["U-Net (raw)", "U-Net + Pre"]
    assert list(t.columns) == [
        "DC Nuclei",
        "DC Golgi",
        "Precision Nuclei",
        "Precision Golgi",
        "Recall Nuclei",
        "Recall Golgi",
    ]
    assert t.loc["U-Net + Pre", "DC Nuclei"] == pytest.approx(0.7775)
    assert t.loc["U-Net (raw)", "Recall Golgi"] == pytest.approx(0.9186)


def test_three_class_tables_have_nine_columns() -> None:
    for name in ("5.2", "5.4", "5.6"):
        t = thesis_table(name)
        assert t.shape[1] == 9
        assert list(t.columns[:3]) == ["DC Nuclei", "DC Golgi", "DC Pair"]
    assert thesis_table("Table 5.6").iloc[0]["Recall Pair"] == pytest.approx(0.7314)


def test_all_tables_resolve_and_values_are_fractions() -> None:
    assert table_names() == ["5.1", "5.2", "5.3", "5.4", "5.5", "5.6"]
    for name in table_names():
        t = thesis_table(name)
        assert ((t > 0) & (t < 1)).all().all()


def test_unknown_table_and_row_raise_input_error() -> None:
    with pytest.raises(InputError, match="expected one of"):
        thesis_table("5.9")
    with pytest.raises(InputError, match="unknown thesis model"):
        thesis_row("ResNet")


def test_thesis_row_searches_every_table() -> None:
    assert thesis_row("CycleGAN (unsupervised)")["DC Golgi"] == pytest.approx(0.6427)
    assert thesis_row("Vox2Vox 3-class")["Precision Pair"] == pytest.approx(0.6763)


def test_time_accounting_reproduces_table_5_7() -> None:
    times = thesis_times()
    assert times.loc["U-Net", "annotation_hours"] == 168
    assert times.loc["CycleGAN", "training_minutes"] == pytest.approx(28.6 * 60)
    for model, row in times.iterrows():
        acc = time_accounting(
            row["training_minutes"],
            row["testing_seconds"],
            supervised=row["supervised"],
        )
        # The thesis rounds its totals (225.1, 225.23, 85.3 hours).
        assert acc["total_hours"] == pytest.approx(row["total_hours"], abs=0.03), model
    cyc = time_accounting(0, 0, supervised=False)
    assert cyc["training_hours"] == pytest.approx(40 / 60)
    assert cyc["testing_hours"] == 56


def test_time_accounting_rejects_negative_times() -> None:
    with pytest.raises(InputError):
        time_accounting(-1, 0, supervised=True)


def test_hardware_is_the_thesis_machine_and_read_only() -> None:
    assert "GTX 1070" in THESIS_HARDWARE["gpu"]
    assert "i5-8400" in THESIS_HARDWARE["cpu"]
    with pytest.raises(TypeError):
        THESIS_HARDWARE["gpu"] = "x"  # type: ignore[index]


def _metrics(classes: list[str], dice: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dice": dice,
            "precision": [d + 0.01 for d in dice],
            "recall": [d - 0.01 for d in dice],
            "iou": [d / (2 - d) for d in dice],
        },
        index=pd.Index(classes, name="class"),
    )


def test_to_thesis_row_maps_metrics_and_classes() -> None:
    row = to_thesis_row(_metrics(["nuclei", "golgi"], [0.8, 0.5]))
    assert list(row) == columns_for(["nuclei", "golgi"])
    assert row["DC Golgi"] == 0.5
    assert row["Precision Nuclei"] == pytest.approx(0.81)
    as_column = _metrics(["nuclei", "golgi"], [0.8, 0.5]).reset_index()
    assert to_thesis_row(as_column) == row
    with pytest.raises(InputError, match="dice, precision, recall"):
        to_thesis_row(pd.DataFrame({"dice": [1.0]}, index=["nuclei"]))


def test_side_by_side_stacks_ours_and_the_thesis() -> None:
    ours = _metrics(["nuclei", "golgi"], [0.9, 0.6])
    t = side_by_side(ours, "U-Net + Pre", label_ours="ours")
    assert list(t.index) == ["ours", f"{THESIS_LABEL}: U-Net + Pre"]
    assert list(t.columns) == list(thesis_table("5.1").columns)
    assert t.loc["ours", "DC Nuclei"] == 0.9
    assert t.iloc[1]["DC Nuclei"] == pytest.approx(0.7775)


def test_side_by_side_default_label_names_profile_and_cpu() -> None:
    ours = _metrics(["nuclei", "golgi", "pair"], [0.9, 0.6, 0.7])
    t = side_by_side(
        ours, ["U-Net 3-class"], profile="smoke", hardware={"cpu": "TestCPU"}
    )
    assert t.index[0] == "This build (synthetic data, smoke, TestCPU)"
    assert t.shape == (2, 9)


def test_side_by_side_of_several_models_fills_missing_classes_with_nan() -> None:
    ours = {
        "a": _metrics(["nuclei", "golgi"], [0.9, 0.6]),
        "b": _metrics(["nuclei", "golgi", "pair"], [0.8, 0.5, 0.4]),
    }
    t = side_by_side(ours, ["U-Net + Pre", "U-Net 3-class"])
    assert t.shape == (4, 9)
    assert pd.isna(t.loc["a", "DC Pair"])
    assert t.loc["b", "DC Pair"] == 0.4


def test_text_quotes_name_the_rows_that_hold_the_quoted_numbers():
    from fluoseg.thesis import text_quotes

    q = text_quotes().set_index(["section", "column", "about"])
    cg = q.loc[("§5.3.5", "DC Nuclei", "CycleGAN (unsupervised)")]
    assert cg["table says"] == 0.7664
    assert cg["quoted number is in"] == "Table 5.5, CycleGAN (supervised)"
    v2 = q.loc[("§5.3.5", "DC Nuclei", "Vox2Vox")]
    assert (v2["table says"], v2["quoted number is in"]) == (
        0.7539, "Table 5.4, Vox2Vox 3-class")
    pair = q.loc[("§5.3.1", "Recall Pair", "U-Net 3-class")]
    assert pair["table says"] == 0.8403 and pair["quoted number is in"] == "no table"
