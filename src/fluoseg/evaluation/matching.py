"""One optimal one-to-one matcher (Hungarian algorithm) and detection scores.

``assign`` is the only place that runs ``scipy.optimize.linear_sum_assignment``: object
scores (``fluoseg.evaluation.objects.match``, on IoU) and nucleus-Golgi pairing and its
scores (``fluoseg.evaluation.pairing``, ``fluoseg.evaluation.pair_scores``, on
distances) all use it. ``detection_scores`` turns a match count into precision, recall
and F1.
"""

from __future__ import annotations

import numpy as np


def assign(cost: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal one-to-one assignment among the ``allowed`` entries of ``cost``.

    Maximises the number of assigned pairs, then minimises their summed cost (Hungarian
    algorithm; a forbidden entry costs more than any set of allowed ones).

    Returns:
        ``(rows, cols)`` of the assigned pairs, sorted by row.
    """
    from scipy.optimize import linear_sum_assignment  # slow import: on first use

    cost = np.asarray(cost, dtype=np.float64)
    allowed = np.asarray(allowed, dtype=bool) & np.isfinite(cost)
    if cost.size == 0 or not allowed.any():
        return np.zeros(0, int), np.zeros(0, int)
    big = 1.0 + float(np.abs(cost[allowed]).sum()) * 2
    rows, cols = linear_sum_assignment(np.where(allowed, cost, big))
    keep = allowed[rows, cols]
    return rows[keep], cols[keep]


def detection_scores(tp: int, n_pred: int, n_true: int) -> dict[str, float]:
    """precision = tp / n_pred, recall = tp / n_true, F1 = 2 tp / (n_pred + n_true).

    Each is 1.0 when its denominator is 0 (nothing to find and nothing found).
    """
    return {
        "precision": tp / n_pred if n_pred else 1.0,
        "recall": tp / n_true if n_true else 1.0,
        "f1": 2 * tp / (n_pred + n_true) if n_pred + n_true else 1.0,
    }
