"""How well predicted nucleus–Golgi pairs recover the true pairs.

A predicted pair is correct when both of its centroids lie near those of one true
pair; pairs are matched one-to-one (``fluoseg.evaluation.matching.assign``). The scores
are precision, recall, F1 and the angle between the predicted and the true
nucleus→Golgi vectors (``PairScores``). Pair tables come from
``fluoseg.evaluation.pairing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fluoseg.errors import InputError
from fluoseg.evaluation.instances import checked_voxel_size
from fluoseg.evaluation.matching import assign, detection_scores
from fluoseg.evaluation.pairing import centroid_columns


def angular_error(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle in degrees (0 to 180) between the rows of two (N, 3) vector arrays."""
    a = np.asarray(u, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(v, dtype=np.float64).reshape(-1, 3)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("ij,ij->i", a, b) / (na * nb)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@dataclass(frozen=True)
class PairScores:
    """How well predicted pairs recover true pairs.

    Attributes:
        n_true, n_pred: pairs in each table.
        tp: predicted pairs matched to a true pair.
        precision, recall, f1: tp / n_pred, tp / n_true, 2 tp / (n_pred + n_true)
            (1.0 when the denominator is 0).
        median_angular_error_deg: median angle between matched predicted and true
            nucleus→Golgi vectors (NaN without matches).
        angular_errors_deg: all those angles (3D, degrees).
        matches: DataFrame ``pred_index, true_index, nucleus_error, golgi_error,
            angular_error_deg`` (row positions in the two tables; centroid distances).
    """

    n_true: int
    n_pred: int
    tp: int
    precision: float
    recall: float
    f1: float
    median_angular_error_deg: float
    angular_errors_deg: np.ndarray = field(repr=False)
    matches: pd.DataFrame = field(repr=False)

    @classmethod
    def from_matches(
        cls, n_true: int, n_pred: int, matches: pd.DataFrame
    ) -> PairScores:
        """Scores from the counts and the table of correct pairs (``matches``)."""
        errors = matches["angular_error_deg"].to_numpy(dtype=np.float64)
        tp = len(matches)
        return cls(
            n_true=n_true, n_pred=n_pred, tp=tp,
            **detection_scores(tp, n_pred, n_true),
            median_angular_error_deg=float(np.median(errors)) if tp else float("nan"),
            angular_errors_deg=errors, matches=matches,
        )  # fmt: skip

    def summary(self) -> dict[str, float]:
        """The scalar scores as a dictionary (one table row)."""
        return {
            "n_true": self.n_true, "n_pred": self.n_pred, "tp": self.tp,
            "precision": self.precision, "recall": self.recall, "f1": self.f1,
            "median_angular_error_deg": self.median_angular_error_deg,
        }  # fmt: skip


def evaluate_pairs(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    tolerance: float,
    voxel_size: Sequence[float] | None = None,
) -> PairScores:
    """Score predicted pairs against true pairs.

    A predicted pair is correct when its nucleus centroid and its Golgi centroid each
    lie within ``tolerance`` of the nucleus and Golgi of one true pair. Predicted and
    true pairs are matched one-to-one (Hungarian algorithm, maximising the number of
    correct pairs, then minimising the sum of the larger of the two centroid errors).
    The angular error of a correct pair is the 3D angle between its nucleus→Golgi
    vector and the true one.

    Args:
        pred, truth: pair tables with ``nucleus_z/y/x`` and ``golgi_z/y/x`` in voxels
            (``PAIR_COLUMNS``; other columns are ignored).
        tolerance: largest centroid error (µm with ``voxel_size``, else voxels).
        voxel_size: (z, y, x) µm.
    """
    if not np.isfinite(tolerance) or tolerance <= 0:
        raise InputError(f"tolerance must be a positive number, got {tolerance}")
    vs = np.asarray(checked_voxel_size(voxel_size))
    pn, pg = (
        centroid_columns(pred, "nucleus", "predicted"),
        centroid_columns(pred, "golgi", "predicted"),
    )
    tn, tg = (
        centroid_columns(truth, "nucleus", "true"),
        centroid_columns(truth, "golgi", "true"),
    )
    dn = np.linalg.norm((pn[:, None] - tn[None]) * vs, axis=-1)
    dg = np.linalg.norm((pg[:, None] - tg[None]) * vs, axis=-1)
    worst = np.maximum(dn, dg)
    r, c = assign(worst, worst <= tolerance)
    errors = angular_error((pg[r] - pn[r]) * vs, (tg[c] - tn[c]) * vs)
    matches = pd.DataFrame({
        "pred_index": r, "true_index": c, "nucleus_error": dn[r, c],
        "golgi_error": dg[r, c], "angular_error_deg": errors,
    })  # fmt: skip
    return PairScores.from_matches(len(truth), len(pred), matches)


def pool(scores: Sequence[PairScores]) -> PairScores:
    """Several crops' scores as one: counts summed, angular errors pooled.

    ``matches`` gains a ``part`` column: the position of its crop in ``scores``.
    """
    scores = list(scores)
    matches = (
        pd.concat(
            [s.matches.assign(part=k) for k, s in enumerate(scores)],
            ignore_index=True,
        )
        if scores
        else pd.DataFrame({"angular_error_deg": [], "part": []})
    )
    return PairScores.from_matches(
        sum(s.n_true for s in scores), sum(s.n_pred for s in scores), matches
    )
