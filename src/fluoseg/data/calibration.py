"""Real nucleus–Golgi statistics, and the functions that measure them.

The simulator (:mod:`fluoseg.data.simulate`) is calibrated against real measurements
from the mouse-retina data the thesis used, published with the dataset's public code:

- **pairs**: the manually annotated nucleus and Golgi centroids of four real crops
  (Crop1, Crop2, Crop4, Crop6_BC; 249 pairs), from ``Dataset/GroundTruthVectors`` of
  `HemaxiN/3D_U-Vec <https://github.com/HemaxiN/3D_U-Vec>`_;
- **shapes**: 189 real nucleus masks and 210 real Golgi masks, from ``object_shapes``
  of `HemaxiN/3DNGMic <https://github.com/HemaxiN/3DNGMic>`_.

Both are released under GPL-3.0 by the dataset's authors (Narotamo, Ouarné, Franco,
Silveira). The constants below were computed from those files with
:func:`real_statistics` (the files themselves are not part of fluoseg); pair offsets
are in voxels of the real crops, object volumes in voxels of the 3DNGMic release.

The same statistics can be computed from a simulated crop (:func:`crop_statistics`)
and, when the files are present (a development checkout next to ``shared/``), from the
real files (:func:`real_statistics`); :func:`comparison_table` puts them side by side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fluoseg.config import repo_root

SOURCE = (
    "HemaxiN/3D_U-Vec (Dataset/GroundTruthVectors) and HemaxiN/3DNGMic "
    "(object_shapes), GPL-3.0, Narotamo et al."
)
"""Where the real numbers come from (cite it beside them)."""

# --- pairs (HemaxiN/3D_U-Vec, Dataset/GroundTruthVectors; 4 crops, 249 pairs) -------
REAL_PAIRS_PER_CROP: tuple[int, ...] = (71, 91, 37, 50)
"""Annotated pairs in Crop1, Crop2, Crop4, Crop6_BC."""

REAL_PAIR_DXY_QUANTILES: tuple[float, ...] = (
    1.0, 5.83, 7.81, 9.26, 10.3, 11.18, 12.88, 13.89, 15.0, 16.02, 17.03,
    18.29, 19.72, 21.0, 22.09, 23.54, 26.27, 28.11, 30.93, 33.94, 52.81,
)  # fmt: skip
"""In-plane nucleus→Golgi distance (voxels), quantiles 0, 5, ..., 100 %."""

REAL_PAIR_DZ_QUANTILES: tuple[float, ...] = (
    -10.0, -6.0, -5.0, -4.0, -4.0, -3.0, -3.0, -2.0, -2.0, -1.0, -1.0,
    0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 9.0,
)  # fmt: skip
"""Nucleus→Golgi offset along z (slices, Golgi minus nucleus), quantiles 0..100 %."""

REAL_PAIR_DISTANCE_MEDIAN: float = 17.23
"""Median 3D nucleus→Golgi centroid distance (voxels of the real crops)."""

REAL_PAIR_DISTANCE_P99: float = 42.21
"""99th percentile of the 3D nucleus→Golgi distance (voxels of the real crops)."""

MAX_PAIR_DISTANCE: float = REAL_PAIR_DISTANCE_P99
"""Suggested maximum nucleus–Golgi pairing distance (voxels, z counted as one voxel
per slice): the 99th percentile of the real distances. For the pairing chapter."""

REAL_PAIR_ELEVATION_MEDIAN_DEG: float = 7.30
"""Median elevation of the nucleus→Golgi vector above the xy plane (degrees)."""

REAL_POLARITY_R: tuple[float, ...] = (0.052, 0.197, 0.611, 0.223)
"""Per-crop mean resultant length of the in-plane Golgi directions (0 = no preferred
direction, 1 = all Golgi on the same side)."""

REAL_NN_NUCLEUS_DISTANCE_MEDIAN: float = 32.71
"""Median distance from a paired nucleus to the nearest other paired nucleus."""

# --- shapes (HemaxiN/3DNGMic, object_shapes; 189 nuclei, 210 Golgi) ----------------
REAL_NUCLEUS_VOLUME_MEDIAN: float = 674.0
"""Median nucleus volume, voxels of the 3DNGMic release."""

REAL_GOLGI_VOLUME_MEDIAN: float = 137.5
"""Median Golgi volume, voxels of the 3DNGMic release."""

REAL_VOLUME_RATIO: float = REAL_NUCLEUS_VOLUME_MEDIAN / REAL_GOLGI_VOLUME_MEDIAN
"""Median nucleus volume / median Golgi volume (4.90; resolution-free)."""

REAL_NUCLEUS_ELONGATION_MEDIAN: float = 2.02
"""Median ratio of the longest to the shortest principal axis of a nucleus."""

REAL_GOLGI_ELONGATION_MEDIAN: float = 1.94
"""Median ratio of the longest to the shortest principal axis of a Golgi."""


def default_folder() -> Path | None:
    """``<repo>/../shared/calibration`` if it exists, else ``None``."""
    root = repo_root()
    if root is None:
        return None
    folder = root.parent / "shared" / "calibration"
    return folder if folder.is_dir() else None


# ------------------------------------------------------------------------ measures


def offset_statistics(offsets: np.ndarray) -> dict[str, float]:
    """Statistics of nucleus→Golgi offsets (N, 3) ordered (dz, dy, dx), in voxels."""
    d = np.asarray(offsets, dtype=np.float64).reshape(-1, 3)
    dist = np.linalg.norm(d, axis=1)
    dxy = np.linalg.norm(d[:, 1:], axis=1)
    elev = np.degrees(np.arctan2(np.abs(d[:, 0]), dxy))
    return {
        "n_pairs": float(len(d)),
        "distance_median": float(np.median(dist)) if len(d) else math.nan,
        "distance_p99": float(np.percentile(dist, 99)) if len(d) else math.nan,
        "elevation_median_deg": float(np.median(elev)) if len(d) else math.nan,
        "polarity_r": polarity_r(d),
    }


def polarity_r(offsets: np.ndarray) -> float:
    """Mean resultant length of the in-plane directions of (dz, dy, dx) offsets."""
    d = np.asarray(offsets, dtype=np.float64).reshape(-1, 3)
    if len(d) == 0:
        return math.nan
    ang = np.arctan2(d[:, 1], d[:, 2])
    return float(abs(np.exp(1j * ang).mean()))


def nn_distance(points: np.ndarray) -> np.ndarray:
    """Distance from each point (N, 3) to its nearest other point."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) < 2:
        return np.full(len(pts), np.nan)
    dist, _ = cKDTree(pts).query(pts, k=2)
    return dist[:, 1]


def elongation(mask: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> float:
    """Longest / shortest principal axis of a binary 3D object (physical units)."""
    idx = np.argwhere(np.asarray(mask) > 0).astype(np.float64)
    if len(idx) < 4:
        return math.nan
    idx *= np.asarray(spacing, dtype=np.float64)
    ev = np.linalg.eigvalsh(np.cov(idx.T))
    if ev[0] <= 0:
        return math.nan
    return float(math.sqrt(ev[-1] / ev[0]))


def label_shapes(
    labels: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0), max_objects=None
) -> tuple[np.ndarray, np.ndarray]:
    """Volumes (voxels) and elongations of the objects of an instance label volume."""
    from scipy import ndimage

    lab = np.asarray(labels)
    ids = np.unique(lab)
    ids = ids[ids > 0]
    if max_objects is not None:
        ids = ids[:max_objects]
    vols, elongs = [], []
    boxes = ndimage.find_objects(lab)
    for i in ids:
        sl = boxes[int(i) - 1]
        if sl is None:
            continue
        obj = lab[sl] == i
        vols.append(int(obj.sum()))
        elongs.append(elongation(obj, spacing))
    return np.asarray(vols, dtype=np.float64), np.asarray(elongs, dtype=np.float64)


def shape_statistics(
    nucleus_volumes: np.ndarray,
    golgi_volumes: np.ndarray,
    nucleus_elong: np.ndarray,
    golgi_elong: np.ndarray,
) -> dict[str, float]:
    """Median volumes, their ratio and median elongations."""
    nv = float(np.median(nucleus_volumes))
    gv = float(np.median(golgi_volumes))
    return {
        "nucleus_volume_median": nv,
        "golgi_volume_median": gv,
        "volume_ratio": nv / gv if gv > 0 else math.nan,
        "nucleus_elongation_median": float(np.nanmedian(nucleus_elong)),
        "golgi_elongation_median": float(np.nanmedian(golgi_elong)),
    }


def crop_offsets(pairs: Any) -> np.ndarray:
    """(N, 3) nucleus→Golgi offsets (dz, dy, dx) of the paired rows of a pairs table."""
    p = pairs[pairs["paired"]]
    g = p[["golgi_z", "golgi_y", "golgi_x"]].to_numpy(np.float64)
    n = p[["nucleus_z", "nucleus_y", "nucleus_x"]].to_numpy(np.float64)
    return g - n


def crop_statistics(crops: Iterable[Any]) -> dict[str, Any]:
    """The calibration statistics of simulated crops (:class:`SimulatedCrop`).

    Offsets are pooled over the crops; shapes are measured in isotropic units (z scaled
    by ``params.z_spacing``), as the 3DNGMic shapes are near-isotropic.
    """
    items = [(c.pairs, c.instances, c.params.z_spacing) for c in crops]
    return statistics_of(items)


def dataset_statistics(crops: Iterable[Any], z_spacing: float = 2.0) -> dict[str, Any]:
    """The same statistics for crops loaded from disk (:class:`dataset.Crop`)."""
    return statistics_of([(c.pairs(), c.instances(), z_spacing) for c in crops])


def statistics_of(items: Iterable[tuple[Any, np.ndarray, float]]) -> dict[str, Any]:
    """Statistics of ``(pairs table, (Z, Y, X, 2) instance ids, z_spacing)`` items."""
    offs, per_crop, r, nn = [], [], [], []
    nvol, gvol, nel, gel = [], [], [], []
    for pairs, instances, z_spacing in items:
        o = crop_offsets(pairs)
        offs.append(o)
        per_crop.append(len(o))
        r.append(polarity_r(o))
        paired = pairs[pairs["paired"]]
        nn.append(
            nn_distance(paired[["nucleus_z", "nucleus_y", "nucleus_x"]].to_numpy())
        )
        spacing = (z_spacing, 1.0, 1.0)
        for ch, vols, els in ((0, nvol, nel), (1, gvol, gel)):
            v, e = label_shapes(instances[..., ch], spacing)
            vols.append(v)
            els.append(e)
    offsets = np.concatenate(offs) if offs else np.zeros((0, 3))
    stats: dict[str, Any] = offset_statistics(offsets)
    stats.update(
        shape_statistics(
            np.concatenate(nvol),
            np.concatenate(gvol),
            np.concatenate(nel),
            np.concatenate(gel),
        )
    )
    stats["pairs_per_crop"] = per_crop
    stats["polarity_r_per_crop"] = r
    stats["nn_nucleus_distance_median"] = float(np.nanmedian(np.concatenate(nn)))
    stats["offsets"] = offsets
    stats["nucleus_elongations"] = np.concatenate(nel)
    stats["golgi_elongations"] = np.concatenate(gel)
    return stats


# ------------------------------------------------------------------------ real files


def load_real_pairs(folder: str | Path | None = None) -> dict[str, np.ndarray] | None:
    """Real pairs per crop as (N, 6) arrays (nucleus z, y, x, Golgi z, y, x).

    Reads ``real_pairs/*.csv`` (columns x_n, y_n, x_g, y_g, z_n, z_g, no header);
    returns ``None`` when the folder is absent.
    """
    root = Path(folder) if folder is not None else default_folder()
    if root is None or not (root / "real_pairs").is_dir():
        return None
    out = {}
    for f in sorted((root / "real_pairs").glob("*.csv")):
        a = np.loadtxt(f, delimiter=",", ndmin=2)
        out[f.stem] = a[:, [4, 1, 0, 5, 3, 2]]
    return out


def load_real_shapes(folder: str | Path | None = None) -> dict[str, np.ndarray] | None:
    """The arrays of ``real_object_shapes.npz``, or ``None`` when absent."""
    root = Path(folder) if folder is not None else default_folder()
    if root is None or not (root / "real_object_shapes.npz").is_file():
        return None
    with np.load(root / "real_object_shapes.npz") as z:
        return {k: z[k] for k in z.files}


def real_statistics(folder: str | Path | None = None) -> dict[str, Any] | None:
    """The calibration statistics computed from the real files (``None`` if absent)."""
    pairs = load_real_pairs(folder)
    shapes = load_real_shapes(folder)
    if pairs is None or shapes is None:
        return None
    offs = [a[:, 3:] - a[:, :3] for a in pairs.values()]
    offsets = np.concatenate(offs)
    stats: dict[str, Any] = offset_statistics(offsets)
    nvol = shapes["nuclei_masks"].reshape(len(shapes["nuclei_masks"]), -1).sum(1)
    gvol = shapes["golgi_masks"].reshape(len(shapes["golgi_masks"]), -1).sum(1)
    nel = np.array([elongation(m) for m in shapes["nuclei_masks"]])
    gel = np.array([elongation(m) for m in shapes["golgi_masks"]])
    stats.update(shape_statistics(nvol, gvol, nel, gel))
    stats["pairs_per_crop"] = [len(o) for o in offs]
    stats["polarity_r_per_crop"] = [polarity_r(o) for o in offs]
    stats["nn_nucleus_distance_median"] = float(
        np.median(np.concatenate([nn_distance(a[:, :3]) for a in pairs.values()]))
    )
    stats["offsets"] = offsets
    stats["nucleus_elongations"] = nel
    stats["golgi_elongations"] = gel
    return stats


def real_constants() -> dict[str, Any]:
    """The real statistics as written into this module (no files needed)."""
    return {
        "n_pairs": float(sum(REAL_PAIRS_PER_CROP)),
        "distance_median": REAL_PAIR_DISTANCE_MEDIAN,
        "distance_p99": REAL_PAIR_DISTANCE_P99,
        "elevation_median_deg": REAL_PAIR_ELEVATION_MEDIAN_DEG,
        "polarity_r": math.nan,
        "nucleus_volume_median": REAL_NUCLEUS_VOLUME_MEDIAN,
        "golgi_volume_median": REAL_GOLGI_VOLUME_MEDIAN,
        "volume_ratio": REAL_VOLUME_RATIO,
        "nucleus_elongation_median": REAL_NUCLEUS_ELONGATION_MEDIAN,
        "golgi_elongation_median": REAL_GOLGI_ELONGATION_MEDIAN,
        "pairs_per_crop": list(REAL_PAIRS_PER_CROP),
        "polarity_r_per_crop": list(REAL_POLARITY_R),
        "nn_nucleus_distance_median": REAL_NN_NUCLEUS_DISTANCE_MEDIAN,
    }


_ROWS: tuple[tuple[str, str], ...] = (
    ("pairs per crop (range)", "pairs_per_crop"),
    ("nucleus→Golgi distance, median (voxels)", "distance_median"),
    ("nucleus→Golgi distance, 99th percentile (voxels)", "distance_p99"),
    ("elevation above the xy plane, median (degrees)", "elevation_median_deg"),
    ("polarity R per crop (range)", "polarity_r_per_crop"),
    ("nearest paired nucleus, median distance (voxels)", "nn_nucleus_distance_median"),
    ("nucleus volume, median (voxels)", "nucleus_volume_median"),
    ("Golgi volume, median (voxels)", "golgi_volume_median"),
    ("nucleus / Golgi volume (medians)", "volume_ratio"),
    ("nucleus elongation, median", "nucleus_elongation_median"),
    ("Golgi elongation, median", "golgi_elongation_median"),
)


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        if not v:
            return "–"
        lo, hi = min(v), max(v)
        return f"{lo:.2f}–{hi:.2f}" if isinstance(lo, float) else f"{lo}–{hi}"
    return f"{v:.2f}"


def comparison_table(simulated: dict[str, Any], real: dict[str, Any] | None = None):
    """A DataFrame with the real and simulated statistics side by side."""
    import pandas as pd

    real = real_constants() if real is None else real
    rows = [(name, _fmt(real[key]), _fmt(simulated[key])) for name, key in _ROWS]
    return pd.DataFrame(
        rows, columns=["statistic", "real (3D_U-Vec / 3DNGMic)", "simulated"]
    ).set_index("statistic")
