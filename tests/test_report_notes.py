"""Tests of fluoseg.report.notes and the one scoring path of
fluoseg.evaluation.evaluate (segment_and_score)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from fluoseg.config import get_profile
from fluoseg.evaluation.evaluate import segment_and_score
from fluoseg.report.notes import profile_note, validation_note, window_note

# The first paragraph of each profile's note, as the pages showed it before the text
# moved into the profiles' ``notes`` section (issue 15): it must not change.
EXPECTED = {
    "smoke": (
        "> **Smoke profile.** Tiny models trained for a few steps on tiny crops: "
        "the numbers on this page only show that the code runs and say nothing "
        "about the models. Build the book with the `cpu` profile for real results."
    ),
    "cpu": (
        "> **cpu profile.** Small models trained for minutes on two CPU cores, on "
        "this build's synthetic data: compare trends with the thesis, not the "
        "third decimal."
    ),
    "gpu": (
        "> **gpu profile.** Mid-sized models trained for minutes on one GPU (64³ "
        "patches, smaller networks and shorter training than the thesis), on this "
        "build's synthetic data: compare trends with the thesis."
    ),
    "paper": (
        "> **paper profile.** The thesis's hyperparameters and 64³ "
        "patches, on this build's data."
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_note_text_comes_from_the_profile_unchanged(name: str) -> None:
    assert get_profile(name).section("notes")["profile"] == EXPECTED[name]
    expected = f"{EXPECTED[name]}\n>\n> {validation_note(name)} {window_note()}"
    assert profile_note(name) == expected
    assert profile_note(get_profile(name)) == expected


def test_segment_and_score_segments_each_crop_once_for_every_reference() -> None:
    @dataclass
    class Crop:
        name: str
        image: np.ndarray

    mask = np.zeros((2, 3, 3, 1), np.uint8)
    mask[0, 1, 1, 0] = 1
    crops = [Crop("A", np.zeros((2, 3, 3, 1))), Crop("B", np.ones((2, 3, 3, 1)))]
    calls = []

    def segment(image: np.ndarray) -> np.ndarray:
        calls.append(float(image.max()))
        return mask

    refs = {"same": {"A": mask, "B": mask}, "empty": dict.fromkeys("AB", 0 * mask)}
    scores = segment_and_score(crops, segment, ["nuclei"], refs)
    assert calls == [0.0, 1.0]  # once per crop, whatever the number of references
    assert set(scores.seconds) == set(scores.predictions) == {"A", "B"}
    assert [f["dice"].iloc[0] for f in scores.frames["same"]] == [1.0, 1.0]
    assert [f["dice"].iloc[0] for f in scores.frames["empty"]] == [0.0, 0.0]
