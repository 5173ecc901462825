"""Step 1 of the simulator, the layout: vessel paths, how many objects, where the
nuclei sit and where each Golgi sits relative to its nucleus (cell polarity)."""

from __future__ import annotations

import math

import numpy as np

from fluoseg.data import calibration as cal
from fluoseg.data.simulate.params import SimulationParams
from fluoseg.data.simulate.shapes import (
    SimObject,
    lognormal,
    nucleus_rotation,
    random_rotation,
)


def interp_quantiles(rng: np.random.Generator, q: tuple[float, ...], n: int):
    """Draw ``n`` values from the distribution with equally spaced quantiles ``q``."""
    u = rng.random(n) * (len(q) - 1)
    return np.interp(u, np.arange(len(q)), np.asarray(q, dtype=np.float64))


def kappa_for_r(r: float) -> float:
    """Von Mises concentration whose mean resultant length is ``r``."""
    from scipy.special import i0e, i1e

    if r <= 1e-3:
        return 0.0
    lo, hi = 0.0, 50.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if i1e(mid) / i0e(mid) < r:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def vessels(rng: np.random.Generator, p: SimulationParams) -> list[np.ndarray]:
    """Smooth vessel paths as (N, 3) voxel points (z, y, x) crossing the crop."""
    z, y, x = p.shape
    paths = []
    for _ in range(int(rng.integers(p.n_vessels[0], p.n_vessels[1] + 1))):
        side = rng.integers(4)
        t0 = rng.random()
        start = [(0, t0 * x), (y - 1, t0 * x), (t0 * y, 0), (t0 * y, x - 1)][side]
        heading = [math.pi / 2, -math.pi / 2, 0.0, math.pi][side]
        heading += rng.normal(0, 0.4)
        pos = np.array(start, dtype=np.float64)
        zpos = z * rng.uniform(0.3, 0.6)
        pts = []
        for _step in range(4 * (y + x)):
            pts.append((zpos, pos[0], pos[1]))
            heading += rng.normal(0, 0.06)
            pos = pos + np.array([math.sin(heading), math.cos(heading)])
            zpos = float(np.clip(zpos + rng.normal(0, 0.05), 0.15 * z, 0.75 * z))
            if not (0 <= pos[0] < y and 0 <= pos[1] < x):
                break
        paths.append(np.array(pts))
    return paths


def count_objects(
    rng: np.random.Generator, p: SimulationParams
) -> tuple[int, int, int]:
    """Numbers of pairs, unpaired nuclei and unpaired Golgi."""
    vol = float(np.prod(p.shape))
    scale = min(1.0, vol / float(p.reference_volume))
    n_pairs = int(round(rng.integers(p.pairs_range[0], p.pairs_range[1] + 1) * scale))
    n_pairs = max(p.min_pairs, n_pairs)
    n_un = int(round(n_pairs * rng.uniform(*p.unpaired_nuclei)))
    n_ug = int(round(n_pairs * rng.uniform(*p.unpaired_golgi)))
    return n_pairs, n_un, n_ug


def place_nuclei(
    rng: np.random.Generator, p: SimulationParams, n: int, paths: list[np.ndarray]
) -> list[SimObject]:
    """Nuclei along vessels (some touching a neighbour), without heavy overlap."""
    z, y, x = p.shape
    nuclei: list[SimObject] = []
    for _ in range(n):
        for _attempt in range(60):
            axes = lognormal(rng, 1.0, p.nucleus_axes_cv, 3) * np.array(p.nucleus_axes)
            axes = np.sort(axes)[::-1]
            if nuclei and rng.random() < p.touching:
                other = nuclei[int(rng.integers(len(nuclei)))]
                ang = rng.uniform(0, 2 * math.pi)
                gap = (other.axes[1] + axes[1]) * rng.uniform(0.9, 1.05)
                c = other.center + np.array(
                    [rng.normal(0, 0.5), gap * math.sin(ang), gap * math.cos(ang)]
                )
                theta = rng.uniform(0, math.pi)
            elif paths and rng.random() < p.on_vessel:
                path = paths[int(rng.integers(len(paths)))]
                i = int(rng.integers(len(path)))
                j = min(i + 3, len(path) - 1)
                k = max(j - 6, 0)
                tangent = path[j] - path[k]
                theta = math.atan2(tangent[1], tangent[2]) + rng.normal(0, 0.35)
                c = path[i] + np.array(
                    [
                        rng.normal(0, 2.0),
                        rng.normal(0, p.vessel_jitter),
                        rng.normal(0, p.vessel_jitter),
                    ]
                )
            else:
                c = np.array(
                    [rng.uniform(0.15, 0.75) * z, rng.random() * y, rng.random() * x]
                )
                theta = rng.uniform(0, math.pi)
            if not (0 <= c[1] < y and 0 <= c[2] < x and 1 <= c[0] < z - 1):
                continue
            ok = True
            for o in nuclei:
                d = (o.center - c) * np.array([p.z_spacing, 1.0, 1.0])
                if np.linalg.norm(d) < 0.9 * (o.axes[1] + axes[1]):
                    ok = False
                    break
            if not ok:
                continue
            tilt = math.radians(rng.normal(0, p.nucleus_tilt_deg))
            nuclei.append(
                SimObject(
                    center=c,
                    rot=nucleus_rotation(theta, tilt),
                    axes=axes,
                    brightness=0.0,
                    dim=False,
                )
            )
            break
    return nuclei


def golgi_object(rng: np.random.Generator, p: SimulationParams, c) -> SimObject:
    axes = np.sort(lognormal(rng, 1.0, p.golgi_axes_cv, 3) * np.array(p.golgi_axes))
    axes = axes[::-1]
    lobes = []
    for _ in range(int(rng.integers(p.golgi_lobes[0], p.golgi_lobes[1] + 1))):
        v = rng.standard_normal(3)
        v /= np.linalg.norm(v)
        lobes.append((v * axes[0] * 0.75, axes * rng.uniform(0.45, 0.65)))
    return SimObject(
        center=np.asarray(c, dtype=np.float64),
        rot=random_rotation(rng),
        axes=axes,
        brightness=0.0,
        dim=False,
        lobes=lobes,
    )


def place_golgi(
    rng: np.random.Generator,
    p: SimulationParams,
    nuclei: list[SimObject],
    n_pairs: int,
    n_ug: int,
) -> tuple[list[SimObject], list[int], float, float]:
    """Golgi of the first ``n_pairs`` nuclei (real offsets, per-crop polarity) and
    ``n_ug`` unpaired Golgi.

    Returns the Golgi, the index of each one's nucleus (-1: unpaired), the polarity
    direction ``mu`` and the target mean resultant length.
    """
    shape = tuple(int(s) for s in p.shape)
    target_r = rng.uniform(*p.polarity_r)
    kappa = kappa_for_r(target_r)
    mu = rng.uniform(-math.pi, math.pi)
    n_paired = min(n_pairs, len(nuclei))
    dxy = interp_quantiles(rng, cal.REAL_PAIR_DXY_QUANTILES, n_paired)
    dz = interp_quantiles(rng, cal.REAL_PAIR_DZ_QUANTILES, n_paired)
    phi = (
        rng.vonmises(mu, kappa, n_paired)
        if kappa > 0
        else rng.uniform(-math.pi, math.pi, n_paired)
    )
    golgi: list[SimObject] = []
    partner: list[int] = []  # index into nuclei, -1 for unpaired
    upper = np.array(shape, dtype=np.float64) - 1
    for i in range(n_paired):
        angle = phi[i]
        for _try in range(8):  # a Golgi outside the crop: turn it around
            off = np.array([dz[i], dxy[i] * math.sin(angle), dxy[i] * math.cos(angle)])
            c = nuclei[i].center + off
            if np.all(c >= 0) and np.all(c <= upper):
                break
            angle = rng.uniform(-math.pi, math.pi)
        c = np.clip(c, 0, upper)
        golgi.append(golgi_object(rng, p, c))
        partner.append(i)
    for _ in range(n_ug):
        c = np.array(
            [
                rng.uniform(0.15, 0.75) * shape[0],
                rng.random() * shape[1],
                rng.random() * shape[2],
            ]
        )
        golgi.append(golgi_object(rng, p, c))
        partner.append(-1)

    return golgi, partner, float(mu), float(target_r)
