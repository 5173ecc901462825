"""Ground truth of the simulator: the imperfect annotator labels, the pair channel
and the table of true nucleus-Golgi pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fluoseg.data.simulate.params import PAIR_COLUMNS, SimulationParams
from fluoseg.data.simulate.shapes import SimObject

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def coarse_labels(labels: np.ndarray, f: int) -> np.ndarray:
    """Labels redrawn on a grid ``f`` times coarser in y and x, then upsampled.

    A coarse pixel is drawn when at least half of its fine voxels are foreground, and
    takes the largest label among them.
    """
    if f == 1:
        return labels.copy()
    z, y, x = labels.shape
    py, px = (-y) % f, (-x) % f
    lab = np.pad(labels, ((0, 0), (0, py), (0, px)))
    blocks = lab.reshape(z, lab.shape[1] // f, f, lab.shape[2] // f, f)
    fg = 2 * (blocks > 0).sum(axis=(2, 4), dtype=np.uint8) >= f * f
    coarse = np.where(fg, blocks.max(axis=(2, 4)), 0).astype(labels.dtype)
    return coarse


def annotate(
    labels: np.ndarray,
    objs: list[SimObject],
    rng: np.random.Generator,
    p: SimulationParams,
    miss: float,
) -> np.ndarray:
    """Annotator labels: coarse outlines, some generous objects, missed objects."""
    from scipy import ndimage

    f = p.annotator_downsample
    keep = np.zeros(int(labels.max()) + 1, dtype=bool)
    generous = np.zeros_like(keep)
    for o in objs:
        if o.label == 0:
            continue
        chance = p.annotator_miss_dim if o.dim else miss
        o.annotated = bool(rng.random() >= chance)
        keep[o.label] = o.annotated
        generous[o.label] = rng.random() < p.annotator_generous
    kept = np.where(keep[labels], labels, 0).astype(labels.dtype)
    if generous.any():  # drawn one voxel wider in y and x
        grown = ndimage.grey_dilation(kept, size=(1, 3, 3))
        add = (kept == 0) & generous[grown]
        kept = np.where(add, grown, kept)
    coarse = coarse_labels(kept, f)
    if f > 1:
        coarse = np.repeat(np.repeat(coarse, f, axis=1), f, axis=2)
    return coarse[:, : labels.shape[1], : labels.shape[2]]


def pair_mask(
    nuc_lab: np.ndarray, gol_lab: np.ndarray, pairs: list[tuple[int, int]]
) -> np.ndarray:
    """Union of each paired nucleus and its Golgi (both must be present)."""
    from scipy import ndimage

    out = np.zeros(nuc_lab.shape, dtype=np.uint8)
    n_boxes = ndimage.find_objects(nuc_lab)
    g_boxes = ndimage.find_objects(gol_lab)
    for a, b in pairs:
        if not (0 < a <= len(n_boxes) and 0 < b <= len(g_boxes)):
            continue
        nb, gb = n_boxes[a - 1], g_boxes[b - 1]
        if nb is None or gb is None:  # one of the two is absent (e.g. missed)
            continue
        out[nb] |= (nuc_lab[nb] == a).view(np.uint8)
        out[gb] |= (gol_lab[gb] == b).view(np.uint8)
    return out


def pairs_table(
    nuclei: list[SimObject], golgi: list[SimObject], partner: list[int]
) -> pd.DataFrame:
    """One row per rendered nucleus and per unpaired Golgi (:data:`PAIR_COLUMNS`)."""
    import pandas as pd  # imported on use: the CLI starts faster

    rows = []
    paired_nuclei = {}
    for g in range(len(golgi)):
        if partner[g] >= 0:
            paired_nuclei[partner[g]] = g
    nan3 = np.full(3, np.nan)
    for i, n in enumerate(nuclei):
        if n.label == 0:
            continue
        g = paired_nuclei.get(i)
        go = golgi[g] if g is not None and golgi[g].label else None
        gc = go.centroid if go is not None else nan3
        rows.append(
            (
                n.label,
                go.label if go else 0,
                *n.centroid,
                *gc,
                go is not None,
                n.annotated,
                go.annotated if go else False,
            )
        )
    for g, go in enumerate(golgi):
        if go.label == 0:
            continue
        if partner[g] >= 0 and nuclei[partner[g]].label:
            continue
        rows.append((0, go.label, *nan3, *go.centroid, False, False, go.annotated))
    pairs = pd.DataFrame(rows, columns=list(PAIR_COLUMNS))
    for col in ("nucleus_id", "golgi_id"):
        pairs[col] = pairs[col].astype(np.int64)
    for col in ("paired", "nucleus_annotated", "golgi_annotated"):
        pairs[col] = pairs[col].astype(bool)
    return pairs
