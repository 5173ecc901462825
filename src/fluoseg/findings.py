"""Sentences that set this build's numbers against a finding of the thesis.

A page must not say "this build confirms the thesis" because a typed sentence said
so: :func:`finding_verdict` writes the sentence from the numbers, says "confirms" only
when every class supports the finding, and always names the mechanism behind it,
including when the simulator built that mechanism into the data
(:func:`session_mechanism`: the test crops come from a brighter acquisition session,
``fluoseg.data.dataset.SESSION_GAIN``). The two thresholds the conclusions use are
kept here with their reasons. :func:`unsupervised_verdict` does the same for the
thesis's central claim (the unsupervised CycleGAN against the U-Net, seed means) and,
where the claim fails here, names the limit that the recorded Dice-vs-compute run
measured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from fluoseg.data.dataset import read_manifest
from fluoseg.errors import InputError
from fluoseg.report.tables import dice_compute_curve

#: Dice difference below which two models count as "within" each other: about the
#: gaps the thesis itself called comparable (§5.3.5: unsupervised CycleGAN vs U-Net +
#: Pre, -0.011 nuclei and -0.051 Golgi), rounded; a yardstick, not a statistical test.
WITHIN_DICE = 0.05

#: Seed standard deviations below which a gap between two models is seed noise: the
#: difference of two single trainings of one model has a standard deviation of
#: sqrt(2) sd, so about 84 % of such differences fall within 2 sd (normal spread); a
#: rule of thumb, since three seeds give only a rough sd.
SEED_SDS = 2.0


def session_gains(data_dir: str | os.PathLike) -> dict[str, float] | None:
    """Mean exposure gain of the simulated crops per split (``train``, ``test``),
    read from the dataset's manifest; ``None`` for real data (no manifest)."""
    manifest = read_manifest(data_dir)
    if manifest is None:
        return None
    gains: dict[str, list[float]] = {}
    for crop in manifest.get("crops", []):
        gain = (crop.get("info") or {}).get("gain")
        if gain is not None:
            gains.setdefault(crop["split"], []).append(float(gain))
    return {split: sum(g) / len(g) for split, g in gains.items() if g}


def session_mechanism(data_dir: str | os.PathLike) -> str | None:
    """The simulator's built-in reason for raw intensities to fail on the test
    crops, with this dataset's gains; ``None`` for real data or equal sessions."""
    gains = session_gains(data_dir)
    if not gains or "train" not in gains or "test" not in gains:
        return None
    ratio = gains["test"] / gains["train"]
    if abs(ratio - 1.0) < 0.1:
        return None
    return (
        f"the simulator images the test crops at a mean exposure gain of "
        f"{gains['test']:.2f} and the training crops at {gains['train']:.2f} "
        f"(`SESSION_GAIN`), so test objects are about {ratio:.1f} times as bright as "
        "any the raw-intensity model was trained on, while the per-crop percentile "
        "stretch removes the difference"
    )


def _within(gaps: Mapping[str, float]) -> bool:
    """Whether every per-class Dice gap is within :data:`WITHIN_DICE`."""
    return all(abs(v) <= WITHIN_DICE for v in gaps.values())


def _signed(values: Mapping[str, float], digits: int) -> str:
    return ", ".join(f"{k} {v:+.{digits}f}" for k, v in values.items())


def finding_verdict(
    claim: str,
    ours: Mapping[str, float],
    thesis: Mapping[str, float],
    mechanism: str,
    *,
    built_in: bool = False,
) -> str:
    """A sentence on whether this build supports the thesis's finding ``claim``.

    Args:
        claim: the finding, completing "the thesis's finding that ..."
            (e.g. "pre-processing raises the U-Net's Dice on both classes").
        ours, thesis: per class, the effect in the direction of the claim (positive
            supports it), e.g. Dice with minus Dice without pre-processing.
        mechanism: what produces the effect, completing "the mechanism: ...".
        built_in: the simulator put ``mechanism`` into the data, so agreement is
            partly a consequence of the simulator and not independent evidence.

    Returns:
        Markdown: "confirms" only when every class of ``ours`` is positive, and then
        with the mechanism; otherwise "does not confirm", naming the classes that
        fail.
    """
    if not ours or not mechanism.strip():
        raise InputError("finding_verdict needs per-class effects and a mechanism")
    effects = f"this build {_signed(ours, 3)}; thesis {_signed(thesis, 4)}"
    failing = {k: v for k, v in ours.items() if not v > 0}
    if failing:
        return (
            f"This build **does not confirm** the thesis's finding that {claim}: "
            f"not on {', '.join(failing)} ({effects})."
        )
    caveat = "" if all(v > 0 for v in thesis.values()) else (
        " The thesis's own numbers do not show it on every class."
    )
    if built_in:
        return (
            f"This build **agrees** with the thesis's finding that {claim} "
            f"({effects}), but not as independent evidence: the mechanism is one the "
            f"simulator builds in: {mechanism}.{caveat}"
        )
    return (
        f"This build **confirms** the thesis's finding that {claim} ({effects}); "
        f"the mechanism: {mechanism}.{caveat}"
    )


STRETCH_MECHANISM = (
    "a dark input squeezes objects and background into a few grey levels, which the "
    "per-crop percentile stretch spreads over the full range"
)
"""Why contrast stretching should help a U-Net on any data (the thesis's reading)."""


def preprocessing_verdict(
    ours: Mapping[str, float], thesis: Mapping[str, float], data_dir: str | os.PathLike
) -> str:
    """:func:`finding_verdict` for the thesis's Table 5.1 finding (Dice with minus
    without pre-processing, per class): on simulated data whose test session is
    brighter the mechanism is :func:`session_mechanism`'s and marked as built in;
    otherwise :data:`STRETCH_MECHANISM`."""
    built = session_mechanism(data_dir)
    return finding_verdict(
        "percentile contrast stretching raises the U-Net's Dice on both classes",
        ours,
        thesis,
        built or STRETCH_MECHANISM,
        built_in=built is not None,
    )


def _compute_limit(
    curve: pd.DataFrame, unet: pd.DataFrame, stopped: bool, what: str
) -> str:
    """The sentence on what the longest recorded training (``what``) reached
    (``curve``: ``fluoseg.report.tables.dice_compute_curve``) against ``unet``'s seed
    means."""
    best = {c: float(curve[c].max()) for c in unet.index}
    gap = {c: best[c] - float(unet.loc[c, "mean"]) for c in unet.index}
    last = curve.iloc[-1]
    epoch, minutes = int(last["epoch"]), float(curve.index[-1])
    end = (f"ended by mode collapse at epoch {epoch} ({minutes:.1f} min)" if stopped
           else f"reached its last budget ({epoch} epochs, {minutes:.1f} min)")
    close = _within(gap)
    limit = ("what the recipe learns before it collapses" if stopped else
             "what the recipe learns in that time")
    verdict = (
        "so the book's shorter budget, not the recipe, is what holds this build back"
        if close else "so more training of this recipe did not close the gap in that "
        f"run: the limit is {limit}, not the book's budget"
    )
    return (
        f" The longest recorded training of {what} {end}; the best "
        f"it reached was Dice {', '.join(f'{k} {v:.3f}' for k, v in best.items())} "
        f"({_signed(gap, 3)} against this build's U-Net mean), {verdict}."
    )


def unsupervised_verdict(
    cyclegan: pd.DataFrame,
    unet: pd.DataFrame,
    thesis_gap: Mapping[str, float],
    compute: dict | None = None,
    source: str = "a recorded run",
    model_config: Mapping | None = None,
) -> str:
    """Whether the unsupervised CycleGAN comes within :data:`WITHIN_DICE` of the
    U-Net + Pre on every class (the thesis's central claim), from seed means.

    Args:
        cyclegan, unet: ``fluoseg.report.tables.mean_sd`` of each model's seeds
            (index: classes; columns ``mean``, ``sd``, ``n``).
        thesis_gap: per class, the thesis's CycleGAN minus U-Net Dice.
        compute: a recorded ``bench_dice_compute`` run, read when the claim fails
            here to name the measured limit; ``source`` describes it.
        model_config: the CycleGAN run's saved model configuration: the sentence
            says "the same recipe" only when every setting of the record's
            ``recipe`` equals this configuration's.

    Returns:
        Markdown: the verdict with both models' mean ± sd and the thesis's gaps.
    """
    classes = [c for c in unet.index if c in cyclegan.index]
    if not classes:
        raise InputError("unsupervised_verdict needs seed means of the same classes")
    gap = {c: float(cyclegan.loc[c, "mean"] - unet.loc[c, "mean"]) for c in classes}
    close = _within(gap)
    spread = "; ".join(
        f"{c} {cyclegan.loc[c, 'mean']:.3f} ± {cyclegan.loc[c, 'sd']:.3f} against "
        f"{unet.loc[c, 'mean']:.3f} ± {unet.loc[c, 'sd']:.3f}" for c in classes
    )
    claim = (
        "in line with the thesis's central claim that synthetic masks can replace "
        "manual ones at a small cost in accuracy" if close else "so this build does "
        "not support the thesis's claim that synthetic masks cost little accuracy"
    )
    n_cg, n_unet = int(cyclegan["n"].min()), int(unet["n"].min())
    seeds = (f"{n_cg} seeds of each model" if n_cg == n_unet
             else f"{n_cg} seeds of the CycleGAN and {n_unet} of the U-Net")
    th_close = _within(thesis_gap)
    text = (
        f"Over {seeds}, the "
        f"unsupervised CycleGAN **{'came' if close else 'did not come'} within "
        f"{WITHIN_DICE} Dice** of the pre-processed U-Net on every class, {claim} "
        f"({spread}; gaps {_signed(gap, 3)}). In the thesis the gaps were "
        f"{_signed(thesis_gap, 4)}: {'within' if th_close else 'not quite within'} the "
        "same margin."
    )
    if close or compute is None:
        return text
    source = source or "a recorded run"
    if "seed" in compute:
        source = f"seed {compute['seed']}, {source}"
    recipe = compute.get("recipe") or {}
    if not recipe or model_config is None:
        what = f"the recorded recipe, {source},"
    else:
        differ = [k for k, v in recipe.items() if model_config.get(k) != v]
        what = (f"another recipe (it differs in {', '.join(differ)}), {source},"
                if differ else f"the same recipe, {source},")
    stopped = bool(compute.get("unreached"))
    curve = dice_compute_curve(compute)
    return text + _compute_limit(curve, unet.loc[classes], stopped, what)
