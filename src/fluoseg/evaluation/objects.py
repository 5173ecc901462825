"""Object tables and object-level scores of instance label images.

Voxel Dice says how many voxels agree; biologists count *objects*. This module measures
each object of a label image (centroid in voxels and in µm, volume, bounding box;
``skimage.measure.regionprops_table``) and scores predicted instances against true ones
with object-level precision, recall and F1 at IoU thresholds, using an optimal
one-to-one matching (``fluoseg.evaluation.matching.assign`` on the IoU matrix).
Instances come from ``fluoseg.evaluation.instances``.

Label images are int32 arrays, 0 = background, objects numbered 1..n. Voxel sizes are
``(z, y, x)`` in µm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fluoseg import CLASS_NAMES
from fluoseg.errors import InputError
from fluoseg.evaluation.instances import check_3d, checked_voxel_size
from fluoseg.evaluation.matching import assign, detection_scores

DEFAULT_IOU_THRESHOLDS: tuple[float, ...] = (0.1, 0.25, 0.5)
"""IoU thresholds at which object-level scores are reported by default."""


OBJECT_COLUMNS: tuple[str, ...] = (
    "label",
    "volume_voxels",
    "volume_um3",
    "centroid_z",
    "centroid_y",
    "centroid_x",
    "centroid_z_um",
    "centroid_y_um",
    "centroid_x_um",
    "bbox_z0",
    "bbox_y0",
    "bbox_x0",
    "bbox_z1",
    "bbox_y1",
    "bbox_x1",
)
"""Columns of ``object_table`` (bounding boxes are half-open: ``z0 <= z < z1``)."""


def object_table(
    labels: np.ndarray, voxel_size: Sequence[float] | None = None
) -> pd.DataFrame:
    """One row per object of a (Z, Y, X) label image, sorted by label.

    Columns (``OBJECT_COLUMNS``): ``label``; ``volume_voxels`` and ``volume_um3``;
    centroid in voxel coordinates (``centroid_z/y/x``, the mean voxel index) and in µm
    (``centroid_*_um`` = index × voxel size, origin at voxel 0's centre); bounding box
    ``bbox_z0, y0, x0`` (first voxel) to ``bbox_z1, y1, x1`` (one past the last).
    Without ``voxel_size`` the µm columns equal the voxel ones (1 µm voxels).
    """
    from skimage.measure import regionprops_table

    lab = check_3d(labels, "labels")
    if lab.dtype.kind not in "iub":
        raise InputError(f"labels: expected an integer label image, got {lab.dtype}")
    vs = np.asarray(checked_voxel_size(voxel_size))
    lab = lab.astype(np.int64, copy=False)
    rows: dict[str, np.ndarray] = {c: np.zeros(0) for c in OBJECT_COLUMNS}
    if lab.max(initial=0) > 0:
        props = regionprops_table(lab, properties=("label", "area", "centroid", "bbox"))
        counts = props["area"].astype(np.int64)
        rows = {
            "label": props["label"],
            "volume_voxels": counts,
            "volume_um3": counts * float(np.prod(vs)),
        }
        for j, axis in enumerate("zyx"):
            rows[f"centroid_{axis}"] = props[f"centroid-{j}"]
        for j, axis in enumerate("zyx"):
            rows[f"centroid_{axis}_um"] = props[f"centroid-{j}"] * vs[j]
        for j, name in enumerate(("z0", "y0", "x0", "z1", "y1", "x1")):
            rows[f"bbox_{name}"] = props[f"bbox-{j}"]
    df = pd.DataFrame(rows, columns=list(OBJECT_COLUMNS))
    int_cols = [
        c for c in OBJECT_COLUMNS if c.startswith(("label", "bbox", "volume_v"))
    ]
    return df.astype({c: np.int64 for c in int_cols})


def iou_matrix(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Intersection over union of every (predicted, true) object pair.

    Args:
        pred, truth: (Z, Y, X) integer label images of the same shape.

    Returns:
        (n_pred, n_true) float64 array; row ``i`` is predicted label ``i + 1``, column
        ``j`` true label ``j + 1`` (labels are expected to be 1..n; missing numbers
        give empty rows/columns).
    """
    p = check_3d(pred, "pred").astype(np.int64, copy=False)
    t = check_3d(truth, "truth").astype(np.int64, copy=False)
    if p.shape != t.shape:
        raise InputError(
            f"pred and truth label images differ in shape: {p.shape} vs {t.shape}"
        )
    n_p, n_t = int(p.max(initial=0)), int(t.max(initial=0))
    inter = np.bincount(
        p.ravel() * (n_t + 1) + t.ravel(), minlength=(n_p + 1) * (n_t + 1)
    ).reshape(n_p + 1, n_t + 1)
    size_p = inter.sum(axis=1)
    size_t = inter.sum(axis=0)
    inter = inter[1:, 1:].astype(np.float64)
    union = size_p[1:, None] + size_t[None, 1:] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return iou


def match(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one matching of objects whose IoU reaches ``threshold``.

    Maximises first the number of matched pairs with IoU >= ``threshold``, then their
    summed IoU (``fluoseg.evaluation.matching.assign`` on the negated IoU).

    Returns:
        ``(rows, cols)``: indices into ``iou`` of the matched pairs.
    """
    iou = np.asarray(iou, dtype=np.float64)
    return assign(-iou, iou >= threshold)


SCORE_COLUMNS: tuple[str, ...] = (
    "class",
    "iou_threshold",
    "n_true",
    "n_pred",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "f1",
    "mean_matched_iou",
)
"""Columns of ``object_scores``."""


def object_scores(
    pred: np.ndarray,
    truth: np.ndarray,
    thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS,
    class_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Object-level precision, recall and F1 per class and IoU threshold.

    A predicted object is a true positive when the optimal matching pairs it with a
    true object at IoU >= threshold; unmatched predictions are false positives,
    unmatched true objects false negatives. precision = tp / n_pred,
    recall = tp / n_true, F1 = 2 tp / (n_pred + n_true); each is 1.0 when its
    denominator is 0 (nothing to find and nothing found).

    Args:
        pred, truth: label images, (Z, Y, X) for one class or (Z, Y, X, C) per class
            (e.g. from ``instances``).
        thresholds: IoU thresholds in (0, 1].
        class_names: one per channel (default ``fluoseg.CLASS_NAMES``).

    Returns:
        Tidy DataFrame, one row per (class, threshold), columns ``SCORE_COLUMNS``.
    """
    p, t = np.asarray(pred), np.asarray(truth)
    if p.shape != t.shape:
        raise InputError(
            f"prediction and truth differ in shape: {p.shape} vs {t.shape}; "
            "expected the same (Z, Y, X[, C])"
        )
    if p.ndim == 3:
        p, t = p[..., None], t[..., None]
    if p.ndim != 4:
        raise InputError(f"expected (Z, Y, X) or (Z, Y, X, C) labels, got {p.shape}")
    n_ch = p.shape[-1]
    names = list(class_names) if class_names is not None else list(CLASS_NAMES[:n_ch])
    if len(names) != n_ch:
        raise InputError(f"class_names: expected {n_ch} names, got {len(names)}")
    for thr in thresholds:
        if not 0 < thr <= 1:
            raise InputError(f"IoU thresholds must be in (0, 1], got {thr}")
    rows = []
    for c, name in enumerate(names):
        iou = iou_matrix(p[..., c], t[..., c])
        n_pred = len(np.unique(p[..., c])) - int((p[..., c] == 0).any())
        n_true = len(np.unique(t[..., c])) - int((t[..., c] == 0).any())
        for thr in thresholds:
            r, k = match(iou, thr)
            tp = len(r)
            rows.append(
                {
                    "class": name,
                    "iou_threshold": float(thr),
                    "n_true": n_true,
                    "n_pred": n_pred,
                    "tp": tp,
                    "fp": n_pred - tp,
                    "fn": n_true - tp,
                    **detection_scores(tp, n_pred, n_true),
                    "mean_matched_iou": float(iou[r, k].mean()) if tp else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
