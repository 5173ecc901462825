"""Simulate one 3D crop of mouse retina: nuclei (GFP) and Golgi (mCherry).

:func:`simulate_crop` turns a seed and a :class:`SimulationParams` into a
:class:`SimulatedCrop`: a raw two-channel image, the perfect masks, imperfect
"annotator" masks, instance labels and the table of true nucleus–Golgi pairs. The same
``(params, seed)`` always gives bit-identical arrays.

How an image is formed, step by step (:mod:`~fluoseg.data.simulate.layout`,
:mod:`~fluoseg.data.simulate.render`, :mod:`~fluoseg.data.simulate.optics`; entry
points in :mod:`~fluoseg.data.simulate.crop`, knobs in
:mod:`~fluoseg.data.simulate.params`):

1. **Layout** — endothelial cells line the retinal vessels, so 2–4 smooth vessel paths
   cross the crop and most nuclei sit along them, their long axis following the
   vessel; a few neighbours touch. Each nucleus gets a Golgi at an offset drawn from
   the real nucleus→Golgi offsets (:mod:`fluoseg.data.calibration`), pointing in a
   per-crop preferred direction (cell polarity) with a real-like spread. Some nuclei
   and Golgi are left unpaired.
2. **Objects** — nuclei are flattened, elongated ellipsoids with an irregular surface
   (a smooth random field perturbs the implicit surface); Golgi are small compact
   irregular blobs (an ellipsoid and 0–2 lobes). Shapes are drawn in isotropic
   "physical" units; the voxel grid is ``z_spacing`` times coarser in z.
3. **Fluorophore** — each nucleus has its own brightness, an internal texture
   (intensity heterogeneity) and some nuclei are dim (low contrast); Golgi are bright
   and punctate. Bright autofluorescent **dust** — small blobs in the red channel that
   look like Golgi, with a weaker green trace — is sprinkled everywhere.
4. **Background** — a smooth uneven background, faint vessel autofluorescence (red)
   and out-of-focus haze from cells outside the crop (green).
5. **Optics** — a little bleed-through between channels, depth attenuation along z,
   then an anisotropic Gaussian point-spread function (z blur worse than xy).
6. **Camera** — Poisson (shot) noise, then a per-crop detector gain (several-fold
   between crops, set per channel, amplifying signal and noise alike), an offset,
   Gaussian read noise, and 8-bit quantisation with a low dynamic range: most voxels
   are near zero, as in the thesis's Fig. 5.1 histogram.

Ground truth: the *perfect* masks are the objects' voxels. The *annotator* masks
imitate manual labelling: outlines drawn on a grid ``annotator_downsample`` times
coarser in y and x and upsampled (blocky edges), some objects drawn a little
generously, and a few objects missed (dim ones more often). The pair channel is the
union of each paired nucleus and its Golgi, with nothing drawn between a pair that does
not touch (:mod:`~fluoseg.data.simulate.annotate`).
"""

from fluoseg.data.simulate.crop import (
    FORMATION_STAGES,
    formation_stages,
    simulate_crop,
)
from fluoseg.data.simulate.params import (
    GOLGI,
    NUCLEI,
    PAIR,
    PAIR_COLUMNS,
    SimulatedCrop,
    SimulationParams,
)

__all__ = [
    "FORMATION_STAGES",
    "GOLGI",
    "NUCLEI",
    "PAIR",
    "PAIR_COLUMNS",
    "SimulatedCrop",
    "SimulationParams",
    "formation_stages",
    "simulate_crop",
]
