"""The simulator's inputs and output: :class:`SimulationParams` (every knob) and
:class:`SimulatedCrop` (one crop with its ground truth)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

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
