"""The human-facing files of a bioimage.io package: ``README.md`` and ``cover.png``.

``fluoseg.export`` writes them beside the weights and the test tensors: ``readme``
describes the inputs, the preprocessing, the outputs and how other tools use the
package; ``cover`` draws the middle slice of the test image and its probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fluoseg import CLASS_NAMES, __version__
from fluoseg.run import Run


def cover(path: Path, image: np.ndarray, probs: np.ndarray) -> None:
    """cover.png (2:1): the middle z slice of the image (R = Golgi, G = nuclei) and of
    the probabilities (R = Golgi, G = nuclei, B = pair), side by side."""
    from PIL import Image

    z = image.shape[1] // 2
    left = np.zeros(image.shape[2:4] + (3,), np.float32)
    left[..., 0], left[..., 1] = image[0, z, :, :, 1], image[0, z, :, :, 0]
    right = np.zeros_like(left)
    for c, rgb in zip(range(probs.shape[-1]), (1, 0, 2), strict=False):
        right[..., rgb] = probs[0, z, :, :, c]
    both = np.concatenate([left, right], axis=1)
    pixels = Image.fromarray(np.round(np.clip(both, 0, 1) * 255).astype(np.uint8))
    pixels.resize((512, 256), Image.Resampling.NEAREST).save(path)


def readme(name: str, run: Run, step: int, window: Sequence[int]) -> str:
    """README.md of the package of ``run`` (inputs, outputs, use elsewhere, limits)."""
    classes = ", ".join(CLASS_NAMES[: run.n_classes])
    prep = (
        "none but a clip to [0, 1] (the run was trained on raw images: feed images "
        "already scaled to [0, 1])"
        if run.raw
        else "per channel, the 5th (a) and 98th (b) percentiles of the whole image, "
        "then clip((x - a) / (b - a), 0, 1): thesis eq. 5.1 (bioimage.io "
        "`scale_range` + `clip`)"
        if run.stretch_clip
        else "per channel, the 5th (a) and 98th (b) percentiles of the whole image, "
        "then max((x - a) / (b - a), 0): thesis eq. 5.1 without its upper clip "
        "(bioimage.io `scale_range` + `clip` with `min` only)"
    )
    share = run.mask_share
    rule = (
        "threshold at 0.5 for masks"
        if share is None
        else "for masks keep, per class, the most probable voxels of the whole volume "
        f"up to a share of {', '.join(f'{v:.2e}' for v in share)} (the foreground "
        "share of the training masks; fluoseg's `threshold_by_share`)"
    )
    return f"""# {name}

A 3D `{run.config["model"]}` segmenting **{classes}** in two-channel fluorescence
stacks (channel 0 = nuclei, e.g. GFP; channel 1 = Golgi, e.g. mCherry), exported by
`fluoseg export` (fluoseg {__version__}) from the run `{run.path.name}`
(profile `{run.profile.name}`, trained on fluoseg's simulated crops).

## Inputs and outputs

- **Input** `image`: float32 (batch, z, y, x, channel) with channels [nuclei, golgi];
  z, y and x at least the window {"x".join(str(w) for w in window)} and larger by
  multiples of {step} voxels (fluoseg predicts with this window and an overlap of
  {run.profile.inference_overlap}).
- **Preprocessing**: {prep}.
- **Output** `probabilities`: float32 (batch, z, y, x, class) in [0, 1], classes
  [{classes}]; {rule}. Connected components of a class mask are
  its objects (`fluoseg predict --instances` writes them as a label image).

## Use elsewhere

- **bioimageio.core** (Python): `bioimageio.core.predict(model="rdf.yaml", inputs=...)`
  or `bioimageio predict rdf.yaml`.
- **napari**, **ilastik**, **deepImageJ**, **QuPath**: open the zip in their
  bioimage.io model loaders; the weights are Keras 3 (`keras_v3`), so the tool needs
  a Keras 3 / TensorFlow runtime.
- **fluoseg** itself uses the run folder: `fluoseg predict --model RUN ...`.

## Validation

The package holds a test image and the probabilities it must give
(`test_input.npy`, `test_output.npy`); `bioimageio test rdf.yaml` reproduces them.
The scores of this architecture on the thesis's real data are in the thesis (see the
citations); the scores of this run are those of the fluoseg book at its profile.

## Limitations

Trained on simulated mouse-retina-like crops; check the masks on your own data before
trusting counts or pair vectors.
"""
