"""The simulator's entry points: :func:`simulate_crop` runs the steps in order;
:func:`formation_stages` shows the image after each step."""

from __future__ import annotations

import numpy as np

from fluoseg.data.simulate.annotate import annotate, pair_mask, pairs_table
from fluoseg.data.simulate.layout import (
    count_objects,
    place_golgi,
    place_nuclei,
    vessels,
)
from fluoseg.data.simulate.optics import background, camera
from fluoseg.data.simulate.params import (
    GOLGI,
    NUCLEI,
    PAIR,
    SimulatedCrop,
    SimulationParams,
)
from fluoseg.data.simulate.render import add_blobs, render_objects
from fluoseg.data.simulate.shapes import lognormal
from fluoseg.errors import InputError


def simulate_crop(
    params: SimulationParams | None = None, seed: int = 0
) -> SimulatedCrop:
    """Simulate one crop from ``params`` and ``seed`` (bit-identical for equal inputs).

    Raises:
        InputError: ``params`` is not a :class:`SimulationParams` or seed is negative.
    """
    p = SimulationParams() if params is None else params
    if not isinstance(p, SimulationParams):
        raise InputError(f"params={params!r}: expected a SimulationParams")
    if int(seed) < 0:
        raise InputError(f"seed={seed}: expected a non-negative integer")
    rng = np.random.default_rng([int(seed), 20_24])
    shape = tuple(int(s) for s in p.shape)

    # 1. layout
    paths = vessels(rng, p)
    n_pairs, n_un, n_ug = count_objects(rng, p)
    nuclei = place_nuclei(rng, p, n_pairs + n_un, paths)
    golgi, partner, mu, target_r = place_golgi(rng, p, nuclei, n_pairs, n_ug)

    # 2-3. objects and their fluorophore
    for objs, median in ((nuclei, p.nucleus_brightness), (golgi, p.golgi_brightness)):
        for o in objs:
            o.brightness = float(lognormal(rng, median, p.brightness_cv))
            o.dim = bool(rng.random() < p.low_contrast_fraction)
            if o.dim:
                o.brightness *= float(rng.uniform(*p.low_contrast_factor))
    nuc_lab = np.zeros(shape, dtype=np.uint16)
    gol_lab = np.zeros(shape, dtype=np.uint16)
    sig_n = np.zeros(shape, dtype=np.float32)
    sig_g = np.zeros(shape, dtype=np.float32)
    render_objects(
        nuclei, rng, p, nuc_lab, sig_n, p.nucleus_roughness, p.nucleus_texture
    )
    render_objects(golgi, rng, p, gol_lab, sig_g, p.golgi_roughness, p.golgi_texture)

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
    add_blobs(sig_g, dust_c, dust_r, dust_v, p.z_spacing)
    add_blobs(sig_n, dust_c, dust_r, dust_v * p.dust_green, p.z_spacing)

    # 4. background, bleed-through;  5. depth attenuation, PSF;  6. camera
    bg = background(rng, p, paths)
    image, gain, ch_gain, offset = camera(rng, p, sig_n, sig_g, bg)
    del bg, sig_n, sig_g

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
    truth[..., PAIR] = pair_mask(nuc_lab, gol_lab, pair_ids)
    miss_n, miss_g = p.annotator_miss
    ann_n = annotate(nuc_lab, nuclei, rng, p, miss_n)
    ann_g = annotate(gol_lab, golgi, rng, p, miss_g)
    annotator = np.zeros(shape + (3,), dtype=np.uint8)
    annotator[..., NUCLEI] = ann_n > 0
    annotator[..., GOLGI] = ann_g > 0
    annotator[..., PAIR] = pair_mask(ann_n, ann_g, pair_ids)

    pairs = pairs_table(nuclei, golgi, partner)
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
