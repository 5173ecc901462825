"""fluoseg: deep learning for segmenting 3D fluorescence microscopy (nuclei and Golgi).

The package behind the fluoseg course. Modules are imported lazily by the chapters:
``fluoseg.config`` (profiles and paths), ``fluoseg.io`` (TIFF in and out),
``fluoseg.preprocess``, ``fluoseg.patches``, ``fluoseg.inference``, ``fluoseg.metrics``,
``fluoseg.data`` (simulator and dataset), ``fluoseg.models``, ``fluoseg.train``.
"""

__version__ = "0.1.0"

CLASS_NAMES: tuple[str, str, str] = ("nuclei", "golgi", "pair")
"""Class names in model-channel order: channel 0 = nuclei, 1 = Golgi, 2 = pair."""
