"""A corpus of bad (and awkward but valid) input files run through the real CLI.

Every bad file must give exit status 2, exactly one line on stderr naming the problem,
no traceback and no output file. The awkward-but-valid files (uint16, float, a volume
smaller than a patch, an empty mask) must succeed. Each command runs as a subprocess
(``python -m fluoseg``), exactly as a reader would run it.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

SHAPE = (8, 20, 24)


def _mask_rgb(dtype=np.uint8, shape=SHAPE) -> np.ndarray:
    """A file-order mask (R = Golgi, G = nuclei) with one nucleus–Golgi pair."""
    top = {np.uint8: 255, np.uint16: 65535}.get(dtype, 1.0)
    m = np.zeros(shape + (3,), dtype=dtype)
    z, y, x = (s // 2 for s in shape)
    m[max(z - 2, 0) : z + 2, y - 3 : y + 3, x - 6 : x - 1, 1] = top  # nucleus
    m[max(z - 1, 0) : z + 1, y - 2 : y + 2, x + 1 : x + 4, 0] = top  # Golgi, 24 voxels
    return m


def imwrite(path: Path, data: np.ndarray) -> None:
    """``tifffile.imwrite`` without its warnings (about zero-size or RGB data)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tifffile.imwrite(path, data)


def _truncated(path: Path) -> None:
    imwrite(path, _mask_rgb())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _with_value(value: float) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        m = _mask_rgb(np.float32)
        m[1, 2, 3, 1] = value
        imwrite(path, m)

    return write


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (_truncated, "truncated"),
    "not_a_tiff": (lambda p: p.write_text("hello, not an image\n"), "TIFF"),
    "zero_bytes": (lambda p: p.write_bytes(b""), "empty"),
    "2d_image": (lambda p: imwrite(p, _mask_rgb()[0]), "2D"),
    "1_channel": (lambda p: imwrite(p, _mask_rgb()[..., 1]), "channel"),
    "4_channels": (
        lambda p: imwrite(p, np.concatenate([_mask_rgb()] * 2, -1)[..., :4]),
        "channel",
    ),
    "nan": (_with_value(float("nan")), "NaN"),
    "inf": (_with_value(float("inf")), "Inf"),
    "zero_size_volume": (
        lambda p: imwrite(p, np.zeros((0,) + SHAPE[1:] + (3,), np.uint8)),
        "",  # any clear message: tifffile cannot tell it from a truncated file
    ),
}
"""name -> (writer, a fragment the one-line message must contain)."""

VALID: dict[str, Callable[[Path], None]] = {
    "uint16": lambda p: imwrite(p, _mask_rgb(np.uint16)),
    "float32": lambda p: imwrite(p, _mask_rgb(np.float32)),
    "smaller_than_a_patch": lambda p: imwrite(p, _mask_rgb(shape=(3, 8, 14))),
    "empty_mask": lambda p: imwrite(p, np.zeros(SHAPE + (3,), np.uint8)),
}
"""Awkward but valid mask files: every command that takes a mask must accept them."""

VALID_IMAGES: dict[str, Callable[[Path], None]] = {
    "uint16_smaller_than_a_patch": lambda p: imwrite(
        p, _mask_rgb(np.uint16, shape=(3, 8, 14))
    ),
    "float32_blank": lambda p: imwrite(p, np.zeros(SHAPE + (3,), np.float32)),
}
"""Awkward but valid images for ``predict`` (two combined cases: each run costs a
TensorFlow start-up)."""


def fluoseg(*args: str | Path) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh interpreter."""
    cmd = [sys.executable, "-m", "fluoseg", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def assert_clean_failure(proc: subprocess.CompletedProcess, fragment: str) -> None:
    """Exit 2, exactly one stderr line containing ``fragment``, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1, proc.stderr
    assert fragment in proc.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """All bad and valid files, written once."""
    folder = tmp_path_factory.mktemp("corpus")
    for name, (write, _) in BAD.items():
        write(folder / f"{name}.tif")
    for name, write in {**VALID, **VALID_IMAGES}.items():
        write(folder / f"{name}.tif")
    imwrite(folder / "good.tif", _mask_rgb())
    return folder


# ------------------------------------------------------------------------ pairs


@pytest.mark.parametrize("name", sorted(BAD))
def test_pairs_rejects_bad_file(corpus, tmp_path, name):
    out = tmp_path / "pairs.csv"
    proc = fluoseg("pairs", corpus / f"{name}.tif", "--out", out)
    assert_clean_failure(proc, BAD[name][1])
    assert not out.exists()


@pytest.mark.parametrize("name", sorted(VALID))
def test_pairs_accepts_awkward_but_valid_file(corpus, tmp_path, name):
    out = tmp_path / "pairs.csv"
    proc = fluoseg("pairs", corpus / f"{name}.tif", "--out", out, "--max-distance", "9")
    assert proc.returncode == 0, proc.stderr
    n = 0 if name == "empty_mask" else 1
    assert f"{n} nucleus-Golgi pairs" in proc.stdout
    assert len(out.read_text().splitlines()) == 1 + n


def test_pairs_missing_file_and_missing_folder(corpus, tmp_path):
    proc = fluoseg("pairs", tmp_path / "nope.tif", "--out", tmp_path / "p.csv")
    assert_clean_failure(proc, "not found")
    proc = fluoseg("pairs", corpus / "good.tif", "--out", tmp_path / "no" / "p.csv")
    assert_clean_failure(proc, "does not exist")


# --------------------------------------------------------------------- evaluate


@pytest.mark.parametrize(
    "side, name",
    [("--pred", n) for n in sorted(BAD)]
    + [("--truth", n) for n in ("truncated", "2d_image", "nan")],
)
def test_evaluate_rejects_bad_file(corpus, side, name):
    files = {"--pred": corpus / "good.tif", "--truth": corpus / "good.tif"}
    files[side] = corpus / f"{name}.tif"
    proc = fluoseg("evaluate", *[str(x) for kv in files.items() for x in kv])
    assert_clean_failure(proc, BAD[name][1])
    assert proc.stdout == ""


def test_evaluate_rejects_masks_of_different_shapes(corpus):
    proc = fluoseg(
        "evaluate", "--pred", corpus / "good.tif",
        "--truth", corpus / "smaller_than_a_patch.tif",
    )  # fmt: skip
    assert_clean_failure(proc, "shape")


@pytest.mark.parametrize("name", sorted(VALID))
def test_evaluate_accepts_awkward_but_valid_file(corpus, name):
    import json

    mask = corpus / f"{name}.tif"
    proc = fluoseg("evaluate", "--pred", mask, "--truth", mask, "--json")
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(proc.stdout)  # {class: {"dice": ..., ...}}
    assert set(scores) == {"nuclei", "golgi"}
    # a mask scored against itself: Dice 1, or undefined (null) for an absent class
    dice = [v["dice"] for v in scores.values()]
    expected = [None, None] if name == "empty_mask" else [1.0, 1.0]
    assert dice == expected, proc.stdout


# ---------------------------------------------------------------------- predict


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """A 2-class U-Net trained for one epoch on the smoke dataset (~20 s)."""
    from fluoseg.data.dataset import generate_dataset
    from fluoseg.training.trainer import train

    root = tmp_path_factory.mktemp("smoke_run")
    data = generate_dataset(root / "data", "smoke").folder
    run = train(
        "unet", 2, profile="smoke", data_dir=data, out=root / "run", epochs=1,
        progress=False,
    )  # fmt: skip
    return Path(run.path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BAD))
def test_predict_rejects_bad_image(corpus, smoke_run, tmp_path, name):
    out = tmp_path / "mask.tif"
    proc = fluoseg(
        "predict", "--model", smoke_run, "--input", corpus / f"{name}.tif",
        "--output", out,
    )  # fmt: skip
    assert_clean_failure(proc, BAD[name][1])
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VALID_IMAGES))
def test_predict_accepts_awkward_but_valid_image(corpus, smoke_run, tmp_path, name):
    from fluoseg.io import read_image, read_mask

    out = tmp_path / "mask.tif"
    image = corpus / f"{name}.tif"
    proc = fluoseg("predict", "--model", smoke_run, "--input", image, "--output", out)
    assert proc.returncode == 0, proc.stderr
    mask = read_mask(out, 2)
    assert mask.shape == read_image(image).shape  # exactly the input's (Z, Y, X)
    assert set(np.unique(mask)) <= {0, 1}
