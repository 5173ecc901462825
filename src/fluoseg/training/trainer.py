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
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fluoseg.config import Profile, dataset_dir, get_profile, runs_root
from fluoseg.data.dataset import ensure_dataset
from fluoseg.data.loaders import MASK_KINDS
from fluoseg.errors import InputError, check_choice, require_tensorflow
from fluoseg.hardware import describe
from fluoseg.models import (
    build_model,
    extra_callbacks,
    model_config,
    model_optimizers,
    monitor_for,
    segmenter,
)
from fluoseg.models.registry import names, spec
from fluoseg.run import (
    BEST_FILE,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    HARDWARE_FILE,
    HISTORY_FILE,
    SEGMENTER_FILE,
    TIMINGS_FILE,
    Run,
    config_differences,
    config_digest,
    history_frame,
    read_json,
    run_name,
)
from fluoseg.training.checkpoint import (
    FORMAT_VERSION,
    finite_or_none,
    load_weights,
    prune,
    read_state,
    save_atomic,
    save_weights,
    write_json_atomic,
    write_state,
    write_text_atomic,
)
from fluoseg.training.data import load_data, mask_share
from fluoseg.training.isolate import run_in_subprocess, should_isolate
from fluoseg.training.plan import TrainConfig, stopping_patience, train_config


@dataclass
class Trainer:
    """Holds a run's model and writes its checkpoints (internal to ``train``)."""

    path: Path
    name: str
    model: Any
    model_config: Any
    train_config: TrainConfig
    steps_per_epoch: int
    seed: int
    state: dict

    @property
    def ckpt(self) -> Path:
        """The run's checkpoint folder."""
        return self.path / CHECKPOINT_DIR

    def optimizers(self) -> dict[str, Any]:
        """The model's optimizers by name (its spec's ``optimizers``)."""
        return model_optimizers(self.model, self.name)

    def save_epoch(self, epoch: int, logs: dict, seconds: float, early: Any) -> None:
        """Write the checkpoint of finished epoch ``epoch`` (1-based), state last."""
        weights = save_weights(self.ckpt, self.model, epoch)
        if early.improved:
            save_atomic(self.path / BEST_FILE, segmenter(self.model).save, ".keras")
        row = {"epoch": epoch}
        # a non-finite value (e.g. a CycleGAN selection loss after collapse) is
        # stored as null/NaN so that state.json stays strict JSON
        row.update({k: finite_or_none(v) for k, v in logs.items()})
        row["seconds"] = round(float(seconds), 3)
        history = [r for r in self.state["history"] if r["epoch"] < epoch] + [row]
        seconds_list = [r["seconds"] for r in history]
        stopped = bool(self.model.stop_training)
        best = None if early.best is None else float(early.best)
        if best is not None and not math.isfinite(best):
            best = None
        state = {
            "format": FORMAT_VERSION,
            "epoch": epoch,
            "weights": weights,
            "iterations": {
                name: int(opt.iterations.numpy())
                for name, opt in self.optimizers().items()
            },
            "best": best,
            "best_epoch": int(early.best_epoch) + 1 if best is not None else None,
            "wait": int(early.wait),
            "monitor": early.monitor,
            "sampler": {"seed": self.seed, "next_step": epoch * self.steps_per_epoch},
            "steps_per_epoch": self.steps_per_epoch,
            "history": history,
            "stopped_early": stopped,
            "finished": False,
        }
        self._write_logs(history, seconds_list)
        write_state(self.ckpt, state)
        self.state = state
        prune(self.ckpt, (weights,))

    def _write_logs(self, history: list[dict], seconds: list[float]) -> None:
        frame = history_frame(history)
        write_text_atomic(self.path / HISTORY_FILE, frame.to_csv(index=False))
        write_json_atomic(
            self.path / TIMINGS_FILE,
            {
                "epoch_seconds": seconds,
                "total_seconds": round(float(sum(seconds)), 3),
                "epochs": len(seconds),
                "steps_per_epoch": self.steps_per_epoch,
                "note": "wall seconds per epoch (training + validation) on the "
                "machine in hardware.json, possibly shared with other work",
            },
        )

    def restore(self, warmup: tuple[np.ndarray, np.ndarray]) -> None:
        """Load the checkpoint named by ``state.json`` into the freshly built model."""
        require_tensorflow()
        import tensorflow as tf

        # one step builds every variable and optimizer slot (GAN train steps included;
        # fit, because custom train steps may not accept train_on_batch's 3-tuple)
        one = tf.data.Dataset.from_tensors(tuple(np.asarray(a) for a in warmup))
        self.model.fit(one, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
        load_weights(self.ckpt, self.model, self.optimizers(), self.state)

    def finish(self, restore_best: bool) -> None:
        """Write ``segmenter.keras`` (best epoch's weights if asked) and mark done."""
        best = self.path / BEST_FILE
        if restore_best and best.is_file():
            shutil.copyfile(best, self.ckpt / ".segmenter.tmp.keras")
            os.replace(self.ckpt / ".segmenter.tmp.keras", self.path / SEGMENTER_FILE)
        else:
            save_atomic(
                self.path / SEGMENTER_FILE, segmenter(self.model).save, ".keras"
            )
        state = dict(self.state, finished=True)
        write_state(self.ckpt, state)
        self.state = state


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
    tc = train_config(model, prof, epochs)
    if patience is not None:
        if int(patience) < 1:
            raise InputError(f"patience must be a positive integer, got {patience}")
        tc = dataclasses.replace(tc, patience=int(patience))
    mcfg = with_overrides(model_config(model, prof, n_classes), config_overrides)
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
            ),
        )
        return Run.load(run_dir)
    if data_dir is None:
        ensure_dataset(prof, progress=progress)
    return _fit(run_dir, cfg, prof, ddir, tc, mcfg, state, progress, list(callbacks))


def _fit(
    run_dir: Path,
    cfg: dict,
    prof: Profile,
    ddir: Path,
    tc: TrainConfig,
    mcfg: Any,
    state: dict,
    progress: bool,
    extra: list | None = None,
) -> Run:
    """Fit the model of ``cfg`` from ``state`` (resuming after its last epoch) and
    write the run folder; returns the finished run."""
    require_tensorflow()
    import keras
    import tensorflow as tf

    # the Keras callbacks import TensorFlow: imported here, when a model is fitted,
    # so that train() in a Jupyter kernel that trains in a child never imports it
    from fluoseg.training import callbacks as cb

    seed = int(cfg["seed"])
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / CONFIG_FILE, cfg)
    write_json_atomic(run_dir / HARDWARE_FILE, describe())
    sampler, val, steps = load_data(cfg, prof, ddir, tc, seed)
    keras.utils.set_random_seed(seed)
    model = build_model(cfg["model"], mcfg)
    trainer = Trainer(run_dir, cfg["model"], model, mcfg, tc, steps, seed, state)
    start = int(state.get("epoch", 0))
    if start > 0:
        if int(state.get("steps_per_epoch", steps)) != steps:
            raise InputError(f"{run_dir}: checkpoint has another steps_per_epoch")
        trainer.restore(sampler.batch(start * steps, tc.batch_size))
    stopped = bool(state.get("stopped_early", False))
    if start < tc.epochs and not stopped:
        monitor, mode = monitor_for(cfg["model"])
        timer = cb.EpochTimer()
        resume = {
            "best": state.get("best"),
            "best_epoch": (state.get("best_epoch") or 0) - 1,  # 0-based in Keras
            "wait": state.get("wait", 0),
        }
        early = cb.ResumableEarlyStopping(
            resume=resume, monitor=monitor, mode=mode, patience=stopping_patience(tc)
        )
        callbacks: list = [timer]
        if progress:
            callbacks.append(cb.ProgressBar(tc.epochs, steps, start))
        probe = val[0][: min(4, len(val[0]))]
        callbacks += extra_callbacks(
            cfg["model"], model, mcfg, probe=probe, epochs=tc.epochs
        )
        callbacks += [early, cb.RunCheckpoint(trainer, timer, early), *(extra or [])]
        train_ds = sampler.dataset(start * steps, tc.epochs * steps, tc.batch_size)
        val_ds = tf.data.Dataset.from_tensor_slices(val).batch(tc.batch_size)
        model.fit(
            train_ds,
            epochs=tc.epochs,
            initial_epoch=start,
            steps_per_epoch=steps,
            validation_data=val_ds,
            callbacks=callbacks,
            shuffle=False,
            verbose=0,
        )
    if trainer.state.get("epoch", 0) == 0:
        raise RuntimeError(f"{run_dir}: training finished no epoch")
    trainer.finish(bool(getattr(mcfg, "restore_best_weights", True)))
    return Run.load(run_dir)
