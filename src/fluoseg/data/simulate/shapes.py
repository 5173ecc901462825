"""Geometry shared by the simulator's steps: the object record, rotations, log-normal
draws and smooth random fields."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SimObject:
    center: np.ndarray  # (z, y, x) in voxels
    rot: np.ndarray  # 3x3, columns = object axes in physical (z, y, x)
    axes: np.ndarray  # semi-axes in physical units
    brightness: float
    dim: bool
    lobes: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    label: int = 0
    centroid: np.ndarray | None = None
    annotated: bool = True


def lognormal(rng: np.random.Generator, median: float, cv: float, size=None):
    return median * np.exp(cv * rng.standard_normal(size))


def _rot_z(theta: float) -> np.ndarray:
    """Rotation in the xy plane, in (z, y, x) coordinates."""
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[1, 0, 0], [0, c, s], [0, -s, c]], dtype=np.float64)


def _rot_tilt(phi: float) -> np.ndarray:
    """Tilt of the x axis towards z, in (z, y, x) coordinates."""
    c, s = math.cos(phi), math.sin(phi)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3D rotation (from a normalised Gaussian quaternion)."""
    from scipy.spatial.transform import Rotation

    q = rng.standard_normal(4)
    return Rotation.from_quat(q / np.linalg.norm(q)).as_matrix()


def nucleus_rotation(theta: float, tilt: float) -> np.ndarray:
    """Columns: long axis (in xy at angle theta, tilted), mid axis, short (~z)."""
    # Object frame (long, mid, short) = physical (x, y, z) before rotation.
    base = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float64)
    return _rot_z(theta) @ _rot_tilt(tilt) @ base


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...]
) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    from scipy import ndimage

    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    sd = float(n.std())
    return n / sd if sd > 0 else n
