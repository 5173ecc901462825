"""Verdict sentences against the thesis's findings, generated from numbers."""

from __future__ import annotations

import json

import pytest

from fluoseg.errors import InputError
from fluoseg.findings import (
    WITHIN_DICE,
    finding_verdict,
    session_gains,
    session_mechanism,
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
