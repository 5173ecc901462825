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
    m[max(z - 1, 0) : z + 1, y - 1 : y + 1, x + 1 : x + 3, 0] = top  # Golgi
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
    for name, write in VALID.items():
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
