"""Scoring a trained run on the test crops."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fluoseg import CLASS_NAMES
from fluoseg.data.loaders import MASK_KINDS, load_split
from fluoseg.errors import check_choice
from fluoseg.metrics import average, evaluate

if TYPE_CHECKING:  # pragma: no cover
    from fluoseg.train import Run


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

    Returns one row per (crop, class) with ``fluoseg.metrics.evaluate``'s columns plus
    ``crop`` and ``seconds`` (wall time of the crop's prediction), then the per-class
    average over the crops (``crop == "average"``, as the thesis's tables report).
    """
    check_choice(truth, MASK_KINDS, "truth")
    ddir = Path(data_dir) if data_dir is not None else Path(run.config["data_dir"])
    crops = load_split(
        "test",
        profile=run.profile,
        data_dir=ddir,
        truth=truth,
        n_classes=run.n_classes,
    )
    frames, per_crop = [], []
    names = list(CLASS_NAMES[: run.n_classes])
    for crop in crops:
        t0 = time.perf_counter()
        mask = run.segment(
            crop.image,
            threshold=threshold,
            tta=tta,
            blending=blending,
            precision=precision,
        )
        seconds = time.perf_counter() - t0
        frame = evaluate(mask, crop.mask, class_names=names)
        frames.append(frame)
        per_crop.append(frame.assign(crop=crop.name, seconds=round(seconds, 3)))
    avg = average(frames).assign(
        crop="average",
        seconds=round(float(np.mean([f["seconds"].iloc[0] for f in per_crop])), 3),
    )
    return pd.concat([*per_crop, avg])
