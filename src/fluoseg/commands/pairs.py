"""``fluoseg pairs``: nucleus–Golgi pairs and polarity vectors from a mask TIFF.

Reads a mask (R = Golgi, G = nuclei, B = pair), finds instances, pairs each Golgi with a
nucleus (``fluoseg.evaluation.pairing.find_pairs``) and writes one CSV row per pair
with the columns of ``fluoseg.evaluation.pairing.PAIR_COLUMNS``:

``nucleus_id, golgi_id`` (instance labels), ``nucleus_z, nucleus_y, nucleus_x,
golgi_z, golgi_y, golgi_x`` (centroids, voxel coordinates), ``dz, dy, dx, length``
(nucleus→Golgi vector and its length, in ``unit``), ``uz, uy, ux`` (unit vector),
``angle_xy_deg`` (direction in the xy-plane, atan2(dy, dx), degrees), ``unit`` (``um``
when the voxel size is known, else ``voxel``).

The voxel size comes from ``--voxel-size`` or else the TIFF's metadata; the pair count
is printed. The CSV is written atomically and never replaces a file without
``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fluoseg.errors import InputError
from fluoseg.evaluation.pairing import find_pairs
from fluoseg.io import atomic_write, read_image, read_mask

HELP = "pair nuclei with Golgi in a mask TIFF and write nucleus→Golgi vectors (CSV)"


EPILOG = (
    "CSV columns, one row per pair: nucleus_id, golgi_id (instance labels); "
    "nucleus_z/y/x, golgi_z/y/x (centroids in voxel coordinates); dz, dy, dx, length "
    "(nucleus->Golgi vector and its length, in the unit column); uz, uy, ux (unit "
    "vector); angle_xy_deg (direction in the xy-plane, atan2(dy, dx), degrees in "
    "(-180, 180]); unit (um with a voxel size, else voxel)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("mask", type=Path, help="mask TIFF (R = Golgi, G = nuclei)")
    parser.add_argument(
        "--out", type=Path, required=True, help="CSV file to write (one row per pair)"
    )
    parser.add_argument(
        "--voxel-size",
        metavar="Z,Y,X",
        default=None,
        help="voxel size in µm (default: from the TIFF metadata, else voxels)",
    )
    parser.add_argument(
        "--max-distance",
        type=float,
        default=None,
        metavar="D",
        help="largest nucleus–Golgi centroid distance of a pair, µm (voxels without a "
        "voxel size); default: the 99th percentile of real pairs",
    )
    parser.add_argument(
        "--method",
        choices=("geometry", "pair_channel"),
        default="geometry",
        help="geometry: optimal matching on distance; pair_channel: only objects "
        "sharing a component of the pair channel (B) may pair (needs a 3-class mask)",
    )
    parser.add_argument(
        "--min-size",
        type=int,
        default=None,
        metavar="N",
        help="ignore objects smaller than N voxels (default 20: segmentation specks)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace --out if it exists"
    )


def parse_voxel_size(text: str | None) -> tuple[float, float, float] | None:
    """Parse ``"Z,Y,X"`` µm into three positive floats (``None`` stays ``None``)."""
    if text is None:
        return None
    form = "expected three positive numbers Z,Y,X in µm, e.g. 1.0,0.3,0.3"
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise InputError(f"--voxel-size {text!r}: {form}") from None
    if len(values) != 3 or not all(v > 0 and v < float("inf") for v in values):
        raise InputError(f"--voxel-size {text!r}: {form}")
    return values  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InputError(f"{out}: already exists (pass --overwrite to replace it)")
    if args.min_size is not None and args.min_size < 0:
        raise InputError(f"--min-size {args.min_size}: expected a number >= 0")
    voxel_size = parse_voxel_size(args.voxel_size)
    n_classes = 3 if args.method == "pair_channel" else None
    mask = read_mask(args.mask, n_classes=n_classes)
    if voxel_size is None:
        voxel_size = read_image(args.mask).voxel_size
    size = {} if args.min_size is None else {"min_size": args.min_size}
    pairs = find_pairs(
        mask,
        method=args.method,
        voxel_size=voxel_size,
        max_distance=args.max_distance,
        **size,
    )
    atomic_write(
        out, lambda tmp: pairs.to_csv(tmp, index=False), overwrite=args.overwrite
    )
    unit = "µm" if voxel_size is not None else "voxels"
    print(f"{len(pairs)} nucleus-Golgi pairs ({unit}) -> {out}")
    return 0
