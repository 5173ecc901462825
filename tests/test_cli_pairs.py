"""Tests of ``fluoseg pairs``: CSV content, voxel size, refusal to overwrite."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fluoseg.cli import main
from fluoseg.evaluation.pairing import PAIR_COLUMNS
from fluoseg.io import write_mask


@pytest.fixture
def mask_file(tmp_path):
    """A 3-class mask with two pairs (Golgi +6 x and -6 y from its nucleus)."""
    m = np.zeros((12, 24, 40, 3), np.uint8)
    m[3:10, 5:12, 5:12, 0] = 1  # nucleus centroid (6, 8, 8)
    m[5:8, 7:10, 13:16, 1] = 1  # Golgi (6, 8, 14)
    m[3:10, 13:20, 25:32, 0] = 1  # nucleus (6, 16, 28)
    m[5:8, 9:12, 27:30, 1] = 1  # Golgi (6, 10, 28)
    m[3:10, 5:12, 5:16, 2] = 1
    path = tmp_path / "mask.tif"
    write_mask(path, m, voxel_size=(2.0, 0.5, 0.5))
    return path


def test_pairs_csv_uses_metadata_voxel_size(mask_file, tmp_path, capsys):
    out = tmp_path / "pairs.csv"
    assert (
        main(["pairs", str(mask_file), "--out", str(out), "--max-distance", "5"]) == 0
    )
    assert "2 nucleus-Golgi pairs (µm)" in capsys.readouterr().out
    df = pd.read_csv(out)
    assert list(df.columns) == list(PAIR_COLUMNS)
    assert df[["dz", "dy", "dx"]].values.tolist() == [[0, 0, 3.0], [0, -3.0, 0]]
    assert (df["unit"] == "um").all()
    assert df["nucleus_x"].tolist() == [8.0, 28.0]  # centroids stay in voxels


def test_pairs_flag_voxel_size_and_gate(mask_file, tmp_path, capsys):
    out = tmp_path / "pairs.csv"
    argv = ["pairs", str(mask_file), "--out", str(out), "--voxel-size", "1,1,1"]
    assert main(argv + ["--max-distance", "5"]) == 0  # 6 voxels apart: too far
    assert pd.read_csv(out).shape[0] == 0
    assert main(argv + ["--max-distance", "6.5", "--overwrite"]) == 0
    df = pd.read_csv(out)
    assert df["length"].tolist() == [6.0, 6.0]


def test_pairs_pair_channel_method(mask_file, tmp_path):
    out = tmp_path / "pairs.csv"
    argv = ["pairs", str(mask_file), "--out", str(out), "--max-distance", "5"]
    assert main(argv + ["--method", "pair_channel"]) == 0
    df = pd.read_csv(out)
    assert df["dx"].tolist() == [3.0]  # only the first pair shares a component


def test_pairs_refuses_to_overwrite_in_a_subprocess(mask_file, tmp_path):
    out = tmp_path / "pairs.csv"
    out.write_text("keep me")
    cmd = [sys.executable, "-m", "fluoseg", "pairs", str(mask_file), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "already exists" in proc.stderr
    assert out.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--voxel-size", "1,2"], "--voxel-size"),
        (["--voxel-size", "1,0,1"], "--voxel-size"),
        (["--max-distance", "-1"], "max distance"),
        (["--min-size", "-3"], "--min-size"),
    ],
)
def test_pairs_bad_flags(mask_file, tmp_path, capsys, flags, message):
    out = tmp_path / "pairs.csv"
    assert main(["pairs", str(mask_file), "--out", str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_pairs_help_documents_every_csv_column():
    from fluoseg.commands.pairs import EPILOG

    text = EPILOG.replace("nucleus_z/y/x", "nucleus_z nucleus_y nucleus_x")
    text = text.replace("golgi_z/y/x", "golgi_z golgi_y golgi_x")
    assert [c for c in PAIR_COLUMNS if c not in text] == []
