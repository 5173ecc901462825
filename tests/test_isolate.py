"""fluoseg.training.isolate.call_isolated: one function here, or in a child process."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg import notebook
from fluoseg.diagnostics import hidden_share
from fluoseg.training.isolate import call_isolated


def test_call_isolated_runs_here_when_not_isolated() -> None:
    probs = np.array([[0.2, 0.9], [0.6, 0.1]], np.float32)
    here = call_isolated(hidden_share, {"probs": probs}, isolate=False)
    assert here == hidden_share(probs)


@pytest.mark.slow
def test_call_isolated_runs_in_a_child_with_its_own_arguments(monkeypatch) -> None:
    monkeypatch.setattr(notebook, "CHILD_PEAKS_MIB", [])
    here = np.array([[0.2, 0.9]], np.float32)
    there = np.array([[0.4, 0.4], [0.8, 0.2]], np.float32)
    out = call_isolated(hidden_share, {"probs": here}, True, {"probs": there})
    assert out == pytest.approx(hidden_share(there))
    assert len(notebook.CHILD_PEAKS_MIB) == 1  # the child reported its peak memory
