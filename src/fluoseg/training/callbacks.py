"""The trainer's Keras callbacks: epoch timing, a compact progress bar, early
stopping that survives a restart, and the per-epoch run checkpoint.

Importing this module imports Keras (and TensorFlow); the trainer imports it only
when it fits a model.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol

from tqdm import tqdm

try:
    import keras
except ImportError:  # TensorFlow missing: say which extra installs it
    from fluoseg.errors import require_tensorflow

    require_tensorflow()
    raise


class EpochSaver(Protocol):
    """What :class:`RunCheckpoint` saves through (the trainer)."""

    def save_epoch(self, epoch: int, logs: dict, seconds: float, early: Any) -> None:
        """Write the checkpoint of finished epoch ``epoch`` (1-based)."""


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch (training and validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.start = 0.0
        self.last = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.last = time.perf_counter() - self.start


class ProgressBar(keras.callbacks.Callback):
    """One compact tqdm bar over all remaining steps (epoch and loss as postfix)."""

    def __init__(self, epochs: int, steps: int, start_epoch: int) -> None:
        super().__init__()
        self.epochs, self.steps, self.start_epoch = epochs, steps, start_epoch
        self.bar: Any = None
        self.epoch = start_epoch

    def on_train_begin(self, logs: dict | None = None) -> None:
        total = (self.epochs - self.start_epoch) * self.steps
        self.bar = tqdm(
            total=total,
            unit="step",
            file=sys.stderr,
            mininterval=1.0,
            dynamic_ncols=True,
            desc="train",
        )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if logs and "loss" in logs:
                self.bar.set_postfix(
                    epoch=f"{self.epoch + 1}/{self.epochs}",
                    loss=f"{float(logs['loss']):.4f}",
                    refresh=False,
                )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.bar is not None and logs:
            post = {"epoch": f"{epoch + 1}/{self.epochs}"}
            post.update(
                {
                    k: f"{float(v):.4f}"
                    for k, v in logs.items()
                    if k == "loss" or k.startswith("val_")
                }
            )
            self.bar.set_postfix(post, refresh=True)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras early stopping whose counter and best value survive a restart."""

    def __init__(self, resume: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resume = resume or {}
        self.improved = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self.resume.get("best") is not None:
            self.best = float(self.resume["best"])
            self.best_epoch = int(self.resume.get("best_epoch", 0))
            self.wait = int(self.resume.get("wait", 0))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.best_epoch = -1 if self.best is None else self.best_epoch
        super().on_epoch_end(epoch, logs)
        self.improved = self.best is not None and self.best_epoch == epoch


class RunCheckpoint(keras.callbacks.Callback):
    """Atomic per-epoch checkpoint of the whole training state (see module doc)."""

    def __init__(
        self, trainer: EpochSaver, timer: EpochTimer, early: ResumableEarlyStopping
    ) -> None:
        super().__init__()
        self.trainer, self.timer, self.early = trainer, timer, early

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.trainer.save_epoch(
            epoch + 1, dict(logs or {}), self.timer.last, self.early
        )
