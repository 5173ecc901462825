"""Training, resume and run directories: the one API behind ``fluoseg train``.

``train(model, n_classes, ...)`` trains a model on patches of the training crops and
returns a :class:`Run`. A *run directory* holds everything needed to reuse or audit it:

- ``config.json``: model configuration, training configuration, profile, data folder,
  seed, truth and flags. A second ``train`` call with the same configuration **loads**
  a finished run (no retraining: the book rebuilds in seconds) or **resumes** an
  unfinished one; a different configuration raises ``InputError`` unless
  ``overwrite=True``.
- ``segmenter.keras``: the segmentation network (U-Net; Vox2Vox generator; CycleGAN
  G_S), written at the end. It holds the weights of the best epoch by the model's
  monitored value (``fluoseg.models.monitor_for``) unless the model configuration sets
  ``restore_best_weights=False``; ``best.keras`` is rewritten whenever that value
  improves.
- ``history.csv`` (one row per epoch, with its seconds), ``timings.json`` (per-epoch
  seconds and their total), ``hardware.json`` (``fluoseg.hardware.describe()``).
- ``checkpoint/``: after every epoch, the weights of the whole model (GAN sub-models
  included), the state of every optimizer, then ``state.json`` (epoch, best monitored
  value, early-stopping counter, sampler position, history). Each file is written
  under a temporary name and ``os.replace``-d; ``state.json`` goes last and names the
  weight files it belongs to, so a run killed at any instant (even ``kill -9``)
  resumes from its last finished epoch with no torn file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fluoseg.config import Profile, dataset_dir, get_profile, runs_root
from fluoseg.data.loaders import MASK_KINDS
from fluoseg.errors import InputError, check_choice, require_tensorflow
from fluoseg.io import atomic_write
from fluoseg.training.plan import TrainConfig, stopping_patience, train_config

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import pandas as pd

CONFIG_FILE = "config.json"
SEGMENTER_FILE = "segmenter.keras"
BEST_FILE = "best.keras"
HISTORY_FILE = "history.csv"
TIMINGS_FILE = "timings.json"
HARDWARE_FILE = "hardware.json"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
FORMAT_VERSION = 1


def run_name(
    model: str,
    n_classes: int,
    raw: bool = False,
    unsupervised: bool = False,
    seed: int = 0,
) -> str:
    """``<model>-<n>class[-raw][-unsup]-seed<S>``, the default run folder name."""
    name = f"{model}-{n_classes}class"
    name += "-raw" if raw else ""
    name += "-unsup" if unsupervised else ""
    return f"{name}-seed{seed}"


def _json_dump_atomic(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str, allow_nan=False)
    _atomic_write_text(path, text)


def _atomic_write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write, overwrite=True)


def _atomic_save(path: Path, save: Callable[[str], Any], suffix: str) -> None:
    """Call ``save(tmp)`` on a temporary name ending with ``suffix``, then replace."""
    atomic_write(path, save, overwrite=True, suffix=suffix)


def _finite_or_none(value: Any) -> float | None:
    x = float(value)
    return x if math.isfinite(x) else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{path}: missing (not a fluoseg run directory?)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc


def _history_frame(rows: list[dict]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows)
    if len(frame.columns):
        first = [c for c in ("epoch",) if c in frame]
        last = [c for c in ("seconds",) if c in frame]
        middle = sorted(c for c in frame.columns if c not in first + last)
        frame = frame[first + middle + last]
    if "epoch" in frame:
        frame = frame.set_index("epoch", drop=False)
        frame.index.name = None
    return frame


@dataclass
class Run:
    """A training run directory and what it holds.

    Attributes:
        path: the run directory.
        config: ``config.json`` (model, n_classes, flags, model/train configs, profile).
        history: one row per finished epoch (``epoch`` from 1, metrics, ``seconds``).
        timings: ``{"epoch_seconds": [...], "total_seconds": ...}``.
        hardware: ``hardware.json``.
    """

    path: Path
    config: dict
    history: pd.DataFrame
    timings: dict
    hardware: dict
    _segmenter: Any = field(default=None, repr=False)
    _variants: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Run:
        """Open a run directory (finished or not) without loading the network.

        Raises:
            InputError: the folder or its ``config.json`` is missing or malformed.
        """
        import pandas as pd

        p = Path(path)
        if not p.is_dir():
            raise InputError(
                f"{p}: no such run directory (expected a folder written "
                "by fluoseg train)"
            )
        config = _read_json(p / CONFIG_FILE)
        hist = p / HISTORY_FILE
        history = _history_frame(
            pd.read_csv(hist).to_dict("records") if hist.is_file() else []
        )
        timings = _read_json(p / TIMINGS_FILE) if (p / TIMINGS_FILE).is_file() else {}
        hardware = (
            _read_json(p / HARDWARE_FILE) if (p / HARDWARE_FILE).is_file() else {}
        )
        return cls(p, config, history, timings, hardware)

    @property
    def finished(self) -> bool:
        """Whether training ended (budget spent or early stop) and the net is saved."""
        state = self.path / CHECKPOINT_DIR / STATE_FILE
        if not (self.path / SEGMENTER_FILE).is_file() or not state.is_file():
            return False
        return bool(_read_json(state).get("finished", False))

    @property
    def profile(self) -> Profile:
        """The profile the run was trained with."""
        return Profile(
            **{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in self.config["profile"].items()
            }
        )

    @property
    def raw(self) -> bool:
        """Whether the model was trained on raw (not percentile-stretched) images."""
        return bool(self.config["raw"])

    @property
    def stretch_clip(self) -> bool:
        """Whether the input stretch is clipped to [0, 1] (else only below 0)."""
        return bool(self.config["model_config"].get("stretch_clip", True))

    @property
    def n_classes(self) -> int:
        """Output classes (2: nuclei, Golgi; 3: + pair)."""
        return int(self.config["n_classes"])

    @property
    def segmenter(self) -> keras.Model:
        """The segmentation network (loaded from ``segmenter.keras`` on first use)."""
        if self._segmenter is None:
            path = self.path / SEGMENTER_FILE
            if not path.is_file():
                path = self.path / BEST_FILE
            if not path.is_file():
                raise InputError(
                    f"{self.path}: no {SEGMENTER_FILE} (training has not finished; "
                    "run fluoseg train again to resume)"
                )
            require_tensorflow()
            import keras

            import fluoseg.models  # noqa: F401  (registers the custom layers)

            self._segmenter = keras.saving.load_model(path, compile=False)
        return self._segmenter

    def network(self, precision: str = "float32") -> keras.Model:
        """The segmenter computing in ``precision`` (``"float32"`` or ``"bfloat16"``,
        see ``fluoseg.models.with_precision``), built once per run and precision."""
        from fluoseg.models import with_precision

        if precision not in self._variants:
            self._variants[precision] = with_precision(self.segmenter, precision)
        return self._variants[precision]

    def _window(self) -> tuple[int, int, int]:
        spatial = tuple(self.segmenter.input_shape[1:4])
        if all(s is None for s in spatial):
            return tuple(self.profile.inference_patch_shape)  # type: ignore[return-value]
        return tuple(int(s) for s in spatial)  # type: ignore[return-value]

    def predict(
        self,
        volume: np.ndarray,
        tta: bool = False,
        progress: bool = False,
        blending: str = "gaussian",
        precision: str = "float32",
    ) -> np.ndarray:
        """Probabilities (Z, Y, X, n) float32 for an image (Z, Y, X, 2) in [0, 1].

        Applies the run's pre-processing (percentile stretch unless raw) and slides the
        profile's inference window (overlap, batch) over the whole volume, blending
        the windows as ``fluoseg.inference.predict_volume`` does (``"gaussian"``,
        ``"constant"`` or the thesis's ``"thesis"``); the output has exactly the
        input's spatial shape. ``precision="bfloat16"`` computes the network in bf16
        (faster on CPUs with AVX512-BF16/AMX; see :meth:`network`).
        """
        from fluoseg.inference import predict_volume
        from fluoseg.transforms import preprocess_image

        x = np.asarray(volume)
        if x.ndim != 4 or x.shape[-1] != 2:
            raise InputError(
                f"image of shape {x.shape}: expected (Z, Y, X, 2) [nuclei, golgi]"
            )
        x = preprocess_image(x, self.raw, self.stretch_clip)
        net = self.network(precision)
        window = self._window()
        prof = self.profile
        # the network needs at least one window: reflect-pad small volumes, crop back
        from fluoseg.transforms import pad_to_at_least

        shape = x.shape[:3]
        padded = pad_to_at_least(x, window)

        def fn(batch: np.ndarray) -> np.ndarray:
            return np.asarray(net.predict_on_batch(batch), dtype=np.float32)

        probs = predict_volume(
            fn,
            padded,
            window,
            overlap=prof.inference_overlap,
            batch_size=prof.inference_batch,
            blending=blending,
            tta=tta,
            progress=progress,
        )
        return probs[: shape[0], : shape[1], : shape[2]]

    @property
    def mask_share(self) -> list[float] | None:
        """Per-class foreground share of the masks the model learnt from, when its
        configuration thresholds by share (``threshold_rule="mask_share"``)."""
        share = self.config.get("mask_share")
        return [float(v) for v in share] if share else None

    def segment(
        self,
        volume: np.ndarray,
        threshold: float | None = None,
        tta: bool = False,
        progress: bool = False,
        blending: str = "gaussian",
        precision: str = "float32",
    ) -> np.ndarray:
        """The mask (Z, Y, X, n) uint8 {0, 1}: ``predict(volume) > threshold``.

        ``threshold=None`` applies the run's own rule: its configuration's fixed
        threshold (0.5), or, for a run trained with ``threshold_rule="mask_share"``,
        ``fluoseg.inference.threshold_by_share`` with :attr:`mask_share`.
        """
        if threshold is not None and not 0.0 < float(threshold) < 1.0:
            raise InputError(f"threshold must be in (0, 1), got {threshold}")
        probs = self.predict(
            volume, tta=tta, progress=progress, blending=blending, precision=precision
        )
        return self.binarize(probs, threshold)

    def binarize(self, probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Probabilities (Z, Y, X, n) to a mask uint8 {0, 1} with ``threshold``, or,
        when it is ``None``, with the run's own rule (see :meth:`segment`)."""
        if threshold is None and self.mask_share is not None:
            from fluoseg.inference import threshold_by_share

            return threshold_by_share(probs, self.mask_share)
        if threshold is None:
            threshold = float(self.config["model_config"].get("threshold", 0.5))
        return (np.asarray(probs) > float(threshold)).astype(np.uint8)


# --------------------------------------------------------------------------- callbacks


def _callbacks_module():  # noqa: ANN202 - builds Keras classes lazily
    """The trainer's Keras callbacks (defined on first use: TensorFlow is heavy)."""
    require_tensorflow()
    import keras

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
            from tqdm import tqdm

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

        def __init__(self, trainer: _Trainer, timer: Any, early: Any) -> None:
            super().__init__()
            self.trainer, self.timer, self.early = trainer, timer, early

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.trainer.save_epoch(
                epoch + 1, dict(logs or {}), self.timer.last, self.early
            )

    return EpochTimer, ProgressBar, ResumableEarlyStopping, RunCheckpoint


# ----------------------------------------------------------------------------- trainer


@dataclass
class _Trainer:
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
        return self.path / CHECKPOINT_DIR

    def optimizers(self) -> dict[str, Any]:
        from fluoseg.models import model_optimizers

        return model_optimizers(self.model)

    def save_epoch(self, epoch: int, logs: dict, seconds: float, early: Any) -> None:
        """Write the checkpoint of finished epoch ``epoch`` (1-based), state last."""
        from fluoseg.models import segmenter

        self.ckpt.mkdir(parents=True, exist_ok=True)
        weights = f"weights-{epoch:04d}.weights.h5"
        optim = f"optimizers-{epoch:04d}.npz"
        _atomic_save(self.ckpt / weights, self.model.save_weights, ".weights.h5")
        arrays = {
            f"{name}/{i:04d}": np.asarray(v.numpy())
            for name, opt in self.optimizers().items()
            for i, v in enumerate(opt.variables)
        }

        def _savez(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        _atomic_save(self.ckpt / optim, _savez, ".npz")
        if early.improved:
            _atomic_save(self.path / BEST_FILE, segmenter(self.model).save, ".keras")
        row = {"epoch": epoch}
        # a non-finite value (e.g. a CycleGAN selection loss after collapse) is
        # stored as null/NaN so that state.json stays strict JSON
        row.update({k: _finite_or_none(v) for k, v in logs.items()})
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
            "optimizers": optim,
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
        _json_dump_atomic(self.ckpt / STATE_FILE, state)
        self.state = state
        for old in self.ckpt.iterdir():
            if old.name not in (weights, optim, STATE_FILE) and (
                old.name.startswith(("weights-", "optimizers-", "."))
            ):
                old.unlink(missing_ok=True)

    def _write_logs(self, history: list[dict], seconds: list[float]) -> None:
        frame = _history_frame(history)
        _atomic_write_text(self.path / HISTORY_FILE, frame.to_csv(index=False))
        _json_dump_atomic(
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

        state = self.state
        # one step builds every variable and optimizer slot (GAN train steps included;
        # fit, because custom train steps may not accept train_on_batch's 3-tuple)
        one = tf.data.Dataset.from_tensors(tuple(np.asarray(a) for a in warmup))
        self.model.fit(one, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
        self.model.load_weights(str(self.ckpt / state["weights"]))
        with np.load(self.ckpt / state["optimizers"]) as saved:
            for name, opt in self.optimizers().items():
                variables = list(opt.variables)
                keys = sorted(k for k in saved.files if k.startswith(f"{name}/"))
                if len(keys) != len(variables):
                    raise InputError(
                        f"{self.ckpt}: optimizer {name} has {len(keys)} saved "
                        f"variables, the model {len(variables)} (corrupt checkpoint?)"
                    )
                for var, key in zip(variables, keys, strict=True):
                    var.assign(saved[key])
        for name, opt in self.optimizers().items():
            want = state.get("iterations", {}).get(name)
            if want is not None and int(opt.iterations.numpy()) != int(want):
                raise InputError(
                    f"{self.ckpt}: optimizer {name} restored at step "
                    f"{int(opt.iterations.numpy())}, expected {want}"
                )

    def finish(self, restore_best: bool) -> None:
        """Write ``segmenter.keras`` (best epoch's weights if asked) and mark done."""
        from fluoseg.models import segmenter

        best = self.path / BEST_FILE
        if restore_best and best.is_file():
            shutil.copyfile(best, self.ckpt / ".segmenter.tmp.keras")
            os.replace(self.ckpt / ".segmenter.tmp.keras", self.path / SEGMENTER_FILE)
        else:
            _atomic_save(
                self.path / SEGMENTER_FILE, segmenter(self.model).save, ".keras"
            )
        state = dict(self.state, finished=True)
        _json_dump_atomic(self.ckpt / STATE_FILE, state)
        self.state = state


# ------------------------------------------------------------------------------- data


def _unpaired_side(
    cfg: dict, synthetic: list[np.ndarray] | None, own: list[np.ndarray]
) -> list[np.ndarray] | None:
    """Masks the CycleGAN's mask side is drawn from (``None``: paired models)."""
    if cfg["model"] != "cyclegan":
        return None
    return synthetic if cfg["unsupervised"] else own


def _load_data(cfg: dict, profile: Profile, data_dir: Path, tc: TrainConfig, seed: int):  # noqa: ANN202
    """The training sampler and the fixed validation arrays of a run."""
    from fluoseg.data.pipeline import PatchSampler
    from fluoseg.data.validation import fixed_patches, grid_split, split_crops

    n = int(cfg["n_classes"])
    names, images, masks = _training_arrays(cfg, profile, data_dir)
    patch = tuple(profile.patch_shape)
    unpaired = None
    if cfg["model"] == "cyclegan":
        if cfg["unsupervised"]:
            from fluoseg.data.loaders import load_synthetic_masks

            unpaired = [
                np.asarray(getattr(m, "mask", m), dtype=np.uint8)
                for m in load_synthetic_masks(
                    profile=profile, data_dir=data_dir, n_classes=n
                )
            ]
        else:
            unpaired = masks
    batch = tc.batch_size
    if tc.sampling == "grid":
        full = PatchSampler(images, masks, patch, 0.0, seed, grid=True)
        train_idx, val_idx = grid_split(len(full), seed)
        sampler = PatchSampler(
            images,
            masks,
            patch,
            0.0,
            seed,
            augment=tc.augment,
            grid=True,
            unpaired_masks=_unpaired_side(cfg, unpaired, masks),
            grid_indices=train_idx,
        )
        val_sampler = PatchSampler(
            images, masks, patch, 0.0, seed, grid=True, grid_indices=val_idx
        )
        vx, vy = val_sampler._grid_pairs(0, len(val_sampler))  # each patch once
        val = (np.stack(vx).astype(np.float32), np.stack(vy).astype(np.float32))
        steps = tc.steps_per_epoch or max(1, len(sampler) // batch)
    else:
        train_i, val_i = split_crops(names)
        sampler = PatchSampler(
            [images[i] for i in train_i],
            [masks[i] for i in train_i],
            patch,
            profile.foreground_fraction,
            seed,
            augment=tc.augment,
            unpaired_masks=_unpaired_side(cfg, unpaired, [masks[i] for i in train_i]),
            balance_classes=tc.balance_classes,
        )
        n_val = int(tc.validation_steps or 1) * batch
        val = fixed_patches(
            [images[i] for i in val_i],
            [masks[i] for i in val_i],
            patch,
            n_val,
            profile.foreground_fraction,
            seed,
            balance_classes=tc.balance_classes,
        )
        steps = int(tc.steps_per_epoch or 1)
    if cfg["model"] == "cyclegan":
        held_out = masks if tc.sampling == "grid" else [masks[i] for i in val_i]
        source = unpaired if cfg["unsupervised"] and unpaired else held_out
        val = (val[0], _unpaired_validation(source, len(val[1]), profile, seed))
    return sampler, val, steps


def _training_arrays(
    cfg: dict, profile: Profile, data_dir: Path
) -> tuple[list[str], list[Any], list[Any]]:
    """The training crops' names, pre-processed float32 images (as
    :class:`~fluoseg.coded.CodedImage` where they take few values) and uint8 masks
    (for the unsupervised CycleGAN the :class:`~fluoseg.data.origins.Positions` of its
    bright-blob proposals: they only place the image patches).

    Crops are read one at a time and only these arrays are kept, so the raw images
    (and, unsupervised, the unused annotations and full proposal masks) are never all
    in memory at once.
    """
    from fluoseg.coded import encode
    from fluoseg.data.loaders import iter_split
    from fluoseg.data.origins import mask_positions
    from fluoseg.transforms import preprocess_image

    n = int(cfg["n_classes"])
    clip = bool(cfg["model_config"].get("stretch_clip", True))
    proposals = cfg["model"] == "cyclegan" and cfg["unsupervised"]
    names: list[str] = []
    images: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    crops = iter_split(
        "train", profile=profile, data_dir=data_dir, truth=cfg["truth"], n_classes=n
    )
    for crop in crops:
        names.append(crop.name)
        image = preprocess_image(crop.image, cfg["raw"], clip)
        # no annotation at all when unsupervised: patches centre on bright blobs
        mask = None if proposals else np.asarray(crop.mask, dtype=np.uint8)
        del crop  # the raw image goes before the next crop is read
        if mask is None:  # one crop's proposal mask at a time
            mask = mask_positions(_proposal_masks(image, n), profile.patch_shape)
        masks.append(mask)
        images.append(encode(image))  # the same float32 values, in 1-2 bytes each
        del image
    if not images:
        raise InputError(f"{data_dir}/train: no training crops found")
    return names, images, masks


def _proposal_masks(image: np.ndarray, n_classes: int) -> np.ndarray:
    """``bright_proposals`` of ``image`` with ``n_classes`` channels (an empty pair
    channel: nothing is centred on it)."""
    from fluoseg.data.origins import bright_proposals

    prop = bright_proposals(image)
    if n_classes > prop.shape[-1]:
        extra = np.zeros(prop.shape[:3] + (n_classes - prop.shape[-1],), np.uint8)
        prop = np.concatenate([prop, extra], axis=-1)
    return prop[..., :n_classes]


def _unpaired_validation(
    source: list[np.ndarray], n: int, profile: Profile, seed: int
) -> np.ndarray:
    """The CycleGAN's ``n`` validation masks, drawn from ``source`` independently of
    the validation images: its unpaired domain (the synthetic masks when
    unsupervised, so the checkpoint rule uses no annotation), or, supervised, the
    held-out masks."""
    from fluoseg.data.validation import fixed_mask_patches

    return fixed_mask_patches(
        source, profile.patch_shape, n, profile.foreground_fraction, seed
    )


# ------------------------------------------------------------------------------ train


def _run_config(
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
        cfg["mask_share"] = _mask_share(
            data_dir, profile, int(n_classes), unsupervised, truth
        )
    return cfg


def _mask_share(
    data_dir: Path, profile: Profile, n_classes: int, unsupervised: bool, truth: str
) -> list[float]:
    """Per-class foreground share of the masks a CycleGAN learns from (synthetic
    when unsupervised, else the training crops' masks), for ``threshold_by_share``."""
    from fluoseg.data.dataset import ensure_dataset
    from fluoseg.data.loaders import load_masks, load_synthetic_masks

    if not Path(data_dir).is_dir():
        ensure_dataset(profile)
    kw = {"profile": profile, "data_dir": data_dir, "n_classes": n_classes}
    if unsupervised:
        masks = load_synthetic_masks(**kw)
    else:  # the masks only: the images are ~1 GB as float32 at the cpu profile
        masks = list(load_masks("train", truth=truth, **kw).values())
    total = sum(m[..., 0].size for m in masks)
    return [
        round(max(sum(float(m[..., c].sum()) for m in masks) / total, 1e-6), 8)
        for c in range(n_classes)
    ]


def config_digest(cfg: dict) -> str:
    """Eight hex digits identifying a run configuration (its data folder excepted).

    Default run folders end with it, so that a change of model or training settings
    (e.g. after updating fluoseg) trains a new run beside the old one instead of
    failing on a mismatched configuration; an explicit ``out`` is checked instead.
    """
    key = {k: v for k, v in cfg.items() if k != "data_dir"}
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


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
    from fluoseg.models import model_config
    from fluoseg.models.configs import check_model_name

    check_model_name(model)
    check_choice(n_classes, (2, 3), "n_classes")
    check_choice(truth, MASK_KINDS, "truth")
    if unsupervised and model != "cyclegan":
        raise InputError(
            f"--unsupervised needs --model cyclegan (got {model}): only the CycleGAN "
            "learns from unpaired synthetic masks"
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
    cfg = _run_config(
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
        old = _read_json(run_dir / CONFIG_FILE)
        diff = _differences(old, cfg)
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
            if (run_dir / CHECKPOINT_DIR / STATE_FILE).is_file():
                state = _read_json(run_dir / CHECKPOINT_DIR / STATE_FILE)
    elif run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise InputError(
            f"{run_dir} exists and is not a fluoseg run directory: choose an empty "
            "or new --out folder"
        )
    if _isolate(isolate) and not callbacks:
        _train_in_subprocess(
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
            )
        )
        return Run.load(run_dir)
    if data_dir is None:
        from fluoseg.data.dataset import ensure_dataset

        ensure_dataset(prof, progress=progress)
    return _fit(run_dir, cfg, prof, ddir, tc, mcfg, state, progress, list(callbacks))


TRAIN_SUBPROCESS_ENV = "FLUOSEG_TRAIN_SUBPROCESS"


def _isolate(isolate: bool | None) -> bool:
    if isolate is not None:
        return bool(isolate)
    env = os.environ.get(TRAIN_SUBPROCESS_ENV, "").strip().lower()
    if env:
        return env not in ("0", "false", "no")
    return in_jupyter_kernel()


def in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter kernel (ipykernel's shell is running)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    from ipykernel.zmqshell import ZMQInteractiveShell
    from IPython import get_ipython

    return isinstance(get_ipython(), ZMQInteractiveShell)


def _train_in_subprocess(kwargs: dict[str, Any]) -> None:
    """``train(**kwargs)`` in a child Python process; its output is relayed here."""
    run_in_subprocess("fluoseg.train", "train", kwargs)


def run_in_subprocess(
    module: str, function: str, kwargs: dict[str, Any], returns: bool = False
) -> Any:
    """Call ``module.function(**kwargs)`` in a child Python process (``kwargs`` are
    pickled), relay its output to ``sys.stderr`` and record its peak memory in
    ``fluoseg.notebook.CHILD_PEAKS_MIB``. The child trains in-process
    (``$FLUOSEG_TRAIN_SUBPROCESS=0``). With ``returns``, the function's (picklable)
    return value is returned; else ``None``.

    Raises:
        InputError: the child failed (its last output is in the message).
    """
    import pickle
    import subprocess
    import tempfile

    from fluoseg.notebook import CHILD_PEAKS_MIB

    code = (
        "import pickle, sys\n"
        f"from {module} import {function} as function\n"
        "out = function(**pickle.loads(sys.stdin.buffer.read()))\n"
        "if sys.argv[2] != '-':\n"
        "    with open(sys.argv[2], 'wb') as f:\n"
        "        pickle.dump(out, f)\n"
        "from fluoseg.notebook import own_peak_mib\n"
        "open(sys.argv[1], 'w').write(str(own_peak_mib()))\n"
    )
    fd, peak_file = tempfile.mkstemp(prefix="fluoseg-peak-", suffix=".txt")
    os.close(fd)
    out_file = "-"
    if returns:
        fd, out_file = tempfile.mkstemp(prefix="fluoseg-out-", suffix=".pickle")
        os.close(fd)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, peak_file, out_file],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, TRAIN_SUBPROCESS_ENV: "0"},
    )
    tail: list[str] = []
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(pickle.dumps(kwargs))
        proc.stdin.close()
        for chunk in iter(lambda: proc.stdout.read1(8192), b""):  # type: ignore[union-attr]
            text = chunk.decode(errors="replace")
            sys.stderr.write(text)
            sys.stderr.flush()
            tail = (tail + [text])[-20:]
        code_ = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        peak_text = Path(peak_file).read_text().strip()
        Path(peak_file).unlink(missing_ok=True)
        if peak_text:
            CHILD_PEAKS_MIB.append(float(peak_text))
    if code_ != 0:
        if returns:
            Path(out_file).unlink(missing_ok=True)
        raise InputError(
            f"{module}.{function} in a child process failed (exit code {code_}); its "
            f"last output:\n{''.join(tail)[-3000:]}"
        )
    if not returns:
        return None
    try:
        with open(out_file, "rb") as f:
            return pickle.load(f)
    finally:
        Path(out_file).unlink(missing_ok=True)


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
    require_tensorflow()
    import keras
    import tensorflow as tf

    from fluoseg.hardware import describe
    from fluoseg.models import build_model, extra_callbacks, monitor_for

    seed = int(cfg["seed"])
    run_dir.mkdir(parents=True, exist_ok=True)
    _json_dump_atomic(run_dir / CONFIG_FILE, cfg)
    _json_dump_atomic(run_dir / HARDWARE_FILE, describe())
    sampler, val, steps = _load_data(cfg, prof, ddir, tc, seed)
    keras.utils.set_random_seed(seed)
    model = build_model(cfg["model"], mcfg)
    trainer = _Trainer(run_dir, cfg["model"], model, mcfg, tc, steps, seed, state)
    start = int(state.get("epoch", 0))
    if start > 0:
        if int(state.get("steps_per_epoch", steps)) != steps:
            raise InputError(f"{run_dir}: checkpoint has another steps_per_epoch")
        trainer.restore(sampler.batch(start * steps, tc.batch_size))
    stopped = bool(state.get("stopped_early", False))
    if start < tc.epochs and not stopped:
        EpochTimer, ProgressBar, EarlyStop, RunCheckpoint = _callbacks_module()
        monitor, mode = monitor_for(cfg["model"])
        timer = EpochTimer()
        resume = {
            "best": state.get("best"),
            "best_epoch": (state.get("best_epoch") or 0) - 1,  # 0-based in Keras
            "wait": state.get("wait", 0),
        }
        early = EarlyStop(
            resume=resume, monitor=monitor, mode=mode, patience=stopping_patience(tc)
        )
        callbacks: list = [timer]
        if progress:
            callbacks.append(ProgressBar(tc.epochs, steps, start))
        probe = val[0][: min(4, len(val[0]))]
        callbacks += extra_callbacks(
            cfg["model"], model, mcfg, probe=probe, epochs=tc.epochs
        )
        callbacks += [early, RunCheckpoint(trainer, timer, early), *(extra or [])]
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


# --------------------------------------------------------------------------- evaluate
