"""Voxel-wise segmentation metrics per class (thesis eqs. 2.12-2.16 and 4.10-4.12).

For each class, with TP, FP, FN and TN counted over all voxels of a volume:

- accuracy  = (TP + TN) / (TP + TN + FP + FN)
- precision = TP / (TP + FP)
- recall    = TP / (TP + FN)
- IoU       = TP / (TP + FP + FN)
- Dice      = 2 TP / (2 TP + FP + FN)

Counts are int64 (no overflow on any realistic volume).

Undefined values, the rule used everywhere in fluoseg:

- A class **absent from both masks** (TP = FP = FN = 0) has nothing to measure:
  precision, recall, IoU and Dice are NaN (accuracy is 1). :func:`average` skips NaN,
  so such a volume does not count for that class, and its ``n_volumes`` column says how
  many volumes did.
- Otherwise a zero denominator means a failure and scores 0: precision is 0 when the
  class is present in the truth but nothing was predicted, recall is 0 when the class
  was predicted but is absent from the truth (Dice and IoU are 0 in both cases).

The thesis's tables average each metric over the two test crops (a mean of per-volume
values); :func:`average` does the same. :func:`pooled` instead sums the counts over the
volumes first (a micro-average), for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fluoseg import CLASS_NAMES
from fluoseg.errors import InputError

COUNTS = ("tp", "fp", "fn", "tn")
SCORES = ("accuracy", "precision", "recall", "iou", "dice")
COLUMNS = COUNTS + SCORES


def confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) of two binary arrays of the same shape (nonzero = positive)."""
    p = np.asarray(pred) != 0
    t = np.asarray(truth) != 0
    if p.shape != t.shape:
        raise InputError(
            f"prediction of shape {p.shape} and truth of shape {t.shape}: expected "
            "the same shape"
        )
    tp = int(np.count_nonzero(p & t))
    n_p = int(np.count_nonzero(p))
    n_t = int(np.count_nonzero(t))
    fp = n_p - tp
    fn = n_t - tp
    tn = int(p.size) - tp - fp - fn
    return tp, fp, fn, tn


def scores(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    """Accuracy, precision, recall, IoU and Dice from counts (rule: module doc)."""
    tp, fp, fn, tn = (int(v) for v in (tp, fp, fn, tn))
    total = tp + fp + fn + tn
    acc = (tp + tn) / total if total else float("nan")
    if tp + fp + fn == 0:
        nan = float("nan")
        return {
            "accuracy": acc,
            "precision": nan,
            "recall": nan,
            "iou": nan,
            "dice": nan,
        }
    return {
        "accuracy": acc,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "iou": tp / (tp + fp + fn),
        "dice": 2 * tp / (2 * tp + fp + fn),
    }


def _score(name: str, a: np.ndarray, b: np.ndarray) -> float:
    return scores(*confusion(a, b))[name]


def dice_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice 2 TP / (2 TP + FP + FN) of two binary arrays (NaN if both empty)."""
    return _score("dice", pred, truth)


def iou_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union TP / (TP + FP + FN) (NaN if both empty)."""
    return _score("iou", pred, truth)


def precision_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Precision TP / (TP + FP) (NaN if both empty, 0 if nothing predicted)."""
    return _score("precision", pred, truth)


def recall_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Recall TP / (TP + FN) (NaN if both empty, 0 if the class is only predicted)."""
    return _score("recall", pred, truth)


def accuracy_score(pred: np.ndarray, truth: np.ndarray) -> float:
    """Voxel accuracy (TP + TN) / all voxels."""
    return _score("accuracy", pred, truth)


def _class_names(n: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is None:
        if n > len(CLASS_NAMES):
            return [f"class{i}" for i in range(n)]
        return list(CLASS_NAMES[:n])
    names = [str(c) for c in class_names]
    if len(names) != n:
        raise InputError(
            f"{len(names)} class names {names} for masks with {n} channels: expected "
            "one name per channel"
        )
    return names


def evaluate(
    pred: np.ndarray, truth: np.ndarray, class_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-class counts and scores of one predicted mask against the truth.

    Args:
        pred, truth: (Z, Y, X, C) masks (nonzero = foreground), or (Z, Y, X) for one
            class; same shape.
        class_names: one per channel; default ``fluoseg.CLASS_NAMES[:C]``.

    Returns:
        DataFrame indexed by class name (index name ``class``) with int64 columns
        tp, fp, fn, tn and float columns accuracy, precision, recall, iou, dice.
    """
    p = np.asarray(pred)
    t = np.asarray(truth)
    if p.shape != t.shape:
        raise InputError(
            f"prediction of shape {p.shape} and truth of shape {t.shape}: expected "
            "the same (Z, Y, X, C) shape"
        )
    if p.ndim == 3:
        p, t = p[..., None], t[..., None]
    if p.ndim != 4 or p.size == 0:
        raise InputError(
            f"masks of shape {p.shape}: expected (Z, Y, X, C) or (Z, Y, X), non-empty"
        )
    names = _class_names(p.shape[-1], class_names)
    rows = []
    for c in range(p.shape[-1]):
        counts = confusion(p[..., c], t[..., c])
        rows.append({**dict(zip(COUNTS, counts, strict=True)), **scores(*counts)})
    df = pd.DataFrame(rows, index=pd.Index(names, name="class"), columns=list(COLUMNS))
    return df.astype({c: "int64" for c in COUNTS}).astype(
        {c: "float64" for c in SCORES}
    )


def _check_frames(frames: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    frames = list(frames)
    if not frames:
        raise InputError("no metric frames to average: expected at least one volume")
    index = list(frames[0].index)
    for f in frames[1:]:
        if list(f.index) != index:
            raise InputError(
                f"metric frames with classes {list(f.index)} and {index}: expected the "
                "same classes in every frame"
            )
    return frames


def average(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Mean of each score per class over volumes, as the thesis's tables.

    Counts (tp, fp, fn, tn) are summed over the volumes; each score is the mean of the
    per-volume scores, skipping NaN (a class absent from both masks of a volume); the
    column ``n_volumes`` says how many volumes gave that class a Dice value.
    """
    frames = _check_frames(frames)
    stacked = pd.concat(frames)
    grouped = stacked.groupby(level=0, sort=False)
    out = grouped[list(COUNTS)].sum().astype("int64")
    means = grouped[list(SCORES)].mean()
    out = out.join(means)
    out["n_volumes"] = grouped["dice"].count().astype("int64")
    out = out.loc[list(frames[0].index)]
    out.index.name = "class"
    return out


def pooled(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Scores from the counts summed over volumes (a micro-average), per class."""
    frames = _check_frames(frames)
    counts = pd.concat(frames).groupby(level=0, sort=False)[list(COUNTS)].sum()
    counts = counts.loc[list(frames[0].index)]
    rows = [scores(*(int(v) for v in r)) for r in counts.itertuples(index=False)]
    out = counts.astype("int64").join(pd.DataFrame(rows, index=counts.index))
    out.index.name = "class"
    return out
