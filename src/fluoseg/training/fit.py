"""Fitting a model into its run folder: :func:`fit` (called by
``fluoseg.training.trainer.train``) and the :class:`Trainer` that writes each epoch's
checkpoint.

Importing this module imports Keras and TensorFlow; ``train`` imports it only when a
model is fitted in this process (``fluoseg.training.trainer.FIT``), so that a Jupyter
kernel whose trainings run in a child never loads TensorFlow.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:
    import keras
    import tensorflow as tf
except ImportError:  # TensorFlow missing: say which extra installs it
    from fluoseg.errors import require_tensorflow

    require_tensorflow()
    raise

from fluoseg.config import Profile
from fluoseg.errors import InputError
from fluoseg.hardware import describe
from fluoseg.models import (
    build_model,
    extra_callbacks,
    model_optimizers,
    monitor_for,
    segmenter,
)
from fluoseg.run import (
    BEST_FILE,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    HARDWARE_FILE,
    HISTORY_FILE,
    SEGMENTER_FILE,
    TIMINGS_FILE,
    Run,
    history_frame,
)
from fluoseg.training import callbacks as cb
from fluoseg.training.checkpoint import (
    FORMAT_VERSION,
    finite_or_none,
    load_weights,
    prune,
    save_atomic,
    save_weights,
    write_json_atomic,
    write_state,
    write_text_atomic,
)
from fluoseg.training.data import load_data
from fluoseg.training.plan import TrainConfig, stopping_patience


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



def fit(
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
