"""Tests of the ``fluoseg train`` and ``fluoseg predict`` commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fluoseg.cli import main


def _run(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_help_lists_the_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fluoseg", "train", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for option in (
        "--model",
        "--classes",
        "--unsupervised",
        "--raw",
        "--profile",
        "--data",
        "--out",
        "--epochs",
        "--seed",
        "--truth",
    ):
        assert option in done.stdout, option


def test_train_help_does_not_import_tensorflow() -> None:
    code = (
        "import sys\nfrom fluoseg.cli import main\n"
        "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_bad_classes_exit_two_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--classes", "4"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--classes" in err and "'4'" in err


def test_missing_data_dir_exit_two_naming_it(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-data"
    code, _, err = _run(
        capsys,
        [
            "train",
            "--profile",
            "smoke",
            "--data",
            str(missing),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(missing) in err
    assert not (tmp_path / "run").exists()


def test_unsupervised_unet_exit_two(capsys: pytest.CaptureFixture, tmp_path: Path):
    code, _, err = _run(
        capsys,
        [
            "train",
            "--profile",
            "smoke",
            "--unsupervised",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert code == 2 and "cyclegan" in err


def test_predict_refuses_existing_output(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    out = tmp_path / "mask.tif"
    out.write_bytes(b"keep me")
    code, _, err = _run(
        capsys,
        [
            "predict",
            "--model",
            str(tmp_path / "run"),
            "--input",
            str(tmp_path / "img.tif"),
            "--output",
            str(out),
        ],
    )
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"keep me"


def test_predict_missing_run_exit_two(capsys: pytest.CaptureFixture, tmp_path: Path):
    code, _, err = _run(
        capsys,
        [
            "predict",
            "--model",
            str(tmp_path / "nope"),
            "--input",
            str(tmp_path / "img.tif"),
            "--output",
            str(tmp_path / "m.tif"),
        ],
    )
    assert code == 2 and "nope" in err


@pytest.mark.slow
def test_train_then_predict_writes_the_exact_shape(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    from test_train import install_dataset_standin, write_tiny_dataset

    from fluoseg.io import read_mask, write_image

    install_dataset_standin()
    data = write_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    code, out, err = _run(
        capsys,
        [
            "train",
            "--model",
            "unet",
            "--classes",
            "2",
            "--profile",
            "smoke",
            "--data",
            str(data),
            "--out",
            str(run),
            "--epochs",
            "1",
            "--no-progress",
        ],
    )
    assert code == 0, err
    assert '"epochs": 1' in out
    image = np.random.default_rng(0).random((11, 19, 23, 2)).astype(np.float32)
    write_image(tmp_path / "img.tif", image)
    mask_path = tmp_path / "mask.tif"
    argv = [
        "predict",
        "--model",
        str(run),
        "--input",
        str(tmp_path / "img.tif"),
        "--output",
        str(mask_path),
    ]
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    mask = read_mask(mask_path, 2)
    assert mask.shape == (11, 19, 23, 2)
    assert set(np.unique(mask)) <= {0, 1}
    # bfloat16 arithmetic: the same mask but for voxels near the threshold
    bf_path = tmp_path / "mask_bf16.tif"
    bf_argv = [*argv[:-1], str(bf_path), "--precision", "bfloat16"]
    code, _, err = _run(capsys, bf_argv)
    assert code == 0, err
    assert np.mean(read_mask(bf_path, 2) == mask) > 0.98
    with pytest.raises(SystemExit) as exc:
        main([*bf_argv[:-1], "float16", "--overwrite"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "float16" in err
    # again: refused without --overwrite, accepted with it
    assert _run(capsys, argv)[0] == 2
    code, _, err = _run(
        capsys, [*argv, "--overwrite", "--channels", "nuclei=1,golgi=0"]
    )
    assert code == 0, err
    # a second train call loads the finished run and trains nothing
    code, out, _ = _run(
        capsys,
        [
            "train",
            "--model",
            "unet",
            "--classes",
            "2",
            "--profile",
            "smoke",
            "--data",
            str(data),
            "--out",
            str(run),
            "--epochs",
            "1",
            "--no-progress",
        ],
    )
    assert code == 0 and '"epochs": 1' in out
    code, _, err = _run(
        capsys,
        [
            "train",
            "--model",
            "unet",
            "--classes",
            "2",
            "--profile",
            "smoke",
            "--data",
            str(data),
            "--out",
            str(run),
            "--epochs",
            "2",
            "--no-progress",
        ],
    )
    assert code == 2 and "--overwrite" in err
