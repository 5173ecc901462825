"""CycleGAN per-epoch diagnostics from a history table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fluoseg.diagnostics import cyclegan_epochs
from fluoseg.errors import InputError


def test_cyclegan_epochs_exact_values():
    history = pd.DataFrame(
        {
            "val_fg_pred_0": [0.02, 0.01],
            "val_fg_ref_0": [0.01, 0.01],
            "val_fg_pred_1": [0.0, 0.003],
            "val_fg_ref_1": [0.0, 0.002],
            "val_cycle_inter_0": [0.005, 0.01],
            "val_cycle_total_0": [0.02, 0.02],
            "val_cycle_inter_1": [0.0, 0.001],
            "val_cycle_total_1": [0.0, 0.004],
            "val_d_s_acc": [0.9, 0.6],
        },
        index=pd.Index([1, 2], name="epoch"),
    )
    out = cyclegan_epochs(history, 2)
    assert out[("share ratio", "nuclei")].tolist() == pytest.approx([2.0, 1.0])
    assert np.isnan(out.loc[1, ("share ratio", "golgi")])  # no reference foreground
    assert out[("cycle Dice", "nuclei")].tolist() == pytest.approx([0.5, 1.0])
    assert out.loc[2, ("cycle Dice", "golgi")] == pytest.approx(0.5)
    assert out[("D_S accuracy", "")].tolist() == [0.9, 0.6]
    assert ("D_I accuracy", "") not in out.columns
    with pytest.raises(InputError, match="CycleGAN"):
        cyclegan_epochs(history.drop(columns="val_fg_ref_1"), 2)
