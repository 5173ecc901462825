"""Atomic checkpoint I/O of a training run: the per-epoch weights and optimizer
state under ``<run>/checkpoint/``, ``state.json``, and the logs beside them.

After every epoch the trainer writes the weights of the whole model (GAN sub-models
included) and, in the same file, the state of every optimizer (Keras 3's
``save_weights`` stores the optimizers that are attributes of the model), then
``state.json`` (epoch, best monitored value, early-stopping counter, optimizer steps,
sampler position, history). Each file is written under
a temporary name and ``os.replace``-d; ``state.json`` goes last and names the weight
files it belongs to, so a run killed at any instant (even ``kill -9``) resumes from
its last finished epoch with no torn file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fluoseg.errors import InputError
from fluoseg.io import atomic_write
from fluoseg.run import CHECKPOINT_DIR, STATE_FILE, read_json

FORMAT_VERSION = 1


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as strict, sorted, indented JSON to ``path`` atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str, allow_nan=False)
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, replace)."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write, overwrite=True)


def save_atomic(path: Path, save: Callable[[str], Any], suffix: str) -> None:
    """Call ``save(tmp)`` on a temporary name ending with ``suffix``, then replace."""
    atomic_write(path, save, overwrite=True, suffix=suffix)


def finite_or_none(value: Any) -> float | None:
    """``float(value)``, or ``None`` when it is not finite (strict JSON)."""
    x = float(value)
    return x if math.isfinite(x) else None


def read_state(run_dir: Path) -> dict | None:
    """The run's ``checkpoint/state.json``, or ``None`` when there is none."""
    path = run_dir / CHECKPOINT_DIR / STATE_FILE
    return read_json(path) if path.is_file() else None


def save_weights(ckpt: Path, model: Any, epoch: int) -> str:
    """Write epoch ``epoch``'s weights (optimizer variables included) into ``ckpt``;
    returns the file name for ``state.json``."""
    ckpt.mkdir(parents=True, exist_ok=True)
    weights = f"weights-{epoch:04d}.weights.h5"
    save_atomic(ckpt / weights, model.save_weights, ".weights.h5")
    return weights


def write_state(ckpt: Path, state: dict) -> None:
    """Write ``state.json`` (last: it names the weight files it belongs to)."""
    write_json_atomic(ckpt / STATE_FILE, state)


def prune(ckpt: Path, keep: tuple[str, ...]) -> None:
    """Delete older weight files (and the optimizer files of older versions) and
    stray temporaries of ``ckpt``."""
    for old in ckpt.iterdir():
        if old.name not in (*keep, STATE_FILE) and (
            old.name.startswith(("weights-", "optimizers-", "."))
        ):
            old.unlink(missing_ok=True)


def load_weights(
    ckpt: Path, model: Any, optimizers: Mapping[str, Any], state: dict
) -> None:
    """Load the weights and optimizer variables ``state`` names into ``model``
    (whose variables and optimizer slots must already be built), then check that
    each optimizer is at the step ``state`` recorded.

    Raises:
        InputError: the restored optimizer state does not fit ``state``.
    """
    model.load_weights(str(ckpt / state["weights"]))
    for name, opt in optimizers.items():
        want = state.get("iterations", {}).get(name)
        if want is not None and int(opt.iterations.numpy()) != int(want):
            raise InputError(
                f"{ckpt}: optimizer {name} restored at step "
                f"{int(opt.iterations.numpy())}, expected {want}"
            )
