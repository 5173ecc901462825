"""Steps 4-6 of the simulator: background, optics (bleed-through, depth attenuation,
PSF) and camera (shot noise, gain, offset, read noise, quantisation)."""

from __future__ import annotations

import math

import numpy as np

from fluoseg.data.simulate.params import SimulationParams
from fluoseg.data.simulate.shapes import smooth_noise


def background(
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
        smooth = smooth_noise(rng, low, (1.5, 6.0, 6.0))
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
    return upsample(field_, p.shape)


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


def upsample(low: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Separable linear upsampling of (C, z, y, x) to (C, *shape) float32."""
    mz, my, mx = (
        _interp_matrix(n, m) for n, m in zip(shape, low.shape[1:], strict=True)
    )
    out = np.matmul(low.astype(np.float32), mx.T)  # (C, z, y, X)
    out = np.matmul(my, out)  # (C, z, Y, X)
    c, z, y, x = out.shape
    out = np.matmul(mz, out.reshape(c, z, y * x))  # (C, Z, Y*X)
    return out.reshape(c, shape[0], y, x)


def camera(
    rng: np.random.Generator,
    p: SimulationParams,
    sig_n: np.ndarray,
    sig_g: np.ndarray,
    bg: np.ndarray,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Optics and camera on the nuclei and Golgi signals plus background ``bg``.

    Returns the (Z, Y, X, 2) float32 raw image in [0, 1], the crop's gain, the
    per-channel gains and the per-channel offsets.
    """
    from scipy import ndimage

    shape = tuple(int(s) for s in p.shape)
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

    return image, gain, ch_gain, offset
