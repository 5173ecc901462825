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

CLASS_NAMES: tuple[str, str, str] = ("nuclei", "golgi", "pair")
"""Class names in model-channel order: channel 0 = nuclei, 1 = Golgi, 2 = pair."""
