"""The notes at the top of the experiment chapters: what the numbers mean.

The text about each profile is data: the ``notes`` section of
``fluoseg/resources/profiles/<name>.json`` (key ``profile``); the sentences on the
validation hold-out and the window rule are generated from the settings.
"""

from __future__ import annotations

from fluoseg.config import Profile, get_profile
from fluoseg.data import origins, validation
from fluoseg.data.dataset import dataset_spec
from fluoseg.evaluation.evaluate import EVALUATION_BLENDINGS
from fluoseg.thesis import THESIS_PROFILE, raw_tables
from fluoseg.training.plan import train_config


def _profile(profile: Profile | str | None) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def profile_note(profile: Profile | str | None = None) -> str:
    """A Markdown note for the top of an experiment chapter: what the numbers mean
    (the profile's ``notes["profile"]``, then :func:`validation_note` and
    :func:`window_note`)."""
    prof = _profile(profile)
    note = prof.section("notes").get("profile") or (
        f"> **{prof.name} profile.** {prof.description}."
    )
    return f"{note}\n>\n> {validation_note(prof)} {window_note()}"


def validation_note(profile: Profile | str | None = None) -> str:
    """One sentence, generated from the settings, on the validation data the trainer
    holds out at ``profile`` and at ``paper`` (the thesis's 433 patches)."""
    prof = _profile(profile)
    paper = get_profile(THESIS_PROFILE)
    patch = tuple(paper.patch_shape)
    crops = [c for c in dataset_spec(paper.dataset).crops if c.split == "train"]
    padded = [[max(s, p) for s, p in zip(c.shape, patch, strict=True)] for c in crops]
    n_grid = sum(len(origins.grid_origins(shape, patch)) for shape in padded)
    fraction = validation.GRID_VALIDATION_FRACTION
    n_val = max(1, round(fraction * n_grid))
    thesis_n = raw_tables()["hyperparameters"]["train_patches"]
    pct = f"{100 * fraction:g} %"
    same = f"the thesis: {thesis_n}"
    if n_grid == thesis_n:
        same = "as many as the thesis's"
    paper_text = (
        f"At `{paper.name}`, {pct} of the {n_grid} non-overlapping {patch[0]}³ "
        f"patches cut from the training crops ({same}) are held out for validation "
        f"({n_val} patches, seeded); the thesis stopped on held-out validation data "
        "without stating how much."
    )
    if train_config("unet", prof).sampling == "grid":
        return f"**Validation.** {paper_text}"
    return (
        f"**Validation.** At `{prof.name}` the trainer holds out the last training "
        "crop by name (patches are drawn at random, not cut on a grid). " + paper_text
    )


def window_note() -> str:
    """One sentence on the window rule of the experiment tables."""
    main, *others = EVALUATION_BLENDINGS
    also = ", ".join(f"`{b}`" for b in others)
    return (
        f"**Test crops** are segmented with the thesis's sliding-window rule "
        f'(`blending="{main}"`) for every metric; the Dice with {also} blending, '
        "this book's addition, is given beside it."
    )
