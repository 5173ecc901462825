"""``fluoseg data``: generate the synthetic dataset of a profile (idempotent)."""

from __future__ import annotations

import argparse

from fluoseg.config import get_profile
from fluoseg.data.dataset import generate_dataset
from fluoseg.errors import InputError

HELP = "generate the synthetic dataset (smoke: seconds; standard: about 2 minutes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``fluoseg data``."""
    parser.add_argument(
        "--profile",
        default=None,
        help="smoke (tiny dataset) or cpu/paper (standard); default $FLUOSEG_PROFILE",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="target folder (default: the profile's dataset folder under data/)",
    )
    parser.add_argument(
        "--force", action="store_true", help="regenerate every file, even valid ones"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes to use (default: up to 2)",
    )


def run(args: argparse.Namespace) -> int:
    """Generate (or complete) the profile's dataset; 0 on success."""
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers {args.workers}: expected a positive integer")
    profile = get_profile(args.profile)
    report = generate_dataset(
        args.out, profile, force=args.force, workers=args.workers, progress=True
    )
    print(
        f"dataset {profile.dataset!r} in {report.folder}: "
        f"{len(report.generated)} item(s) generated, {len(report.kept)} kept "
        f"(checksums match), {report.seconds:.1f} s"
    )
    return 0
