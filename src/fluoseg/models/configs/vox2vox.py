"""Vox2Vox's configuration (``Vox2VoxConfig``): generator, PatchGAN, objective."""

from __future__ import annotations

from dataclasses import dataclass

from fluoseg.errors import InputError
from fluoseg.models.configs.base import _check_common, _check_divisible, _Config

# Per-class Dice weights of the thesis, in class order (nuclei, golgi, pair).
VOX2VOX_BETA: tuple[float, float, float] = (1.0, 6.0, 1.0)


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
    _PER_CLASS = (("beta", VOX2VOX_BETA),)

    def __post_init__(self) -> None:
        _check_common(self)
        if self.depth < 1:
            raise InputError(f"depth must be >= 1, got {self.depth}")
        if len(self.beta) != self.n_classes:
            raise InputError(
                f"beta needs one weight per class ({self.n_classes}), got {self.beta}"
            )
        _check_divisible(self, max(self.depth - 1, self.disc_layers - 1))
