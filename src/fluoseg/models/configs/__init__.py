"""Model configurations: one frozen dataclass per model.

``fluoseg.models.registry.model_config(name, profile, n_classes)`` gives a model's
configuration at a profile.

One frozen, JSON round-trippable dataclass per model holds every hyperparameter of the
model: the architecture (filters, depth, kernels, normalisation, initialiser, residual
mode), the objective (loss, weights), and the training-loop settings the trainer reads
(learning rates, batch size, early-stopping patience). ``base`` holds what they share;
``unet``, ``vox2vox`` and ``cyclegan`` one class each (the model registry,
``fluoseg.models.registry``, maps the model names to them). The configuration is
saved as JSON beside a run's weights.

The values that differ between profiles are data: the ``models`` section of
``fluoseg/resources/profiles/<profile>.json`` holds, per model, the fields that
differ from the dataclass's defaults; ``model_config`` adds the profile's patch shape,
the class count and the thesis's per-class weights cut to it. No code branches on a
profile's name. The package is pure Python (no TensorFlow import), cheap to import.

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

from fluoseg.models.configs.cyclegan import CycleGANConfig
from fluoseg.models.configs.unet import UNetConfig
from fluoseg.models.configs.vox2vox import Vox2VoxConfig

ModelConfig = UNetConfig | Vox2VoxConfig | CycleGANConfig
