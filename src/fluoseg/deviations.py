"""What a run did differently from the thesis, read from the run's saved config.

The thesis's settings are the ``paper`` profile's (``fluoseg.config`` and
``fluoseg.models.model_config(name, "paper", n)``, its training loop
``fluoseg.training.plan.train_config(name, "paper")``). :func:`deviations` compares a
run's
``config.json`` with them field by field, so an experiment page shows every deviation
beside the result it produced without typing any of it. Rules of the training loop
that are not a single setting (where patches are centred, which epoch is kept, how
the supervised CycleGAN's masks are unpaired) are derived from the same config by
:func:`rule_deviations`; :func:`summary` puts several runs side by side.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fluoseg.config import get_profile
from fluoseg.errors import InputError
from fluoseg.models import model_config
from fluoseg.models.registry import names, spec
from fluoseg.thesis import THESIS_PROFILE
from fluoseg.training.plan import train_config

# fields that describe the run, not a setting the thesis chose
_IGNORED = frozenset(
    {"name", "description", "book_minutes", "dataset", "seed", "n_classes", "model"}
)


def _flat(d: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in _IGNORED:
            continue
        out[f"{prefix}{k}"] = tuple(v) if isinstance(v, list) else v
    return out


def thesis_settings(model: str, n_classes: int) -> dict[str, Any]:
    """The thesis's settings of ``model`` (the ``paper`` profile), flattened as
    ``profile.*``, ``train.*`` and ``model.*``."""
    paper = get_profile(THESIS_PROFILE)
    return {
        **_flat(paper.to_dict(), "profile."),
        **_flat(train_config(model, paper).to_dict(), "train."),
        **_flat(model_config(model, paper, n_classes).settings(), "model."),
    }


def _with_omitted_defaults(model: str, saved: Mapping[str, Any]) -> dict[str, Any]:
    """A saved model configuration with the fields that ``to_dict`` leaves out at
    their default filled in (``fluoseg.models.configs._Config._OMIT_AT_DEFAULT``)."""
    if model not in names():
        return dict(saved)
    cls = spec(model).config
    omitted = getattr(cls, "_OMIT_AT_DEFAULT", ())
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name in omitted}
    return {**defaults, **saved}


def deviations(config: Mapping[str, Any]) -> pd.DataFrame:
    """Every setting of a run's ``config`` (``Run.config``) that differs from the
    thesis's: one row per setting with columns ``this run`` and ``thesis``, then the
    training-loop rules of :func:`rule_deviations` and, for runs that threshold by
    foreground share, a ``mask share per class`` row."""
    try:
        model, n = str(config["model"]), int(config["n_classes"])
        ours = {
            **_flat(config["profile"], "profile."),
            **_flat(config["train_config"], "train."),
            **_flat(_with_omitted_defaults(model, config["model_config"]), "model."),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"not a run configuration ({exc}): expected the config.json of a run"
        ) from exc
    theirs = thesis_settings(model, n)
    rows = {
        key: {"this run": _show(ours.get(key)), "thesis": _show(theirs.get(key))}
        for key in sorted(set(ours) | set(theirs))
        if ours.get(key) != theirs.get(key)
    }
    rows.update(rule_deviations(config))
    if config.get("mask_share"):
        share = ", ".join(f"{v:.2e}" for v in config["mask_share"])
        rows["mask share per class"] = {"this run": share, "thesis": "-"}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["this run", "thesis"])
    frame.index.name = "setting"
    return frame


# The thesis's checkpoint rule per model, in its words (section of the thesis).
_THESIS_CHECKPOINT = {
    "unet": "lowest validation loss, early stopping (§5.3.1)",
    "vox2vox": "lowest validation loss, early stopping (§5.3.2)",
    "cyclegan": "chosen by eye from translated examples, after a collapse (§5.3.3)",
}
# What this package monitors to keep the best epoch (fluoseg.models.monitor_for);
# None: the thesis's rule.
_OUR_CHECKPOINT = {
    "unet": None,
    "vox2vox": "lowest val_dice_loss (the generator's weighted Dice term alone)",
    "cyclegan": "lowest val_selection_loss (automatic, no annotation)",
}


def rule_deviations(config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Training-loop rules of a run that differ from the thesis's, derived from its
    ``config``: ``rule: patch centres`` (random patches centred on annotated objects,
    or on bright blobs for an unsupervised CycleGAN, instead of the thesis's regular
    grid), ``rule: checkpoint`` (which epoch is kept, where it is not the thesis's
    validation loss) and, for the supervised CycleGAN, ``rule: mask side`` (the
    masks drawn independently of the images: this book's reading of §5.3.3).

    Returns:
        ``{row name: {"this run": ..., "thesis": ...}}``, empty where the run follows
        the thesis.
    """
    model = str(config.get("model"))
    train = config.get("train_config") or {}
    profile = config.get("profile") or {}
    unsup = bool(config.get("unsupervised"))
    rows: dict[str, dict[str, str]] = {}
    if train.get("sampling", "grid") != "grid":
        share = float(profile.get("foreground_fraction") or 0.0)
        target = (
            "bright blobs (fluoseg.data.origins.bright_proposals, no annotation)"
            if unsup
            else "annotated objects"
        )
        rows["rule: patch centres"] = {
            "this run": f"random patches, {share:.0%} centred on {target}",
            "thesis": "every patch of a regular grid over the training crops",
        }
    if _OUR_CHECKPOINT.get(model):
        rows["rule: checkpoint"] = {
            "this run": _OUR_CHECKPOINT[model],
            "thesis": _THESIS_CHECKPOINT[model],
        }
    if model in names() and spec(model).unpaired and not unsup:
        rows["rule: mask side"] = {
            "this run": "annotator masks of other patches, drawn independently of "
            "the images (this book's reading of §5.3.3)",
            "thesis": "the real masks; how they were unpaired is not stated",
        }
    return rows


def run_config(item: Any) -> Mapping[str, Any]:
    """The saved config of ``item``: a config mapping itself, a run (its
    ``config``) or a saved result (the ``config.json`` of its ``extra["run"]``)."""
    if isinstance(item, Mapping):
        return item
    if isinstance(getattr(item, "config", None), Mapping):
        return item.config
    run_dir = getattr(item, "extra", {}).get("run")
    path = Path(str(run_dir)) / "config.json" if run_dir else None
    if path is None or not path.is_file():
        raise InputError(
            f"{getattr(item, 'name', item)!r}: no run config found (a result without "
            "a run folder, e.g. the classical baseline, has no training settings)"
        )

    return json.loads(path.read_text(encoding="utf-8"))


def summary(items: Mapping[str, Any]) -> pd.DataFrame:
    """The deviations of several runs side by side: one column per label of
    ``items`` (configs, runs or saved results, see :func:`run_config`), one row per
    setting that differs from the thesis in at least one of them; a cell reads
    ``this run (thesis: value)``, empty where that run follows the thesis."""
    cols = {}
    for label, item in items.items():
        frame = deviations(run_config(item))
        cols[label] = {
            k: f"{r['this run']} (thesis: {r['thesis']})" for k, r in frame.iterrows()
        }
    out = pd.DataFrame(cols).fillna("")
    out.index.name = "setting"
    return out.sort_index()


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return (
            "x".join(map(str, value))
            if all(isinstance(v, int) for v in value)
            else str(value)
        )
    return str(value)
