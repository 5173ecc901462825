"""``fluoseg export``: a trained run as a bioimage.io model package."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fluoseg.errors import InputError
from fluoseg.export import export_run

HELP = "export a trained run as a bioimage.io model package (folder or .zip)"

EPILOG = (
    "The package (bioimage.io format 0.5: rdf.yaml, Keras 3 weights, percentile-"
    "stretch preprocessing, test tensors, cover, README, citations) opens in "
    "bioimageio.core, napari, ilastik, deepImageJ and QuPath model loaders. Needs the "
    "export extra: pip install 'fluoseg[export]'."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument(
        "run", metavar="RUN", help="a run folder written by fluoseg train"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR_OR_ZIP",
        help="the package to write: a folder, or a file ending in .zip",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing package"
    )
    parser.add_argument(
        "--name", default=None, help="the model's name (default: from the run)"
    )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InputError(f"{out}: already exists (pass --overwrite to replace it)")
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder for the package")
    try:
        import bioimageio.spec  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            f"{exc.name} is missing: install the export extra "
            "(pip install 'fluoseg[export]')"
        ) from None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    path = export_run(args.run, out, overwrite=args.overwrite, name=args.name)
    kind = "zip" if path.is_file() else "folder"
    print(f"wrote bioimage.io model package {path} ({kind})")
    return 0
