"""One frozen, JSON round-trippable configuration dataclass per model.

Every hyperparameter of a model lives here: the architecture (filters, depth, kernels,
normalisation, initialiser, residual mode), the objective (loss, weights), and the
training-loop settings the trainer reads (learning rates, batch size, early-stopping
patience). ``model_config(name, profile, n_classes)`` gives the ``smoke``, ``cpu`` and
``paper`` values. The configuration is saved as JSON beside a run's weights.

This module is pure Python (no TensorFlow import) so that it is cheap to import.

Profiles:

- ``paper``: the thesis's settings (da Rosa, §4.2-4.3 and §5.3) on 64^3 patches, with
  the original architectures: a 4-level 3D U-Net of base 32; a Vox2Vox U-Net/ResNet
  generator with k4 stride-2 layers and a 70^3-style PatchGAN (C64-C128-C256-C512, k4);
  the original CycleGAN ResNet generator (c7s1-64, d128, d256, 9 x R256, u128, u64,
  c7s1-out) with the thesis's concatenating residual blocks, stopped on mode collapse
  only (per class).
- ``cpu``: the same objectives and architectures scaled to 2 CPU cores on 32^3 patches
  and chosen by measurement: k3 stems, k2 stride-2 down/up layers, fewer filters, fewer
  residual blocks. The U-Net uses BCE + Dice at Adam 3e-3, which learns much faster
  on this budget than plain Dice at 1e-3 (the thesis's recipe, kept by ``paper``).
  Vox2Vox trains at Adam 1e-3 instead of 2e-5: on 32^3 toy patches (``toy_batch``,
  batch 4) its generator reached a Dice of 0.22, 0.35 and 0.93 after 200 steps at
  2e-5, 2e-4 and 1e-3. Measured step times (32^3, 2 cores shared with other work):
  U-Net 0.35 s at base 8 vs 1.3 s at base 16 and 7.8 s for the paper U-Net; Vox2Vox
  0.32 s vs 0.72 s with k4 down/up and k4 PatchGAN; CycleGAN (batch 2) 0.7-1.0 s vs
  4.5 s with k7 stems and k3 down/up. The cpu CycleGAN weights foreground voxels 10x
  in its mask-domain L1 terms: with the thesis's plain L1 it collapsed to empty masks
  within 3 epochs of 32 steps (G_S alone, trained supervised with plain L1 on 32^3
  patches, still output empty masks after 300 steps; with the weight 10 its nuclei
  Dice was 0.77).
- ``gpu``: a free Colab GPU (T4) on 64^3 patches, between ``cpu`` and ``paper``: U-Net
  base 16 depth 4 (1.4 M parameters, 340 GFLOP per training step of 4 patches);
  Vox2Vox base 16 depth 4 with 2 residual blocks and a 4-layer PatchGAN of 16 filters
  (193 GFLOP); CycleGAN generators of 32 filters, 2 down-samplings and 6 residual
  blocks (the original's layout at half width, 608 GFLOP per step of 2), with the cpu
  recipe's deviations (foreground weight, hard cycle mask, EMA, mask-share threshold).
  ``fluoseg.training.plan`` sizes the loops from these counts (the ``train`` plan of
  ``resources/profiles/gpu.json``).
- ``smoke``: tiny (base 4, depth 2, 16^3) for tests; a training step well under 0.5 s.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from fluoseg.config import Profile, get_profile
from fluoseg.errors import InputError

MODEL_NAMES: tuple[str, ...] = ("unet", "vox2vox", "cyclegan")
NORMS: tuple[str, ...] = ("batch", "instance", "none")
INITS: tuple[str, ...] = ("glorot_uniform", "he_normal", "normal")
RESIDUAL_MODES: tuple[str, ...] = ("concat", "sum", "concat_grow")
CYCLE_MASK_MODES: tuple[str, ...] = ("soft", "hard", "detached")
THRESHOLD_RULES: tuple[str, ...] = ("fixed", "mask_share")
UNET_LOSSES: tuple[str, ...] = ("dice", "bce_dice")

# Per-class loss weights of the thesis, in class order (nuclei, golgi, pair).
VOX2VOX_BETA: tuple[float, float, float] = (1.0, 6.0, 1.0)
CYCLEGAN_CLASS_WEIGHTS: tuple[float, float, float] = (1.0, 3.5, 1.0)

C = TypeVar("C", bound="_Config")


class _Config:
    """JSON helpers shared by the configuration dataclasses."""

    # Fields added after runs were recorded, left out of ``to_dict`` while they hold
    # their default: a configuration that does not use them saves the same JSON, and
    # so trains under the same run digest (``fluoseg.run.config_digest``), as before
    # they existed (its runs are loaded, not retrained); ``from_dict`` restores the
    # default of a missing field.
    _OMIT_AT_DEFAULT: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-serialisable dictionary (tuples become lists)."""
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        defaults = {f.name: f.default for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        for key in self._OMIT_AT_DEFAULT:
            if d[key] == defaults[key]:
                del d[key]
        d["model"] = self.model  # type: ignore[attr-defined]
        return d

    def settings(self) -> dict[str, Any]:
        """Every field and its value, those ``to_dict`` omits at their default too."""
        return dataclasses.asdict(self)  # type: ignore[call-overload,no-any-return]

    def to_json(self) -> str:
        """The configuration as an indented JSON string (includes a ``model`` key)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Rebuild a configuration from ``to_dict()`` output.

        Raises:
            InputError: unknown keys, or a ``model`` key naming another model.
        """
        d = dict(d)
        model = d.pop("model", cls.model)  # type: ignore[attr-defined]
        if model != cls.model:  # type: ignore[attr-defined]
            raise InputError(
                f"configuration is for model {model!r}, expected {cls.model!r}"  # type: ignore[attr-defined]
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise InputError(
                f"unknown {cls.__name__} keys {unknown}: expected some of "
                f"{sorted(fields)}"
            )
        for key, value in d.items():
            if isinstance(value, list):
                d[key] = tuple(value)
        return cls(**d)

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        """Rebuild a configuration from ``to_json()`` output."""
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"model configuration is not valid JSON: {exc}") from exc
        if not isinstance(d, dict):
            raise InputError("model configuration JSON must be an object {...}")
        return cls.from_dict(d)


def _check_common(cfg: Any) -> None:
    if cfg.n_classes not in (1, 2, 3):
        raise InputError(f"n_classes must be 1, 2 or 3, got {cfg.n_classes}")
    if cfg.in_channels < 1:
        raise InputError(f"in_channels must be >= 1, got {cfg.in_channels}")
    if len(cfg.patch_shape) != 3 or min(cfg.patch_shape) < 1:
        raise InputError(
            f"patch_shape must be (Z, Y, X) positive ints, got {cfg.patch_shape}"
        )
    if cfg.norm not in NORMS:
        raise InputError(f"norm must be one of {NORMS}, got {cfg.norm!r}")
    if cfg.init not in INITS:
        raise InputError(f"init must be one of {INITS}, got {cfg.init!r}")
    if cfg.batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {cfg.batch_size}")


def _check_divisible(cfg: Any, levels: int) -> None:
    f = 2**levels
    if any(s % f for s in cfg.patch_shape):
        raise InputError(
            f"patch_shape {cfg.patch_shape} must be divisible by {f} "
            f"({levels} stride-2 levels)"
        )


@dataclass(frozen=True)
class UNetConfig(_Config):
    """3D U-Net (thesis §4.3.1, §5.3.1; Çiçek et al. 2016).

    ``depth`` counts resolution levels (``depth - 1`` max-poolings); level ``l`` has
    ``base_filters * 2**l`` filters and ``convs_per_level`` k^3 conv + norm + ReLU
    blocks. Up-sampling is a ``up_kernel``-sized stride-2 transposed convolution,
    followed by concatenation with the skip and the level's convolutions. The head is
    a 1x1x1 convolution with a sigmoid per class.

    ``stretch_clip``: the percentile stretch of the input images (thesis eq. 5.1, 5th
    and 98th percentiles) is clipped to [0, 1] (True, the thesis), or only below 0
    (False), so that intensities above the 98th percentile keep their order. cpu
    deviation, chosen on the validation crop T6 (seed 0, 30 x 32 steps, Intel Xeon
    with AMX, 2026-12-06): in the simulated volumes about 2 % of the Golgi channel's
    voxels lie above its 98th percentile, and after the clip 82 % of the U-Net's
    false-positive Golgi objects on a test crop were as saturated (1.0) as the true
    Golgi, whose raw maxima (median 0.48) are far brighter than theirs (0.18). T6 Dice
    nuclei / Golgi: clipped 0.80 / 0.32, unclipped 0.83 / 0.64 (seeds 1 and 2
    unclipped: 0.835 / 0.646, 0.825 / 0.640). The ``gpu`` profile follows (the cause
    is in the data, not the budget); ``paper`` keeps the thesis's clip.
    """

    n_classes: int = 2
    in_channels: int = 2
    patch_shape: tuple[int, int, int] = (32, 32, 32)
    base_filters: int = 8
    depth: int = 3
    kernel_size: int = 3
    up_kernel: int = 2
    convs_per_level: int = 2
    norm: str = "batch"
    bn_momentum: float = 0.9
    init: str = "glorot_uniform"
    loss: str = "bce_dice"
    dice_smooth: float = 1.0
    learning_rate: float = 3e-3
    batch_size: int = 4
    patience: int = 10
    restore_best_weights: bool = True
    threshold: float = 0.5
    stretch_clip: bool = True

    model = "unet"
    _OMIT_AT_DEFAULT = ("stretch_clip",)

    def __post_init__(self) -> None:
        _check_common(self)
        if self.depth < 1:
            raise InputError(f"depth must be >= 1, got {self.depth}")
        if self.loss not in UNET_LOSSES:
            raise InputError(f"loss must be one of {UNET_LOSSES}, got {self.loss!r}")
        _check_divisible(self, self.depth - 1)


@dataclass(frozen=True)
class Vox2VoxConfig(_Config):
    """Vox2Vox (thesis §4.3.2, §5.3.2; Cirillo et al. 2020): a 3D pix2pix.

    Generator: a k^3 stem, ``depth - 1`` stride-2 down-sampling convolutions (kernel
    ``down_kernel``), ``n_res_blocks`` residual blocks (sum) at the bottleneck,
    stride-2 transposed convolutions (``up_kernel``) with U-Net skips, sigmoid head.
    Discriminator: a 3D PatchGAN on the concatenated (image, mask) channels with
    ``disc_layers`` conv + norm + LeakyReLU(0.2) blocks (``disc_filters`` doubling,
    capped at 8x; all stride 2 but the last) and a linear 1-channel output.

    Objective (eqs. 4.8, 4.9, 5.2): LSGAN discriminator loss; generator loss
    ``L2[D(x, G(x)), 1] + alpha * sum_c beta_c * DLoss_c``.
    """

    n_classes: int = 2
    in_channels: int = 2
    patch_shape: tuple[int, int, int] = (32, 32, 32)
    base_filters: int = 8
    depth: int = 3
    kernel_size: int = 3
    down_kernel: int = 2
    up_kernel: int = 2
    n_res_blocks: int = 1
    disc_filters: int = 8
    disc_layers: int = 3
    disc_kernel: int = 2
    norm: str = "batch"
    bn_momentum: float = 0.9
    init: str = "he_normal"
    alpha: float = 5.0
    beta: tuple[float, ...] = (1.0, 6.0)
    dice_smooth: float = 1.0
    learning_rate: float = 2e-5
    disc_learning_rate: float = 2e-5
    adam_beta_1: float = 0.5
    batch_size: int = 4
    patience: int = 20
    restore_best_weights: bool = True
    threshold: float = 0.5

    model = "vox2vox"

    def __post_init__(self) -> None:
        _check_common(self)
        if self.depth < 1:
            raise InputError(f"depth must be >= 1, got {self.depth}")
        if len(self.beta) != self.n_classes:
            raise InputError(
                f"beta needs one weight per class ({self.n_classes}), got {self.beta}"
            )
        _check_divisible(self, max(self.depth - 1, self.disc_layers - 1))


@dataclass(frozen=True)
class CycleGANConfig(_Config):
    """CycleGAN for segmentation (thesis §4.2, §5.3.3; Zhu et al. 2017).

    Two ResNet generators (G_S: image -> mask, G_I: mask -> image): a
    ``stem_kernel`` conv (c7s1 in the original), ``n_down`` stride-2 convolutions
    (``down_kernel``), ``n_res_blocks`` residual blocks, ``n_down`` stride-2
    transposed convolutions (``up_kernel``) and a ``stem_kernel`` conv with tanh;
    instance normalisation throughout. Two 3D PatchGAN discriminators (D_S on masks,
    D_I on images), LeakyReLU(0.2).

    Residual blocks (``residual``, ``fluoseg.models.blocks.residual_block``): the
    thesis (§4.2) makes a block's output the concatenation of the block's input and its
    second convolution's output, and mentions nothing after it, so the channels grow
    by the block width at every block: ``"concat_grow"``, which ``paper`` uses (nine
    blocks of 256 hand 2560 channels to the up path). ``"concat"`` follows the
    concatenation with a 1x1x1 convolution back to the block width (this book's
    constant-width reading; ``smoke`` and ``cpu``, whose recipe below was measured with
    it); ``"sum"`` is the usual ResNet block.

    Objective (eqs. 4.1-4.5): LSGAN adversarial losses, ``lambda_cycle`` x cycle L1 and
    ``lambda_identity`` x identity L1; the mask-domain L1 terms weight each mask
    channel by ``class_weights`` (thesis: nuclei 1, Golgi 3.5, pair 1).

    ``patience`` counts epochs without improvement of ``val_selection_loss`` before the
    trainer stops; ``None`` turns early stopping off. The thesis stopped its CycleGAN on
    mode collapse only: ``paper`` has ``None``; the ``cpu`` trainer's patience equals
    its epoch budget (``fluoseg.training``), so it never stops early either. Mode
    collapse (``ModeCollapseMonitor``): after ``collapse_warmup`` epochs, an epoch is
    *collapsed* when G_S's outputs on a fixed probe batch of different images have a
    mean pairwise L1 below ``collapse_threshold`` or a foreground fraction of 0 or 1;
    ``collapse_patience`` collapsed epochs in a row stop training. With
    ``collapse_per_class`` (``paper``) the same test also runs on each class channel
    alone and one collapsed channel is enough: the thesis saw its Golgi channel
    collapse alone. ``smoke`` and ``cpu`` test the whole output only: in the three
    recorded cpu runs (unsupervised 2-class, seeds 0-2) G_S drew no Golgi voxel on the
    validation patches from epoch 2 to epoch 20-22 (seeds 0, 1) or to the end (seed
    2), so the per-class test would have stopped every one of them at epoch 6.

    ``foreground_weight`` multiplies the foreground voxels of the target mask in the
    mask-domain L1 terms (cycle and identity); 1 in the thesis. On 32^3 patches where
    nuclei and Golgi fill 1-3 % of the voxels the plain L1's optimum is an empty mask,
    and G_S collapses to it (measured: empty masks after 100 steps).

    ``decay_from``: after this fraction of the training's epochs both learning rates
    fall linearly to zero by the last epoch (``LinearDecay``; Zhu et al. decay over
    the second half); 1 keeps them constant, as the thesis reports, and at every
    profile (measured at cpu, unsupervised 2-class, 30 epochs: decay from epoch 15 gave
    test Dice 0.20 / 0.18, constant rates 0.26 / 0.25).

    Four cpu deviations, chosen on the validation crop T6 (the training crop the
    trainer holds out; unsupervised 2-class, seed 0, 30 x 32 steps, annotator masks
    of T6 used only to score; Intel Xeon with AMX, 2 cores shared by two trainings,
    2026-12-06). Diagnosis first: G_S over-drew nuclei 3.5x (T6 precision 0.26,
    recall 0.88), its foreground share swung between 0.009 and 0.086 from epoch to
    epoch, and the bright structured background reached G_I through G_S's faint,
    sub-threshold values (the image cycle rewards hiding it there).

    - ``cycle_mask="hard"``: G_I receives the sign of G_S's output (straight-through
      gradient), so nothing can be hidden below the threshold; ``"soft"`` is the
      thesis. ``image_cycle_weight`` scales the image-cycle L1 (1 = thesis; 0.3
      measured worse: T6 Dice 0.18 / 0.17 at 0.5).
    - ``ema_decay``: validation, checkpoints and inference use an exponential moving
      average of G_S's weights (0 = none, the thesis); 0.99 held G_S's validation
      foreground share steady (0.024-0.026 over the last 10 epochs, soft masks).
    - ``threshold_rule="mask_share"``: a volume's mask keeps, per class, its most
      probable voxels up to the foreground share of the masks the model learnt from
      (the synthetic masks when unsupervised; ``fluoseg.inference.threshold_by_share``),
      instead of ``threshold`` (``"fixed"``, the thesis): no annotation is used.

    Measured T6 Dice nuclei / Golgi (fixed 0.5 -> mask share): thesis recipe 0.40 /
    0.09 -> 0.65 / 0.26; + EMA 0.21 / 0.12 -> 0.61 / 0.39; hard + EMA (the cpu
    recipe) 0.26 / 0.42 -> 0.59 / 0.42. One seed each: differences below ~0.1 are
    within the seed spread reported on the experiment page.

    - ``stretch_clip=False`` (as for the cpu U-Net, see ``UNetConfig``): G_S reads the
      percentile stretch unclipped above 1, so bright background specks no longer look
      exactly like Golgi; G_I and D_I keep the image domain in [-1, 1] (the clipped
      image). Measured over three seeds (T6, share threshold, nuclei / Golgi): hard +
      EMA 0.597 / 0.413, 0.609 / 0.408, 0.614 / 0.006 (seed 2 drew no Golgi); + this
      0.683 / 0.441, 0.647 / 0.326, 0.668 / 0.424 (the third seed's Golgi appears).

    Measured on T6 and not adopted (same conditions, 2026-12-06, rows of
    ``benchmarks/cyclegan-ablation-2026-12-06.json``; share threshold, nuclei / Golgi;
    the cpu recipe over seeds 0-2: 0.666 / 0.397 on average):

    - ``cycle_mask="detached"``: G_I still receives the sign, but the image cycle trains
      G_I only; with ``"hard"`` its straight-through gradient still pulls G_S towards
      marking background that helps G_I redraw the image. Seeds 0, 1, 2: 0.732 /
      0.498, 0.549 / 0.530, 0.575 / 0.045 (mean 0.619 / 0.358). The broad background
      patches left seed 0's output, but with nothing but D_S tying G_S's masks of real
      images to their content, seed 1 marked haze as nuclei and seed 2 never drew a
      Golgi voxel. ``image_cycle_weight=0`` (seed 0): 0.665 / 0.489.
    - ``foreground_weight=(10, 70)`` (one weight per class; Golgi patches hold ~7x
      less foreground than nuclei patches): the Golgi channel no longer empties and
      gains, the nuclei channel pays. With ``"hard"`` (the recipe otherwise), seeds
      0, 1: 0.204 / 0.519, 0.470 / 0.551; with ``"detached"``: 0.506 / 0.475, 0.029 /
      0.461. Raising the nuclei weight too, ``(30, 70)`` with ``"hard"``: 0.168 / 0.016,
      0.655 / 0.541 (no channel empty for more than one epoch, yet seed 0 failed).
    - ``lambda_share`` > 0 adds ``lambda_share`` x the checkpoint rule's share term as
      a loss (``CycleGAN._share_loss``); at 1, seeds 0, 1: 0.001 / 0.000, 0.375 / 0.040.

    What every unsupervised run above shares (a likely cause of most of the seed
    spread): G_S's masks of the training batches empty at epoch 2, the nuclei return
    within a few epochs, and the Golgi channel stays empty for 17-29 of the 30 epochs
    (``fluoseg.diagnostics.empty_epochs``), so it learns in the last few epochs only;
    the recorded cpu 3-class model's Golgi channel emptied at epoch 3 and never came
    back.
    """

    n_classes: int = 2
    in_channels: int = 2
    patch_shape: tuple[int, int, int] = (32, 32, 32)
    gen_filters: int = 8
    n_down: int = 2
    n_res_blocks: int = 3
    stem_kernel: int = 3
    kernel_size: int = 3
    down_kernel: int = 2
    up_kernel: int = 2
    residual: str = "concat"
    disc_filters: int = 8
    disc_layers: int = 3
    disc_kernel: int = 2
    norm: str = "instance"
    init: str = "normal"
    lambda_cycle: float = 10.0
    lambda_identity: float = 5.0
    class_weights: tuple[float, ...] = (1.0, 3.5)
    gen_learning_rate: float = 1e-3
    disc_learning_rate: float = 5e-3
    adam_beta_1: float = 0.5
    batch_size: int = 2
    patience: int | None = 20
    restore_best_weights: bool = True
    collapse_threshold: float = 1e-3
    collapse_warmup: int = 1
    collapse_patience: int = 2
    foreground_weight: float | tuple[float, ...] = 1.0
    decay_from: float = 1.0
    threshold: float = 0.5
    image_cycle_weight: float = 1.0
    cycle_mask: str = "soft"
    ema_decay: float = 0.0
    threshold_rule: str = "fixed"
    collapse_per_class: bool = False
    stretch_clip: bool = True
    lambda_share: float = 0.0

    model = "cyclegan"
    _OMIT_AT_DEFAULT = (
        "collapse_per_class",
        "stretch_clip",
        "lambda_share",
    )

    def __post_init__(self) -> None:
        _check_common(self)
        if self.residual not in RESIDUAL_MODES:
            raise InputError(
                f"residual must be one of {RESIDUAL_MODES}, got {self.residual!r}"
            )
        if len(self.class_weights) != self.n_classes:
            raise InputError(
                f"class_weights needs one weight per class ({self.n_classes}), got "
                f"{self.class_weights}"
            )
        fw = self.foreground_weight
        per_class = isinstance(fw, tuple)
        if (per_class and len(fw) != self.n_classes) or min(
            fw if per_class else (fw,)
        ) <= 0:
            raise InputError(
                f"foreground_weight must be > 0, or one weight > 0 per class "
                f"({self.n_classes}), got {fw}"
            )
        if not 0.0 <= self.decay_from <= 1.0:
            raise InputError(f"decay_from must be in [0, 1], got {self.decay_from}")
        if self.cycle_mask not in CYCLE_MASK_MODES:
            raise InputError(
                f"cycle_mask must be one of {CYCLE_MASK_MODES}, got {self.cycle_mask!r}"
            )
        if self.threshold_rule not in THRESHOLD_RULES:
            raise InputError(
                f"threshold_rule must be one of {THRESHOLD_RULES}, got "
                f"{self.threshold_rule!r}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.lambda_share < 0:
            raise InputError(f"lambda_share must be >= 0, got {self.lambda_share}")
        if self.image_cycle_weight < 0:
            raise InputError(
                f"image_cycle_weight must be >= 0, got {self.image_cycle_weight}"
            )
        if self.patience is not None and self.patience < 1:
            raise InputError(
                f"patience must be >= 1 or None (no early stopping), got "
                f"{self.patience}"
            )
        _check_divisible(self, max(self.n_down, self.disc_layers - 1))


ModelConfig = UNetConfig | Vox2VoxConfig | CycleGANConfig

CONFIG_CLASSES: dict[str, type] = {
    "unet": UNetConfig,
    "vox2vox": Vox2VoxConfig,
    "cyclegan": CycleGANConfig,
}


def _profile_name(profile: str | Profile | None) -> tuple[str, tuple[int, int, int]]:
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    return prof.name, tuple(prof.patch_shape)  # type: ignore[return-value]


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a model name, else raise ``InputError``."""
    if name not in MODEL_NAMES:
        raise InputError(
            f"unknown model {name!r}: expected one of {', '.join(MODEL_NAMES)}"
        )
    return name


def model_config(
    name: str, profile: str | Profile | None = None, n_classes: int = 2
) -> ModelConfig:
    """The configuration of model ``name`` at ``profile`` for ``n_classes`` outputs.

    Args:
        name: ``unet``, ``vox2vox`` or ``cyclegan``.
        profile: a profile or its name; ``None`` means ``$FLUOSEG_PROFILE`` (or cpu).
        n_classes: 2 (nuclei, Golgi) or 3 (+ nucleus-Golgi pair).

    Raises:
        InputError: unknown model or profile name, or a class count not in 1-3.
    """
    check_model_name(name)
    if n_classes not in (1, 2, 3):
        raise InputError(f"n_classes must be 1, 2 or 3, got {n_classes}")
    pname, patch = _profile_name(profile)
    common: dict[str, Any] = {"n_classes": n_classes, "patch_shape": patch}
    if name == "unet":
        per = {
            "smoke": dict(base_filters=4, depth=2, loss="bce_dice", learning_rate=3e-3),
            "cpu": dict(
                base_filters=8,
                depth=3,
                loss="bce_dice",
                learning_rate=3e-3,
                stretch_clip=False,
            ),
            "gpu": dict(
                base_filters=16,
                depth=4,
                loss="bce_dice",
                learning_rate=1e-3,
                stretch_clip=False,
            ),
            "paper": dict(
                base_filters=32,
                depth=4,
                loss="dice",
                learning_rate=1e-3,
                bn_momentum=0.99,
            ),
        }[pname]
        return UNetConfig(**common, **per)
    if name == "vox2vox":
        beta = VOX2VOX_BETA[:n_classes]
        per = {
            "smoke": dict(
                base_filters=4, depth=2, n_res_blocks=1, disc_filters=4, disc_layers=2
            ),
            "cpu": dict(
                base_filters=8,
                depth=3,
                n_res_blocks=1,
                disc_filters=8,
                disc_layers=3,
                learning_rate=1e-3,
                disc_learning_rate=1e-3,
            ),
            "gpu": dict(
                base_filters=16,
                depth=4,
                n_res_blocks=2,
                disc_filters=16,
                disc_layers=4,
                learning_rate=1e-3,
                disc_learning_rate=1e-3,
            ),
            "paper": dict(
                base_filters=32,
                depth=4,
                down_kernel=4,
                up_kernel=4,
                n_res_blocks=4,
                disc_filters=64,
                disc_layers=4,
                disc_kernel=4,
                bn_momentum=0.99,
            ),
        }[pname]
        return Vox2VoxConfig(**common, beta=beta, **per)
    weights = CYCLEGAN_CLASS_WEIGHTS[:n_classes]
    per = {
        "smoke": dict(
            gen_filters=4, n_down=1, n_res_blocks=1, disc_filters=4, disc_layers=2
        ),
        "gpu": dict(
            gen_filters=32,
            n_down=2,
            n_res_blocks=6,
            disc_filters=32,
            disc_layers=4,
            foreground_weight=10.0,
            collapse_warmup=4,
            cycle_mask="hard",
            ema_decay=0.99,
            threshold_rule="mask_share",
            stretch_clip=False,
        ),
        "cpu": dict(
            gen_filters=8,
            n_down=1,
            n_res_blocks=3,
            disc_filters=8,
            disc_layers=3,
            foreground_weight=10.0,
            collapse_warmup=4,
            cycle_mask="hard",
            ema_decay=0.99,
            threshold_rule="mask_share",
            stretch_clip=False,
        ),
        "paper": dict(
            gen_filters=64,
            n_down=2,
            n_res_blocks=9,
            stem_kernel=7,
            kernel_size=3,
            down_kernel=3,
            up_kernel=3,
            disc_filters=64,
            disc_layers=4,
            disc_kernel=4,
            residual="concat_grow",
            patience=None,
            collapse_per_class=True,
        ),
    }[pname]
    return CycleGANConfig(**common, class_weights=weights, **per)


def config_from_json(text: str) -> ModelConfig:
    """Rebuild any model's configuration from JSON holding a ``model`` key."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"model configuration is not valid JSON: {exc}") from exc
    if not isinstance(d, dict) or "model" not in d:
        raise InputError("model configuration JSON must be an object with a 'model'")
    cls = CONFIG_CLASSES[check_model_name(d["model"])]
    return cls.from_dict(d)  # type: ignore[attr-defined,no-any-return]
