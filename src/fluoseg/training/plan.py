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
from fluoseg.models.configs import model_config


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


# Loop budgets of the cpu profile, from step times measured on the 2-core course
# machine (batch of 32^3 patches: U-Net 0.15-0.3 s, Vox2Vox 0.25-0.45 s, CycleGAN
# 0.2-1.0 s at batch 2, the higher values with other work on the machine).
# Measured on the standard dataset (test crops from the brighter session), 2-class
# U-Net, 30 x 32 steps, patience 8, three trainings sharing the 2 cores: centring 65 %
# of the patches on objects gave test Dice 0.788 (nuclei) / 0.613 (Golgi) against the
# annotator masks, 50 % gave 0.664 / 0.609; 80 % over-segmented (Golgi precision 0.45
# on the previous dataset). The same training on raw images scored 0.467 / 0.088.
# The CycleGAN, as in the thesis, stops only on mode collapse (patience = its budget)
# and keeps its best epoch: its Golgi channel appeared only after ~18 epochs, and a
# patience of 8 stopped it at epoch 14 with nuclei Dice 0.23 and no Golgi.
_CPU_BUDGET: dict[str, dict[str, int]] = {
    "unet": {"epochs": 30, "steps_per_epoch": 32, "validation_steps": 4},
    "vox2vox": {"epochs": 16, "steps_per_epoch": 32, "validation_steps": 4},
    "cyclegan": {
        "epochs": 30,
        "steps_per_epoch": 32,
        "validation_steps": 4,
        "patience": 30,
    },
}

# Loop budgets of the gpu profile (a free Colab T4: 8.1 TFLOP/s float32 peak; assumed
# to reach ~40 % of it, ~3 TFLOP/s, on 3D convolutions). Training FLOPs per step on
# 64^3 patches (fluoseg.flops.training_flops, 3x the forward pass, summed over the
# sub-networks): U-Net (base 16, depth 4, batch 4) 340 GFLOP, ~0.11 s; Vox2Vox (base 16,
# depth 4, batch 4) 193 GFLOP, ~0.07 s; CycleGAN (32 filters, 2 down, 6 residual
# blocks, batch 2) 608 GFLOP, ~0.3 s with its generators run twice per step (cpu: 5-10
# GFLOP). With the book's ~9 U-Net, 2 Vox2Vox and 5 CycleGAN trainings: 9 x 960 x 0.11
# s + 2 x 640 x 0.07 s + 5 x 800 x 0.3 s = about 40 minutes of training, the book
# (data, evaluation, start-up) in about an hour. Activations per step: 1.0-1.4 GiB
# (fluoseg.flops.activation_bytes), well inside a T4's 15 GiB.
_GPU_BUDGET: dict[str, dict[str, int]] = {
    "unet": {"epochs": 30, "steps_per_epoch": 32, "validation_steps": 4},
    "vox2vox": {"epochs": 20, "steps_per_epoch": 32, "validation_steps": 4},
    "cyclegan": {
        "epochs": 25,
        "steps_per_epoch": 32,
        "validation_steps": 4,
        "patience": 25,
    },
}
_BUDGETS = {"cpu": _CPU_BUDGET, "gpu": _GPU_BUDGET}


def train_config(
    model: str, profile: Profile | str | None = None, epochs: int | None = None
) -> TrainConfig:
    """The training-loop settings of ``model`` at ``profile``; ``epochs`` overrides.

    - ``smoke``: 2 epochs of 3 steps (seconds per model).
    - ``cpu``: a fixed budget per model chosen from measured step times.
    - ``gpu``: a fixed budget per model sized from FLOP counts for a Colab T4.
    - ``paper``: the thesis's loop: up to 200 epochs over the 64^3 grid (10 % of its
      patches held out for validation), early stopping with the model configuration's
      patience: 10 (U-Net), 20 (Vox2Vox), none for the CycleGAN, which stops on mode
      collapse only.
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    mcfg = model_config(model, prof, 2)
    raw_patience = getattr(mcfg, "patience", 20)
    patience = None if raw_patience is None else int(raw_patience)
    batch = int(mcfg.batch_size)
    if prof.name == "smoke":
        tc = TrainConfig(2, 3, 1, patience, True, batch)
    elif prof.name in _BUDGETS:
        b = _BUDGETS[prof.name][model]
        tc = TrainConfig(
            b["epochs"],
            b["steps_per_epoch"],
            b["validation_steps"],
            patience=b.get("patience", 8),
            augment=True,
            batch_size=batch,
        )
    else:
        tc = TrainConfig(200, None, None, patience, False, batch, sampling="grid")
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
