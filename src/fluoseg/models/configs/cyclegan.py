"""The CycleGAN's configuration (``CycleGANConfig``) and the measurements behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fluoseg.errors import InputError
from fluoseg.models.configs.base import _check_common, _check_divisible, _Config

RESIDUAL_MODES: tuple[str, ...] = ("concat", "sum", "concat_grow")
CYCLE_MASK_MODES: tuple[str, ...] = ("soft", "hard", "detached")
DISC_MASK_MODES: tuple[str, ...] = ("soft", "hard")
THRESHOLD_RULES: tuple[str, ...] = ("fixed", "mask_share")

# Per-class L1 weights of the thesis, in class order (nuclei, golgi, pair).
CYCLEGAN_CLASS_WEIGHTS: tuple[float, float, float] = (1.0, 3.5, 1.0)


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
    - ``disc_mask="hard"``: D_S judges the sign of G_S's mask (straight-through), so
      in-between values cannot give a fake away. Seed 0: 0.058 / 0.000; D_S was right
      on 97-99 % of the patches from epoch 4 and G_S's masks stayed nearly empty.
    - ``gen_filters=16`` (twice as wide generators, about twice the step time):
      seed 0, 0.665 / 0.159.
    - ``disc_learning_rate=1e-3`` (the generators' rate; the thesis's is 5e-3): seeds
      0, 1: 0.592 / 0.497, 0.512 / 0.515: more Golgi, fewer nuclei, a trade.
    - ``adv_warmup=8`` (no adversarial term for G_S in the first 8 epochs): seeds 0,
      1: 0.590 / 0.476, 0.578 / 0.022. A diagnostic as much as a candidate: G_S's
      masks still emptied at epoch 2, so that collapse comes from the L1 cycle and
      identity terms, not from D_S.
    - 100 epochs instead of 30 (no early stopping: only a mode collapse stops it):
      seeds 0, 1, 2: 0.705 / 0.567 (collapse at epoch 97, kept epoch 92), 0.493 /
      0.568 (kept epoch 100), 0.698 / 0.561 (collapse at epoch 87, kept epoch 67):
      Golgi +0.17 over the 30-epoch recipe on every seed, nuclei -0.03 on average.
      Seed 0 scored every third epoch (``benchmarks/bench_cyclegan_oracle.py``)
      reaches Golgi 0.56 by epoch 51. In a cpu book build (Intel Xeon, 2 cores,
      2026-12-06) the three seeds' 100-epoch trainings took 725, 786 and 683 s
      instead of about 195 s each, which puts the fresh book at about 94 minutes,
      over its 90. Adopted instead at cpu for the unsupervised 2-class kind only
      (the training loop ``cyclegan-2class-unsup`` of the plan, not this config):
      up to 70 epochs, whose kept epochs on the same T6 histories are 54 / 62 / 67,
      0.626 / 0.563, 0.533 / 0.557, 0.698 / 0.561 (mean 0.619 / 0.560).
    - ``lambda_identity=0`` at 100 epochs (variant ``noid100``): it skips the identity
      term's two generator passes, a step about 30 % cheaper (5.4 s instead of 7.4-7.7
      s per 32-step epoch, same machine), but seed 0 collapsed to empty masks at
      epoch 11 (0.008 / 0.001) and seed 1 lost its Golgi channel (0.538 / 0.022): the
      identity term, one of the L1 terms behind the epoch-2 emptying, is also what
      lets G_S's masks come back.

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
    disc_mask: str = "soft"
    adv_warmup: int = 0

    model = "cyclegan"
    _PER_CLASS = (("class_weights", CYCLEGAN_CLASS_WEIGHTS),)
    _OMIT_AT_DEFAULT = (
        "collapse_per_class",
        "stretch_clip",
        "lambda_share",
        "disc_mask",
        "adv_warmup",
    )

    @classmethod
    def down_levels(cls, saved: dict[str, Any]) -> int:
        """G_S's stride-2 down-samplings: ``n_down``."""
        return int(saved.get("n_down", 0))

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
        if self.disc_mask not in DISC_MASK_MODES:
            raise InputError(
                f"disc_mask must be one of {DISC_MASK_MODES}, got {self.disc_mask!r}"
            )
        if self.adv_warmup < 0:
            raise InputError(f"adv_warmup must be >= 0 epochs, got {self.adv_warmup}")
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
