"""``fluoseg evaluate`` on TIFFs written by hand: exact numbers, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from fluoseg.cli import main


def _write_rgb(path, nuclei, golgi, pair=None):
    """Write a mask file the dataset's way: R = Golgi, G = nuclei, B = pair, 0/255."""
    blue = np.zeros_like(nuclei) if pair is None else pair
    rgb = np.stack([golgi, nuclei, blue], axis=-1).astype(np.uint8) * 255
    tifffile.imwrite(path, rgb, photometric="rgb")
    return str(path)


@pytest.fixture
def masks(tmp_path):
    shape = (2, 4, 5)
    tn, tg, pn, pg = (np.zeros(shape, np.uint8) for _ in range(4))
    tn[0, 0, :4] = 1  # 4 true nuclei voxels
    pn[0, 0, :2] = 1  # 2 found ...
    pn[1, 3, 4] = 1  # ... and 1 false positive
    tg[1, 1, 1:3] = 1  # 2 Golgi voxels
    pg[1, 1, 1:3] = 1  # found exactly
    pg[0, 3, 0] = 1  # plus 1 false positive
    pred = _write_rgb(tmp_path / "pred.tif", pn, pg)
    truth = _write_rgb(tmp_path / "truth.tif", tn, tg)
    return pred, truth, tmp_path


def test_json_gives_exact_numbers(masks, capsys):
    pred, truth, _ = masks
    assert main(["evaluate", "--pred", pred, "--truth", truth, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"nuclei", "golgi"}  # no B channel anywhere: 2 classes
    # nuclei: TP 2, FP 1, FN 2
    assert out["nuclei"]["dice"] == pytest.approx(4 / 7, abs=1e-6)
    assert out["nuclei"]["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert out["nuclei"]["recall"] == pytest.approx(0.5)
    assert out["nuclei"]["iou"] == pytest.approx(0.4)
    # Golgi: TP 2, FP 1, FN 0
    assert out["golgi"] == pytest.approx(
        {"dice": 0.8, "precision": 2 / 3, "recall": 1.0, "iou": 2 / 3}, abs=1e-6
    )


def test_table_output(masks, capsys):
    pred, truth, _ = masks
    assert main(["evaluate", "--pred", pred, "--truth", truth]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["class", "dice", "precision", "recall", "iou"]
    assert lines[1].split() == ["nuclei", "0.5714", "0.6667", "0.5000", "0.4000"]
    assert lines[2].split() == ["golgi", "0.8000", "0.6667", "1.0000", "0.6667"]


def test_pair_class_by_default_when_b_is_used(tmp_path, capsys):
    shape = (2, 3, 3)
    n = np.zeros(shape, np.uint8)
    n[0, 0, 0] = 1
    pair = n.copy()
    pred = _write_rgb(tmp_path / "p.tif", n, n * 0, pair)
    truth = _write_rgb(tmp_path / "t.tif", n, n * 0)  # B empty here
    assert main(["evaluate", "--pred", pred, "--truth", truth, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["nuclei", "golgi", "pair"]
    assert out["pair"]["dice"] == 0.0 and out["pair"]["precision"] == 0.0
    assert out["golgi"]["dice"] is None  # absent from both: NaN -> null
    assert main(["evaluate", "--pred", pred, "--truth", truth, "--classes", "2"]) == 0
    assert "pair" not in capsys.readouterr().out


def test_shape_mismatch_is_exit_2_one_line(masks, capsys):
    pred, _, tmp = masks
    other = _write_rgb(tmp / "small.tif", *(np.zeros((2, 4, 4), np.uint8),) * 2)
    assert main(["evaluate", "--pred", pred, "--truth", other]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected the same shape" in err


def test_subprocess_bad_input_exit_2_without_traceback(masks):
    pred, _, tmp = masks
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fluoseg",
            "evaluate",
            "--pred",
            pred,
            "--truth",
            str(tmp / "missing.tif"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "file not found" in proc.stderr
