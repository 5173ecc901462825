"""``fluoseg predict``: segment an image TIFF with a trained run into a mask TIFF."""

from __future__ import annotations

import argparse

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
        help="mask TIFF to write (R = Golgi, G = nuclei, B = pair; 0/255)",
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
        default=0.5,
        help="probability above which a voxel is foreground (default: 0.5)",
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="network arithmetic (bfloat16: faster on CPUs with AVX512-BF16/AMX, "
        "slower where emulated; default: float32)",
    )


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from fluoseg.errors import InputError
    from fluoseg.io import parse_channels, read_image, write_mask

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise InputError(f"{out} exists: pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder for the output mask")
    channels = parse_channels(args.channels)  # fails fast on a malformed mapping
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fluoseg.train import Run

    run_ = Run.load(args.model)
    volume = read_image(args.input, channels=channels)
    mask = run_.segment(
        volume.data,
        threshold=args.threshold,
        tta=args.tta,
        precision=args.precision,
    )
    write_mask(out, mask, voxel_size=volume.voxel_size, overwrite=args.overwrite)
    fg = ", ".join(
        f"{name} {100 * mask[..., c].mean():.2f}%"
        for c, name in enumerate(("nuclei", "golgi", "pair")[: mask.shape[-1]])
    )
    print(f"wrote {out} {mask.shape[:3]} (foreground: {fg})")
    return 0
