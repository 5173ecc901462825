"""Training-loop plans: how long and how each model trains at each profile.

``train_config(model, profile)`` gives the :class:`TrainConfig` of a training: epochs,
steps per epoch, validation steps, patience, augmentation, batch size and patch
sampling. :func:`stopping_patience` turns its patience into the early-stopping
callback's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fluoseg.config import Profile, get_profile
from fluoseg.errors import InputError
from fluoseg.models.registry import model_config


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the training loop (per model and profile: ``train_config``).

    Attributes:
        epochs: the most epochs to train.
        steps_per_epoch: batches per epoch; ``None`` means one pass over the regular
            grid of patches (``sampling="grid"``).
        validation_steps: validation batches per epoch (``None``: all held-out grid
            patches).
        patience: epochs without improvement of the monitored value before stopping;
            ``None``: never (the ``paper`` CycleGAN stops on mode collapse only).
        augment: random flips of the training patches.
        batch_size: patches per batch (from the model configuration).
        sampling: ``"random"`` (foreground-aware) or ``"grid"`` (the thesis's grid).
        balance_classes: centred patches draw a class uniformly first (the small
            Golgi as often as the nuclei); ``False``: a foreground voxel uniformly.
    """

    epochs: int
    steps_per_epoch: int | None
    validation_steps: int | None
    patience: int | None
    augment: bool
    batch_size: int
    sampling: str = "random"
    balance_classes: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-serialisable dictionary."""
        return dataclasses.asdict(self)


def train_config(
    model: str,
    profile: Profile | str | None = None,
    epochs: int | None = None,
    budget: str | None = None,
) -> TrainConfig:
    """The training-loop settings of ``model`` at ``profile``; ``epochs`` overrides.

    The budget is the ``train`` section of the profile's plan: its entry named
    ``budget`` when the profile has one (``fluoseg.training.trainer.train`` passes
    the run's kind, ``fluoseg.run.run_kind``, so the cpu entry
    ``"cyclegan-2class-unsup"`` gives one kind of training its own epochs), laid over
    its entry for ``model``, else its ``"*"`` entry: a budget entry names only what
    differs (``"why"`` says how each was chosen):

    - ``smoke``: 2 epochs of 3 steps (seconds per model).
    - ``cpu``: a fixed budget per model chosen from measured step times.
    - ``gpu``: a fixed budget per model sized from FLOP counts for a Colab T4.
    - ``paper``: the thesis's loop: up to 200 epochs over the 64^3 grid (10 % of its
      patches held out for validation), early stopping with the model configuration's
      patience: 10 (U-Net), 20 (Vox2Vox), none for the CycleGAN, which stops on mode
      collapse only.

    A budget's ``patience`` of ``"model"`` takes the model configuration's.
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    mcfg = model_config(model, prof, 2)
    budgets = prof.section("train")
    b = {**(budgets.get(model) or budgets["*"]), **budgets.get(budget or "", {})}
    if b["patience"] == "model":
        raw = getattr(mcfg, "patience", 20)
        patience = None if raw is None else int(raw)
    else:
        patience = int(b["patience"])
    tc = TrainConfig(
        int(b["epochs"]),
        b["steps_per_epoch"],
        b["validation_steps"],
        patience=patience,
        augment=bool(b["augment"]),
        batch_size=int(mcfg.batch_size),
        sampling=b["sampling"],
    )
    if epochs is not None:
        if int(epochs) < 1:
            raise InputError(f"epochs must be a positive integer, got {epochs}")
        tc = dataclasses.replace(tc, epochs=int(epochs))
    return tc


def stopping_patience(tc: TrainConfig) -> int:
    """The patience given to the early-stopping callback: ``tc.patience``, or, when it
    is ``None``, more epochs than the run has, so that the callback still tracks the
    best epoch (for ``best.keras``) but never stops training."""
    return tc.epochs + 1 if tc.patience is None else int(tc.patience)
