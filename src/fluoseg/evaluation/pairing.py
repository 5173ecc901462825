"""Nucleus–Golgi pairs and their polarity vectors, found in segmentation masks.

An endothelial cell's polarity is read from the vector pointing from its nucleus to its
Golgi apparatus. Voxel Dice does not say whether the pairs are right, so this module

- pairs Golgi with nuclei from segmentation masks, in two ways:

  (a) ``method="geometry"``: instances of each class (``fluoseg.evaluation.instances``),
      then an optimal one-to-one matching on centroid distance (Hungarian algorithm,
      ``fluoseg.evaluation.matching.assign``) that never pairs objects farther apart
      than ``max_distance``;
  (b) ``method="pair_channel"``: the 3-class models' *pair* channel decides which
      objects are paired at all (those it covers) and, where a nucleus and its Golgi
      touch, which with which (the same connected component); the rest are matched
      as in (a) (see ``pairs_from_labels``);

- turns each pair into a nucleus→Golgi vector (dz, dy, dx, length, unit vector, angle
  in the xy-plane), in µm when the voxel size is known, else in voxels.

``fluoseg.evaluation.pair_scores`` scores predicted pairs against true pairs.

Pair tables are pandas DataFrames with the columns ``PAIR_COLUMNS``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fluoseg.data.calibration import MAX_PAIR_DISTANCE
from fluoseg.errors import InputError
from fluoseg.evaluation.instances import (
    DEFAULT_H,
    DEFAULT_MIN_DISTANCE,
    checked_voxel_size,
    connected_components,
    instances,
)
from fluoseg.evaluation.matching import assign
from fluoseg.evaluation.objects import object_table

DEFAULT_MIN_SIZE = 20
"""Objects of fewer voxels are ignored when pairing: segmentation specks. A simulated
Golgi has about 100 voxels (0.5 µm xy, 1 µm z voxels), so this is a fifth of one."""

METHODS: tuple[str, ...] = ("geometry", "pair_channel")
"""Ways to find pairs: (a) instances + matching, (b) the 3-class pair channel."""

PAIR_COLUMNS: tuple[str, ...] = (
    "nucleus_id", "golgi_id",
    "nucleus_z", "nucleus_y", "nucleus_x",
    "golgi_z", "golgi_y", "golgi_x",
    "dz", "dy", "dx", "length", "uz", "uy", "ux", "angle_xy_deg", "unit",
)  # fmt: skip
"""Columns of a pair table.

- ``nucleus_id``, ``golgi_id``: instance labels (0 when unknown);
- ``nucleus_z/y/x``, ``golgi_z/y/x``: centroids in voxel coordinates (index units);
- ``dz, dy, dx``: the nucleus→Golgi vector, in ``unit``;
- ``length``: its Euclidean length, in ``unit``;
- ``uz, uy, ux``: the unit vector (0 for a zero-length vector);
- ``angle_xy_deg``: direction of the vector projected on the xy-plane,
  ``atan2(dy, dx)`` in degrees in (-180, 180], counted from +x towards +y (image rows
  grow downwards, so on screen this turns clockwise);
- ``unit``: ``"um"`` when a voxel size was given, else ``"voxel"``.
"""


def default_max_distance(voxel_size: Sequence[float] | None = None) -> float:
    """Largest nucleus–Golgi centroid distance that still counts as a pair.

    ``fluoseg.data.calibration.MAX_PAIR_DISTANCE``: the 99th percentile (42.2 voxels)
    of the centroid distances of 249 manually annotated real pairs (HemaxiN/3D_U-Vec,
    GPL-3.0, Narotamo et al.). Without a voxel size it is used in voxels; with one it
    is converted to µm with the mean lateral (y, x) voxel size, since the real offsets
    are mostly lateral (median elevation 7°).
    """
    if voxel_size is None:
        return MAX_PAIR_DISTANCE
    vs = _voxel_size(voxel_size)
    return MAX_PAIR_DISTANCE * (vs[1] + vs[2]) / 2


def _voxel_size(voxel_size: Sequence[float] | None) -> np.ndarray:
    """``checked_voxel_size`` as an array."""
    return np.asarray(checked_voxel_size(voxel_size))


def _max_distance(
    max_distance: float | None, voxel_size: Sequence[float] | None
) -> float:
    """``max_distance``, checked, or the default for ``voxel_size``."""
    if max_distance is None:
        return default_max_distance(voxel_size)
    d = float(max_distance)
    if not np.isfinite(d) or d <= 0:
        raise InputError(f"max distance must be a positive number, got {max_distance}")
    return d


def pair_centroids(
    nuclei: np.ndarray,
    golgi: np.ndarray,
    voxel_size: Sequence[float] | None = None,
    max_distance: float | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pair nucleus and Golgi centroids by optimal matching on distance.

    Args:
        nuclei: (N, 3) centroids (z, y, x) in voxels.
        golgi: (M, 3) centroids in voxels.
        voxel_size: (z, y, x) µm; distances are then physical.
        max_distance: no pair is farther apart (µm with ``voxel_size``, else voxels);
            default ``default_max_distance(voxel_size)``.
        allowed: optional (N, M) boolean array of the pairs that may be formed.

    Returns:
        ``(i, j)``: indices of the paired nuclei and Golgi.
    """
    n = np.asarray(nuclei, dtype=np.float64).reshape(-1, 3)
    g = np.asarray(golgi, dtype=np.float64).reshape(-1, 3)
    vs = _voxel_size(voxel_size)
    dmax = _max_distance(max_distance, voxel_size)
    dist = np.linalg.norm((n[:, None, :] - g[None, :, :]) * vs, axis=-1)
    ok = dist <= dmax
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=bool)
        if allowed.shape != dist.shape:
            raise InputError(
                f"allowed: expected shape {dist.shape}, got {allowed.shape}"
            )
        ok &= allowed
    return assign(dist, ok)


def vectors(
    nuclei: np.ndarray, golgi: np.ndarray, voxel_size: Sequence[float] | None = None
) -> pd.DataFrame:
    """Nucleus→Golgi vectors of paired centroids (rows of ``nuclei`` and ``golgi``).

    Returns:
        DataFrame with the vector columns of ``PAIR_COLUMNS`` (``dz`` … ``unit``).
    """
    n = np.asarray(nuclei, dtype=np.float64).reshape(-1, 3)
    g = np.asarray(golgi, dtype=np.float64).reshape(-1, 3)
    if n.shape != g.shape:
        raise InputError(f"expected as many nuclei as Golgi, got {len(n)} and {len(g)}")
    d = (g - n) * _voxel_size(voxel_size)
    length = np.linalg.norm(d, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(length[:, None] > 0, d / length[:, None], 0.0)
    angle = np.degrees(np.arctan2(d[:, 1], d[:, 2]))
    angle = np.where(angle <= -180.0, angle + 360.0, angle)
    return pd.DataFrame({
        "dz": d[:, 0], "dy": d[:, 1], "dx": d[:, 2], "length": length,
        "uz": u[:, 0], "uy": u[:, 1], "ux": u[:, 2], "angle_xy_deg": angle,
        "unit": "voxel" if voxel_size is None else "um",
    })  # fmt: skip


def pair_table(
    nucleus_ids: Sequence[int],
    nuclei: np.ndarray,
    golgi_ids: Sequence[int],
    golgi: np.ndarray,
    voxel_size: Sequence[float] | None = None,
) -> pd.DataFrame:
    """A pair table (``PAIR_COLUMNS``) from paired ids and centroids (in voxels)."""
    n = np.asarray(nuclei, dtype=np.float64).reshape(-1, 3)
    g = np.asarray(golgi, dtype=np.float64).reshape(-1, 3)
    head = pd.DataFrame({
        "nucleus_id": np.asarray(nucleus_ids, dtype=np.int64),
        "golgi_id": np.asarray(golgi_ids, dtype=np.int64),
        "nucleus_z": n[:, 0], "nucleus_y": n[:, 1], "nucleus_x": n[:, 2],
        "golgi_z": g[:, 0], "golgi_y": g[:, 1], "golgi_x": g[:, 2],
    })  # fmt: skip
    return pd.concat([head, vectors(n, g, voxel_size)], axis=1)[list(PAIR_COLUMNS)]


def to_pair_table(
    table: pd.DataFrame, voxel_size: Sequence[float] | None = None
) -> pd.DataFrame:
    """A pair table (``PAIR_COLUMNS``) from any table of paired centroids.

    ``table`` needs ``nucleus_z/y/x`` and ``golgi_z/y/x`` (voxels), e.g. the simulator's
    true pairs (``<crop>_pairs.csv``, rows with ``paired`` true); ``nucleus_id`` and
    ``golgi_id`` are kept when present (else 0).
    """
    n = centroid_columns(table, "nucleus", "the")
    g = centroid_columns(table, "golgi", "the")
    zeros = np.zeros(len(table), dtype=np.int64)
    n_ids = table["nucleus_id"].to_numpy() if "nucleus_id" in table else zeros
    g_ids = table["golgi_id"].to_numpy() if "golgi_id" in table else zeros
    return pair_table(n_ids, n, g_ids, g, voxel_size)


def _centroids(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels present in ``labels`` and their centroids (voxels)."""
    t = object_table(labels)
    return t["label"].to_numpy(), t[
        ["centroid_z", "centroid_y", "centroid_x"]
    ].to_numpy()


def _component_of(labels: np.ndarray, ids: np.ndarray, comps: np.ndarray) -> np.ndarray:
    """For each object id, the pair component it overlaps most (0 = none)."""
    lab = labels.astype(np.int64).ravel()
    comp = comps.astype(np.int64).ravel()
    n_comp = int(comp.max(initial=0)) + 1
    fg = (lab > 0) & (comp > 0)
    table = np.bincount(
        lab[fg] * n_comp + comp[fg], minlength=(int(lab.max(initial=0)) + 1) * n_comp
    ).reshape(-1, n_comp)
    best = table.argmax(axis=1)
    best[table.max(axis=1) == 0] = 0
    return best[ids]


def pairs_from_labels(
    labels: np.ndarray,
    voxel_size: Sequence[float] | None = None,
    max_distance: float | None = None,
    pair_mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """Pairs from instance labels of nuclei and Golgi.

    Args:
        labels: (Z, Y, X, 2) int labels, channels ``[nuclei, golgi]`` (e.g. from
            ``fluoseg.evaluation.instances.instances``, or the simulator's true
            instances).
        voxel_size: (z, y, x) µm; distances and vectors are then in µm.
        max_distance: see ``pair_centroids``.
        pair_mask: optional (Z, Y, X) pair-channel mask (method (b)). Each object
            belongs to the pair component it overlaps most, or to none. Objects in no
            component are unpaired. A nucleus and a Golgi in the same component may
            pair; so may a nucleus and a Golgi each alone in its component (a pair that
            does not touch is drawn as two separate pieces). Without ``pair_mask``
            every pair within ``max_distance`` may form (method (a)).

    Returns:
        Pair table (``PAIR_COLUMNS``), one row per pair, sorted by nucleus id.
    """
    lab = np.asarray(labels)
    if lab.ndim != 4 or lab.shape[-1] < 2:
        raise InputError(
            f"labels: expected (Z, Y, X, 2) [nuclei, golgi] instances, got {lab.shape}"
        )
    n_ids, n_c = _centroids(lab[..., 0])
    g_ids, g_c = _centroids(lab[..., 1])
    allowed = None
    if pair_mask is not None:
        pm = np.asarray(pair_mask)
        if pm.shape != lab.shape[:3]:
            raise InputError(
                f"pair mask of shape {pm.shape} does not fit labels {lab.shape[:3]}"
            )
        comps = connected_components(pm > 0.5)
        cn = _component_of(lab[..., 0], n_ids, comps)
        cg = _component_of(lab[..., 1], g_ids, comps)
        n_comp = int(comps.max()) + 1
        has_nucleus = np.bincount(cn, minlength=n_comp) > 0
        has_golgi = np.bincount(cg, minlength=n_comp) > 0
        lone_n = (cn > 0) & ~has_golgi[cn]
        lone_g = (cg > 0) & ~has_nucleus[cg]
        allowed = (cn[:, None] == cg[None, :]) & (cn[:, None] > 0)
        allowed |= lone_n[:, None] & lone_g[None, :]
    i, j = pair_centroids(n_c, g_c, voxel_size, max_distance, allowed)
    return pair_table(n_ids[i], n_c[i], g_ids[j], g_c[j], voxel_size)


def find_pairs(
    mask: np.ndarray,
    method: str = "geometry",
    voxel_size: Sequence[float] | None = None,
    max_distance: float | None = None,
    split_nuclei: bool = True,
    min_distance: int = DEFAULT_MIN_DISTANCE,
    h: float = DEFAULT_H,
    min_size: int = DEFAULT_MIN_SIZE,
) -> pd.DataFrame:
    """Nucleus–Golgi pairs from a semantic mask.

    Args:
        mask: (Z, Y, X, 2|3) mask ``[nuclei, golgi(, pair)]`` (probabilities are cut
            at 0.5).
        method: ``"geometry"`` (a) or ``"pair_channel"`` (b, needs 3 channels).
        voxel_size: (z, y, x) µm.
        max_distance: see ``pair_centroids``.
        split_nuclei: split touching nuclei with a seeded watershed
            (``fluoseg.evaluation.instances.split_touching``; ``min_distance`` and
            ``h`` as there).
            Golgi are small and rarely touch: connected components.
        min_size: drop objects with fewer voxels (segmentation specks; default
            ``DEFAULT_MIN_SIZE``).

    Returns:
        Pair table (``PAIR_COLUMNS``).
    """
    arr = np.asarray(mask)
    if arr.ndim != 4 or arr.shape[-1] not in (2, 3):
        raise InputError(
            f"mask of shape {arr.shape}: expected (Z, Y, X, 2) or (Z, Y, X, 3) "
            "[nuclei, golgi(, pair)]"
        )
    if method not in METHODS:
        raise InputError(
            f"unknown pairing method {method!r}: expected one of {METHODS}"
        )
    if method == "pair_channel" and arr.shape[-1] != 3:
        raise InputError(
            "pairing method 'pair_channel' needs a 3-class mask [nuclei, golgi, pair], "
            f"got {arr.shape[-1]} channels"
        )
    labels = instances(
        arr[..., :2], split=(split_nuclei, False), min_distance=min_distance, h=h,
        voxel_size=voxel_size, min_size=min_size,
    )  # fmt: skip
    pair_mask = arr[..., 2] if method == "pair_channel" else None
    return pairs_from_labels(labels, voxel_size, max_distance, pair_mask)


def centroid_columns(table: pd.DataFrame, who: str, name: str) -> np.ndarray:
    """A pair table's ``<who>_z/y/x`` columns as an (N, 3) array (``name`` for
    errors: "the", "predicted", ...)."""
    cols = [f"{who}_z", f"{who}_y", f"{who}_x"]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise InputError(
            f"{name} pair table lacks columns {missing} (expected {', '.join(cols)})"
        )
    return table[cols].to_numpy(dtype=np.float64)
