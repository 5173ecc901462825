"""Training a model: :func:`train` trains (or resumes, or loads) a run and returns
its :class:`fluoseg.run.Run`; the one API behind ``fluoseg train``.

``train(model, n_classes, ...)`` trains a model on patches of the training crops
(``fluoseg.training.data``) into a run directory (layout: ``fluoseg.run``). A second
call with the same configuration **loads** a finished run (no retraining: the book
rebuilds in seconds) or **resumes** an unfinished one from its checkpoint
(``fluoseg.training.checkpoint``); a different configuration raises ``InputError``
unless ``overwrite=True``. Inside a Jupyter kernel the training runs in a child
process (``fluoseg.training.isolate``). The training-loop budgets come from the
profile's plan (``fluoseg.training.plan``), the model's monitored value, callbacks and
optimizers from its spec (``fluoseg.models.registry``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fluoseg.config import Profile, dataset_dir, get_profile, runs_root
from fluoseg.data.dataset import ensure_dataset
from fluoseg.data.loaders import MASK_KINDS
from fluoseg.errors import InputError, check_choice
from fluoseg.models import (
    model_config,
)
from fluoseg.models.registry import names, resolve, spec
from fluoseg.run import (
    CONFIG_FILE,
    Run,
    config_differences,
    config_digest,
    read_json,
    run_kind,
    run_name,
)
from fluoseg.training.checkpoint import (
    read_state,
)
from fluoseg.training.data import mask_share
from fluoseg.training.isolate import run_in_subprocess, should_isolate
from fluoseg.training.plan import TrainConfig, train_config


def run_config(
    model: str,
    n_classes: int,
    profile: Profile,
    raw: bool,
    unsupervised: bool,
    seed: int,
    data_dir: Path,
    truth: str,
    tc: TrainConfig,
    mcfg: Any,
) -> dict:
    """The run's ``config.json``: what identifies it (``fluoseg.run.config_digest``)."""
    cfg = {
        "model": model,
        "n_classes": int(n_classes),
        "raw": bool(raw),
        "unsupervised": bool(unsupervised),
        "seed": int(seed),
        "truth": truth,
        "data_dir": str(data_dir),
        "profile": json.loads(json.dumps(profile.to_dict())),
        "model_config": json.loads(json.dumps(mcfg.to_dict())),
        "train_config": tc.to_dict(),
    }
    if getattr(mcfg, "threshold_rule", "fixed") == "mask_share":
        cfg["mask_share"] = mask_share(
            data_dir, profile, int(n_classes), unsupervised, truth
        )
    return cfg


def with_overrides(mcfg: Any, overrides: Mapping[str, Any] | None) -> Any:
    """``mcfg`` with the fields in ``overrides`` replaced (lists become tuples).

    Raises:
        InputError: a name that is not a field of the configuration, or a value the
            configuration rejects.
    """
    if not overrides:
        return mcfg
    fields = {f.name for f in dataclasses.fields(mcfg)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise InputError(
            f"unknown {type(mcfg).__name__} field(s) {', '.join(unknown)}: expected "
            f"some of {', '.join(sorted(fields))}"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return dataclasses.replace(mcfg, **values)


def planned_settings(
    model: str,
    n_classes: int,
    profile: Profile,
    raw: bool = False,
    unsupervised: bool = False,
    epochs: int | None = None,
    budget: str | None = None,
    config_overrides: Mapping[str, Any] | None = None,
) -> tuple[TrainConfig, Any]:
    """The training loop and the model configuration :func:`train` uses: the plan entry
    ``budget`` (default: the run's kind, ``fluoseg.run.run_kind``) of
    ``fluoseg.training.plan.train_config``, and the profile's model configuration with
    ``config_overrides`` (:func:`with_overrides`)."""
    kind = run_kind(model, n_classes, raw, unsupervised)
    tc = train_config(model, profile, epochs, budget or kind)
    mcfg = with_overrides(model_config(model, profile, n_classes), config_overrides)
    return tc, mcfg


def train(
    model: str = "unet",
    n_classes: int = 2,
    *,
    profile: Profile | str | None = None,
    raw: bool = False,
    unsupervised: bool = False,
    seed: int = 0,
    epochs: int | None = None,
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    truth: str = "annotator",
    progress: bool = True,
    overwrite: bool = False,
    patience: int | None = None,
    callbacks: Sequence[Any] = (),
    config_overrides: Mapping[str, Any] | None = None,
    isolate: bool | None = None,
    budget: str | None = None,
) -> Run:
    """Train (or resume, or load) a model and return its :class:`Run`.

    Args:
        model: ``unet``, ``vox2vox`` or ``cyclegan``.
        n_classes: 2 (nuclei, Golgi) or 3 (+ nucleus-Golgi pair).
        profile: a profile or its name (default ``$FLUOSEG_PROFILE``, else cpu).
        raw: train on the raw images instead of percentile-stretched ones.
        unsupervised: CycleGAN only: the mask domain is the synthetic masks.
        seed: seed of the weights' initialisation and of the patch sampler.
        epochs: override the profile's number of epochs.
        data_dir: the dataset folder (default ``fluoseg.config.dataset_dir(profile)``,
            generated on first use).
        out: the run directory (default
            ``runs_root()/<profile>/<run_name(...)>-<config_digest(...)>``).
        truth: train on the ``annotator`` masks (imperfect, as in the thesis) or the
            perfect ``truth`` masks.
        progress: show a progress bar.
        overwrite: replace a run directory that holds a different configuration.
        patience: override the profile's early-stopping patience (epochs without
            improvement of the model's monitored validation value).
        callbacks: extra Keras callbacks, run after the epoch's checkpoint is written
            (e.g. to copy ``best.keras`` at chosen budgets, as the Dice-vs-compute
            benchmark does).
        config_overrides: replace fields of the profile's model configuration (e.g.
            ``{"cycle_mask": "soft"}`` to train the thesis's recipe at cpu scale); the
            run's saved configuration, and so its folder name, records them.
        isolate: train in a child Python process, then load the finished run here,
            so that this process never holds TensorFlow's training state (a chapter's
            kernel stays small: Binder gives about 2 GiB). ``None``:
            ``$FLUOSEG_TRAIN_SUBPROCESS`` (``1``/``0``) if set, else isolate inside a
            Jupyter kernel only (never with ``callbacks``: they live in this process).
        budget: the entry of the profile's ``train`` plan to train with, when the
            profile has it (``fluoseg.training.plan.train_config``); default: the
            run's kind (``fluoseg.run.run_kind``, e.g. ``cyclegan-2class-unsup``),
            else the model's entry.

    Raises:
        InputError: bad arguments, a missing data folder, or ``out`` holding a run of
            another configuration (without ``overwrite``).
    """
    model_spec = spec(model)
    check_choice(n_classes, (2, 3), "n_classes")
    check_choice(truth, MASK_KINDS, "truth")
    if unsupervised and not model_spec.unsupervised:
        able = [n for n in names() if spec(n).unsupervised]
        titles = " or ".join(spec(n).title for n in able)
        raise InputError(
            f"--unsupervised needs --model {' or '.join(able)} (got {model}): only "
            f"the {titles} learns from unpaired synthetic masks"
        )
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    tc, mcfg = planned_settings(
        model, n_classes, prof, raw, unsupervised, epochs, budget, config_overrides
    )
    if patience is not None:
        if int(patience) < 1:
            raise InputError(f"patience must be a positive integer, got {patience}")
        tc = dataclasses.replace(tc, patience=int(patience))
    ddir = Path(data_dir).expanduser().resolve() if data_dir else dataset_dir(prof)
    if data_dir is not None and not ddir.is_dir():
        raise InputError(
            f"data folder {ddir} does not exist (expected a dataset folder with "
            "train/ and test/; make one with: fluoseg data --out DIR)"
        )
    cfg = run_config(
        model, n_classes, prof, raw, unsupervised, int(seed), ddir, truth, tc, mcfg
    )
    run_dir = (
        Path(out).expanduser()
        if out is not None
        else runs_root()
        / prof.name
        / f"{run_name(model, n_classes, raw, unsupervised, int(seed))}"
        f"-{config_digest(cfg)}"
    )
    state: dict = {"epoch": 0, "history": []}
    if (run_dir / CONFIG_FILE).is_file():
        old = read_json(run_dir / CONFIG_FILE)
        diff = config_differences(old, cfg)
        if diff and not overwrite:
            raise InputError(
                f"{run_dir} holds a run with another configuration ("
                + "; ".join(diff[:4])
                + ("; ..." if len(diff) > 4 else "")
                + "): choose another --out or pass --overwrite"
            )
        if diff:
            shutil.rmtree(run_dir)
        else:
            existing = Run.load(run_dir)
            if existing.finished:
                return existing
            state = read_state(run_dir) or state
    elif run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise InputError(
            f"{run_dir} exists and is not a fluoseg run directory: choose an empty "
            "or new --out folder"
        )
    if should_isolate(isolate) and not callbacks:
        run_in_subprocess(
            "fluoseg.training.trainer",
            "train",
            dict(
                model=model,
                n_classes=n_classes,
                profile=prof,
                raw=raw,
                unsupervised=unsupervised,
                seed=int(seed),
                epochs=epochs,
                data_dir=data_dir,
                out=run_dir,
                truth=truth,
                progress=progress,
                patience=patience,
                config_overrides=dict(config_overrides or {}),
                isolate=False,
                budget=budget,
            ),
        )
        return Run.load(run_dir)
    if data_dir is None:
        ensure_dataset(prof, progress=progress)
    return _fit(run_dir, cfg, prof, ddir, tc, mcfg, state, progress, list(callbacks))


#: The fitting loop, imported when a model is fitted in this process (it imports Keras
#: and TensorFlow): ``train`` in a Jupyter kernel that trains in a child never loads it.
FIT = "fluoseg.training.fit:fit"


def _fit(*args: Any, **kwargs: Any) -> Run:
    """Fit in this process with :data:`FIT` (``fluoseg.training.fit.fit``)."""
    return resolve(FIT)(*args, **kwargs)
