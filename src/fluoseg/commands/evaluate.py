"""``fluoseg evaluate``: per-class Dice, precision, recall and IoU of a mask TIFF."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from fluoseg import CLASS_NAMES
from fluoseg.evaluation.metrics import evaluate
from fluoseg.io import check_same_shape, read_mask

HELP = "score a predicted mask TIFF against a truth mask TIFF (Dice, precision, ...)"

EPILOG = (
    "Masks follow the dataset's files: R = Golgi, G = nuclei, B = pair; any nonzero "
    "voxel is foreground (threshold a probability map before scoring it). A class "
    "absent from both masks prints nan (null in JSON)."
)

SHOWN = ("dice", "precision", "recall", "iou")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    parser.epilog = EPILOG
    parser.add_argument(
        "--pred", required=True, metavar="P.tif", help="predicted mask TIFF"
    )
    parser.add_argument(
        "--truth", required=True, metavar="T.tif", help="ground-truth mask TIFF"
    )
    parser.add_argument(
        "--classes",
        type=int,
        choices=(2, 3),
        default=None,
        help="2 (nuclei, Golgi) or 3 (with the pair class, the B channel); default: "
        "3 if either mask has a nonzero B channel, else 2",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the scores as one JSON object"
    )


def _read_masks(
    pred: str, truth: str, classes: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """The predicted and truth masks with ``classes`` channels (default: as many as
    the mask with more has)."""
    masks = [read_mask(pred), read_mask(truth)]
    check_same_shape(masks[0], masks[1], names=(pred, truth))
    n = classes or max(m.shape[-1] for m in masks)
    for i, path in enumerate((pred, truth)):
        if masks[i].shape[-1] < n:
            masks[i] = read_mask(path, n)
        masks[i] = masks[i][..., :n]
    return masks[0], masks[1], n


def run(args: argparse.Namespace) -> int:
    """Score ``--pred`` against ``--truth`` and print the table (or JSON)."""
    pred, truth, n = _read_masks(args.pred, args.truth, args.classes)
    df = evaluate(pred, truth, class_names=CLASS_NAMES[:n])
    if args.json:
        out = {
            name: {
                m: (None if math.isnan(v) else round(float(v), 6))
                for m, v in df.loc[name, list(SHOWN)].items()
            }
            for name in df.index
        }
        print(json.dumps(out))
        return 0
    width = max(len(c) for c in df.index)
    print(f"{'class':<{width}}  " + "  ".join(f"{m:>9}" for m in SHOWN))
    for name in df.index:
        vals = "  ".join(f"{df.loc[name, m]:>9.4f}" for m in SHOWN)
        print(f"{name:<{width}}  {vals}")
    if df[list(SHOWN)].isna().any().any():
        print("nan: class absent from both masks (nothing to score)")
    return 0
