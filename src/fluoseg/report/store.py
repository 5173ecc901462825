"""Per-experiment results saved by one chapter and read by the next.

The experiment chapters (U-Net, Vox2Vox, CycleGAN) each save what they measured with
:func:`save_result`; the comparison, timing and conclusions chapters read them back with
:func:`load_results`, so that every chapter of one build shows the same numbers. Files
live in ``runs_root()/<profile>/results/<name>.json`` and are written atomically.

A result holds the averaged per-class metrics (a DataFrame, e.g. from
``fluoseg.evaluation.metrics.average``), the run's timings (training seconds per epoch
and in total, test seconds per crop), the hardware description and free-form ``extra``
fields.

Frames are stored as ``{"index": [names], "columns": [...], "data": [rows]}`` (index
levels as leading columns), not with pandas' ``to_json(orient="split")``: pandas'
split round trip loses the index name and fails on a MultiIndex, and the files saved
by earlier builds, which the book reuses, are in this layout.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fluoseg.config import Profile, get_profile, runs_root
from fluoseg.errors import InputError
from fluoseg.io import atomic_write

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Result:
    """One experiment's saved outcome.

    Attributes:
        name: file stem, e.g. ``"unet-2class"``.
        metrics: averaged metrics, one row per class (index = class names).
        timings: seconds: e.g. ``total`` and ``epochs`` (training), ``test_per_crop``.
        hardware: where it ran (``fluoseg.hardware.describe()`` or a run's record).
        profile: profile name.
        extra: anything else JSON-serialisable (run path, model, n_classes, seed ...).
    """

    name: str
    metrics: pd.DataFrame
    timings: dict[str, Any]
    hardware: dict[str, Any]
    profile: str
    extra: dict[str, Any] = field(default_factory=dict)

    def metrics_vs_truth(self) -> pd.DataFrame | None:
        """The averaged metrics against the perfect masks, if they were computed."""
        d = self.extra.get("average_truth")
        return frame_from_json(d) if d else None

    def per_crop(self) -> pd.DataFrame | None:
        """Per-crop metrics against the annotator masks (``crop`` column), if saved."""
        d = self.extra.get("per_crop")
        return frame_from_json(d) if d else None


def profile_name(profile: Profile | str | None) -> str:
    """The name of ``profile`` (a profile, its name, or ``None``: the current one)."""
    if isinstance(profile, Profile):
        return profile.name
    return get_profile(profile).name


def results_dir(profile: Profile | str | None = None) -> Path:
    """``runs_root()/<profile>/results`` (not created)."""
    return runs_root() / profile_name(profile) / "results"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"bad result name {name!r}: expected letters, digits, '.', '_', '+' or '-' "
            "(e.g. 'unet-2class')"
        )
    return name


def plain(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and NaN turned into JSON-friendly values."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def frame_to_json(df: pd.DataFrame) -> dict[str, Any]:
    """``df`` as JSON-friendly ``{"index", "columns", "data"}`` (see the module)."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"metrics must be a pandas DataFrame (one row per class), got {type(df)}"
        )
    names = [n if n is not None else f"level_{i}" for i, n in enumerate(df.index.names)]
    flat = df.copy()
    flat.index.names = names
    flat = flat.reset_index()
    return {
        "index": names,
        "columns": [str(c) for c in flat.columns],
        "data": plain(flat.to_numpy(dtype=object).tolist()),
    }


def frame_from_json(d: Mapping[str, Any]) -> pd.DataFrame:
    """The frame :func:`frame_to_json` wrote (numeric columns back to numbers)."""
    flat = pd.DataFrame(d["data"], columns=d["columns"])
    for col in flat.columns:
        if col not in d["index"]:
            try:
                flat[col] = pd.to_numeric(flat[col])
            except (TypeError, ValueError):
                pass  # a text column stays text
    df = flat.set_index(list(d["index"]))
    if list(df.index.names) == ["level_0"]:
        df.index.name = None
    return df


def save_result(
    name: str,
    metrics_df: pd.DataFrame,
    timings: Mapping[str, Any] | None,
    hardware: Mapping[str, Any] | None,
    profile: Profile | str | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save one experiment's result as JSON (atomically; replaces an older one).

    Args:
        name: file stem, e.g. ``"unet-2class"`` (letters, digits, ``._+-``).
        metrics_df: averaged metrics, one row per class.
        timings, hardware: dictionaries of JSON-friendly values (numpy is converted).
        profile: profile or its name (default: the current one).
        extra: more fields to keep (e.g. ``{"seed": 0, "run": "..."}``).

    Returns:
        The path written.
    """
    prof = profile_name(profile)
    payload = {
        "name": _check_name(name),
        "profile": prof,
        "metrics": frame_to_json(metrics_df),
        "timings": plain(dict(timings or {})),
        "hardware": plain(dict(hardware or {})),
        "extra": plain(dict(extra or {})),
    }
    text = json.dumps(payload, indent=1, allow_nan=False)
    folder = results_dir(prof)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.json"
    return atomic_write(
        target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), overwrite=True
    )


def _read(path: Path) -> Result:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return Result(
            name=d["name"],
            metrics=frame_from_json(d["metrics"]),
            timings=d.get("timings", {}),
            hardware=d.get("hardware", {}),
            profile=d["profile"],
            extra=d.get("extra", {}),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{path}: not a fluoseg result file ({exc}); expected JSON written by "
            "fluoseg.report.store.save_result"
        ) from exc


def load_result(name: str, profile: Profile | str | None = None) -> Result | None:
    """The saved result ``name`` of ``profile``, or ``None`` if there is none."""
    path = results_dir(profile) / f"{_check_name(name)}.json"
    return _read(path) if path.is_file() else None


def load_results(profile: Profile | str | None = None) -> dict[str, Result]:
    """Every saved result of ``profile``, by name (sorted); empty if none."""
    folder = results_dir(profile)
    if not folder.is_dir():
        return {}
    return {p.stem: _read(p) for p in sorted(folder.glob("*.json"))}


def get_or_compute(
    name: str,
    compute: Callable[[], Mapping[str, Any]],
    profile: Profile | str | None = None,
) -> Result:
    """The saved result ``name``; if missing, call ``compute()`` and save its output.

    ``compute`` returns the keyword arguments of :func:`save_result` other than
    ``name`` and ``profile``: ``metrics_df``, ``timings``, ``hardware`` and optionally
    ``extra``. This is how a chapter run alone fills in what an earlier chapter of the
    same build would have saved.
    """
    found = load_result(name, profile)
    if found is not None:
        return found
    fields = dict(compute())
    save_result(name, profile=profile, **fields)
    result = load_result(name, profile)
    assert result is not None
    return result
