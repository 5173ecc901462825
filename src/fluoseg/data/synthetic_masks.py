"""Synthetic segmentation masks: the CycleGAN's unpaired mask domain (thesis §4.1.1).

The thesis trained its CycleGAN between microscopy images and masks that were *not*
drawn for those images: ellipsoids for nuclei and spheres for Golgi at random positions,
with, for every nucleus–Golgi pair, a random nucleus and Golgi size, a random distance
between them and a random rotation of the pair, 40 to 90 pairs per crop, and an elastic
deformation of each pair to make the shapes look less geometric.

:func:`synthetic_mask` does exactly that. The elastic deformation is the classic
random-grid one (a coarse grid of random displacements, interpolated smoothly, then a
resampling of the pair's mask): the displacement field is upsampled with
:func:`scipy.ndimage.zoom` (cubic) and applied with
:func:`scipy.ndimage.map_coordinates`. (The ``elasticdeform`` package implements the
same idea, but its compiled extension does not load with NumPy 2 here.)

Layout and deformation draw from two independent random streams, so the same seed with
``elastic_sigma=0`` gives the same pairs, undeformed: handy for before/after figures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fluoseg.errors import InputError


@dataclass(frozen=True)
class SyntheticMaskParams:
    """Parameters of the synthetic masks (lengths in xy voxels).

    Attributes:
        pairs_range: pairs per crop, drawn uniformly (thesis: 40–90).
        reference_volume: crops smaller than this many voxels get proportionally
            fewer pairs (as in :class:`fluoseg.data.simulate.SimulationParams`).
        min_pairs: lower bound after that scaling.
        nucleus_axes: (low, high) range of each nucleus semi-axis; the three axes are
            drawn in this range and sorted, the shortest along z.
        golgi_radius: (low, high) radius of the Golgi sphere.
        distance: (low, high) nucleus-centre to Golgi-centre distance.
        max_tilt_deg: largest tilt of a pair out of the xy plane.
        z_spacing: z voxel size / xy voxel size (masks are drawn in physical units).
        elastic_sigma: standard deviation (voxels) of the random grid displacements;
            0 turns the elastic deformation off.
        elastic_points: control points per axis of the random grid.
        max_overlap: largest share of a new pair's voxels allowed on earlier pairs.
    """

    pairs_range: tuple[int, int] = (40, 90)
    reference_volume: int = 500 * 600 * 58
    min_pairs: int = 3
    nucleus_axes: tuple[float, float] = (4.5, 11.0)
    golgi_radius: tuple[float, float] = (3.0, 5.0)
    distance: tuple[float, float] = (6.0, 26.0)
    max_tilt_deg: float = 20.0
    z_spacing: float = 2.0
    elastic_sigma: float = 2.0
    elastic_points: int = 3
    max_overlap: float = 0.05

    def __post_init__(self) -> None:
        if self.pairs_range[0] > self.pairs_range[1] or self.pairs_range[0] < 0:
            raise InputError(
                f"pairs_range={self.pairs_range!r}: expected (low, high), 0 <= low "
                "<= high"
            )
        if self.elastic_sigma < 0 or self.elastic_points < 2:
            raise InputError(
                f"elastic_sigma={self.elastic_sigma}, elastic_points="
                f"{self.elastic_points}: expected sigma >= 0 and at least 2 points"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SyntheticMaskParams:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _rotation(theta: float, tilt: float) -> np.ndarray:
    """Rotation about z by ``theta`` after a tilt about y, in (z, y, x) coordinates."""
    c, s = math.cos(theta), math.sin(theta)
    rz = np.array([[1, 0, 0], [0, c, s], [0, -s, c]])
    c, s = math.cos(tilt), math.sin(tilt)
    ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return rz @ ry


def _pair_box(
    rng: np.random.Generator, p: SyntheticMaskParams
) -> tuple[np.ndarray, np.ndarray]:
    """One pair drawn in its own box: (nucleus, golgi) boolean arrays."""
    axes = np.sort(rng.uniform(*p.nucleus_axes, 3))[::-1]  # long, mid, short
    radius = rng.uniform(*p.golgi_radius)
    dist = rng.uniform(*p.distance)
    # Golgi direction in the nucleus frame: mostly in-plane
    az = rng.uniform(0, 2 * math.pi)
    el = rng.normal(0, 0.3)
    gol = dist * np.array(
        [math.sin(el), math.cos(el) * math.sin(az), math.cos(el) * math.cos(az)]
    )
    rot = _rotation(
        rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(-1, 1) * p.max_tilt_deg)
    )
    # frame: object axes (short=z, mid=y, long=x) -> physical via rot
    gol = rot @ gol
    reach = max(axes[0], np.linalg.norm(gol) + radius) + 2 + 2 * p.elastic_sigma
    half = np.ceil(np.array([reach / p.z_spacing, reach, reach])).astype(int)
    grid = np.meshgrid(
        *(np.arange(-h, h + 1, dtype=np.float64) for h in half), indexing="ij"
    )
    d = np.stack([grid[0] * p.z_spacing, grid[1], grid[2]], axis=-1)
    local = d @ rot  # coordinates in the nucleus frame (z, y, x)
    nuc = ((local / axes[::-1]) ** 2).sum(-1) <= 1.0
    golgi = ((d - gol) ** 2).sum(-1) <= radius**2
    # keep the pair's bounding box plus room for the deformation
    idx = np.argwhere(nuc | golgi)
    m = int(math.ceil(2 * p.elastic_sigma)) + 1
    lo = np.maximum(idx.min(0) - m, 0)
    hi = np.minimum(idx.max(0) + m + 1, nuc.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    return nuc[box], golgi[box]


def _cubic_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights of cubic :func:`scipy.ndimage.zoom` from n_in to n_out."""
    from scipy import ndimage

    eye = np.eye(n_in)
    return ndimage.zoom(eye, (n_out / n_in, 1), order=3, mode="nearest", grid_mode=True)


def _elastic(
    rng: np.random.Generator, arrays: list[np.ndarray], p: SyntheticMaskParams
) -> list[np.ndarray]:
    """The same random-grid elastic deformation applied to boolean arrays."""
    from scipy import ndimage

    shape = arrays[0].shape
    n = p.elastic_points
    coarse = rng.normal(0.0, p.elastic_sigma, (3, n, n, n))
    coarse[0] /= p.z_spacing  # displacements in physical units
    # cubic upsampling of the grid, done as one separable matrix per axis
    mats = [_cubic_matrix(s, n) for s in shape]
    disp = np.einsum("cijk,zi,yj,xk->czyx", coarse, *mats, optimize=True)
    base = np.meshgrid(*(np.arange(s, dtype=np.float64) for s in shape), indexing="ij")
    coords = [b + dd for b, dd in zip(base, disp, strict=True)]
    return [
        ndimage.map_coordinates(a.astype(np.float32), coords, order=1, mode="constant")
        > 0.5
        for a in arrays
    ]


def n_pairs_for(shape: tuple[int, int, int], rng: np.random.Generator, p) -> int:
    """Pairs in a crop of ``shape``: uniform in ``p.pairs_range``, fewer if small."""
    scale = min(1.0, float(np.prod(shape)) / float(p.reference_volume))
    n = int(round(int(rng.integers(p.pairs_range[0], p.pairs_range[1] + 1)) * scale))
    return max(int(p.min_pairs), n)


def synthetic_mask(
    shape: tuple[int, int, int],
    seed: int = 0,
    n_classes: int = 3,
    params: SyntheticMaskParams | None = None,
) -> np.ndarray:
    """A synthetic mask (Z, Y, X, n_classes) uint8 {0, 1}: ``[nuclei, golgi(, pair)]``.

    Every nucleus has its Golgi; the pair channel is the union of both.

    Raises:
        InputError: bad shape or ``n_classes`` not 2 or 3.
    """
    p = SyntheticMaskParams() if params is None else params
    shape = tuple(int(s) for s in shape)  # type: ignore[assignment]
    if len(shape) != 3 or min(shape) < 4:
        raise InputError(f"shape={shape!r}: expected (Z, Y, X) with every size >= 4")
    if n_classes not in (2, 3):
        raise InputError(f"n_classes={n_classes!r}: expected 2 or 3")
    if int(seed) < 0:
        raise InputError(f"seed={seed}: expected a non-negative integer")
    layout_ss, deform_ss = np.random.SeedSequence([int(seed), 4_1_1]).spawn(2)
    rng = np.random.default_rng(layout_ss)
    drng = np.random.default_rng(deform_ss)
    out = np.zeros(tuple(shape) + (3,), dtype=np.uint8)
    occupied = np.zeros(shape, dtype=bool)
    for _ in range(n_pairs_for(shape, rng, p)):
        for _attempt in range(20):
            nuc, gol = _pair_box(rng, p)
            if p.elastic_sigma > 0:
                nuc, gol = _elastic(drng, [nuc, gol], p)
            centre = np.array(
                [
                    rng.uniform(0.2, 0.8) * shape[0],
                    rng.random() * shape[1],
                    rng.random() * shape[2],
                ]
            )
            half = np.array(nuc.shape) // 2
            lo = np.floor(centre).astype(int) - half
            dst, src = [], []
            for a, n, s in zip(lo, nuc.shape, shape, strict=True):
                a0, a1 = max(a, 0), min(a + n, s)
                if a1 <= a0:
                    break
                dst.append(slice(a0, a1))
                src.append(slice(a0 - a, a1 - a))
            if len(dst) < 3:
                continue
            both = nuc[tuple(src)] | gol[tuple(src)]
            if not both.any():
                continue
            if occupied[tuple(dst)][both].mean() > p.max_overlap:
                continue
            region = out[tuple(dst)]
            region[..., 0] |= nuc[tuple(src)]
            region[..., 1] |= gol[tuple(src)]
            region[..., 2] |= both
            occupied[tuple(dst)] |= both
            break
    return np.ascontiguousarray(out[..., :n_classes])


def example_pair(
    seed: int = 0, params: SyntheticMaskParams | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One pair before and after its elastic deformation, each (z, y, x, 2) uint8.

    Channels ``[nucleus, golgi]``, in the pair's own box (for figures).
    """
    p = SyntheticMaskParams() if params is None else params
    layout_ss, deform_ss = np.random.SeedSequence([int(seed), 4_1_1]).spawn(2)
    nuc, gol = _pair_box(np.random.default_rng(layout_ss), p)
    sigma = (
        p.elastic_sigma if p.elastic_sigma > 0 else SyntheticMaskParams().elastic_sigma
    )
    dnuc, dgol = _elastic(
        np.random.default_rng(deform_ss), [nuc, gol], _with_sigma(p, sigma)
    )
    before = np.stack([nuc, gol], axis=-1).astype(np.uint8)
    after = np.stack([dnuc, dgol], axis=-1).astype(np.uint8)
    return before, after


def _with_sigma(p: SyntheticMaskParams, sigma: float) -> SyntheticMaskParams:
    d = p.to_dict()
    d["elastic_sigma"] = sigma
    return SyntheticMaskParams.from_dict(d)
