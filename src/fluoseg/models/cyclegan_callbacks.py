"""The CycleGAN's training callbacks: its checkpoint rule without ground truth, the
learning-rate decay and the mode-collapse monitor.

Checkpoint rule without ground truth (``monitor_for("cyclegan")``): the validation
batches pair validation images with masks from the *unpaired* domain (the synthetic
masks when unsupervised), so no annotation is used. ``test_step`` tracks, per class,
the foreground fraction of ``G_S(i) > 0.5`` on the images and of the unpaired masks,
and the overlap of the mask cycle ``G_S(G_I(s))`` with ``s``; ``SelectionScore`` turns
them into ``val_selection_loss = mean over classes of (1 - cycle Dice) + |log((f_pred
+ eps) / (f_ref + eps))|``: G_S must segment G_I's renderings of masks (the cycle
Dice) and draw as much foreground on real images as the mask domain holds (an empty
or flooded G_S scores badly whatever its cycles do). The image-cycle L1 that this
replaced rewards a G_S that hides the image's noise in its output and was measured to
rank checkpoints against their Dice. ``ModeCollapseMonitor`` (placed after
``SelectionScore`` and before the checkpoint and early-stopping callbacks) marks a
collapsed epoch's ``val_selection_loss`` as infinite, so it is never chosen, and stops
training after ``collapse_patience`` collapsed epochs, logging the reason; with
``collapse_per_class`` (``paper``) one collapsed class channel is enough.

``cyclegan_callbacks`` returns them in the order they must run; it is the CycleGAN's
``callbacks`` entry in ``fluoseg.models.registry``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

try:
    import keras
except ImportError:  # TensorFlow missing: say which extra installs it
    from fluoseg.errors import require_tensorflow

    require_tensorflow()
    raise

from fluoseg import CLASS_NAMES
from fluoseg.errors import InputError
from fluoseg.models import toy_batch
from fluoseg.models.configs import CycleGANConfig
from fluoseg.models.cyclegan import SELECTION_EPS, SELECTION_STATS, match_channels

MONITOR: tuple[str, str] = ("val_selection_loss", "min")


def synthetic_probe(
    patch_shape: tuple[int, int, int], n: int = 4, channels: int = 2, seed: int = 12345
) -> np.ndarray:
    """``n`` different seeded toy images (n, Z, Y, X, channels) in [0, 1]
    (``fluoseg.models.toy_batch``: nucleus and Golgi spheres on weak noise)."""
    images, _ = toy_batch(n, patch_shape, 2, seed=seed, objects=3)
    if channels != images.shape[-1]:
        images = np.asarray(match_channels(images, channels, fill=0.0))
    return images


def collapse_statistics(
    outputs: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Mean pairwise L1 between the samples of ``outputs`` (B, ..., n) in [0, 1] and
    the foreground fraction of ``outputs > threshold``."""
    b = outputs.shape[0]
    flat = outputs.reshape(b, -1)
    pairs = [
        float(np.mean(np.abs(flat[p] - flat[q])))
        for p in range(b)
        for q in range(p + 1, b)
    ]
    return {
        "spread": float(np.mean(pairs)) if pairs else math.nan,
        "foreground": float(np.mean(flat > threshold)),
    }


def selection_score(
    logs: dict[str, Any],
    n_classes: int,
    prefix: str = "val_",
    eps: float = SELECTION_EPS,
) -> float:
    """The checkpoint rule from the selection statistics in ``logs`` (lower is better):
    the mean over classes of ``1 - cycle Dice + |log((f_pred + eps) / (f_ref + eps))|``.

    ``cycle Dice = 2 cycle_inter / cycle_total`` (1 when both are empty); ``f_pred`` and
    ``f_ref`` are the foreground fractions of G_S's masks of real images and of the
    unpaired masks. Missing statistics give ``nan``.
    """
    terms = []
    for k in range(n_classes):
        try:
            f_pred, f_ref, inter, total = (
                float(logs[f"{prefix}{t}_{k}"]) for t in SELECTION_STATS
            )
        except KeyError:
            return math.nan
        dice = 2.0 * inter / total if total > 0 else 1.0
        terms.append(1.0 - dice + abs(math.log((f_pred + eps) / (f_ref + eps))))
    return float(np.mean(terms))


class SelectionScore(keras.callbacks.Callback):
    """Writes ``selection_loss`` and ``val_selection_loss`` (``selection_score``) into
    each epoch's logs; place it before ``ModeCollapseMonitor`` and the checkpoint and
    early-stopping callbacks."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = int(n_classes)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        for prefix in ("", "val_"):
            score = selection_score(logs, self.n_classes, prefix)
            if not math.isnan(score):
                logs[f"{prefix}selection_loss"] = score


def decay_factor(epoch: int, epochs: int, decay_from: float) -> float:
    """Learning-rate factor of 0-based ``epoch`` of ``epochs``: 1 until
    ``decay_from * epochs``, then linear towards 0 (reached after the last epoch)."""
    start = decay_from * epochs
    if decay_from >= 1.0 or epoch < start:
        return 1.0
    return max(0.0, (epochs - epoch) / (epochs - start))


class LinearDecay(keras.callbacks.Callback):
    """Sets both optimizers' learning rates to ``decay_factor`` x the configured ones
    at the start of every epoch (so a resumed run continues the same schedule)."""

    def __init__(self, config: CycleGANConfig, epochs: int) -> None:
        super().__init__()
        self.cfg = config
        self.epochs = int(epochs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        f = decay_factor(epoch, self.epochs, self.cfg.decay_from)
        self.model.g_optimizer.learning_rate.assign(self.cfg.gen_learning_rate * f)
        self.model.d_optimizer.learning_rate.assign(self.cfg.disc_learning_rate * f)


class AdversarialWarmup(keras.callbacks.Callback):
    """G_S's adversarial weight: 0 for the first ``adv_warmup`` epochs (G_S learns
    from the mask cycle and the identity only, while D_S trains), then 1; set at the
    start of every epoch, so a resumed run continues the same schedule."""

    def __init__(self, config: CycleGANConfig) -> None:
        super().__init__()
        self.warmup = int(config.adv_warmup)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.adv_s_weight.assign(0.0 if epoch < self.warmup else 1.0)


def is_collapsed(stats: dict[str, float], threshold: float) -> bool:
    """Whether ``collapse_statistics`` show a collapse: a mean pairwise L1 below
    ``threshold`` or a foreground fraction of exactly 0 or 1."""
    return stats["spread"] < threshold or stats["foreground"] in (0.0, 1.0)


class ModeCollapseMonitor(keras.callbacks.Callback):
    """Stop the CycleGAN when G_S gives (near-)identical or empty/full outputs.

    Each epoch it segments a fixed ``probe`` batch of different images, logs
    ``probe_spread`` (mean pairwise L1 of the outputs) and ``probe_foreground``, and
    calls the epoch collapsed (after ``config.collapse_warmup`` epochs) when the
    spread is below ``config.collapse_threshold`` or the foreground fraction is 0 or
    1. The same statistics of each class channel alone are logged as
    ``probe_spread_<k>`` and ``probe_foreground_<k>``, and ``probe_collapsed_<k>``
    is 1 when channel ``k`` alone meets the rule; with
    ``config.collapse_per_class`` one such channel makes the epoch collapsed (the
    thesis saw its Golgi channel collapse alone). ``probe_collapsed`` is 1 for an
    epoch counted as collapsed. A collapsed epoch's ``monitor`` log is set to +inf
    (so checkpoint rules placed after this callback never pick it);
    ``config.collapse_patience`` collapsed epochs in a row set ``model.stop_training``
    and record ``reason``, which names the collapsed classes.
    """

    def __init__(
        self,
        config: CycleGANConfig,
        probe: np.ndarray | None = None,
        monitor: str = MONITOR[0],
        verbose: bool = True,
    ) -> None:
        super().__init__()
        self.cfg = config
        if probe is None:
            probe = synthetic_probe(config.patch_shape, channels=config.in_channels)
        probe = np.asarray(probe, np.float32)
        if probe.ndim != 5 or probe.shape[0] < 2:
            raise InputError(
                f"collapse probe must be (B>=2, Z, Y, X, C) images, got {probe.shape}"
            )
        self.probe = probe
        self.monitor = monitor
        self.verbose = verbose
        self.collapsed_epochs = 0
        self.reason: str | None = None
        self.stopped_epoch: int | None = None

    def check(self, model: keras.Model) -> tuple[bool, dict[str, float]]:
        """(collapsed?, statistics) of ``model``'s G_S on the probe: ``spread`` and
        ``foreground`` of the whole output, ``spread_<k>``, ``foreground_<k>`` and
        ``collapsed_<k>`` (1.0 or 0.0) of class channel ``k``."""
        out = np.asarray(model(self.probe, training=False))
        limit = self.cfg.collapse_threshold
        stats = collapse_statistics(out, self.cfg.threshold)
        collapsed = is_collapsed(stats, limit)
        for k in range(out.shape[-1]):
            per = collapse_statistics(out[..., k : k + 1], self.cfg.threshold)
            stats[f"spread_{k}"] = per["spread"]
            stats[f"foreground_{k}"] = per["foreground"]
            stats[f"collapsed_{k}"] = float(is_collapsed(per, limit))
            if self.cfg.collapse_per_class and is_collapsed(per, limit):
                collapsed = True
        return collapsed, stats

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        collapsed, stats = self.check(self.model)
        for key, value in stats.items():
            logs[f"probe_{key}"] = value
        collapsed = collapsed and epoch + 1 > self.cfg.collapse_warmup
        logs["probe_collapsed"] = float(collapsed)
        self.collapsed_epochs = self.collapsed_epochs + 1 if collapsed else 0
        if collapsed and self.monitor in logs:
            logs[self.monitor] = math.inf
        if self.collapsed_epochs >= self.cfg.collapse_patience:
            classes = [
                f"{CLASS_NAMES[k] if k < len(CLASS_NAMES) else k} (pairwise L1 "
                f"{stats[f'spread_{k}']:.2e}, "
                f"foreground {stats[f'foreground_{k}']:.3f})"
                for k in range(self.cfg.n_classes)
                if stats.get(f"collapsed_{k}")
            ]
            per_class = (
                "; collapsed class channels: " + ", ".join(classes) if classes else ""
            )
            self.reason = (
                f"mode collapse at epoch {epoch + 1}: G_S outputs on "
                f"{len(self.probe)} different probe images have mean pairwise L1 "
                f"{stats['spread']:.2e} (threshold {self.cfg.collapse_threshold:g}) "
                f"and foreground fraction {stats['foreground']:.3f}{per_class}, for "
                f"{self.collapsed_epochs} epoch(s) in a row"
            )
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True
            logging.getLogger(__name__).warning("ModeCollapseMonitor: %s", self.reason)
            if self.verbose:
                print(f"ModeCollapseMonitor: {self.reason}", flush=True)


def cyclegan_callbacks(
    model: keras.Model,
    config: CycleGANConfig,
    probe: Any = None,
    epochs: int | None = None,
) -> list[keras.callbacks.Callback]:
    """The CycleGAN's callbacks, in the order they must run: a ``LinearDecay`` of the
    learning rates (when ``epochs`` is given and ``config.decay_from < 1``), an
    ``AdversarialWarmup`` (when ``config.adv_warmup`` > 0), a ``SelectionScore``
    (writes ``val_selection_loss``) and a ``ModeCollapseMonitor`` (on ``probe``, a
    fixed batch of different images, or a seeded synthetic one)."""
    schedules: list[keras.callbacks.Callback] = []
    if epochs is not None and config.decay_from < 1.0:
        schedules.append(LinearDecay(config, epochs))
    if config.adv_warmup > 0:
        schedules.append(AdversarialWarmup(config))
    return schedules + [
        SelectionScore(config.n_classes),
        ModeCollapseMonitor(config, probe=probe),
    ]
