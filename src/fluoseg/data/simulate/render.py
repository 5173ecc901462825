"""Steps 2-3 of the simulator: objects rasterised into instance labels and their
fluorophore signal (texture, soft edges), and the autofluorescent dust."""

from __future__ import annotations

import numpy as np

from fluoseg.data.simulate.params import SimulationParams
from fluoseg.data.simulate.shapes import SimObject, smooth_noise


def _bbox(obj: SimObject, p: SimulationParams, shape) -> tuple[slice, ...] | None:
    """Voxel bounding box of an object (with lobes), clipped to the crop."""
    reach = float(obj.axes.max()) * (1.0 + p.golgi_roughness + 0.3) + 1.0
    for off, ax in obj.lobes:
        reach = max(reach, float(np.linalg.norm(off) + ax.max() * 1.5) + 1.0)
    half = np.array([reach / p.z_spacing, reach, reach])
    lo = np.maximum(np.floor(obj.center - half).astype(int), 0)
    hi = np.minimum(np.ceil(obj.center + half).astype(int) + 1, shape)
    if np.any(hi <= lo):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def _radius_field(
    obj: SimObject, box: tuple[slice, ...], p: SimulationParams
) -> np.ndarray:
    """Normalised ellipsoid radius (1 on the surface) of an object over its box."""
    zz, yy, xx = np.meshgrid(
        *(np.arange(s.start, s.stop, dtype=np.float32) for s in box), indexing="ij"
    )
    d = np.stack(
        [
            (zz - obj.center[0]) * p.z_spacing,
            yy - obj.center[1],
            xx - obj.center[2],
        ],
        axis=-1,
    )
    r = np.sqrt((((d @ obj.rot.astype(np.float32)) / obj.axes) ** 2).sum(-1))
    for off, ax in obj.lobes:
        r = np.minimum(
            r,
            np.sqrt(
                (((d - off.astype(np.float32)) / ax.astype(np.float32)) ** 2).sum(-1)
            ),
        )
    return r


def render_objects(
    objs: list[SimObject],
    rng: np.random.Generator,
    p: SimulationParams,
    labels: np.ndarray,
    signal: np.ndarray,
    roughness: float,
    texture: float,
    first_id: int = 1,
) -> None:
    """Rasterise objects into ``labels`` (first come keeps a voxel) and ``signal``."""
    next_id = first_id
    for obj in objs:
        box = _bbox(obj, p, labels.shape)
        if box is None:
            continue
        r = _radius_field(obj, box, p)
        shape = r.shape
        sig = (max(0.6, 1.4 / p.z_spacing), 1.4, 1.4)
        r = r + roughness * smooth_noise(rng, shape, sig)
        inside = r < 1.0
        if inside.sum() < 4:
            continue
        obj.label = next_id
        next_id += 1
        lab = labels[box]
        lab[inside & (lab == 0)] = obj.label
        idx = np.argwhere(inside)
        obj.centroid = idx.mean(0) + np.array([s.start for s in box])
        tex = 1.0 + texture * smooth_noise(rng, shape, (0.7, 1.2, 1.2))
        # soft edge (partial volume) and a slightly dimmer core
        edge = np.clip((1.05 - r) / 0.15, 0.0, 1.0)
        val = obj.brightness * np.clip(tex, 0.2, None) * edge * (0.85 + 0.15 * r)
        np.maximum(signal[box], val.astype(np.float32), out=signal[box])


def add_blobs(
    signal: np.ndarray,
    centers: np.ndarray,
    radii: np.ndarray,
    values: np.ndarray,
    z_spacing: float,
) -> None:
    """Add small Gaussian-profile spheres (dust) to ``signal``."""
    for c, rad, v in zip(centers, radii, values, strict=True):
        reach = 2.5 * rad
        half = np.array([reach / z_spacing, reach, reach])
        lo = np.maximum(np.floor(c - half).astype(int), 0)
        hi = np.minimum(np.ceil(c + half).astype(int) + 1, signal.shape)
        if np.any(hi <= lo):
            continue
        zz, yy, xx = np.meshgrid(
            *(np.arange(a, b, dtype=np.float32) for a, b in zip(lo, hi, strict=True)),
            indexing="ij",
        )
        d2 = ((zz - c[0]) * z_spacing) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
        blob = v * np.exp(-0.5 * d2 / (0.6 * rad) ** 2) * (d2 < reach**2)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        signal[box] += blob.astype(np.float32)
