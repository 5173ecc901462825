"""``fluoseg predict``: segment an image TIFF with a trained run into a mask TIFF.

An OME-TIFF input gives an OME-TIFF mask with the input's axis order, voxel size and
named channels (:mod:`fluoseg.ome`); ``--instances`` also writes the connected objects
as a uint32 label image; a progress bar shows when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from fluoseg.chunked import is_zarr
from fluoseg.errors import InputError
from fluoseg.io import parse_channels, read_image, write_mask
from fluoseg.ome import (
    instance_labels,
    ome_info,
    predict_ome_zarr,
    write_instances,
    write_ome_mask,
)
from fluoseg.run import Run

HELP = "segment a 3D image TIFF with a trained run (sliding window) into a mask TIFF"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        metavar="RUN",
        help="a run folder written by fluoseg train",
    )
    parser.add_argument(
        "--input",
        required=True,
        metavar="IMG.tif",
        help="image TIFF (Z, Y, X, C); default channels R = Golgi, G = nuclei",
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="MASK.tif",
        help="mask TIFF to write (R = Golgi, G = nuclei, B = pair; 0/255); an "
        "OME-TIFF input gives an OME-TIFF mask with its axes, voxel size and channels "
        "named golgi, nuclei(, pair)",
    )
    parser.add_argument(
        "--instances",
        default=None,
        metavar="LABELS.tif",
        help="also write instance labels: a (C, Z, Y, X) uint32 OME-TIFF, one id per "
        "connected object of each class, with the voxel size (napari: Labels)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="OME-Zarr only: compute on this dask.distributed scheduler (e.g. "
        "tcp://host:8786; default: local threads)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: one on a terminal)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output file"
    )
    parser.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: average over flipped copies (slower)",
    )
    parser.add_argument(
        "--channels",
        default=None,
        metavar="nuclei=I,golgi=J",
        help="file channel of each class (default: nuclei=1,golgi=0, i.e. G and R)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="probability above which a voxel is foreground (default: the run's "
        "rule: 0.5, or the foreground share of its training masks for a CycleGAN "
        "trained with threshold_rule=mask_share)",
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="network arithmetic (bfloat16: faster on CPUs with AVX512-BF16/AMX, "
        "slower where emulated; default: float32)",
    )


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    outputs = [out] + ([Path(args.instances)] if args.instances else [])
    for path in outputs:
        if path.exists() and not args.overwrite:
            raise InputError(f"{path} exists: pass --overwrite to replace it")
        if not path.parent.is_dir():
            raise InputError(
                f"{path.parent}: no such folder for the output {path.name}"
            )
    if len(set(outputs)) != len(outputs):
        raise InputError(
            f"--instances {args.instances}: expected another file than --output"
        )
    channels = parse_channels(args.channels)  # fails fast on a malformed mapping
    progress = not args.no_progress and sys.stderr.isatty()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if is_zarr(args.input) or is_zarr(out):
        return _predict_zarr(args, out, channels, progress)
    if args.scheduler:
        raise InputError("--scheduler: expected an OME-Zarr input (*.zarr)")
    run_ = Run.load(args.model)
    volume = read_image(args.input, channels=channels)
    info = ome_info(args.input)
    mask = run_.segment(
        volume.data,
        threshold=args.threshold,
        tta=args.tta,
        precision=args.precision,
        progress=progress,
    )
    if info is not None:
        write_ome_mask(out, mask, info, overwrite=args.overwrite)
    else:
        write_mask(out, mask, voxel_size=volume.voxel_size, overwrite=args.overwrite)
    fg = ", ".join(
        f"{name} {100 * mask[..., c].mean():.2f}%"
        for c, name in enumerate(("nuclei", "golgi", "pair")[: mask.shape[-1]])
    )
    kind = "OME-TIFF " if info is not None else ""
    print(f"wrote {kind}{out} {mask.shape[:3]} (foreground: {fg})")
    if args.instances:
        labels = instance_labels(mask)
        write_instances(
            args.instances,
            labels,
            voxel_size=volume.voxel_size,
            overwrite=args.overwrite,
        )
        counts = ", ".join(
            f"{name} {len(np.unique(labels[..., c])) - 1}"
            for c, name in enumerate(("nuclei", "golgi", "pair")[: mask.shape[-1]])
        )
        print(f"wrote {args.instances} (objects: {counts})")
    return 0


def _predict_zarr(args: argparse.Namespace, out, channels, progress: bool) -> int:
    """OME-Zarr in, OME-Zarr out, chunk by chunk (``fluoseg.ome.predict_ome_zarr``)."""
    if not (is_zarr(args.input) and is_zarr(out)):
        raise InputError(
            f"--input {args.input} --output {out}: expected both OME-Zarr (*.zarr) or "
            "neither"
        )
    if args.instances or args.tta:
        raise InputError(
            "--instances and --tta: not available for OME-Zarr (expected a TIFF input)"
        )
    run_ = Run.load(args.model)
    threshold = args.threshold
    if threshold is None and run_.mask_share is not None:
        raise InputError(
            f"{args.model} thresholds by foreground share, which needs the whole "
            "volume: pass --threshold for an OME-Zarr input (e.g. --threshold 0.5)"
        )
    path, shape = predict_ome_zarr(
        run_,
        args.input,
        out,
        channels=channels,
        threshold=0.5 if threshold is None else threshold,
        precision=args.precision,
        scheduler=args.scheduler,
        overwrite=args.overwrite,
        progress=progress,
    )
    print(f"wrote OME-Zarr {path} {shape} (chunk by chunk)")
    return 0
