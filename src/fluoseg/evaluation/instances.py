"""From semantic masks to objects: connected components and the watershed split.

A binary mask becomes labelled instances: connected components, optionally split by a
seeded watershed where touching nuclei merge (``split_touching``); ``instances`` does
it for every channel of a semantic mask. Object tables and object-level scores are in
``fluoseg.evaluation.objects``.

Label images are int32 arrays, 0 = background, objects numbered 1..n. Voxel sizes are
``(z, y, x)`` in µm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fluoseg.errors import InputError

DEFAULT_MIN_DISTANCE = 5
"""Default least distance (voxels) between two watershed seeds."""

DEFAULT_H = 0.5
"""Default least depth of a watershed seed (distance-transform units: µm with a voxel
size). With ``DEFAULT_MIN_DISTANCE``, on the perfect masks of the standard dataset's
test crops I1 and I2 (1 × 0.5 × 0.5 µm voxels), the watershed matches 131 of 134 nuclei
at IoU 0.5 (135 objects), where connected components match 126 (129 objects: touching
nuclei merge)."""


def checked_voxel_size(
    voxel_size: Sequence[float] | None,
) -> tuple[float, float, float]:
    """``voxel_size`` as three positive floats (z, y, x); ``None`` gives (1, 1, 1).

    Raises:
        InputError: not three positive finite numbers.
    """
    if voxel_size is None:
        return (1.0, 1.0, 1.0)
    vs = tuple(float(v) for v in voxel_size)
    if len(vs) != 3 or not all(np.isfinite(v) and v > 0 for v in vs):
        raise InputError(
            "voxel size must be three positive numbers (z, y, x) in µm, "
            f"got {voxel_size}"
        )
    return vs  # type: ignore[return-value]


def check_3d(mask: np.ndarray, what: str = "mask") -> np.ndarray:
    """``mask`` as an array, if it is 3D (Z, Y, X); else raise ``InputError``."""
    arr = np.asarray(mask)
    if arr.ndim != 3:
        raise InputError(
            f"{what}: expected a 3D array (Z, Y, X), got shape {arr.shape}"
        )
    return arr


def connected_components(
    mask: np.ndarray, connectivity: int = 1, min_size: int = 0
) -> np.ndarray:
    """Label the connected components of a binary 3D mask.

    Args:
        mask: (Z, Y, X) array; non-zero voxels are foreground.
        connectivity: 1 = faces (6-neighbourhood), 2 = faces and edges (18),
            3 = also corners (26).
        min_size: components with fewer voxels are dropped.

    Returns:
        (Z, Y, X) int32 labels 1..n, numbered in raster order, 0 = background.
    """
    from skimage.measure import label

    arr = check_3d(mask) > 0
    labels = label(arr, connectivity=connectivity).astype(np.int32)
    return remove_small(labels, min_size) if min_size > 0 else labels


def remove_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Drop objects of fewer than ``min_size`` voxels and renumber the rest 1..n."""
    labels = np.asarray(labels)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    lut = np.zeros(len(sizes), dtype=np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lut[labels]


def split_touching(
    mask: np.ndarray,
    min_distance: int = DEFAULT_MIN_DISTANCE,
    h: float = DEFAULT_H,
    voxel_size: Sequence[float] | None = None,
    connectivity: int = 1,
    min_size: int = 0,
) -> np.ndarray:
    """Split touching objects with a seeded watershed on the distance transform.

    Each object's centre is far from the background, so the Euclidean distance
    transform has one peak per convex object and a saddle ("neck") where two round
    objects touch. Seeds are the distance-transform peaks that are

    - local maxima at least ``min_distance`` voxels apart (``peak_local_max``), and,
      when ``h > 0``,
    - at least ``h`` higher than the saddle to any higher peak (an *h-maximum*, in
      the distance transform's unit: voxels, or µm when ``voxel_size`` is given);
      all peaks in one connected h-maximum region (a ridge, a plateau) form one seed.

    ``h`` suppresses seeds caused by bumpy outlines; ``min_distance`` those caused by
    elongated objects. The watershed of the negated distance transform then grows one
    object per seed inside the mask. A component without an accepted seed stays one
    object.

    Args:
        mask: (Z, Y, X) binary mask.
        min_distance: minimum distance in voxels between two seeds (about an object's
            smallest radius).
        h: minimum depth of a peak; 0 keeps every local maximum.
        voxel_size: (z, y, x) µm; makes the distance transform physical, which matters
            for anisotropic stacks.
        connectivity: connectivity of the components (see ``connected_components``).
        min_size: objects with fewer voxels are dropped after the split.

    Returns:
        (Z, Y, X) int32 labels 1..n.
    """
    from scipy import ndimage as ndi

    if min_distance < 1:
        raise InputError(f"min_distance must be a positive integer, got {min_distance}")
    if h < 0:
        raise InputError(f"h must be >= 0, got {h}")
    binary = check_3d(mask) > 0
    components = connected_components(binary, connectivity=connectivity)
    if min_size > 0:  # specks cannot hold an object of min_size: skip their work
        components = remove_small(components, min_size)
    sampling = checked_voxel_size(voxel_size)
    out = np.zeros(binary.shape, dtype=np.int32)
    n = 0
    # One component at a time, in its bounding box grown by one background voxel:
    # the distance transform, h-maxima and watershed are the same as on the whole
    # volume (components do not interact) at a fraction of the cost.
    for comp, box in enumerate(ndi.find_objects(components), start=1):
        if box is None:
            continue
        box = tuple(
            slice(max(b.start - 1, 0), min(b.stop + 1, size))
            for b, size in zip(box, binary.shape, strict=True)
        )
        obj = components[box] == comp
        sub = _split_one(obj, min_distance, h, sampling, connectivity)
        out[box][obj] = sub[obj] + n
        n += int(sub.max())
    return remove_small(out, max(min_size, 1))


def _split_one(
    obj: np.ndarray,
    min_distance: int,
    h: float,
    sampling: tuple[float, float, float],
    connectivity: int,
) -> np.ndarray:
    """Seeded watershed of one connected component (labels 1..k in its box)."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.measure import label
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    dist = ndi.distance_transform_edt(obj, sampling=sampling)
    peaks = peak_local_max(
        dist, min_distance=min_distance, labels=obj.astype(np.int32),
        exclude_border=False,
    )  # fmt: skip
    if h > 0 and len(peaks):
        # Each connected h-maximum region holding a peak is one seed, so a ridge or a
        # plateau of equal maxima gives one seed, not one per peak.
        regions = label(h_maxima(dist, h).astype(bool) & obj, connectivity=3)
        ids = np.unique(regions[tuple(peaks.T)])
        ids = ids[ids > 0]
        lut = np.zeros(int(regions.max()) + 1, dtype=np.int32)
        lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
        markers = lut[regions]
    else:
        markers = np.zeros(obj.shape, dtype=np.int32)
        if len(peaks):
            markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    if markers.max() <= 1:  # one seed or none: the component is one object
        return obj.astype(np.int32)
    return watershed(-dist, markers, mask=obj, connectivity=connectivity).astype(
        np.int32
    )


def instances(
    mask: np.ndarray,
    split: Sequence[bool] | bool = False,
    min_distance: int = DEFAULT_MIN_DISTANCE,
    h: float = DEFAULT_H,
    voxel_size: Sequence[float] | None = None,
    min_size: int = 0,
) -> np.ndarray:
    """Instance labels for every channel of a semantic mask.

    Args:
        mask: (Z, Y, X, C) semantic mask (values in {0, 1}, or probabilities: voxels
            above 0.5 are foreground).
        split: whether to split touching objects with ``split_touching``; one flag for
            all channels or one per channel (e.g. ``(True, False)`` splits nuclei only).
        min_distance, h, voxel_size: see ``split_touching``.
        min_size: objects with fewer voxels are dropped.

    Returns:
        (Z, Y, X, C) int32 labels, numbered 1..n_c independently per channel.
    """
    arr = np.asarray(mask)
    if arr.ndim != 4:
        raise InputError(
            f"mask: expected a 4D array (Z, Y, X, C), got shape {arr.shape}"
        )
    n_ch = arr.shape[-1]
    flags = (
        [bool(split)] * n_ch if isinstance(split, bool) else [bool(s) for s in split]
    )
    if len(flags) != n_ch:
        raise InputError(f"split: expected {n_ch} flags (one per channel), got {split}")
    out = np.zeros(arr.shape, dtype=np.int32)
    for c in range(n_ch):
        fg = arr[..., c] > 0.5
        if flags[c]:
            out[..., c] = split_touching(
                fg,
                min_distance=min_distance,
                h=h,
                voxel_size=voxel_size,
                min_size=min_size,
            )
        else:
            out[..., c] = connected_components(fg, min_size=min_size)
    return out
