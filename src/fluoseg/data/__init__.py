"""Synthetic mouse-retina data: the simulator, synthetic masks and the dataset.

- :mod:`fluoseg.data.simulate`: one 3D crop (image, perfect and annotator masks,
  instance labels, true pairs) from a seed and a :class:`SimulationParams`.
- :mod:`fluoseg.data.calibration`: real statistics the simulator is calibrated
  against (constants with their source) and the functions that measure them.
- :mod:`fluoseg.data.synthetic_masks`: the CycleGAN's unpaired mask domain (thesis
  §4.1.1): ellipsoid nuclei and spherical Golgi, elastically deformed.
- :mod:`fluoseg.data.dataset`: the dataset on disk (``fluoseg data``): its crops, their
  generation (:func:`ensure_dataset`, :func:`generate_dataset`) and the manifest.
- :mod:`fluoseg.data.loaders`: reading a dataset that exists: :func:`load_split`
  (:func:`iter_split`: one crop at a time), :func:`load_synthetic_masks`; they never
  generate.
- :mod:`fluoseg.data.crops`: the :class:`Crop` record the loaders return.
- :mod:`fluoseg.data.real`: loaders for the real dataset's layouts.
- :mod:`fluoseg.data.pipeline`: the training input pipeline (``PatchSampler``),
  with :mod:`fluoseg.data.origins` (where patches are cut) and
  :mod:`fluoseg.data.validation` (held-out crops and fixed validation patches).

Submodules are imported on demand so that ``import fluoseg.data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SimulationParams": "simulate",
    "SimulatedCrop": "simulate",
    "simulate_crop": "simulate",
    "SyntheticMaskParams": "synthetic_masks",
    "synthetic_mask": "synthetic_masks",
    "Crop": "crops",
    "ensure_dataset": "dataset",
    "generate_dataset": "dataset",
    "iter_split": "loaders",
    "load_masks": "loaders",
    "load_split": "loaders",
    "load_synthetic_masks": "loaders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use."""
    if name in _EXPORTS:
        module = importlib.import_module(f"fluoseg.data.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'fluoseg.data' has no attribute {name!r}")
