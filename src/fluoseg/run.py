"""A saved training run: its folder's layout, its name and digest, and :class:`Run`.

A *run directory* holds everything needed to reuse or audit a training
(``fluoseg.training.trainer.train`` writes it):

- ``config.json``: model configuration, training configuration, profile, data folder,
  seed, truth and flags. A second ``train`` call with the same configuration **loads**
  a finished run or **resumes** an unfinished one; :func:`config_differences` lists
  what differs from another configuration.
- ``segmenter.keras``: the segmentation network (U-Net; Vox2Vox generator; CycleGAN
  G_S), written at the end. It holds the weights of the best epoch by the model's
  monitored value (``fluoseg.models.monitor_for``) unless the model configuration sets
  ``restore_best_weights=False``; ``best.keras`` is rewritten whenever that value
  improves.
- ``history.csv`` (one row per epoch, with its seconds), ``timings.json`` (per-epoch
  seconds and their total), ``hardware.json`` (``fluoseg.hardware.describe()``).
- ``checkpoint/``: the per-epoch checkpoint and ``state.json``
  (``fluoseg.training.checkpoint``).

:class:`Run` opens such a folder and predicts with its network through
``fluoseg.inference`` (the one sliding-window path).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fluoseg.config import Profile
from fluoseg.errors import InputError, require_tensorflow
from fluoseg.inference import predict_padded, threshold_by_share
from fluoseg.models import with_precision
from fluoseg.transforms import preprocess_image

if TYPE_CHECKING:  # pragma: no cover
    import keras

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
    return f"{run_kind(model, n_classes, raw, unsupervised)}-seed{seed}"


def run_kind(
    model: str, n_classes: int, raw: bool = False, unsupervised: bool = False
) -> str:
    """``<model>-<n>class[-raw][-unsup]``: what a training is, whatever its seed (the
    run folder name's stem, and the first ``train`` plan entry a training looks for,
    ``fluoseg.training.plan.train_config``)."""
    name = f"{model}-{n_classes}class"
    name += "-raw" if raw else ""
    return name + ("-unsup" if unsupervised else "")


def config_digest(cfg: dict) -> str:
    """Eight hex digits identifying a run configuration (its data folder excepted).

    Default run folders end with it, so that a change of model or training settings
    (e.g. after updating fluoseg) trains a new run beside the old one instead of
    failing on a mismatched configuration; an explicit ``out`` is checked instead.
    """
    key = {k: v for k, v in cfg.items() if k != "data_dir"}
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``"key: old -> new"`` for every (nested) entry in which two configs differ."""
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def read_json(path: Path) -> Any:
    """The JSON file ``path`` of a run folder.

    Raises:
        InputError: it is missing or not valid JSON.
    """
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{path}: missing (not a fluoseg run directory?)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc


def history_frame(rows: list[dict]) -> pd.DataFrame:
    """The history table of per-epoch ``rows``: ``epoch`` first, ``seconds`` last,
    the metrics sorted between them, indexed by epoch."""
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
        p = Path(path)
        if not p.is_dir():
            raise InputError(
                f"{p}: no such run directory (expected a folder written "
                "by fluoseg train)"
            )
        config = read_json(p / CONFIG_FILE)
        hist = p / HISTORY_FILE
        history = history_frame(
            pd.read_csv(hist).to_dict("records") if hist.is_file() else []
        )
        timings = read_json(p / TIMINGS_FILE) if (p / TIMINGS_FILE).is_file() else {}
        hardware = read_json(p / HARDWARE_FILE) if (p / HARDWARE_FILE).is_file() else {}
        return cls(p, config, history, timings, hardware)

    @property
    def finished(self) -> bool:
        """Whether training ended (budget spent or early stop) and the net is saved."""
        state = self.path / CHECKPOINT_DIR / STATE_FILE
        if not (self.path / SEGMENTER_FILE).is_file() or not state.is_file():
            return False
        return bool(read_json(state).get("finished", False))

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

            self._segmenter = keras.saving.load_model(path, compile=False)
        return self._segmenter

    def network(self, precision: str = "float32") -> keras.Model:
        """The segmenter computing in ``precision`` (``"float32"`` or ``"bfloat16"``,
        see ``fluoseg.models.with_precision``), built once per run and precision."""
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
        x = np.asarray(volume)
        if x.ndim != 4 or x.shape[-1] != 2:
            raise InputError(
                f"image of shape {x.shape}: expected (Z, Y, X, 2) [nuclei, golgi]"
            )
        x = preprocess_image(x, self.raw, self.stretch_clip)
        net = self.network(precision)
        prof = self.profile

        def fn(batch: np.ndarray) -> np.ndarray:
            return np.asarray(net.predict_on_batch(batch), dtype=np.float32)

        return predict_padded(
            fn,
            x,
            self._window(),
            overlap=prof.inference_overlap,
            batch_size=prof.inference_batch,
            blending=blending,
            tta=tta,
            progress=progress,
        )

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
            return threshold_by_share(probs, self.mask_share)
        if threshold is None:
            threshold = float(self.config["model_config"].get("threshold", 0.5))
        return (np.asarray(probs) > float(threshold)).astype(np.uint8)
