"""Per-experiment results saved by one chapter and read by the next.

The experiment chapters (U-Net, Vox2Vox, CycleGAN) each save what they measured with
:func:`save_result`; the comparison, timing and conclusions chapters read them back with
:func:`load_results`, so that every chapter of one build shows the same numbers. Files
live in ``runs_root()/<profile>/results/<name>.json`` and are written atomically.

A result holds the averaged per-class metrics (a DataFrame, e.g. from
``fluoseg.metrics.average``), the run's timings (training seconds per epoch and in
total, test seconds per crop), the hardware description and free-form ``extra`` fields.

Window rule: a trained model's test crops are segmented with the thesis's own sliding
window (``blending="thesis"`` of ``fluoseg.inference.predict_volume``: reflection
padding at the end, uniform mean of the windows); those masks give every metric.
The Gaussian blending of nnU-Net/MONAI, this book's addition, is scored too and kept
as ``dice_gaussian`` beside ``dice`` (one more segmentation of each crop).
``extra["evaluation"]`` records the rule and ``EVALUATION_VERSION``; a saved result
of an older version (e.g. from before this rule, when Gaussian masks gave ``dice``)
still loads, and :func:`ensure_result` re-evaluates it from its run without
retraining.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fluoseg.config import Profile, get_profile, runs_root
from fluoseg.errors import InputError
from fluoseg.io import atomic_write

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

# Version of how evaluate_run scores a run (1, unrecorded: one Gaussian-blended
# segmentation; 2: the thesis's window rule for every metric + Gaussian Dice).
EVALUATION_VERSION = 2
# The main window rule first (all metrics), then the ones whose Dice is added.
EVALUATION_BLENDINGS: tuple[str, ...] = ("thesis", "gaussian")


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
        return _frame_from_json(d) if d else None

    def per_crop(self) -> pd.DataFrame | None:
        """Per-crop metrics against the annotator masks (``crop`` column), if saved."""
        d = self.extra.get("per_crop")
        return _frame_from_json(d) if d else None


def profile_note(profile: Profile | str | None = None) -> str:
    """A Markdown note for the top of an experiment chapter: what the numbers mean."""
    prof = get_profile(profile) if not isinstance(profile, Profile) else profile
    if prof.name == "smoke":
        note = (
            "> **Smoke profile.** Tiny models trained for a few steps on tiny crops: "
            "the numbers on this page only show that the code runs and say nothing "
            "about the models. Build the book with the `cpu` profile for real results."
        )
    elif prof.name == "cpu":
        note = (
            "> **cpu profile.** Small models trained for minutes on two CPU cores, on "
            "this build's synthetic data: compare trends with the thesis, not the "
            "third decimal."
        )
    elif prof.name == "gpu":
        note = (
            "> **gpu profile.** Mid-sized models trained for minutes on one GPU (64³ "
            "patches, smaller networks and shorter training than the thesis), on this "
            "build's synthetic data: compare trends with the thesis."
        )
    else:
        note = (
            f"> **{prof.name} profile.** The thesis's hyperparameters and 64³ "
            "patches, on this build's data."
        )
    return f"{note}\n>\n> {validation_note(prof)} {window_note()}"


def validation_note(profile: Profile | str | None = None) -> str:
    """One sentence, generated from the settings, on the validation data the trainer
    holds out at ``profile`` and at ``paper`` (the thesis's 433 patches)."""
    from fluoseg.data.dataset import dataset_spec
    from fluoseg.data.origins import grid_origins
    from fluoseg.data.validation import GRID_VALIDATION_FRACTION
    from fluoseg.thesis import raw_tables
    from fluoseg.training.plan import train_config

    prof = get_profile(profile) if not isinstance(profile, Profile) else profile
    paper = get_profile("paper")
    patch = tuple(paper.patch_shape)
    crops = [c for c in dataset_spec(paper.dataset).crops if c.split == "train"]
    padded = [[max(s, p) for s, p in zip(c.shape, patch, strict=True)] for c in crops]
    n_grid = sum(len(grid_origins(shape, patch)) for shape in padded)
    n_val = max(1, round(GRID_VALIDATION_FRACTION * n_grid))
    thesis_n = raw_tables()["hyperparameters"]["train_patches"]
    pct = f"{100 * GRID_VALIDATION_FRACTION:g} %"
    same = f"the thesis: {thesis_n}"
    if n_grid == thesis_n:
        same = "as many as the thesis's"
    paper_text = (
        f"At `paper`, {pct} of the {n_grid} non-overlapping {patch[0]}³ patches cut "
        f"from the training crops ({same}) are held out for validation ({n_val} "
        "patches, seeded); the thesis stopped on held-out validation data without "
        "stating how much."
    )
    if train_config("unet", prof).sampling == "grid":
        return f"**Validation.** {paper_text}"
    return (
        f"**Validation.** At `{prof.name}` the trainer holds out the last training "
        "crop by name (patches are drawn at random, not cut on a grid). " + paper_text
    )


def window_note() -> str:
    """One sentence on the window rule of the experiment tables."""
    main, *others = EVALUATION_BLENDINGS
    also = ", ".join(f"`{b}`" for b in others)
    return (
        f"**Test crops** are segmented with the thesis's sliding-window rule "
        f'(`blending="{main}"`) for every metric; the Dice with {also} blending, '
        "this book's addition, is given beside it."
    )


def _profile_name(profile: Profile | str | None) -> str:
    if isinstance(profile, Profile):
        return profile.name
    return get_profile(profile).name


def results_dir(profile: Profile | str | None = None) -> Path:
    """``runs_root()/<profile>/results`` (not created)."""
    return runs_root() / _profile_name(profile) / "results"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"bad result name {name!r}: expected letters, digits, '.', '_', '+' or '-' "
            "(e.g. 'unet-2class')"
        )
    return name


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and NaN turned into JSON-friendly values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _frame_to_json(df: pd.DataFrame) -> dict[str, Any]:
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
        "data": _plain(flat.to_numpy(dtype=object).tolist()),
    }


def _frame_from_json(d: Mapping[str, Any]) -> pd.DataFrame:
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
    prof = _profile_name(profile)
    payload = {
        "name": _check_name(name),
        "profile": prof,
        "metrics": _frame_to_json(metrics_df),
        "timings": _plain(dict(timings or {})),
        "hardware": _plain(dict(hardware or {})),
        "extra": _plain(dict(extra or {})),
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
            metrics=_frame_from_json(d["metrics"]),
            timings=d.get("timings", {}),
            hardware=d.get("hardware", {}),
            profile=d["profile"],
            extra=d.get("extra", {}),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{path}: not a fluoseg result file ({exc}); expected JSON written by "
            "fluoseg.results.save_result"
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


# ---------------------------------------------------------------- experiments
@dataclass(frozen=True)
class Experiment:
    """One of the book's trainings and where the thesis reports its counterpart.

    Attributes:
        name: result name, e.g. ``"unet-2class"``.
        label: row label in the book's tables, e.g. ``"U-Net + Pre"``.
        model, n_classes, raw, unsupervised, seed: ``fluoseg.train.train`` arguments.
        thesis_row: the thesis's row for the same model (``fluoseg.thesis``), if any.
        thesis_table: the thesis's table number, e.g. ``"5.1"``.
        overrides: ``(field, value)`` pairs replacing the profile's model
            configuration (``fluoseg.train.with_overrides``), e.g. the thesis's
            recipe at cpu scale.
    """

    name: str
    label: str
    model: str
    n_classes: int
    raw: bool = False
    unsupervised: bool = False
    seed: int = 0
    thesis_row: str | None = None
    thesis_table: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()

    def train_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``fluoseg.train.train`` for this experiment."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "n_classes": self.n_classes,
            "raw": self.raw,
            "unsupervised": self.unsupervised,
            "seed": self.seed,
        }
        if self.overrides:
            kwargs["config_overrides"] = dict(self.overrides)
        return kwargs


def experiments() -> dict[str, Experiment]:
    """The book's experiments by name: Tables 5.1-5.6 and the seed-variance runs."""
    rows = [
        Experiment("unet-2class-raw", "U-Net (raw)", "unet", 2, raw=True,
                   thesis_row="U-Net (raw)", thesis_table="5.1"),
        Experiment("unet-2class", "U-Net + Pre", "unet", 2,
                   thesis_row="U-Net + Pre", thesis_table="5.1"),
        Experiment("unet-3class", "U-Net 3-class", "unet", 3,
                   thesis_row="U-Net 3-class", thesis_table="5.2"),
        Experiment("vox2vox-2class", "Vox2Vox", "vox2vox", 2,
                   thesis_row="Vox2Vox", thesis_table="5.3"),
        Experiment("vox2vox-3class", "Vox2Vox 3-class", "vox2vox", 3,
                   thesis_row="Vox2Vox 3-class", thesis_table="5.4"),
        Experiment("cyclegan-2class", "CycleGAN (supervised)", "cyclegan", 2,
                   thesis_row="CycleGAN (supervised)", thesis_table="5.5"),
        Experiment("cyclegan-2class-unsup", "CycleGAN (unsupervised)", "cyclegan", 2,
                   unsupervised=True, thesis_row="CycleGAN (unsupervised)",
                   thesis_table="5.5"),
        Experiment("cyclegan-3class-unsup", "CycleGAN 3-class (unsupervised)",
                   "cyclegan", 3, unsupervised=True,
                   thesis_row="CycleGAN 3-class (unsupervised)", thesis_table="5.6"),
        Experiment("unet-2class-seed1", "U-Net + Pre (seed 1)", "unet", 2, seed=1),
        Experiment("unet-2class-seed2", "U-Net + Pre (seed 2)", "unet", 2, seed=2),
        Experiment("cyclegan-2class-unsup-seed1", "CycleGAN (unsupervised, seed 1)",
                   "cyclegan", 2, unsupervised=True, seed=1),
        Experiment("cyclegan-2class-unsup-seed2", "CycleGAN (unsupervised, seed 2)",
                   "cyclegan", 2, unsupervised=True, seed=2),
    ]  # fmt: skip
    return {e.name: e for e in rows}


#: The thesis's CycleGAN recipe at cpu scale: what the cpu recipe replaced (soft cycle
#: masks into G_I, no weight averaging, a fixed 0.5 threshold, a clipped stretch). Not
#: one of the book's tables: the CycleGAN debugging page trains it to show what it
#: fixes.
THESIS_RECIPE = Experiment(
    "cyclegan-2class-unsup-thesis-recipe",
    "CycleGAN (unsupervised, thesis recipe)",
    "cyclegan",
    2,
    unsupervised=True,
    overrides=(
        ("cycle_mask", "soft"),
        ("ema_decay", 0.0),
        ("threshold_rule", "fixed"),
        ("stretch_clip", True),
    ),
)


def experiment(name: str) -> Experiment:
    """The experiment called ``name`` (see :func:`experiments`)."""
    known = experiments()
    if name not in known:
        raise InputError(
            f"unknown experiment {name!r}: expected one of {', '.join(known)}"
        )
    return known[name]


@dataclass
class Evaluation:
    """A run scored on the test crops (one segmentation, two kinds of masks).

    Attributes:
        run: the ``fluoseg.train.Run``.
        average: per-class metrics averaged over the crops (annotator masks).
        per_crop: per-class metrics of each crop (annotator masks), ``crop`` column.
        average_truth: the same average against the perfect masks.
        seconds: wall-clock seconds of each crop's prediction, by crop name.
        predictions: the predicted masks (Z, Y, X, n) uint8, by crop name.
        result: what was saved with :func:`save_result`.
    """

    run: Any
    average: pd.DataFrame
    per_crop: pd.DataFrame
    average_truth: pd.DataFrame
    seconds: dict[str, float]
    predictions: dict[str, np.ndarray]
    result: Result


def load_test_data(
    n_classes: int, profile: Profile | str | None, data_dir: Any = None
) -> tuple[list, dict]:
    """The test crops with their annotator masks, and the perfect masks by crop name
    (the images are read once)."""
    from fluoseg.data.loaders import load_masks, load_split

    kw = {"profile": profile, "data_dir": data_dir, "n_classes": n_classes}
    return load_split("test", truth="annotator", **kw), load_masks(
        "test", truth="truth", **kw
    )


def score_test_crops(
    segment: Callable[[np.ndarray], np.ndarray],
    n_classes: int,
    profile: Profile | str | None,
    data_dir: Any = None,
    test_data: tuple[list, dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict, dict]:
    """Segment every test crop with ``segment`` (image -> mask), timed, and score it
    against the annotator and the perfect masks (``test_data``: what
    :func:`load_test_data` returns, read once for several scorings).

    Returns (average vs annotator, per-crop frame with a ``crop`` column, average vs
    perfect masks, seconds by crop, masks by crop).
    """
    import time

    from fluoseg import CLASS_NAMES
    from fluoseg.metrics import average, evaluate

    names = list(CLASS_NAMES[:n_classes])
    annotator, truth = test_data or load_test_data(n_classes, profile, data_dir)
    frames, frames_truth, seconds, preds = [], [], {}, {}
    for crop in annotator:
        t0 = time.perf_counter()
        mask = segment(crop.image)
        seconds[crop.name] = time.perf_counter() - t0
        preds[crop.name] = mask
        frames.append(evaluate(mask, crop.mask, class_names=names))
        frames_truth.append(evaluate(mask, truth[crop.name], class_names=names))
    per_crop = pd.concat(
        [f.assign(crop=c.name) for f, c in zip(frames, annotator, strict=True)]
    )
    return average(frames), per_crop, average(frames_truth), seconds, preds


def evaluate_run(
    run: Any,
    name: str,
    profile: Profile | str | None = None,
    *,
    save: bool = True,
    blendings: Sequence[str] = EVALUATION_BLENDINGS,
) -> Evaluation:
    """Segment the test crops with ``run``, score them, time them and save the result.

    Every crop is segmented (sliding window, ``run.segment``) with the first of
    ``blendings`` (default: the thesis's window rule) and timed (the network is loaded
    from disk before the clock starts); the mask is scored with
    ``fluoseg.metrics.evaluate`` against the annotator masks (as the thesis did) and
    against the perfect masks, and averaged over the crops with
    ``fluoseg.metrics.average`` (the thesis's tables). Each further blending segments
    every crop once more and adds its Dice as a ``dice_<blending>`` column (average,
    per crop, perfect masks) and its seconds as ``timings["test_seconds_<blending>"]``.
    """
    from fluoseg.inference import BLENDINGS

    if not blendings or any(b not in BLENDINGS for b in blendings):
        raise InputError(
            f"blendings={tuple(blendings)!r}: expected one or more of "
            f"{', '.join(BLENDINGS)}"
        )
    main, *others = blendings
    prof = _profile_name(profile)
    getattr(run, "segmenter", None)  # load the network now: its loading is not timed
    n, data_dir = int(run.n_classes), run.config.get("data_dir")

    def segmenter_with(blending: str) -> Callable[[np.ndarray], np.ndarray]:
        return lambda image: run.segment(image, blending=blending)

    data = load_test_data(n, prof, data_dir)
    avg, per_crop, avg_truth, seconds, preds = score_test_crops(
        segmenter_with(main), n, prof, data_dir, data
    )
    timings = {
        "train_seconds": run.timings.get("total_seconds"),
        "epoch_seconds": run.timings.get("epoch_seconds", []),
        "epochs": len(run.history),
        "test_seconds": seconds,
        "test_seconds_per_crop": float(np.mean(list(seconds.values()))),
    }
    for other in others:
        o_avg, o_per_crop, o_truth, o_seconds, _ = score_test_crops(
            segmenter_with(other), n, prof, data_dir, data
        )
        column = f"dice_{other}"
        avg[column] = o_avg["dice"].to_numpy()
        per_crop[column] = o_per_crop["dice"].to_numpy()
        avg_truth[column] = o_truth["dice"].to_numpy()
        timings[f"test_seconds_{other}"] = o_seconds
    extra = {
        "run": str(run.path),
        "run_total_seconds": run.timings.get("total_seconds"),
        "train": experiments()[name].train_kwargs()
        if name in experiments()
        else _train_args(run),
        "test_crops": list(seconds),
        "per_crop": _frame_to_json(per_crop),
        "average_truth": _frame_to_json(avg_truth),
        "evaluation": {
            "version": EVALUATION_VERSION,
            "blending": main,
            "dice_also": list(others),
        },
    }
    result = Result(name, avg, _plain(timings), _plain(dict(run.hardware)), prof, extra)
    if save:
        save_result(name, avg, timings, run.hardware, prof, extra=extra)
        result = load_result(name, prof) or result
    return Evaluation(run, avg, per_crop, avg_truth, seconds, preds, result)


def _train_args(run: Any) -> dict[str, Any]:
    """The ``fluoseg.train.train`` arguments a run was trained with, from its config."""
    cfg = run.config
    keys = ("model", "n_classes", "raw", "unsupervised", "seed")
    return {k: cfg[k] for k in keys if k in cfg}


def run_experiment(
    name: str | Experiment,
    profile: Profile | str | None = None,
    *,
    progress: bool = True,
    isolate: bool | None = None,
) -> Evaluation:
    """Train (or load the cached run of) experiment ``name`` (a name of
    :func:`experiments` or an :class:`Experiment`), then :func:`evaluate_run`.

    Training goes through ``fluoseg.train.train`` with the experiment's arguments, so a
    finished run is loaded, not retrained. ``isolate`` (default as in
    ``fluoseg.train.train``: inside a Jupyter kernel): training and scoring run in
    child processes, one after the other (the scoring one, which sends back the scores
    and the predicted masks, does not keep the training's memory); the returned
    ``run`` is loaded from disk (its network only when it is used).
    """
    from fluoseg.train import Run, _isolate, run_in_subprocess, train

    exp = name if isinstance(name, Experiment) else experiment(name)
    prof = get_profile(profile) if not isinstance(profile, Profile) else profile
    if _isolate(isolate):
        # a finished run is found here; an unfinished one trains in its own child
        train(**exp.train_kwargs(), profile=prof, progress=progress, isolate=True)
        kwargs = {"name": name, "profile": prof, "progress": progress}
        parts = run_in_subprocess("fluoseg.results", "_evaluation_parts", kwargs, True)
        return Evaluation(run=Run.load(parts.pop("run")), **parts)
    run = train(**exp.train_kwargs(), profile=prof, progress=progress)
    return evaluate_run(run, exp.name, prof)


def _evaluation_parts(
    name: str | Experiment, profile: Profile, progress: bool
) -> dict[str, Any]:
    """:func:`run_experiment` in this process, its run replaced by the run's path."""
    ev = run_experiment(name, profile, progress=progress, isolate=False)
    parts = {f.name: getattr(ev, f.name) for f in dataclasses.fields(ev)}
    parts["run"] = str(ev.run.path)
    return parts


def _is_current(result: Result) -> bool:
    """Whether the run a result was computed from is still the same run on disk, and
    the result was scored by this version of :func:`evaluate_run`."""
    evaluation = result.extra.get("evaluation") or {}
    if evaluation.get("version") != EVALUATION_VERSION:
        return False
    run_dir = Path(str(result.extra.get("run", "")))
    timings = run_dir / "timings.json"
    if not timings.is_file():
        return False
    try:
        total = json.loads(timings.read_text(encoding="utf-8")).get("total_seconds")
    except (json.JSONDecodeError, OSError):
        return False
    return total == result.extra.get("run_total_seconds")


def ensure_result(
    name: str,
    profile: Profile | str | None = None,
    *,
    progress: bool = True,
    isolate: bool | None = None,
) -> Result:
    """The saved result ``name``, computed with :func:`run_experiment` if missing.

    A saved result whose run directory is gone or was retrained since is recomputed,
    so a chapter never shows numbers of a run that no longer exists; so is one scored
    by an older ``EVALUATION_VERSION`` (its run is loaded, not retrained, when its
    configuration is unchanged).

    ``isolate`` (default as in ``fluoseg.train.train``: inside a Jupyter kernel, or
    ``$FLUOSEG_TRAIN_SUBPROCESS``): training and scoring run in child processes, one
    after the other, and this one only reads the saved result, so a chapter's kernel
    never loads TensorFlow for it.
    """
    from fluoseg.train import _isolate, run_in_subprocess, train

    found = load_result(name, profile)
    if found is not None and _is_current(found):
        return found
    if _isolate(isolate):
        prof = get_profile(profile) if not isinstance(profile, Profile) else profile
        exp = experiment(name)  # trained in its own child unless finished
        train(**exp.train_kwargs(), profile=prof, progress=progress, isolate=True)
        kwargs = {"name": name, "profile": prof, "progress": progress}
        run_in_subprocess("fluoseg.results", "run_experiment", kwargs)
        saved = load_result(name, prof)
        if saved is None:  # pragma: no cover - run_experiment always saves
            raise InputError(f"the child process saved no result {name!r}")
        return saved
    return run_experiment(name, profile, progress=progress).result


# ---------------------------------------------------------------- tables
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
    from fluoseg.thesis import CLASS_LABELS, _class_index, build_label, side_by_side

    if not results:
        raise InputError("no results to tabulate: expected at least one Result")
    prof = _profile_name(profile if profile is not None else results[0].profile)
    ours, rows = {}, []
    for r in results:
        exp = experiments().get(r.name)
        label = exp.label if exp else str(r.extra.get("label", r.name))
        ours[f"{build_label(prof, r.hardware)}: {label}"] = r.metrics
        if exp and exp.thesis_row and exp.thesis_row not in rows:
            rows.append(exp.thesis_row)
    table = side_by_side(ours, rows)
    gaussian = {
        label: _class_index(df)["dice_gaussian"]
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
    from fluoseg.thesis import _class_index

    if not results:
        raise InputError("no results: expected one Result per seed")
    cols = []
    for r in results:
        df = _class_index(r.metrics)
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
    from fluoseg.thesis import thesis_times, time_accounting

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
    from fluoseg.config import repo_root

    root = repo_root()
    if root is None:
        return None
    found = sorted((root / "benchmarks").glob(f"{prefix}-*.json"))
    if not found:
        return None
    return json.loads(found[-1].read_text(encoding="utf-8")), found[-1].name

