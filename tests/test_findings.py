"""Verdict sentences against the thesis's findings, generated from numbers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fluoseg.errors import InputError
from fluoseg.findings import (
    WITHIN_DICE,
    finding_verdict,
    session_gains,
    session_mechanism,
    unsupervised_verdict,
)
from fluoseg.thesis import thesis_row

CLAIM = "pre-processing raises the Dice"


def test_confirms_only_when_every_class_supports_it_and_names_the_mechanism():
    both = {"nuclei": 0.2, "Golgi": 0.1}
    s = finding_verdict(CLAIM, both, {"nuclei": 0.3}, "a stretch")
    assert "**confirms**" in s and "the mechanism: a stretch" in s
    assert "nuclei +0.200, Golgi +0.100" in s and "thesis nuclei +0.3000" in s
    s = finding_verdict(CLAIM, {"nuclei": 0.2, "Golgi": -0.01}, {"nuclei": 0.3}, "x")
    assert "**does not confirm**" in s and "not on Golgi" in s
    assert "mechanism" not in s


def test_a_built_in_mechanism_is_not_independent_evidence():
    s = finding_verdict(CLAIM, {"nuclei": 0.2}, {"nuclei": -0.1}, "brighter tests",
                        built_in=True)
    assert "**agrees**" in s and "simulator builds in: brighter tests" in s
    assert "not as independent evidence" in s and "do not show it" in s
    with pytest.raises(InputError, match="mechanism"):
        finding_verdict(CLAIM, {"nuclei": 0.2}, {}, " ")


def test_session_mechanism_reads_the_manifest(tmp_path):
    assert session_gains(tmp_path) is None and session_mechanism(tmp_path) is None
    crops = [{"split": "train", "info": {"gain": 0.2}},
             {"split": "train", "info": {"gain": 0.3}},
             {"split": "test", "info": {"gain": 0.75}}]
    (tmp_path / "manifest.json").write_text(json.dumps({"crops": crops}))
    assert session_gains(tmp_path) == pytest.approx({"train": 0.25, "test": 0.75})
    text = session_mechanism(tmp_path)
    assert "3.0 times as bright" in text and "0.75" in text
    crops[2]["info"]["gain"] = 0.26
    (tmp_path / "manifest.json").write_text(json.dumps({"crops": crops}))
    assert session_mechanism(tmp_path) is None  # one session: nothing built in


def test_within_tolerance_matches_the_thesis_gaps_it_is_named_after():
    u, c = thesis_row("U-Net + Pre"), thesis_row("CycleGAN (unsupervised)")
    gaps = [abs(c[f"DC {k}"] - u[f"DC {k}"]) for k in ("Nuclei", "Golgi")]
    assert round(max(gaps), 2) == WITHIN_DICE


def test_preprocessing_verdict_says_when_the_simulator_built_the_finding(tmp_path):
    from fluoseg.findings import preprocessing_verdict

    gains = {"nuclei": 0.3, "golgi": 0.4}
    real = preprocessing_verdict(gains, gains, tmp_path)  # no manifest: real data
    assert "**confirms**" in real and "grey levels" in real
    crops = [{"split": "train", "info": {"gain": 0.25}},
             {"split": "test", "info": {"gain": 0.7}}]
    (tmp_path / "manifest.json").write_text(json.dumps({"crops": crops}))
    sim = preprocessing_verdict(gains, gains, tmp_path)
    assert "**agrees**" in sim and "2.8 times as bright" in sim


def _spread(nuclei: float, golgi: float, sd: float = 0.01, n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"mean": [nuclei, golgi], "sd": [sd, sd], "n": [n, n]},
                        index=pd.Index(["nuclei", "golgi"], name="class"))


THESIS_GAP = {"nuclei": -0.0111, "golgi": -0.0511}
RECIPE = {"cycle_mask": "hard", "ema_decay": 0.99}


def _compute(best: tuple[float, float], unreached: list[int]) -> dict:
    snaps = [
        {"epoch": 10, "kept_epoch": 10, "minutes": 1.0, "dice": [0.3, 0.1]},
        {"epoch": 50, "kept_epoch": 48, "minutes": 5.0, "dice": list(best)},
        {"epoch": 90, "kept_epoch": 48, "minutes": 9.5, "dice": list(best)},
    ]
    return {"snapshots": snaps, "unreached": unreached, "recipe": RECIPE, "seed": 0}


def test_unsupervised_verdict_uses_seed_means_and_is_within_only_if_every_class_is():
    close = unsupervised_verdict(_spread(0.78, 0.62), _spread(0.80, 0.64), THESIS_GAP)
    assert "**came within 0.05 Dice**" in close and "0.780 ± 0.010" in close
    assert "nuclei -0.020" in close
    assert "were nuclei -0.0111, golgi -0.0511: not quite" in close
    assert "in line with the thesis's central claim" in close
    far = unsupervised_verdict(_spread(0.78, 0.50), _spread(0.80, 0.64), THESIS_GAP)
    assert "**did not come within" in far and "golgi -0.140" in far
    assert "does not support" in far
    with pytest.raises(InputError):
        upper = _spread(0.7, 0.5).rename(index=str.upper)
        unsupervised_verdict(upper, _spread(0.8, 0.6), THESIS_GAP)


def test_unsupervised_verdict_names_the_measured_limit_when_the_claim_fails():
    cg, unet = _spread(0.65, 0.51), _spread(0.805, 0.635)
    collapsed = _compute((0.733, 0.558), [100, 200])
    text = unsupervised_verdict(cg, unet, THESIS_GAP, collapsed, "rec.json", RECIPE)
    assert "the same recipe, seed 0, rec.json, ended" in text
    assert text.startswith("Over 3 seeds of each model")
    assert "mode collapse at epoch 90 (9.5 min)" in text
    assert "Dice nuclei 0.733, golgi 0.558 (nuclei -0.072, golgi -0.077 against" in text
    assert "did not close the gap" in text and "before it collapses" in text
    # a record of another recipe is named as such; a longer run that reaches the
    # U-Net puts the limit on the book's budget instead
    other = unsupervised_verdict(cg, unet, THESIS_GAP, _compute((0.79, 0.62), []), "r",
                                 {"cycle_mask": "soft", "ema_decay": 0.99})
    assert "another recipe (it differs in cycle_mask), seed 0, r, reached" in other
    assert "reached its last budget (90 epochs, 9.5 min)" in other
    assert "book's shorter budget" in other
    # no description of the record, no saved configuration to compare with
    bare = unsupervised_verdict(cg, unet, THESIS_GAP, collapsed, "")
    assert "the recorded recipe, seed 0, a recorded run, ended by mode collapse" in bare
    # no record, or a claim that holds: no limit sentence
    assert "longest" not in unsupervised_verdict(cg, unet, THESIS_GAP)
    assert "longest" not in unsupervised_verdict(
        _spread(0.80, 0.63), unet, THESIS_GAP, collapsed, "r", dict(RECIPE))
