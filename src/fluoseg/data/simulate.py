"""Simulate one 3D crop of mouse retina: nuclei (GFP) and Golgi (mCherry).

:func:`simulate_crop` turns a seed and a :class:`SimulationParams` into a
:class:`SimulatedCrop`: a raw two-channel image, the perfect masks, imperfect
"annotator" masks, instance labels and the table of true nucleus–Golgi pairs. The same
``(params, seed)`` always gives bit-identical arrays.

How an image is formed, step by step (each step is one private function below):

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
not touch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fluoseg.data import calibration as cal
from fluoseg.errors import InputError

NUCLEI, GOLGI, PAIR = 0, 1, 2
PAIR_COLUMNS: tuple[str, ...] = (
    "nucleus_id",
    "golgi_id",
    "nucleus_z",
    "nucleus_y",
    "nucleus_x",
    "golgi_z",
    "golgi_y",
    "golgi_x",
    "paired",
    "nucleus_annotated",
    "golgi_annotated",
)
"""Columns of :attr:`SimulatedCrop.pairs`; an unpaired object has id 0 and NaN
centroid on the missing side."""


@dataclass(frozen=True)
class SimulationParams:
    """Every knob of the simulator (lengths in voxels of the xy grid unless noted).

    Attributes:
        shape: crop size (Z, Y, X) in voxels.
        voxel_size: nominal voxel size (z, y, x) in µm written to the TIFFs (an
            assumption: the thesis does not give it); only its z/xy ratio matters.
        pairs_range: nucleus–Golgi pairs per crop, drawn uniformly (thesis: 40–90).
        reference_volume: crops smaller than this many voxels get proportionally
            fewer pairs (default: the thesis's smallest crop, 257×505×55).
        min_pairs: lower bound after that scaling.
        unpaired_nuclei: unpaired nuclei as a fraction of the pairs (range).
        unpaired_golgi: unpaired Golgi as a fraction of the pairs (range).
        n_vessels: number of vessel paths (range) along which cells sit.
        on_vessel: share of cells placed along a vessel (others uniformly).
        vessel_jitter: spread (xy voxels) of cells around their vessel.
        touching: share of nuclei placed touching an earlier nucleus.
        nucleus_axes: median semi-axes (long, mid, short) of a nucleus in physical
            units (xy voxels); the short axis points mostly along z.
        nucleus_axes_cv: relative spread of those semi-axes (log-normal).
        nucleus_tilt_deg: spread of the tilt of a nucleus out of the xy plane.
        nucleus_roughness: amplitude of the surface irregularity of nuclei.
        golgi_axes: median semi-axes of a Golgi's main blob (physical units).
        golgi_axes_cv: relative spread of the Golgi semi-axes.
        golgi_roughness: amplitude of the surface irregularity of Golgi.
        golgi_lobes: number of extra lobes of a Golgi (range).
        polarity_r: per-crop mean resultant length of the Golgi directions (range;
            real crops: 0.05–0.61).
        z_spacing: z voxel size / xy voxel size (z resolution is worse).
        nucleus_brightness: median fluorophore density of a nucleus.
        golgi_brightness: median fluorophore density of a Golgi.
        brightness_cv: log-normal spread of object brightness.
        low_contrast_fraction: share of nuclei and Golgi that are dim.
        low_contrast_factor: brightness multiplier of dim objects (range).
        nucleus_texture: amplitude of the intensity heterogeneity inside nuclei.
        golgi_texture: amplitude of the texture inside Golgi.
        dust_per_golgi: autofluorescent dust particles per Golgi.
        dust_radius: radius range of dust (physical units).
        dust_brightness: dust brightness relative to the Golgi median (range).
        dust_green: share of a dust particle's signal also seen in the green channel.
        background: mean background level (nuclei channel, golgi channel).
        background_variation: relative amplitude of the smooth uneven background.
        vessel_glow: red autofluorescence of vessel walls (fraction of Golgi median).
        haze_blobs: out-of-focus nuclei (green haze) per 10^6 voxels.
        bleed: (green into red, red into green) bleed-through fractions.
        depth_attenuation: signal left at the bottom slice relative to the top.
        psf_sigma: Gaussian PSF sigma (z, y, x) in voxels.
        photons: photons detected per unit of fluorophore signal; sets the shot
            noise, which the detector gain (``gain_range``) then amplifies with the
            signal.
        read_noise: Gaussian read noise (fraction of full scale).
        gain_range: per-crop detector gain (range, drawn log-uniformly), applied
            after the shot noise. Crops of one dataset are taken with different
            detector settings, so their raw brightness differs several-fold: only a
            per-crop stretch makes them comparable (the thesis's pre-processing
            lesson).
        channel_gain_spread: per-channel factor ``exp(U(-s, s))`` on the crop's gain
            (the two detectors are set independently: channel imbalance).
        offset_range: per-channel camera offset added to the signal (range, fraction
            of full scale).
        bits: quantisation of the raw image (8 like the thesis's RGB crops).
        annotator_downsample: xy factor of the annotator's coarse grid.
        annotator_miss: chance that the annotator misses a (nucleus, Golgi).
        annotator_miss_dim: the same for dim objects.
        annotator_generous: chance that an object is drawn one voxel wider (y, x).
    """

    shape: tuple[int, int, int] = (56, 512, 384)
    voxel_size: tuple[float, float, float] = (1.0, 0.5, 0.5)
    pairs_range: tuple[int, int] = (40, 90)
    reference_volume: int = 500 * 600 * 58
    min_pairs: int = 3
    unpaired_nuclei: tuple[float, float] = (0.08, 0.18)
    unpaired_golgi: tuple[float, float] = (0.05, 0.12)
    n_vessels: tuple[int, int] = (3, 5)
    on_vessel: float = 0.5
    vessel_jitter: float = 25.0
    touching: float = 0.06
    nucleus_axes: tuple[float, float, float] = (9.8, 6.8, 4.8)
    nucleus_axes_cv: float = 0.15
    nucleus_tilt_deg: float = 12.0
    nucleus_roughness: float = 0.10
    golgi_axes: tuple[float, float, float] = (5.0, 3.8, 2.8)
    golgi_axes_cv: float = 0.15
    golgi_roughness: float = 0.18
    golgi_lobes: tuple[int, int] = (0, 2)
    polarity_r: tuple[float, float] = (0.05, 0.6)
    z_spacing: float = 2.0
    nucleus_brightness: float = 0.55
    golgi_brightness: float = 0.7
    brightness_cv: float = 0.3
    low_contrast_fraction: float = 0.15
    low_contrast_factor: tuple[float, float] = (0.22, 0.4)
    nucleus_texture: float = 0.3
    golgi_texture: float = 0.25
    dust_per_golgi: float = 0.6
    dust_radius: tuple[float, float] = (1.2, 3.0)
    dust_brightness: tuple[float, float] = (0.8, 2.5)
    dust_green: float = 0.25
    background: tuple[float, float] = (0.12, 0.1)
    background_variation: float = 0.3
    vessel_glow: float = 0.12
    haze_blobs: float = 1.5
    bleed: tuple[float, float] = (0.05, 0.03)
    depth_attenuation: float = 0.6
    psf_sigma: tuple[float, float, float] = (1.4, 0.8, 0.8)
    photons: float = 150.0
    read_noise: float = 0.006
    gain_range: tuple[float, float] = (0.1, 0.5)
    channel_gain_spread: float = 0.4
    offset_range: tuple[float, float] = (0.0, 0.03)
    bits: int = 8
    annotator_downsample: int = 2
    annotator_miss: tuple[float, float] = (0.03, 0.05)
    annotator_miss_dim: float = 0.3
    annotator_generous: float = 0.25

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 8:
            raise InputError(
                f"shape={self.shape!r}: expected (Z, Y, X) with every size >= 8"
            )
        if self.pairs_range[0] > self.pairs_range[1] or self.pairs_range[0] < 0:
            raise InputError(
                f"pairs_range={self.pairs_range!r}: expected (low, high), 0 <= low "
                "<= high"
            )
        if not 0 < self.gain_range[0] <= self.gain_range[1]:
            raise InputError(
                f"gain_range={self.gain_range!r}: expected (low, high), 0 < low <= high"
            )
        if self.bits not in (8, 16):
            raise InputError(f"bits={self.bits!r}: expected 8 or 16")
        if self.annotator_downsample < 1:
            raise InputError(
                f"annotator_downsample={self.annotator_downsample}: expected >= 1"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimulationParams:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass
class SimulatedCrop:
    """One simulated crop.

    Attributes:
        image: (Z, Y, X, 2) float32 raw intensities in [0, 1], ``[nuclei, golgi]``.
        truth: (Z, Y, X, 3) uint8 {0, 1} perfect masks ``[nuclei, golgi, pair]``.
        annotator: (Z, Y, X, 3) uint8 {0, 1} imperfect, manual-like masks.
        instances: (Z, Y, X, 2) uint16 instance ids (nuclei, Golgi); 0 = background.
        pairs: one row per nucleus and per unpaired Golgi (:data:`PAIR_COLUMNS`).
        params: the parameters used.
        seed: the seed used.
        info: per-crop draws (gain, polarity direction, counts).
    """

    image: np.ndarray
    truth: np.ndarray
    annotator: np.ndarray
    instances: np.ndarray
    pairs: Any
    params: SimulationParams
    seed: int
    info: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------- helpers


@dataclass
class _Object:
    center: np.ndarray  # (z, y, x) in voxels
    rot: np.ndarray  # 3x3, columns = object axes in physical (z, y, x)
    axes: np.ndarray  # semi-axes in physical units
    brightness: float
    dim: bool
    lobes: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    label: int = 0
    centroid: np.ndarray | None = None
    annotated: bool = True


def _lognormal(rng: np.random.Generator, median: float, cv: float, size=None):
    return median * np.exp(cv * rng.standard_normal(size))


def _rot_z(theta: float) -> np.ndarray:
    """Rotation in the xy plane, in (z, y, x) coordinates."""
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[1, 0, 0], [0, c, s], [0, -s, c]], dtype=np.float64)


def _rot_tilt(phi: float) -> np.ndarray:
    """Tilt of the x axis towards z, in (z, y, x) coordinates."""
    c, s = math.cos(phi), math.sin(phi)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3D rotation (from a normalised Gaussian quaternion)."""
    from scipy.spatial.transform import Rotation

    q = rng.standard_normal(4)
    return Rotation.from_quat(q / np.linalg.norm(q)).as_matrix()


def _nucleus_rotation(theta: float, tilt: float) -> np.ndarray:
    """Columns: long axis (in xy at angle theta, tilted), mid axis, short (~z)."""
    # Object frame (long, mid, short) = physical (x, y, z) before rotation.
    base = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float64)
    return _rot_z(theta) @ _rot_tilt(tilt) @ base


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...]
) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit standard deviation."""
    from scipy import ndimage

    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    sd = float(n.std())
    return n / sd if sd > 0 else n


def _interp_quantiles(rng: np.random.Generator, q: tuple[float, ...], n: int):
    """Draw ``n`` values from the distribution with equally spaced quantiles ``q``."""
    u = rng.random(n) * (len(q) - 1)
    return np.interp(u, np.arange(len(q)), np.asarray(q, dtype=np.float64))


def _kappa_for_r(r: float) -> float:
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


def _bbox(obj: _Object, p: SimulationParams, shape) -> tuple[slice, ...] | None:
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
    obj: _Object, box: tuple[slice, ...], p: SimulationParams
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


# ------------------------------------------------------------------------- layout


def _vessels(rng: np.random.Generator, p: SimulationParams) -> list[np.ndarray]:
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


def _count(rng: np.random.Generator, p: SimulationParams) -> tuple[int, int, int]:
    """Numbers of pairs, unpaired nuclei and unpaired Golgi."""
    vol = float(np.prod(p.shape))
    scale = min(1.0, vol / float(p.reference_volume))
    n_pairs = int(round(rng.integers(p.pairs_range[0], p.pairs_range[1] + 1) * scale))
    n_pairs = max(p.min_pairs, n_pairs)
    n_un = int(round(n_pairs * rng.uniform(*p.unpaired_nuclei)))
    n_ug = int(round(n_pairs * rng.uniform(*p.unpaired_golgi)))
    return n_pairs, n_un, n_ug


def _place_nuclei(
    rng: np.random.Generator, p: SimulationParams, n: int, paths: list[np.ndarray]
) -> list[_Object]:
    """Nuclei along vessels (some touching a neighbour), without heavy overlap."""
    z, y, x = p.shape
    nuclei: list[_Object] = []
    for _ in range(n):
        for _attempt in range(60):
            axes = _lognormal(rng, 1.0, p.nucleus_axes_cv, 3) * np.array(p.nucleus_axes)
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
                _Object(
                    center=c,
                    rot=_nucleus_rotation(theta, tilt),
                    axes=axes,
                    brightness=0.0,
                    dim=False,
                )
            )
            break
    return nuclei


def _golgi_object(rng: np.random.Generator, p: SimulationParams, c) -> _Object:
    axes = np.sort(_lognormal(rng, 1.0, p.golgi_axes_cv, 3) * np.array(p.golgi_axes))
    axes = axes[::-1]
    lobes = []
    for _ in range(int(rng.integers(p.golgi_lobes[0], p.golgi_lobes[1] + 1))):
        v = rng.standard_normal(3)
        v /= np.linalg.norm(v)
        lobes.append((v * axes[0] * 0.75, axes * rng.uniform(0.45, 0.65)))
    return _Object(
        center=np.asarray(c, dtype=np.float64),
        rot=_random_rotation(rng),
        axes=axes,
        brightness=0.0,
        dim=False,
        lobes=lobes,
    )


# ------------------------------------------------------------------------- rendering


def _render(
    objs: list[_Object],
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
        r = r + roughness * _smooth_noise(rng, shape, sig)
        inside = r < 1.0
        if inside.sum() < 4:
            continue
        obj.label = next_id
        next_id += 1
        lab = labels[box]
        lab[inside & (lab == 0)] = obj.label
        idx = np.argwhere(inside)
        obj.centroid = idx.mean(0) + np.array([s.start for s in box])
        tex = 1.0 + texture * _smooth_noise(rng, shape, (0.7, 1.2, 1.2))
        # soft edge (partial volume) and a slightly dimmer core
        edge = np.clip((1.05 - r) / 0.15, 0.0, 1.0)
        val = obj.brightness * np.clip(tex, 0.2, None) * edge * (0.85 + 0.15 * r)
        np.maximum(signal[box], val.astype(np.float32), out=signal[box])


def _add_blobs(
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


def _background(
    rng: np.random.Generator, p: SimulationParams, paths: list[np.ndarray]
) -> np.ndarray:
    """Smooth uneven background, vessel glow (red) and out-of-focus haze (green).

    Drawn on a grid 4 times coarser and upsampled; returns (2, Z, Y, X) float32.
    """
    from scipy import ndimage

    f = 4
    low = tuple(max(2, math.ceil(s / f)) for s in p.shape)
    field_ = np.empty((2,) + low, dtype=np.float32)
    for ch in range(2):
        smooth = _smooth_noise(rng, low, (1.5, 6.0, 6.0))
        field_[ch] = p.background[ch] * np.clip(
            1.0 + p.background_variation * smooth, 0.2, None
        )
    # vessel walls glow faintly in the red channel
    glow = np.zeros(low, dtype=np.float32)
    for path in paths:
        idx = np.clip((path / f).astype(int), 0, np.array(low) - 1)
        glow[idx[:, 0], idx[:, 1], idx[:, 2]] = 1.0
    glow = ndimage.gaussian_filter(glow, (0.6, 0.8, 0.8))
    if glow.max() > 0:
        glow /= glow.max()
    field_[1] += p.vessel_glow * p.golgi_brightness * glow
    # out-of-focus cells: blurred dim blobs in the green channel
    n_haze = int(round(p.haze_blobs * np.prod(p.shape) / 1e6))
    haze = np.zeros(low, dtype=np.float32)
    for _ in range(n_haze):
        c = tuple(int(rng.integers(s)) for s in low)
        haze[c] += rng.uniform(0.5, 1.0)
    haze = ndimage.gaussian_filter(haze, (1.0, 2.0, 2.0)) * 40.0
    field_[0] += 0.15 * p.nucleus_brightness * np.clip(haze, 0, 1.5)
    return _upsample(field_, p.shape)


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) linear interpolation weights, pixel centres aligned."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (pos - lo).astype(np.float32)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m


def _upsample(low: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Separable linear upsampling of (C, z, y, x) to (C, *shape) float32."""
    mz, my, mx = (
        _interp_matrix(n, m) for n, m in zip(shape, low.shape[1:], strict=True)
    )
    out = np.matmul(low.astype(np.float32), mx.T)  # (C, z, y, X)
    out = np.matmul(my, out)  # (C, z, Y, X)
    c, z, y, x = out.shape
    out = np.matmul(mz, out.reshape(c, z, y * x))  # (C, Z, Y*X)
    return out.reshape(c, shape[0], y, x)


# ------------------------------------------------------------------------- annotator


def _coarse(labels: np.ndarray, f: int) -> np.ndarray:
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


def _annotate(
    labels: np.ndarray,
    objs: list[_Object],
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
    coarse = _coarse(kept, f)
    if f > 1:
        coarse = np.repeat(np.repeat(coarse, f, axis=1), f, axis=2)
    return coarse[:, : labels.shape[1], : labels.shape[2]]


def _pair_mask(
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


# ------------------------------------------------------------------------- main


def simulate_crop(
    params: SimulationParams | None = None, seed: int = 0
) -> SimulatedCrop:
    """Simulate one crop from ``params`` and ``seed`` (bit-identical for equal inputs).

    Raises:
        InputError: ``params`` is not a :class:`SimulationParams` or seed is negative.
    """
    import pandas as pd
    from scipy import ndimage

    p = SimulationParams() if params is None else params
    if not isinstance(p, SimulationParams):
        raise InputError(f"params={params!r}: expected a SimulationParams")
    if int(seed) < 0:
        raise InputError(f"seed={seed}: expected a non-negative integer")
    rng = np.random.default_rng([int(seed), 20_24])
    shape = tuple(int(s) for s in p.shape)

    # 1. layout
    paths = _vessels(rng, p)
    n_pairs, n_un, n_ug = _count(rng, p)
    nuclei = _place_nuclei(rng, p, n_pairs + n_un, paths)
    target_r = rng.uniform(*p.polarity_r)
    kappa = _kappa_for_r(target_r)
    mu = rng.uniform(-math.pi, math.pi)
    n_paired = min(n_pairs, len(nuclei))
    dxy = _interp_quantiles(rng, cal.REAL_PAIR_DXY_QUANTILES, n_paired)
    dz = _interp_quantiles(rng, cal.REAL_PAIR_DZ_QUANTILES, n_paired)
    phi = (
        rng.vonmises(mu, kappa, n_paired)
        if kappa > 0
        else rng.uniform(-math.pi, math.pi, n_paired)
    )
    golgi: list[_Object] = []
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
        golgi.append(_golgi_object(rng, p, c))
        partner.append(i)
    for _ in range(n_ug):
        c = np.array(
            [
                rng.uniform(0.15, 0.75) * shape[0],
                rng.random() * shape[1],
                rng.random() * shape[2],
            ]
        )
        golgi.append(_golgi_object(rng, p, c))
        partner.append(-1)

    # 2-3. objects and their fluorophore
    for objs, median in ((nuclei, p.nucleus_brightness), (golgi, p.golgi_brightness)):
        for o in objs:
            o.brightness = float(_lognormal(rng, median, p.brightness_cv))
            o.dim = bool(rng.random() < p.low_contrast_fraction)
            if o.dim:
                o.brightness *= float(rng.uniform(*p.low_contrast_factor))
    nuc_lab = np.zeros(shape, dtype=np.uint16)
    gol_lab = np.zeros(shape, dtype=np.uint16)
    sig_n = np.zeros(shape, dtype=np.float32)
    sig_g = np.zeros(shape, dtype=np.float32)
    _render(nuclei, rng, p, nuc_lab, sig_n, p.nucleus_roughness, p.nucleus_texture)
    _render(golgi, rng, p, gol_lab, sig_g, p.golgi_roughness, p.golgi_texture)

    # dust: Golgi-like bright specks in red, a weaker trace in green
    n_dust = int(round(p.dust_per_golgi * max(len(golgi), 1)))
    dust_c = (
        np.stack(
            [
                rng.random(n_dust) * shape[0],
                rng.random(n_dust) * shape[1],
                rng.random(n_dust) * shape[2],
            ],
            axis=1,
        )
        if n_dust
        else np.zeros((0, 3))
    )
    dust_r = rng.uniform(*p.dust_radius, n_dust)
    dust_v = p.golgi_brightness * rng.uniform(*p.dust_brightness, n_dust)
    _add_blobs(sig_g, dust_c, dust_r, dust_v, p.z_spacing)
    _add_blobs(sig_n, dust_c, dust_r, dust_v * p.dust_green, p.z_spacing)

    # 4. background, bleed-through;  5. depth attenuation, PSF;  6. camera
    bg = _background(rng, p, paths)
    gain = float(np.exp(rng.uniform(*np.log(p.gain_range))))
    ch_gain = gain * np.exp(rng.uniform(-1.0, 1.0, 2) * p.channel_gain_spread)
    offset = rng.uniform(*p.offset_range, 2)
    depth = p.depth_attenuation ** (
        np.arange(shape[0], dtype=np.float32) / max(1, shape[0] - 1)
    )
    levels = np.float32(2**p.bits - 1)
    image = np.empty(shape + (2,), dtype=np.float32)
    for ch, (own, other) in enumerate(((sig_n, sig_g), (sig_g, sig_n))):
        sig = own + bg[ch]
        sig += np.float32(p.bleed[1 - ch]) * other
        sig *= depth[:, None, None]
        sig = ndimage.gaussian_filter(sig, p.psf_sigma)
        np.clip(sig, 0.0, None, out=sig)
        sig *= np.float32(p.photons)
        counts = rng.poisson(sig).astype(np.float32)
        # the detector gain amplifies signal and shot noise alike (no SNR change)
        counts *= np.float32(ch_gain[ch] / p.photons)
        counts += np.float32(offset[ch])
        counts += np.float32(p.read_noise) * rng.standard_normal(
            shape, dtype=np.float32
        )
        np.clip(np.round(counts * levels), 0, levels, out=counts)
        image[..., ch] = counts / levels
    del bg, sig, counts, sig_n, sig_g

    # ground truth
    instances = np.stack([nuc_lab, gol_lab], axis=-1)
    pair_ids = [
        (nuclei[partner[g]].label, golgi[g].label)
        for g in range(len(golgi))
        if partner[g] >= 0
    ]
    truth = np.zeros(shape + (3,), dtype=np.uint8)
    truth[..., NUCLEI] = nuc_lab > 0
    truth[..., GOLGI] = gol_lab > 0
    truth[..., PAIR] = _pair_mask(nuc_lab, gol_lab, pair_ids)
    miss_n, miss_g = p.annotator_miss
    ann_n = _annotate(nuc_lab, nuclei, rng, p, miss_n)
    ann_g = _annotate(gol_lab, golgi, rng, p, miss_g)
    annotator = np.zeros(shape + (3,), dtype=np.uint8)
    annotator[..., NUCLEI] = ann_n > 0
    annotator[..., GOLGI] = ann_g > 0
    annotator[..., PAIR] = _pair_mask(ann_n, ann_g, pair_ids)

    # pairs table
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
    info = {
        "gain": gain,
        "channel_gain": [float(v) for v in ch_gain],
        "offset": [float(v) for v in offset],
        "polarity_direction_rad": float(mu),
        "polarity_r_target": float(target_r),
        "n_pairs": int(pairs["paired"].sum()),
        "n_nuclei": int(sum(1 for n in nuclei if n.label)),
        "n_golgi": int(sum(1 for g in golgi if g.label)),
        "n_dust": n_dust,
        "n_vessels": len(paths),
    }
    return SimulatedCrop(
        image=image,
        truth=truth,
        annotator=annotator,
        instances=instances,
        pairs=pairs,
        params=p,
        seed=int(seed),
        info=info,
    )


FORMATION_STAGES: tuple[str, ...] = (
    "objects",
    "+ dust and background",
    "+ optics",
    "+ camera",
)
"""The image-formation stages shown by :func:`formation_stages`."""


def formation_stages(
    params: SimulationParams | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """The image of one crop after each formation stage, for figures.

    Each stage re-runs :func:`simulate_crop` with the later steps switched off (same
    seed, so the same objects): ``objects`` (fluorophore only), ``+ dust and
    background``, ``+ optics`` (bleed-through, depth attenuation, PSF blur) and
    ``+ camera`` (gain, shot and read noise, 8 bits: the final raw image). The first
    three use a noise-free 16-bit camera at the (geometric) middle of the gain range.
    """
    from dataclasses import replace

    p = SimulationParams() if params is None else params
    g = float(np.sqrt(p.gain_range[0] * p.gain_range[1]))
    clean = {
        "photons": 1e7,
        "read_noise": 0.0,
        "gain_range": (g, g),
        "channel_gain_spread": 0.0,
        "offset_range": (0.0, 0.0),
        "bits": 16,
    }
    no_optics = {"bleed": (0.0, 0.0), "depth_attenuation": 1.0, "psf_sigma": (0, 0, 0)}
    no_scene = {
        "dust_per_golgi": 0.0,
        "background": (0.0, 0.0),
        "vessel_glow": 0.0,
        "haze_blobs": 0.0,
    }
    overrides = [
        {**clean, **no_optics, **no_scene},
        {**clean, **no_optics},
        clean,
        {},
    ]
    return {
        name: simulate_crop(replace(p, **o), seed).image
        for name, o in zip(FORMATION_STAGES, overrides, strict=True)
    }
