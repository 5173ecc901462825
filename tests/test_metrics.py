"""fluoseg.evaluation.metrics: exact values on hand-made masks, a check on random."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fluoseg.errors import InputError
from fluoseg.evaluation.metrics import (
    accuracy_score,
    average,
    confusion,
    dice_score,
    evaluate,
    iou_score,
    pooled,
    precision_score,
    recall_score,
)


def _hand_made():
    """2 x 2 x 5 volume, 20 voxels; class 0 has TP=3, FP=1, FN=2, TN=14."""
    truth = np.zeros((2, 2, 5, 2), dtype=np.uint8)
    pred = np.zeros_like(truth)
    truth[0, 0, :5, 0] = 1  # 5 true voxels
    pred[0, 0, :3, 0] = 1  # 3 of them found
    pred[1, 1, 4, 0] = 1  # 1 false positive
    # class 1: identical single voxel
    truth[1, 0, 0, 1] = pred[1, 0, 0, 1] = 1
    return pred, truth


def test_exact_values_on_hand_made_masks():
    pred, truth = _hand_made()
    df = evaluate(pred, truth)
    assert list(df.index) == ["nuclei", "golgi"] and df.index.name == "class"
    row = df.loc["nuclei"]
    assert (row.tp, row.fp, row.fn, row.tn) == (3, 1, 2, 14)
    assert row.accuracy == pytest.approx(17 / 20)
    assert row.precision == pytest.approx(3 / 4)
    assert row.recall == pytest.approx(3 / 5)
    assert row.iou == pytest.approx(3 / 6)
    assert row.dice == pytest.approx(6 / 9)
    assert df.loc["golgi", "dice"] == 1.0 and df.loc["golgi", "tn"] == 19
    assert df["tp"].dtype == np.int64


def test_single_array_scores_match_frame():
    pred, truth = _hand_made()
    p, t = pred[..., 0], truth[..., 0]
    assert dice_score(p, t) == pytest.approx(2 / 3)
    assert iou_score(p, t) == pytest.approx(0.5)
    assert precision_score(p, t) == pytest.approx(0.75)
    assert recall_score(p, t) == pytest.approx(0.6)
    assert accuracy_score(p, t) == pytest.approx(0.85)


def test_random_masks_agree_with_set_arithmetic(rng):
    shape = (7, 9, 11, 3)
    pred = rng.random(shape) < 0.3
    truth = rng.random(shape) < 0.4
    df = evaluate(pred.astype(np.uint8) * 255, truth, class_names=["a", "b", "c"])
    for c, name in enumerate("abc"):
        p = {tuple(i) for i in np.argwhere(pred[..., c])}
        t = {tuple(i) for i in np.argwhere(truth[..., c])}
        tp, fp, fn = len(p & t), len(p - t), len(t - p)
        tn = math.prod(shape[:3]) - len(p | t)
        row = df.loc[name]
        assert (row.tp, row.fp, row.fn, row.tn) == (tp, fp, fn, tn)
        assert row.dice == pytest.approx(2 * len(p & t) / (len(p) + len(t)))
        assert row.iou == pytest.approx(len(p & t) / len(p | t))
        # Dice and IoU are tied: D = 2 J / (1 + J)
        assert row.dice == pytest.approx(2 * row.iou / (1 + row.iou))


def test_absent_class_is_nan_and_skipped_in_average():
    empty = np.zeros((2, 3, 4, 3), dtype=np.uint8)
    df = evaluate(empty, empty)
    assert df.loc["pair", "accuracy"] == 1.0
    assert df[["precision", "recall", "iou", "dice"]].isna().all().all()
    full = np.ones_like(empty)
    avg = average([df, evaluate(full, full)])
    assert (avg["dice"] == 1.0).all() and (avg["n_volumes"] == 1).all()


def test_zero_denominator_with_a_present_class_scores_zero():
    truth = np.zeros((2, 2, 2), dtype=np.uint8)
    truth[0, 0, 0] = 1
    nothing = np.zeros_like(truth)
    assert precision_score(nothing, truth) == 0.0
    assert recall_score(truth, nothing) == 0.0  # predicted, absent from the truth
    assert dice_score(nothing, truth) == 0.0


def test_average_is_the_mean_over_volumes_and_pooled_differs():
    pred, truth = _hand_made()
    f1 = evaluate(pred, truth)
    f2 = evaluate(truth, truth)  # perfect
    avg = average([f1, f2])
    assert avg.loc["nuclei", "dice"] == pytest.approx((2 / 3 + 1) / 2)
    assert avg.loc["nuclei", "tp"] == 3 + 5
    pool = pooled([f1, f2])
    # pooled: TP = 8, FP = 1, FN = 2 -> 16 / 19
    assert pool.loc["nuclei", "dice"] == pytest.approx(16 / 19)
    assert list(avg.index) == ["nuclei", "golgi"]


def test_counts_do_not_overflow_on_thesis_sized_volumes():
    truth = np.ones((60, 600, 800), dtype=bool)
    tp, fp, fn, tn = confusion(truth, truth)
    assert tp == 60 * 600 * 800 and fp == fn == tn == 0


def test_bad_inputs():
    with pytest.raises(InputError, match="same"):
        evaluate(np.zeros((2, 2, 2, 2)), np.zeros((2, 2, 3, 2)))
    with pytest.raises(InputError, match="one name per channel"):
        evaluate(np.zeros((2, 2, 2, 2)), np.zeros((2, 2, 2, 2)), ["x"])
    a = evaluate(np.zeros((2, 2, 2, 2)), np.zeros((2, 2, 2, 2)))
    b = evaluate(np.zeros((2, 2, 2, 3)), np.zeros((2, 2, 2, 3)))
    with pytest.raises(InputError, match="same classes"):
        average([a, b])
    with pytest.raises(InputError, match="at least one"):
        average([])
    assert isinstance(a, pd.DataFrame)
