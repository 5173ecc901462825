"""What a run did differently from the thesis, read from the run's saved config.

The thesis's settings are the ``paper`` profile's (``fluoseg.config`` and
``fluoseg.models.model_config(name, "paper", n)``, its training loop
``fluoseg.train.train_config(name, "paper")``). :func:`deviations` compares a run's
``config.json`` with them field by field, so an experiment page shows every deviation
beside the result it produced without typing any of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from fluoseg.errors import InputError

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
    from fluoseg.config import get_profile
    from fluoseg.models import model_config
    from fluoseg.train import train_config

    paper = get_profile("paper")
    return {
        **_flat(paper.to_dict(), "profile."),
        **_flat(train_config(model, paper).to_dict(), "train."),
        **_flat(model_config(model, paper, n_classes).settings(), "model."),
    }


def _with_omitted_defaults(model: str, saved: Mapping[str, Any]) -> dict[str, Any]:
    """A saved model configuration with the fields that ``to_dict`` leaves out at
    their default filled in (``fluoseg.models.configs._Config._OMIT_AT_DEFAULT``)."""
    import dataclasses

    from fluoseg.models.configs import CONFIG_CLASSES

    cls = CONFIG_CLASSES.get(model)
    if cls is None:
        return dict(saved)
    omitted = getattr(cls, "_OMIT_AT_DEFAULT", ())
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name in omitted}
    return {**defaults, **saved}


def deviations(config: Mapping[str, Any]) -> pd.DataFrame:
    """Every setting of a run's ``config`` (``Run.config``) that differs from the
    thesis's: one row per setting with columns ``this run`` and ``thesis``, plus
    ``threshold rule`` rows for runs that threshold by foreground share."""
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
    if config.get("mask_share"):
        share = ", ".join(f"{v:.2e}" for v in config["mask_share"])
        rows["mask share per class"] = {"this run": share, "thesis": "-"}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["this run", "thesis"])
    frame.index.name = "setting"
    return frame


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
