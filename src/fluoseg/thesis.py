"""The thesis's published numbers (Tables 5.1-5.7), in the thesis's own layout.

Source: A. H. da Rosa, *Deep Learning Methods for the Segmentation of Fluorescent
Microscopy Images*, MSc thesis (IST). Real mouse-retina data, two test crops, metrics
averaged over the crops; hardware: Intel i5-8400, 16 GB RAM, NVIDIA GTX 1070 8 GB.
The numbers live in the package resource ``fluoseg/resources/thesis_tables.json``;
this module only reshapes them. They are the thesis's, never this build's.

Layout of a thesis table: one row per model, columns ``DC <Class>`` for every class,
then ``Precision <Class>``, then ``Recall <Class>`` (e.g. ``"DC Nuclei"``,
``"Precision Golgi"``, ``"Recall Pair"``).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import pandas as pd

from fluoseg.errors import InputError

#: The profile that holds the thesis's settings (hyperparameters, 64³ patches).
THESIS_PROFILE = "paper"

THESIS_LABEL = "Thesis (real data, GTX 1070)"
"""Row label of the thesis's numbers in every side-by-side table."""

METRIC_LABELS: Mapping[str, str] = MappingProxyType(
    {"dice": "DC", "precision": "Precision", "recall": "Recall"}
)
"""Metric name in ``fluoseg.evaluation.metrics`` frames -> column prefix in the
thesis's tables."""

CLASS_LABELS: Mapping[str, str] = MappingProxyType(
    {"nuclei": "Nuclei", "golgi": "Golgi", "pair": "Pair"}
)
"""Class name in code -> class word in the thesis's column names."""

TABLES: Mapping[str, str] = MappingProxyType(
    {
        "5.1": "table_5_1_unet_2class",
        "5.2": "table_5_2_unet_3class",
        "5.3": "table_5_3_vox2vox_2class",
        "5.4": "table_5_4_vox2vox_3class",
        "5.5": "table_5_5_cyclegan_2class",
        "5.6": "table_5_6_cyclegan_3class_unsupervised",
    }
)
"""Thesis table number -> key in the resource file (Table 5.7, times, is separate)."""

THESIS_HARDWARE: Mapping[str, str] = MappingProxyType(
    {
        "cpu": "Intel(R) Core(TM) i5-8400 CPU @ 2.80GHz",
        "cores": "6",
        "ram": "16 GB",
        "gpu": "NVIDIA GeForce GTX 1070, 8 GB",
        "storage": "250 GB SSD + 1 TB HDD",
        "software": "Python 3.9, TensorFlow/Keras",
    }
)
"""The thesis's computer (its section 5.1)."""


@lru_cache(maxsize=1)
def _raw_json() -> str:
    return (
        resources.files("fluoseg")
        .joinpath("resources/thesis_tables.json")
        .read_text(encoding="utf-8")
    )


def raw_tables() -> dict[str, Any]:
    """A fresh copy of the whole resource file as a dictionary."""
    return json.loads(_raw_json())


def table_names() -> list[str]:
    """The thesis's result tables by number: ``["5.1", ..., "5.6"]``."""
    return list(TABLES)


def _resolve(name: str) -> str:
    key = str(name).strip()
    if key.lower().startswith("table"):
        key = key[5:].strip(" _")
    if key in TABLES:
        return TABLES[key]
    if key.replace("_", ".") in TABLES:
        return TABLES[key.replace("_", ".")]
    if name in TABLES.values():
        return name
    raise InputError(
        f"unknown thesis table {name!r}: expected one of "
        f"{', '.join(TABLES)} (or a resource key such as {TABLES['5.1']!r})"
    )


def columns_for(class_names: Sequence[str]) -> list[str]:
    """The thesis's column names for ``class_names``, in the thesis's order."""
    for c in class_names:
        if c not in CLASS_LABELS:
            raise InputError(
                f"unknown class {c!r}: expected some of {', '.join(CLASS_LABELS)}"
            )
    return [
        f"{METRIC_LABELS[m]} {CLASS_LABELS[c]}"
        for m in METRIC_LABELS
        for c in class_names
    ]


def _row(entry: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    classes = [c for c in CLASS_LABELS if c in entry["dice"]]
    return {
        f"{METRIC_LABELS[m]} {CLASS_LABELS[c]}": float(entry[m][c])
        for m in METRIC_LABELS
        for c in classes
    }


def thesis_table(name: str) -> pd.DataFrame:
    """One of the thesis's Tables 5.1-5.6, rows = models, columns as the thesis prints.

    Args:
        name: ``"5.1"`` ... ``"5.6"`` (also ``"Table 5.1"`` or the resource key).

    Raises:
        InputError: the table does not exist.
    """
    data = raw_tables()[_resolve(name)]
    rows = {model: _row(entry) for model, entry in data.items()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "model"
    return df


def thesis_row(model: str) -> pd.Series:
    """The thesis's row for ``model`` (e.g. ``"U-Net + Pre"``) from whichever table.

    Raises:
        InputError: no table has that row.
    """
    known = []
    for number in TABLES:
        table = thesis_table(number)
        if model in table.index:
            return table.loc[model]
        known.extend(table.index)
    raise InputError(
        f"unknown thesis model {model!r}: expected one of {', '.join(known)}"
    )


TEXT_QUOTES: tuple[tuple[str, str, str, float], ...] = (
    ("§5.3.1", "U-Net 3-class", "Recall Pair", 0.845),
    ("§5.3.1", "U-Net 3-class", "Precision Pair", 0.6823),
    ("§5.3.5", "CycleGAN (unsupervised)", "DC Nuclei", 0.7612),
    ("§5.3.5", "Vox2Vox", "DC Nuclei", 0.7464),
)
"""Numbers the thesis's prose quotes that differ from its own tables: (section, the
row the text is about, column, quoted value). §5.3.1 discusses Table 5.2's pair
class; §5.3.5 compares "the proposed unsupervised model" and, for Golgi, quotes the
unsupervised CycleGAN (0.6427) and the 2-class Vox2Vox (0.6883)."""


def text_quotes() -> pd.DataFrame:
    """The thesis's inconsistencies between text and tables (:data:`TEXT_QUOTES`):
    one row per quoted number with the table's value of the row the text is about
    and the table rows, if any, that hold the quoted number instead. The book's
    tables use the tables' values."""
    rows = []
    for section, model, column, quoted in TEXT_QUOTES:
        holders = [
            f"Table {number}, {name}"
            for number in TABLES
            for name, row in thesis_table(number).iterrows()
            if any(abs(float(v) - quoted) < 5e-5 for v in row.dropna())
        ]
        rows.append({
            "section": section,
            "about": model,
            "column": column,
            "text quotes": quoted,
            "table says": float(thesis_row(model)[column]),
            "quoted number is in": "; ".join(holders) or "no table",
        })
    return pd.DataFrame(rows)


def thesis_times() -> pd.DataFrame:
    """The thesis's Table 5.7 as numbers: one row per model.

    Columns: ``supervised`` (needs manual masks), ``training_minutes``,
    ``testing_seconds`` (the thesis's test time for the test set, hardware above),
    ``annotation_hours`` (28 h per crop for the 6 train crops if supervised, else the
    40 min spent making synthetic masks), ``total_hours`` (as printed by the thesis).
    """
    t = raw_tables()["table_5_7_time"]
    per_crop = float(t["annotation_hours_per_crop"])
    rows = {}
    for model in ("U-Net", "Vox2Vox", "CycleGAN"):
        e = t[model]
        supervised = model != "CycleGAN"
        minutes = (
            float(e["training_minutes"])
            if "training_minutes" in e
            else 60.0 * float(e["training_hours"])
        )
        annotation = (
            per_crop * t["train_crops"]
            if supervised
            else float(t["synthetic_mask_minutes"]) / 60.0
        )
        rows[model] = {
            "supervised": supervised,
            "training_minutes": minutes,
            "testing_seconds": float(e["testing_seconds"]),
            "annotation_hours": float(annotation),
            "total_hours": float(e["total_hours"]),
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "model"
    return df


def time_accounting(
    training_minutes: float,
    testing_seconds: float,
    *,
    supervised: bool,
    annotation_hours_per_crop: float | None = None,
    train_crops: int | None = None,
    test_crops: int | None = None,
    synthetic_mask_minutes: float | None = None,
) -> dict[str, float]:
    """Total hours of a model the thesis's way (its Table 5.7).

    Training time = manual masks of the train crops (supervised) or the synthetic
    masks (unsupervised) + training; testing time = manual masks of the test crops
    (needed to score any model) + prediction. Defaults are the thesis's: 28 h per crop,
    6 train and 2 test crops, 40 min of synthetic masks.

    Returns:
        ``training_hours``, ``testing_hours`` and ``total_hours``.
    """
    t = raw_tables()["table_5_7_time"]
    per_crop = (
        t["annotation_hours_per_crop"]
        if annotation_hours_per_crop is None
        else annotation_hours_per_crop
    )
    n_train = t["train_crops"] if train_crops is None else train_crops
    n_test = t["test_crops"] if test_crops is None else test_crops
    synth = (
        t["synthetic_mask_minutes"]
        if synthetic_mask_minutes is None
        else (synthetic_mask_minutes)
    )
    if training_minutes < 0 or testing_seconds < 0:
        raise InputError(
            "times must be >= 0: got training_minutes="
            f"{training_minutes}, testing_seconds={testing_seconds}"
        )
    prep = per_crop * n_train if supervised else synth / 60.0
    training = prep + training_minutes / 60.0
    testing = per_crop * n_test + testing_seconds / 3600.0
    return {
        "training_hours": float(training),
        "testing_hours": float(testing),
        "total_hours": float(training + testing),
    }


def class_index(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` indexed by class name (accepts a ``class`` column or a class index)."""
    for col in ("class", "class_name", "name"):
        if col in df.columns:
            return df.set_index(col)
    return df


def to_thesis_row(metrics: pd.DataFrame) -> dict[str, float]:
    """Per-class metrics (``fluoseg.evaluation.metrics.average``) in the thesis layout.

    ``metrics`` has one row per class (index or ``class`` column = class names in code
    order) and at least the columns ``dice``, ``precision``, ``recall``.
    """
    df = class_index(metrics)
    missing = [m for m in METRIC_LABELS if m not in df.columns]
    if missing:
        raise InputError(
            f"metrics frame lacks columns {missing}: expected one row per class with "
            "columns dice, precision, recall"
        )
    classes = [c for c in CLASS_LABELS if c in df.index]
    if not classes:
        raise InputError(
            f"metrics frame has rows {list(df.index)}: expected class names "
            f"{', '.join(CLASS_LABELS)}"
        )
    return {
        f"{METRIC_LABELS[m]} {CLASS_LABELS[c]}": float(df.loc[c, m])
        for m in METRIC_LABELS
        for c in classes
    }


def build_label(profile: Any = None, hardware: Mapping[str, Any] | None = None) -> str:
    """Row label for this build, e.g. ``"This build (synthetic data, cpu, <cpu>)"``."""
    name = getattr(profile, "name", profile) or "cpu"
    cpu = ""
    if hardware:
        cpu = str(hardware.get("cpu") or hardware.get("cpu_model") or "")
    if not cpu:
        cpu = platform.processor() or platform.machine() or "unknown CPU"
    return f"This build (synthetic data, {name}, {cpu})"


def side_by_side(
    ours: pd.DataFrame | Mapping[str, pd.DataFrame],
    thesis_row_name: str | Sequence[str],
    label_ours: str | None = None,
    *,
    profile: Any = None,
    hardware: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Our averaged metrics and the thesis's row(s), stacked in the thesis's layout.

    Args:
        ours: averaged per-class metrics (see :func:`to_thesis_row`), or a mapping
            ``{row label: metrics}`` for several of our models.
        thesis_row_name: the thesis's model name(s), e.g. ``"U-Net + Pre"``.
        label_ours: label of our row when ``ours`` is a single frame (default
            :func:`build_label`).
        profile, hardware: used for the default label.

    Returns:
        Rows: ours first, then the thesis's labelled ``"<THESIS_LABEL>: <model>"``;
        columns: the thesis's, for the classes both have (NaN where one lacks them).
    """
    if isinstance(ours, pd.DataFrame):
        label = label_ours or build_label(profile, hardware)
        ours = {label: ours}
    names = [thesis_row_name] if isinstance(thesis_row_name, str) else thesis_row_name
    rows: dict[str, dict[str, float]] = {
        label: to_thesis_row(df) for label, df in ours.items()
    }
    for name in names:
        rows[f"{THESIS_LABEL}: {name}"] = thesis_row(name).to_dict()
    table = pd.DataFrame.from_dict(rows, orient="index")
    classes = [
        c for c in CLASS_LABELS if any(col.endswith(CLASS_LABELS[c]) for col in table)
    ]
    return table[columns_for(classes)]
