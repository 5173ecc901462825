"""Scoring a trained run on the test crops.

One path segments and scores the test crops: :func:`segment_and_score` segments each
crop once (timed) and scores the mask against one or more sets of reference masks.
:func:`evaluate_on_test` (one table against one kind of masks) and
:func:`score_test_crops` (annotator and perfect masks, as the thesis's tables) are
thin uses of it; :func:`evaluate_run` scores a run the book's way and saves the result.

Window rule: a trained model's test crops are segmented with the thesis's own sliding
window (``blending="thesis"`` of ``fluoseg.inference.predict_volume``: reflection
padding at the end, uniform mean of the windows); those masks give every metric.
The Gaussian blending of nnU-Net/MONAI, this book's addition, is scored too and kept
as ``dice_gaussian`` beside ``dice`` (one more segmentation of each crop).
``extra["evaluation"]`` records the rule and ``EVALUATION_VERSION``; a saved result
of an older version (e.g. from before this rule, when Gaussian masks gave ``dice``)
still loads, and :func:`is_current` says it must be re-evaluated.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fluoseg import CLASS_NAMES
from fluoseg.config import Profile
from fluoseg.data import loaders
from fluoseg.errors import InputError, check_choice
from fluoseg.evaluation.metrics import average, evaluate
from fluoseg.inference import BLENDINGS
from fluoseg.report.store import (
    Result,
    frame_from_json,
    frame_to_json,
    load_result,
    plain,
    profile_name,
    save_result,
)

if TYPE_CHECKING:  # pragma: no cover
    from fluoseg.run import Run

# Version of how evaluate_run scores a run (1, unrecorded: one Gaussian-blended
# segmentation; 2: the thesis's window rule for every metric + Gaussian Dice).
EVALUATION_VERSION = 2
# The main window rule first (all metrics), then the ones whose Dice is added.
EVALUATION_BLENDINGS: tuple[str, ...] = ("thesis", "gaussian")


@dataclass
class Evaluation:
    """A run scored on the test crops (one segmentation, two kinds of masks).

    Attributes:
        run: the ``fluoseg.run.Run``.
        average: per-class metrics averaged over the crops (annotator masks).
        per_crop: per-class metrics of each crop (annotator masks), ``crop`` column.
        average_truth: the same average against the perfect masks.
        seconds: wall-clock seconds of each crop's prediction, by crop name.
        predictions: the predicted masks (Z, Y, X, n) uint8, by crop name.
        result: what was saved with ``fluoseg.report.store.save_result``.
    """

    run: Any
    average: pd.DataFrame
    per_crop: pd.DataFrame
    average_truth: pd.DataFrame
    seconds: dict[str, float]
    predictions: dict[str, np.ndarray]
    result: Result


@dataclass
class CropScores:
    """What :func:`segment_and_score` measured.

    Attributes:
        frames: by kind of reference masks, one ``fluoseg.evaluation.metrics.evaluate``
        frame
            per crop (in the crops' order).
        seconds: wall-clock seconds of each crop's segmentation, by crop name.
        predictions: the predicted masks, by crop name.
    """

    frames: dict[str, list[pd.DataFrame]]
    seconds: dict[str, float]
    predictions: dict[str, np.ndarray]


def segment_and_score(
    crops: Sequence[Any],
    segment: Callable[[np.ndarray], np.ndarray],
    class_names: Sequence[str],
    references: Mapping[str, Mapping[str, np.ndarray]],
) -> CropScores:
    """Segment each crop once with ``segment`` (image -> mask; only that is timed)
    and score the mask against each set of ``references`` (kind -> masks by crop
    name) with ``fluoseg.evaluation.metrics.evaluate``."""
    names = list(class_names)
    frames: dict[str, list[pd.DataFrame]] = {kind: [] for kind in references}
    seconds, preds = {}, {}
    for crop in crops:
        t0 = time.perf_counter()
        mask = segment(crop.image)
        seconds[crop.name] = time.perf_counter() - t0
        preds[crop.name] = mask
        for kind, masks in references.items():
            frames[kind].append(evaluate(mask, masks[crop.name], class_names=names))
    return CropScores(frames, seconds, preds)


def evaluate_on_test(
    run: Run,
    truth: str = "annotator",
    data_dir: str | os.PathLike | None = None,
    tta: bool = False,
    threshold: float | None = None,
    blending: str = "gaussian",
    precision: str = "float32",
) -> pd.DataFrame:
    """Segment every test crop with ``run`` and score it against ``truth`` masks
    (``tta``, ``threshold``, ``blending`` and ``precision`` as in
    :meth:`Run.segment`).

    Returns one row per (crop, class) with ``fluoseg.evaluation.metrics.evaluate``'s
    columns plus ``crop`` and ``seconds`` (wall time of the crop's prediction), then
    the per-class average over the crops (``crop == "average"``, as the thesis's
    tables report).
    """
    check_choice(truth, loaders.MASK_KINDS, "truth")
    ddir = Path(data_dir) if data_dir is not None else Path(run.config["data_dir"])
    crops = loaders.load_split(
        "test",
        profile=run.profile,
        data_dir=ddir,
        truth=truth,
        n_classes=run.n_classes,
    )

    def segment(image: np.ndarray) -> np.ndarray:
        return run.segment(
            image, threshold=threshold, tta=tta, blending=blending, precision=precision
        )

    scores = segment_and_score(
        crops,
        segment,
        CLASS_NAMES[: run.n_classes],
        {truth: {crop.name: crop.mask for crop in crops}},
    )
    frames = scores.frames[truth]
    per_crop = [
        frame.assign(crop=crop.name, seconds=round(scores.seconds[crop.name], 3))
        for frame, crop in zip(frames, crops, strict=True)
    ]
    avg = average(frames).assign(
        crop="average",
        seconds=round(float(np.mean([f["seconds"].iloc[0] for f in per_crop])), 3),
    )
    return pd.concat([*per_crop, avg])


def load_test_data(
    n_classes: int, profile: Profile | str | None, data_dir: Any = None
) -> tuple[list, dict]:
    """The test crops with their annotator masks, and the perfect masks by crop name
    (the images are read once)."""
    kw = {"profile": profile, "data_dir": data_dir, "n_classes": n_classes}
    return loaders.load_split("test", truth="annotator", **kw), loaders.load_masks(
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
    annotator, truth = test_data or load_test_data(n_classes, profile, data_dir)
    references = {"annotator": {c.name: c.mask for c in annotator}, "truth": truth}
    scores = segment_and_score(annotator, segment, CLASS_NAMES[:n_classes], references)
    frames, frames_truth = scores.frames["annotator"], scores.frames["truth"]
    per_crop = pd.concat(
        [f.assign(crop=c.name) for f, c in zip(frames, annotator, strict=True)]
    )
    return (
        average(frames),
        per_crop,
        average(frames_truth),
        scores.seconds,
        scores.predictions,
    )


def train_args(run: Any) -> dict[str, Any]:
    """The ``fluoseg.training.trainer.train`` arguments a run was trained with, from its
    config."""
    cfg = run.config
    keys = ("model", "n_classes", "raw", "unsupervised", "seed")
    return {k: cfg[k] for k in keys if k in cfg}


def evaluate_run(
    run: Any,
    name: str,
    profile: Profile | str | None = None,
    *,
    save: bool = True,
    blendings: Sequence[str] = EVALUATION_BLENDINGS,
    trained_with: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Segment the test crops with ``run``, score them, time them and save the result.

    Every crop is segmented (sliding window, ``run.segment``) with the first of
    ``blendings`` (default: the thesis's window rule) and timed (the network is loaded
    from disk before the clock starts); the mask is scored with
    ``fluoseg.evaluation.metrics.evaluate`` against the annotator masks (as the thesis
    did) and against the perfect masks, and averaged over the crops with
    ``fluoseg.evaluation.metrics.average`` (the thesis's tables). Each further blending
    segments every crop once more and adds its Dice as a ``dice_<blending>`` column
    (average, per crop, perfect masks) and its seconds as
    ``timings["test_seconds_<blending>"]``. ``trained_with``: the training arguments
    recorded as ``extra["train"]`` (default: :func:`train_args` of the run).
    """
    if not blendings or any(b not in BLENDINGS for b in blendings):
        raise InputError(
            f"blendings={tuple(blendings)!r}: expected one or more of "
            f"{', '.join(BLENDINGS)}"
        )
    main, *others = blendings
    prof = profile_name(profile)
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
        "train": dict(trained_with) if trained_with is not None else train_args(run),
        "test_crops": list(seconds),
        "per_crop": frame_to_json(per_crop),
        "average_truth": frame_to_json(avg_truth),
        "evaluation": {
            "version": EVALUATION_VERSION,
            "blending": main,
            "dice_also": list(others),
        },
    }
    result = Result(name, avg, plain(timings), plain(dict(run.hardware)), prof, extra)
    if save:
        save_result(name, avg, timings, run.hardware, prof, extra=extra)
        result = load_result(name, prof) or result
    return Evaluation(run, avg, per_crop, avg_truth, seconds, preds, result)


def evaluation_from_result(run: Any, result: Result) -> Evaluation:
    """The :class:`Evaluation` of ``run`` whose scores ``result`` saved (a current one,
    :func:`is_current`, of this run): the scores and timings are read back, and the
    test crops are segmented once more with the result's blending for
    their masks only (the other blendings and the scoring are not repeated)."""
    if Path(str(result.extra.get("run", ""))) != Path(run.path):
        raise InputError(f"result {result.name!r} was not computed from {run.path}")
    blending = (result.extra.get("evaluation") or {}).get("blending", "thesis")
    crops = loaders.load_split(
        "test",
        profile=result.profile,
        data_dir=run.config.get("data_dir"),
        n_classes=int(run.n_classes),
        truth="annotator",
    )
    predictions = {c.name: run.segment(c.image, blending=blending) for c in crops}
    return Evaluation(
        run,
        result.metrics,
        frame_from_json(result.extra["per_crop"]),
        frame_from_json(result.extra["average_truth"]),
        dict(result.timings.get("test_seconds", {})),
        predictions,
        result,
    )


def is_current(result: Result) -> bool:
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
