"""The thesis's tables recomputed from saved results (``fluoseg.report.store``).

:func:`with_thesis` sets our results beside the thesis's rows (Tables 5.1-5.6),
:func:`mean_sd` summarises the seed-variance runs, :func:`timing_table` recomputes
Table 5.7 and :func:`recorded_benchmark` reads a benchmark recorded in this checkout;
:func:`recorded_caption`, :func:`ablation_table`, :func:`oracle_summary` and
:func:`dice_compute_curve` turn the CycleGAN's recorded benchmarks into captions and
tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import pandas as pd

from fluoseg.config import Profile, repo_root
from fluoseg.errors import InputError
from fluoseg.experiments import experiments
from fluoseg.report.store import Result, profile_name
from fluoseg.thesis import (
    CLASS_LABELS,
    build_label,
    class_index,
    side_by_side,
    thesis_times,
    time_accounting,
)


def with_thesis(
    results: Sequence[Result], profile: Profile | str | None = None
) -> pd.DataFrame:
    """Our results and the thesis's rows for the same models, in the thesis's layout.

    Rows: ``"This build (...): <label>"`` for each result, then
    ``"Thesis (real data, GTX 1070): <model>"`` for each that the thesis reports.
    The thesis's columns hold the metrics of the thesis's window rule; when a result
    also has a Gaussian-blended Dice (``dice_gaussian``, this book's addition), the
    table ends with ``"Gaussian DC <Class>"`` columns (empty for the thesis's rows
    and for results without one, e.g. the classical baseline).
    """
    if not results:
        raise InputError("no results to tabulate: expected at least one Result")
    prof = profile_name(profile if profile is not None else results[0].profile)
    ours, rows = {}, []
    for r in results:
        exp = experiments().get(r.name)
        label = exp.label if exp else str(r.extra.get("label", r.name))
        ours[f"{build_label(prof, r.hardware)}: {label}"] = r.metrics
        if exp and exp.thesis_row and exp.thesis_row not in rows:
            rows.append(exp.thesis_row)
    table = side_by_side(ours, rows)
    gaussian = {
        label: class_index(df)["dice_gaussian"]
        for label, df in ours.items()
        if "dice_gaussian" in df.columns
    }
    if gaussian:
        for cls, shown in CLASS_LABELS.items():
            if f"DC {shown}" in table.columns:
                table[f"Gaussian DC {shown}"] = [
                    float(gaussian[r].get(cls, math.nan)) if r in gaussian else math.nan
                    for r in table.index
                ]
    return table


def mean_sd(results: Sequence[Result], metric: str = "dice") -> pd.DataFrame:
    """Mean and sample standard deviation of ``metric`` per class over ``results``.

    Used for the seed-variance study: the same experiment trained with several seeds.
    Returns one row per class with columns ``mean``, ``sd`` and ``n``.
    """
    if not results:
        raise InputError("no results: expected one Result per seed")
    cols = []
    for r in results:
        df = class_index(r.metrics)
        if metric not in df.columns:
            raise InputError(
                f"result {r.name!r} has no {metric!r} column: it has {list(df.columns)}"
            )
        cols.append(df[metric].astype(float).rename(r.name))
    table = pd.concat(cols, axis=1)
    out = pd.DataFrame(
        {
            "mean": table.mean(axis=1),
            "sd": table.std(axis=1, ddof=1),
            "n": table.count(axis=1),
        }
    )
    out.index.name = "class"
    return out


def timing_table(results: Mapping[str, Result]) -> pd.DataFrame:
    """The thesis's Table 5.7 recomputed from measured times, beside the thesis's.

    Args:
        results: ``{"U-Net": Result, "Vox2Vox": Result, "CycleGAN": Result}`` (any
            subset); supervision is read from the thesis's table for that model.

    Returns:
        One row per model: measured ``training_minutes``, ``test_seconds_per_crop``,
        ``test_seconds`` (all test crops), the thesis's annotation accounting in hours
        and the ``total_hours`` it gives with our times; then the thesis's
        ``thesis_training_minutes``, ``thesis_testing_seconds``, ``thesis_total_hours``.
    """
    times = thesis_times()
    rows = {}
    for model, r in results.items():
        if model not in times.index:
            raise InputError(
                f"unknown model {model!r} for Table 5.7: expected one of "
                f"{', '.join(times.index)}"
            )
        th = times.loc[model]
        train_min = float(r.timings.get("train_seconds") or 0.0) / 60.0
        per_crop = r.timings.get("test_seconds") or {}
        test_s = float(sum(per_crop.values()))
        acc = time_accounting(
            train_min,
            test_s,
            supervised=bool(th["supervised"]),
            test_crops=len(per_crop) or None,
        )
        rows[model] = {
            "training_minutes": train_min,
            "test_seconds_per_crop": test_s / max(len(per_crop), 1),
            "test_seconds": test_s,
            "annotation_hours": float(th["annotation_hours"]),
            "training_hours": acc["training_hours"],
            "testing_hours": acc["testing_hours"],
            "total_hours": acc["total_hours"],
            "thesis_training_minutes": float(th["training_minutes"]),
            "thesis_testing_seconds": float(th["testing_seconds"]),
            "thesis_total_hours": float(th["total_hours"]),
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "model"
    return df


def recorded_benchmark(prefix: str) -> tuple[dict, str] | None:
    """The newest recorded benchmark ``benchmarks/<prefix>-<date>.json`` of this
    checkout and its file name, or ``None`` (no checkout, e.g. a pip install, or no
    recording yet)."""
    root = repo_root()
    if root is None:
        return None
    found = sorted((root / "benchmarks").glob(f"{prefix}-*.json"))
    if not found:
        return None
    return json.loads(found[-1].read_text(encoding="utf-8")), found[-1].name


CLASSES_2: tuple[str, str] = ("nuclei", "golgi")


def recorded_caption(record: dict, file_name: str) -> str:
    """``"Recorded <date> (<file>) on <CPU>, <n> cores"`` for a recorded benchmark
    (its ``hardware``, or ``environment.hardware``; its ``date`` or ``started``)."""
    hw = record.get("hardware") or record.get("environment", {}).get("hardware", {})
    date = record.get("date") or str(record.get("started", "?"))[:10]
    return (
        f"Recorded {date} ({file_name}) on {hw.get('cpu_model', 'an unrecorded CPU')}, "
        f"{hw.get('cpu_cores_usable', '?')} cores"
    )


def ablation_table(record: dict) -> pd.DataFrame:
    """One row per run of a recorded CycleGAN ablation: its epochs and its Dice per
    class with the fixed 0.5 and the mask-share threshold (NaN where not recorded)."""
    rows = []
    for r in record["rows"]:
        row = {"run": r["description"], "epochs": r["epochs"]}
        for rule in ("fixed_0.5", "mask_share"):
            dice = r.get(rule, {}).get("dice", [math.nan] * 2)
            row.update({f"{rule} {c}": dice[i] for i, c in enumerate(CLASSES_2)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")


def oracle_summary(record: dict) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """A recorded ``bench_cyclegan_oracle`` run: per seed the kept epoch, its Dice, the
    best epoch's Dice per class and the largest gap between them; and per seed the Dice
    of every epoch (its threshold rule), indexed by epoch."""
    curves: dict[int, pd.DataFrame] = {}
    rows = []
    for run in record["runs"]:
        per = pd.DataFrame(
            [e["rule"] for e in run["rows"]],
            columns=list(CLASSES_2),
            index=pd.Index([e["epoch"] for e in run["rows"]], name="epoch"),
        )
        kept = per.loc[run["kept_epoch"]]
        row: dict = {"seed": run["seed"], "kept epoch": run["kept_epoch"]}
        row.update({f"kept {c}": kept[c] for c in CLASSES_2})
        row.update({f"best {c}": per[c].max() for c in CLASSES_2})
        row.update({f"best {c} epoch": int(per[c].idxmax()) for c in CLASSES_2})
        row["largest gap"] = max(per[c].max() - kept[c] for c in CLASSES_2)
        rows.append(row)
        curves[int(run["seed"])] = per
    return pd.DataFrame(rows).set_index("seed"), curves


def dice_compute_curve(record: dict) -> pd.DataFrame:
    """A recorded Dice-vs-compute run: Dice per class, the epoch reached and the kept
    epoch, indexed by minutes; one row per epoch reached (budgets beyond a stopped
    training repeat its last row and are dropped)."""
    snaps = pd.DataFrame(record["snapshots"]).drop_duplicates("epoch")
    curve = pd.DataFrame(snaps["dice"].tolist(), columns=list(CLASSES_2))
    curve["epoch"] = snaps["epoch"].to_numpy()
    curve["kept_epoch"] = snaps["kept_epoch"].to_numpy()
    curve.index = pd.Index(snaps["minutes"].to_numpy(), name="minutes")
    return curve
