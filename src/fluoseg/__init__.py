"""fluoseg: deep learning for segmenting 3D fluorescence microscopy (nuclei and Golgi).

The package behind the fluoseg course. Modules are imported lazily by the chapters:
``fluoseg.config`` (profiles and paths), ``fluoseg.io`` (TIFF in and out),
``fluoseg.transforms``, ``fluoseg.patches``, ``fluoseg.inference``,
``fluoseg.evaluation.metrics``, ``fluoseg.data`` (simulator and dataset),
``fluoseg.models``, ``fluoseg.training``, ``fluoseg.run``.
"""

import os as _os

__version__ = "0.1.0"

# On a GPU, TensorFlow takes (almost) all of its memory in the first process that uses
# it; a chapter's kernel (scoring) and its training child process share the GPU, so
# each takes only what it needs. Set before any TensorFlow import; a value set by the
# user wins.
_os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI,
# BF16 or AMX; on an AVX2-only CPU it falls back to Eigen, whose 3D convolutions are
# far slower at these channel counts. Measured on a 2-core AMD EPYC without AVX-512
# (2026-12-07, benchmarks/bench_training.py --quick): a cpu U-Net training step 0.96 s
# without oneDNN, 0.20 s with it; a cpu CycleGAN step 3.31 s and 0.40 s. On CPUs where
# TensorFlow already uses oneDNN this changes nothing. Set before any TensorFlow
# import; a value set by the user (``TF_ENABLE_ONEDNN_OPTS=0``) wins.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

CLASS_NAMES: tuple[str, str, str] = ("nuclei", "golgi", "pair")
"""Class names in model-channel order: channel 0 = nuclei, 1 = Golgi, 2 = pair."""
