"""Per-epoch diagnostics of a CycleGAN run, from its history (no test data).

The trainer logs, on the validation batches (real validation images beside masks of
the unpaired domain, so no annotation is read), the foreground share of G_S's masks
and of the unpaired masks, the overlap of the mask cycle ``G_S(G_I(s))`` with ``s``
and each discriminator's accuracy. :func:`cyclegan_epochs` turns them into one
table per epoch that shows what goes wrong when a CycleGAN fails: G_S drawing too
much or too little (share ratio far from 1), failing to read G_I's renderings (low
cycle Dice), or a discriminator that wins outright (accuracy near 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fluoseg import CLASS_NAMES
from fluoseg.errors import InputError


def cyclegan_epochs(history: pd.DataFrame, n_classes: int) -> pd.DataFrame:
    """One row per epoch: per class ``share G_S`` and ``share masks`` (validation
    foreground shares), ``share ratio`` and ``cycle Dice``; then ``D_S accuracy``
    and ``D_I accuracy`` when logged. Columns are ``(quantity, class)`` pairs."""
    needed = [f"val_{t}_{k}" for t in ("fg_pred", "fg_ref") for k in range(n_classes)]
    missing = [c for c in needed if c not in history.columns]
    if missing:
        raise InputError(
            f"history has no {', '.join(missing)}: expected a CycleGAN run's history"
        )
    cols: dict[tuple[str, str], pd.Series] = {}
    for k, name in enumerate(CLASS_NAMES[:n_classes]):
        pred = history[f"val_fg_pred_{k}"].astype(float)
        ref = history[f"val_fg_ref_{k}"].astype(float)
        inter = history.get(f"val_cycle_inter_{k}")
        total = history.get(f"val_cycle_total_{k}")
        cols[("share G_S", name)] = pred
        cols[("share masks", name)] = ref
        cols[("share ratio", name)] = pred / ref.where(ref > 0, np.nan)
        if inter is not None and total is not None:
            t = total.astype(float)
            cols[("cycle Dice", name)] = 2 * inter.astype(float) / t.where(t > 0)
    for d in ("s", "i"):
        if f"val_d_{d}_acc" in history.columns:
            cols[(f"D_{d.upper()} accuracy", "")] = history[f"val_d_{d}_acc"]
    frame = pd.DataFrame(cols)
    frame.index.name = "epoch"
    return frame
