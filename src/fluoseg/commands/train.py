"""``fluoseg train``: train (or resume, or load) a model into a run folder."""

from __future__ import annotations

import argparse

from fluoseg.models.registry import names

HELP = "train a 3D U-Net, Vox2Vox or CycleGAN; resumes an interrupted run"


def _classes(text: str) -> int:
    if text not in ("2", "3"):
        raise argparse.ArgumentTypeError(
            f"invalid choice {text!r}: expected 2 (nuclei, Golgi) or 3 (+ pair)"
        )
    return int(text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer, got {text!r}"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=names(),
        default="unet",
        help="the network to train (default: unet)",
    )
    parser.add_argument(
        "--classes",
        type=_classes,
        default=2,
        metavar="{2,3}",
        help="2: nuclei and Golgi; 3: + nucleus-Golgi pairs (default: 2)",
    )
    parser.add_argument(
        "--unsupervised",
        action="store_true",
        help="CycleGAN only: learn from unpaired synthetic masks",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="train on raw images (no percentile stretch)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="smoke, cpu, gpu or paper (default: $FLUOSEG_PROFILE, else gpu "
        "with a GPU, else cpu)",
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="dataset folder with train/ and test/ (default: the profile's, "
        "generated on first use)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="RUN",
        help="run folder (default: runs/<profile>/<model>-<n>class...-seed<S>)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive,
        default=None,
        metavar="N",
        help="override the profile's number of epochs",
    )
    parser.add_argument(
        "--seed", type=_seed, default=0, metavar="S", help="random seed (default: 0)"
    )
    parser.add_argument(
        "--truth",
        choices=("annotator", "truth"),
        default="annotator",
        help="train on the annotator's (imperfect) or the perfect masks",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run folder that holds a different configuration",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # imported when the command runs, after the variable above: the trainer's
    # modules (pandas, the dataset, Keras when it fits) stay out of the CLI's start-up
    from fluoseg.training.trainer import train

    result = train(
        args.model,
        args.classes,
        profile=args.profile,
        raw=args.raw,
        unsupervised=args.unsupervised,
        seed=args.seed,
        epochs=args.epochs,
        data_dir=args.data,
        out=args.out,
        truth=args.truth,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    summary = {
        "run": str(result.path),
        "epochs": int(len(result.history)),
        "total_seconds": result.timings.get("total_seconds"),
    }
    print(json.dumps(summary))
    return 0
